"""The best-model study: an architecture screen, plain against augmented training over training budgets, the
final recipe that validation picks among the curve's points, ensembles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mnist_study.analysis.evaluation import mcnemar_exact
from mnist_study.pipeline.experiment import ExperimentConfig, ModelRuns

# Augmentation that keeps an image in its class: digits turn, shift and zoom a little; clothes flip and shift.
DATASET_AUGMENTATION = {"mnist": "digits", "fashion_mnist": "clothing"}

ARMS = ["plain", "augmented"]


def budget_epochs(upstream_epochs: int, fractions: list[float]) -> list[int]:
    """Training budgets in epochs: fractions of the upstream notebook's, at least 2 (one warm-up, one to decay)."""
    if not isinstance(fractions, list) or not fractions or any(
            isinstance(f, bool) or not isinstance(f, int | float) or f <= 0 for f in fractions):
        raise ValueError(f"budget_fractions: expected a non-empty list of positive numbers, got {fractions!r}")
    budgets = sorted({max(2, round(fraction * upstream_epochs)) for fraction in fractions})
    if len(budgets) != len(fractions):
        raise ValueError(f"budget_fractions: {fractions!r} give repeated budgets {budgets} of {upstream_epochs} epochs")
    return budgets


def budget_config(upstream: ExperimentConfig, arm: str, epochs: int, seeds: list[int],
                  precision: str | None = None) -> ExperimentConfig:
    """The upstream recipe (optimizer, schedule, batch, early stopping, precision) at `epochs`, with or without
    the dataset's augmentation. The schedule spans the budget, so every budget ends at a learning rate of 0.
    `precision`, where given, replaces the upstream one (for architectures that are slower in bfloat16)."""
    if arm not in ARMS:
        raise ValueError(f"arm: unknown {arm!r}; expected one of {ARMS}")
    augmentation = DATASET_AUGMENTATION[upstream.dataset] if arm == "augmented" else "none"
    recipe = replace(upstream.recipe, epochs=epochs, augmentation=augmentation,
                     precision=precision or upstream.recipe.precision)
    return replace(upstream, seeds=seeds, recipe=recipe)


def choose_architecture(screen: list[dict], tolerance: float) -> str:
    """The screen's choice: the best validation accuracy, unless a candidate with fewer forward FLOPs per image
    is within `tolerance` of it; then the cheapest such candidate. Rows: architecture, val_accuracy, forward_flops."""
    if not screen:
        raise ValueError("screen: expected at least one candidate")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < 0.1:
        raise ValueError(f"screen_tolerance: expected an accuracy difference in [0, 0.1), got {tolerance!r}")
    best = max(row["val_accuracy"] for row in screen)
    close = [row for row in screen if row["val_accuracy"] >= best - tolerance]
    return min(close, key=lambda row: (row["forward_flops"], -row["val_accuracy"]))["architecture"]


def final_point(points: list[dict]) -> dict:
    """The curve point the final recipe trains: the best mean validation accuracy; on a tie, the smaller budget,
    then the plain arm (the cheaper and simpler recipe)."""
    if not points:
        raise ValueError("points: the budget curve is empty")
    return max(points, key=lambda point: (point["val_accuracy_mean"], -point["epochs"], point["arm"] == "plain"))


def final_model_name(architecture: str, arm: str) -> str:
    """How 06 names a final model it trains: `<architecture>_<arm>` (notebooks 07 and 08 load it by this name)."""
    if arm not in ARMS:
        raise ValueError(f"arm: unknown {arm!r}; expected one of {ARMS}")
    return f"{architecture}_{arm}"


def architecture_of(model_name: str, architectures: list[str]) -> str:
    """The architecture a saved model was built with: its name, or its name less 06's `_<arm>` suffix."""
    for suffix in ["", *(f"_{arm}" for arm in ARMS)]:
        name = model_name.removesuffix(suffix) if suffix else model_name
        if name in architectures:
            return name
    raise ValueError(f"model_name: {model_name!r} is no architecture of {architectures} and no 06 final of one")


def upstream_runs(summary: dict, seed_probabilities: np.ndarray, model_name: str, seeds: list[int]) -> ModelRuns:
    """`seeds` of an upstream notebook's runs of one model as ModelRuns: their per-seed numbers and saved test
    probabilities (`seed_probabilities` has shape (runs, n_test, n_classes), in the order of the summary's runs).
    There is no trained model or history here: the upstream notebook saved and drew those."""
    trained = [run["seed"] for run in summary["runs"]]
    if len(seed_probabilities) != len(trained):
        raise ValueError(f"{model_name}: {len(trained)} runs but probabilities for {len(seed_probabilities)}")
    if not set(seeds) <= set(trained):
        raise ValueError(f"seeds: {seeds!r} are not all among {model_name}'s upstream runs, seeds {trained!r}")
    order = [trained.index(seed) for seed in seeds]
    return ModelRuns(model_name, summary["parameters"], runs=[summary["runs"][index] for index in order],
                     first_report=summary["first_seed_report"] if order[0] == 0 else None,
                     seed_probabilities=[np.asarray(seed_probabilities[index]) for index in order])


def curve_point(arm: str, epochs: int, runs: list[dict], source: str) -> dict:
    """One point of the budget curve: validation and test accuracy over its seeds (mean, sample std)."""
    validation = [run["best_val_accuracy"] for run in runs]
    test = [run["test_accuracy"] for run in runs]

    def spread(values):
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    return {"arm": arm, "epochs": epochs, "source": source, "seeds": [run["seed"] for run in runs],
            "val_accuracy_mean": float(np.mean(validation)), "val_accuracy_std": spread(validation),
            "test_accuracy_mean": float(np.mean(test)), "test_accuracy_std": spread(test),
            "val_accuracy_by_seed": validation, "test_accuracy_by_seed": test,
            "train_time_s_mean": float(np.mean([run["train_time_s"] for run in runs]))}


def augmentation_gains(points: list[dict]) -> list[dict]:
    """Per budget, augmented minus plain accuracy (validation and test), paired by seed."""
    by_key = {(point["arm"], point["epochs"]): point for point in points}
    gains = []
    for epochs in sorted({point["epochs"] for point in points}):
        plain, augmented = by_key[("plain", epochs)], by_key[("augmented", epochs)]
        shared = [seed for seed in augmented["seeds"] if seed in plain["seeds"]]
        if not shared:
            raise ValueError(f"budget {epochs}: the plain and augmented arms share no seed")

        def paired(key, shared=shared, plain=plain, augmented=augmented):
            return float(np.mean([augmented[key][augmented["seeds"].index(seed)]
                                  - plain[key][plain["seeds"].index(seed)] for seed in shared]))

        gains.append({"epochs": epochs, "seeds": shared, "val_gain": paired("val_accuracy_by_seed"),
                      "test_gain": paired("test_accuracy_by_seed")})
    return gains


def crossover_epochs(gains: list[dict]) -> int | None:
    """The smallest budget from which augmentation's validation gain is positive at every larger budget, or None."""
    crossover = None
    for gain in reversed(gains):
        if gain["val_gain"] <= 0:
            break
        crossover = gain["epochs"]
    return crossover


def merge_runs(first: ModelRuns, more: ModelRuns) -> ModelRuns:
    """Two ModelRuns of the same model and recipe on different seeds as one (the first keeps its model)."""
    if first.model_name != more.model_name:
        raise ValueError(f"merge_runs: {first.model_name!r} and {more.model_name!r} are different models")
    overlap = {run["seed"] for run in first.runs} & {run["seed"] for run in more.runs}
    if overlap:
        raise ValueError(f"merge_runs: seeds {sorted(overlap)} are in both")
    return replace(first, runs=first.runs + more.runs, histories={**first.histories, **more.histories},
                   seed_probabilities=first.seed_probabilities + more.seed_probabilities)


def ensemble_probabilities(seed_probabilities: list[np.ndarray]) -> np.ndarray:
    """The ensemble's prediction: the mean of its members' class probabilities."""
    if not seed_probabilities:
        raise ValueError("seed_probabilities: expected at least one model's probabilities")
    shapes = {probabilities.shape for probabilities in seed_probabilities}
    if len(shapes) != 1:
        raise ValueError(f"seed_probabilities: members disagree on shape: {sorted(shapes)}")
    return np.mean(seed_probabilities, axis=0)


def ensemble_curve(labels: np.ndarray, seed_probabilities: list[np.ndarray]) -> list[float]:
    """Test accuracy of the ensemble of the first k members, for k = 1..n."""
    return [float(np.mean(ensemble_probabilities(seed_probabilities[:k]).argmax(axis=1) == labels))
            for k in range(1, len(seed_probabilities) + 1)]


def comparison_row(arm: str, accuracy_by_run: dict, predictions: np.ndarray, labels: np.ndarray,
                 baseline_predictions: np.ndarray, plain_by_run: dict | None = None) -> dict:
    """One line of a comparison table: test accuracy over runs, gain over the plain arm, McNemar vs a baseline.

    `accuracy_by_run` maps a seed (or an ensemble's name) to test accuracy. The gain is paired, the mean of
    per-seed differences, over the seeds both arms ran; with none in common it is the difference of means.
    `predictions` (first seed's, or the ensemble's) are compared image by image with `baseline_predictions`.
    """
    if not accuracy_by_run:
        raise ValueError(f"accuracy_by_run: arm {arm!r} has no runs")
    accuracies = list(accuracy_by_run.values())
    gain = None
    if plain_by_run:
        shared = [run for run in accuracy_by_run if run in plain_by_run]
        if shared:
            gain = float(np.mean([accuracy_by_run[run] - plain_by_run[run] for run in shared]))
        else:
            gain = float(np.mean(accuracies) - np.mean(list(plain_by_run.values())))
    return {
        "arm": arm,
        "runs": len(accuracies),
        "test_accuracy_mean": float(np.mean(accuracies)),
        "test_accuracy_std": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else None,
        "gain_over_plain": gain,
        "mcnemar_vs_baseline": mcnemar_exact(labels, predictions, baseline_predictions),
    }


def crossover_markdown(dataset: str, curve: dict) -> str:
    """The budget curve's answer in one sentence, from its numbers."""
    first, last = curve["gains"][0], curve["gains"][-1]
    trend = (f"from {100 * first['val_gain']:+.2f} points at {first['epochs']} epochs to "
             f"{100 * last['val_gain']:+.2f} at {last['epochs']}")
    if curve["crossover_epochs"] is None:
        paying = [gain["epochs"] for gain in curve["gains"] if gain["val_gain"] > 0]
        if paying:
            return (f"- **{dataset}**: augmentation pays on validation at {', '.join(map(str, paying))} epochs but "
                    f"not at the largest budget tried (gain {trend}): no crossover.")
        return (f"- **{dataset}**: augmentation does not pay on validation at any budget tried (gain {trend}); "
                f"only a budget beyond {last['epochs']} epochs could show whether it ever does.")
    return (f"- **{dataset}**: augmentation pays on validation from {curve['crossover_epochs']} epochs on "
            f"(gain {trend}).")
