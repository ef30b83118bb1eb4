"""The best-model study's pieces: the architecture screen's choice at equal training time, each arm's budget, the
paired comparison of the arms, the final's choice, ensembles."""

from __future__ import annotations

import numpy as np

from mnist_study.analysis.evaluation import mcnemar_exact, summarize_over_seeds
from mnist_study.core.augmentation import AUGMENTATIONS
from mnist_study.study.recipe_confirmation import paired_standard_error

# The augmented arm's candidates, which its search chooses among: transforms that keep an image in its class.
# Digits shift, and turn and scale a little (Simard et al. 2003's distortions, less the elastic ones); clothes
# also mirror, and may lose a patch (Zhong et al. 2017's random erasing).
AUGMENTATION_CANDIDATES = {"mnist": ["digits", "digits_affine"], "fashion_mnist": ["clothing", "clothing_erasing"]}
# Where a mirror image is the same class, so that averaging with it (test-time augmentation) is allowed.
FLIP_INVARIANT = {"mnist": False, "fashion_mnist": True}
ARMS = ["plain", "augmented"]


def check_augmentations(dataset: str, augmentations) -> None:
    allowed = [name for name in AUGMENTATIONS if name != "none" and (FLIP_INVARIANT[dataset] or "digits" in name)]
    if not isinstance(augmentations, list) or not augmentations or len(set(augmentations)) != len(augmentations) \
            or not set(augmentations) <= set(allowed):
        raise ValueError(f"{dataset} augmentations: expected a non-empty list of distinct names from {allowed}, "
                         f"got {augmentations!r}")


def arm_augmentations(arm: str, candidates: list[str]) -> list[str]:
    """What an arm's search may choose: no augmentation for the plain arm, one of the candidates for the other."""
    if arm not in ARMS:
        raise ValueError(f"arm: unknown {arm!r}; expected one of {ARMS}")
    return ["none"] if arm == "plain" else candidates


def choose_architecture(rows: list[dict]) -> dict:
    """The screen's choice at equal training time.

    The equal time is the one the slowest candidate took (mean over the screen's seeds) for its shortest budget, so
    that every candidate has a point within it (timings on a shared host vary too much for a stricter cut to be
    fair); each candidate scores its best mean validation accuracy among its points within that time. A candidate
    within one paired standard error of the best (the spread, across the seeds, of its per-seed differences from
    the best: each seed is one split that every candidate shares) is not told apart from it, and of those the
    fastest per epoch wins: the arms then train it several times longer. Rows: architecture, points [{epochs,
    train_time_s, val_accuracy, val_accuracy_by_seed}], the means over the same seeds in the same order; each row
    gets its `val_accuracy_at_equal_time`, `val_accuracy_by_seed_at_equal_time`, `paired_standard_error` (against
    the best) and `seconds_per_epoch`.
    Returns {chosen, equal_time_s, best, best_val_accuracy, within_one_standard_error}."""
    if not rows:
        raise ValueError("screen: expected at least one candidate")
    seed_counts = {len(point["val_accuracy_by_seed"]) for row in rows for point in row["points"]}
    if len(seed_counts) != 1:
        raise ValueError(f"screen: the candidates ran different numbers of seeds ({sorted(seed_counts)})")
    equal_time = max(min(point["train_time_s"] for point in row["points"]) for row in rows)
    for row in rows:
        scored = max((point for point in row["points"] if point["train_time_s"] <= equal_time),
                     key=lambda point: point["val_accuracy"])
        row["val_accuracy_at_equal_time"] = scored["val_accuracy"]
        row["val_accuracy_by_seed_at_equal_time"] = scored["val_accuracy_by_seed"]
        longest = max(row["points"], key=lambda point: point["epochs"])
        row["seconds_per_epoch"] = longest["train_time_s"] / longest["epochs"]
    best = max(rows, key=lambda row: row["val_accuracy_at_equal_time"])
    for row in rows:
        row["paired_standard_error"] = paired_standard_error(best["val_accuracy_by_seed_at_equal_time"],
                                                             row["val_accuracy_by_seed_at_equal_time"])
    close = [row for row in rows if best["val_accuracy_at_equal_time"] - row["val_accuracy_at_equal_time"]
             <= row["paired_standard_error"]]
    chosen = min(close, key=lambda row: row["seconds_per_epoch"])
    return {"chosen": chosen["architecture"], "equal_time_s": equal_time, "best": best["architecture"],
            "best_val_accuracy": best["val_accuracy_at_equal_time"],
            "within_one_standard_error": [row["architecture"] for row in close]}


def budget_point(arm: str, augmentation: str, epochs: int, runs: list[dict]) -> dict:
    """One arm at one budget over its seeds: the final weights' validation and test accuracy, per seed and
    summarized (mean, sample std, t interval)."""
    validation = [run["final_val_accuracy"] for run in runs]
    test = [run["test_accuracy"] for run in runs]
    return {"arm": arm, "augmentation": augmentation, "epochs": epochs, "seeds": [run["seed"] for run in runs],
            "val_accuracy_by_seed": validation, "test_accuracy_by_seed": test,
            "val_accuracy": summarize_over_seeds(validation), "test_accuracy": summarize_over_seeds(test),
            "train_time_s_mean": float(np.mean([run["train_time_s"] for run in runs]))}


def choose_budget(points: list[dict]) -> dict:
    """An arm's budget, from validation: the best mean, or a shorter budget within one paired standard error of it
    (the spread, across seeds, of the per-seed differences). Also how much the longest budget gained over the one
    before it, per epoch: the slope a missed target is judged by."""
    if not points:
        raise ValueError("points: the arm has no budget")
    ordered = sorted(points, key=lambda point: point["epochs"])
    best = max(ordered, key=lambda point: point["val_accuracy"]["mean"])
    close = [point for point in ordered if best["val_accuracy"]["mean"] - point["val_accuracy"]["mean"]
             <= paired_standard_error(best["val_accuracy_by_seed"], point["val_accuracy_by_seed"])]
    slope = None
    if len(ordered) > 1:
        last, before = ordered[-1], ordered[-2]
        slope = (last["val_accuracy"]["mean"] - before["val_accuracy"]["mean"]) / (last["epochs"] - before["epochs"])
    return {"epochs": close[0]["epochs"], "best_epochs": best["epochs"],
            "within_one_standard_error": [point["epochs"] for point in close],
            "last_gain_per_epoch": slope, "at_longest": close[0]["epochs"] == ordered[-1]["epochs"]}


def paired_gain(plain: dict, augmented: dict, key: str) -> dict:
    """Augmented minus plain, seed by seed (`key`: "val_accuracy_by_seed" or "test_accuracy_by_seed"), with the
    mean's 95 % t interval."""
    if plain["seeds"] != augmented["seeds"]:
        raise ValueError(f"paired gain: the arms ran different seeds ({plain['seeds']} and {augmented['seeds']})")
    gains = np.subtract(augmented[key], plain[key]).tolist()
    return {"by_seed": gains, **summarize_over_seeds(gains)}


def mcnemar_by_seed(labels: np.ndarray, plain_probabilities: list[np.ndarray],
                    augmented_probabilities: list[np.ndarray], seeds: list[int]) -> list[dict]:
    """Per seed, plain against augmented on the test images ("a" is plain, "b" augmented)."""
    return [{"seed": seed, **mcnemar_exact(labels, plain.argmax(axis=1), augmented.argmax(axis=1))}
            for seed, plain, augmented in zip(seeds, plain_probabilities, augmented_probabilities, strict=True)]


def final_arm(points: dict[str, dict]) -> str:
    """The arm whose chosen budget has the better mean validation accuracy; plain on a tie (the simpler recipe)."""
    return max(ARMS, key=lambda arm: (points[arm]["val_accuracy"]["mean"], arm == "plain"))


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
