"""The best-model study: plain against augmented training over training budgets, the final recipe, ensembles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mnist_study.evaluation import mcnemar_exact
from mnist_study.experiment import ExperimentConfig, ModelRuns

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


def budget_config(upstream: ExperimentConfig, arm: str, epochs: int, seeds: list[int]) -> ExperimentConfig:
    """The upstream recipe (optimizer, schedule, batch, early stopping, precision) at `epochs`, with or without
    the dataset's augmentation. The schedule spans the budget, so every budget ends at a learning rate of 0."""
    if arm not in ARMS:
        raise ValueError(f"arm: unknown {arm!r}; expected one of {ARMS}")
    augmentation = DATASET_AUGMENTATION[upstream.dataset] if arm == "augmented" else "none"
    return replace(upstream, seeds=seeds, recipe=replace(upstream.recipe, epochs=epochs, augmentation=augmentation))


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
