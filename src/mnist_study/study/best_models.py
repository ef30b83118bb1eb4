"""The best-model study's pieces: budgets, the architecture screen's choice at equal training time, budget-curve
points, augmentation's gains and crossover, the final point, ensembles and comparisons."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mnist_study.analysis.evaluation import mcnemar_exact
from mnist_study.core.augmentation import AUGMENTATIONS
from mnist_study.study.experiment import ExperimentConfig, ModelRuns

# Augmentation that keeps an image in its class: digits shift, MNIST's one candidate. Clothes may also flip and lose
# a patch: Fashion-MNIST's candidates are a notebook parameter, and validation chooses among them.
MNIST_AUGMENTATIONS = ["digits"]
# Where a mirror image is the same class, so that averaging with it (test-time augmentation) is allowed.
FLIP_INVARIANT = {"mnist": False, "fashion_mnist": True}

ARMS = ["plain", "augmented"]


def budget_epochs(upstream_epochs: int, multiples: list[int]) -> list[int]:
    """The budget curve's budgets in epochs: whole multiples of the upstream notebook's epochs."""
    if not isinstance(multiples, list) or not multiples or len(set(multiples)) != len(multiples) or any(
            isinstance(m, bool) or not isinstance(m, int) or m <= 0 for m in multiples):
        raise ValueError(f"budget_multiples: expected a non-empty list of distinct positive integers, got "
                         f"{multiples!r}")
    return sorted(multiple * upstream_epochs for multiple in multiples)


def check_augmentations(dataset: str, augmentations) -> None:
    allowed = [name for name in AUGMENTATIONS if name != "none" and (FLIP_INVARIANT[dataset] or name == "digits")]
    if not isinstance(augmentations, list) or not augmentations or len(set(augmentations)) != len(augmentations) \
            or not set(augmentations) <= set(allowed):
        raise ValueError(f"{dataset} augmentations: expected a non-empty list of distinct names from {allowed}, "
                         f"got {augmentations!r}")


def budget_config(upstream: ExperimentConfig, augmentation: str, epochs: int, seeds: list[int]) -> ExperimentConfig:
    """The upstream notebook's searched recipe (warmup-stable-decay) at `epochs`, with `augmentation`."""
    recipe = replace(upstream.recipe, epochs=epochs, augmentation=augmentation)
    return replace(upstream, seeds=seeds, recipe=recipe)


def choose_architecture(rows: list[dict], validation_size: int) -> dict:
    """The screen's choice at equal training time.

    The equal time is the one the slowest candidate took for its shortest budget, so that every candidate has a
    point within it (timings on a shared host vary too much for a stricter cut to be fair); each candidate scores
    its best validation accuracy among its points within that time. Scores within one standard error of the best
    (the binomial error of the best accuracy on `validation_size` images) are not told apart, and of those the
    fastest per epoch wins: the budget curve then trains it several times longer. Rows: architecture, points
    [{epochs, train_time_s, val_accuracy}]; each gets its `val_accuracy_at_equal_time` and `seconds_per_epoch`.
    Returns {chosen, equal_time_s, best, best_val_accuracy, standard_error, within_one_standard_error}."""
    if not rows:
        raise ValueError("screen: expected at least one candidate")
    if validation_size < 1:
        raise ValueError(f"validation_size: expected a positive number of images, got {validation_size}")
    equal_time = max(min(point["train_time_s"] for point in row["points"]) for row in rows)
    for row in rows:
        row["val_accuracy_at_equal_time"] = max(point["val_accuracy"] for point in row["points"]
                                                if point["train_time_s"] <= equal_time)
        longest = max(row["points"], key=lambda point: point["epochs"])
        row["seconds_per_epoch"] = longest["train_time_s"] / longest["epochs"]
    best = max(rows, key=lambda row: row["val_accuracy_at_equal_time"])
    accuracy = best["val_accuracy_at_equal_time"]
    standard_error = float(np.sqrt(accuracy * (1 - accuracy) / validation_size))
    close = [row for row in rows if row["val_accuracy_at_equal_time"] >= accuracy - standard_error]
    chosen = min(close, key=lambda row: row["seconds_per_epoch"])
    return {"chosen": chosen["architecture"], "equal_time_s": equal_time, "best": best["architecture"],
            "best_val_accuracy": accuracy, "standard_error": standard_error,
            "within_one_standard_error": [row["architecture"] for row in close]}


def final_point(points: list[dict]) -> dict:
    """The curve point the final recipe trains: the best mean validation accuracy; on a tie, the smaller budget,
    then the plain arm (the cheaper and simpler recipe)."""
    if not points:
        raise ValueError("points: the budget curve is empty")
    return max(points, key=lambda point: (point["val_accuracy_mean"], -point["epochs"], point["arm"] == "plain"))


def arm_plateau(points: list[dict], arm: str) -> dict:
    """Whether `arm` had stopped improving on validation: its last doubling of the budget gained no more than the
    seeds' spread at the largest budget (0.05 points where there is one seed). `last_gain` is None with one budget."""
    ordered = sorted((point for point in points if point["arm"] == arm), key=lambda point: point["epochs"])
    if len(ordered) < 2:
        return {"last_gain": None, "plateaued": False}
    gain = ordered[-1]["val_accuracy_mean"] - ordered[-2]["val_accuracy_mean"]
    spread = ordered[-1]["val_accuracy_std"] if ordered[-1]["val_accuracy_std"] is not None else 0.0005
    return {"last_gain": gain, "plateaued": gain <= spread}


def final_convergence(points: list[dict], final: dict) -> dict:
    """Whether the final recipe stops short of its plateau: only where it sits at the largest budget its arm tried
    and that arm was still improving there (arm_plateau). Below the largest budget, longer runs of the same arm
    scored lower on validation."""
    largest = max(point["epochs"] for point in points if point["arm"] == final["arm"])
    plateau = arm_plateau(points, final["arm"])
    return {"epochs": final["epochs"], "largest_epochs": largest, "last_gain": plateau["last_gain"],
            "stopped_short": final["epochs"] == largest and not plateau["plateaued"]}


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


def curve_point(arm: str, augmentation: str, epochs: int, runs: list[dict]) -> dict:
    """One point of the budget curve: validation accuracy of the final weights, and test accuracy, over its seeds
    (mean, sample std)."""
    validation = [run["final_val_accuracy"] for run in runs]
    test = [run["test_accuracy"] for run in runs]

    def spread(values):
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    return {"arm": arm, "augmentation": augmentation, "epochs": epochs, "seeds": [run["seed"] for run in runs],
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
                   seed_probabilities=first.seed_probabilities + more.seed_probabilities,
                   trained=first.trained + more.trained)


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
