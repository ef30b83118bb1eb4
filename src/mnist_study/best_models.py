"""The best-model recipe and its ablation: one ingredient switched off at a time, ensembles of seeds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mnist_study.evaluation import mcnemar_exact
from mnist_study.experiment import ExperimentConfig

# Augmentation that keeps an image in its class: digits turn, shift and zoom a little; clothes flip and shift.
DATASET_AUGMENTATION = {"mnist": "digits", "fashion_mnist": "clothing"}

# (arm, augmentation on, learning-rate schedule). The "schedule only" arm is the upstream notebook's own run.
ABLATION_ARMS = [
    ("plain", False, "constant"),
    ("schedule only", False, "cosine"),
    ("augmentation only", True, "constant"),
    ("augmentation + schedule", True, "cosine"),
]


def arm_config(upstream: ExperimentConfig, arm: str, seeds: list[int]) -> ExperimentConfig:
    """The upstream recipe (epochs, batch, optimizer, early stopping, precision) with `arm`'s two switches."""
    arms = {name: (augmented, schedule) for name, augmented, schedule in ABLATION_ARMS}
    if arm not in arms:
        raise ValueError(f"arm: unknown {arm!r}; expected one of {list(arms)}")
    augmented, schedule = arms[arm]
    augmentation = DATASET_AUGMENTATION[upstream.dataset] if augmented else "none"
    recipe = replace(upstream.recipe, lr_schedule=schedule, augmentation=augmentation)
    return replace(upstream, seeds=seeds, recipe=recipe)


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


def ablation_row(arm: str, accuracy_by_run: dict, predictions: np.ndarray, labels: np.ndarray,
                 baseline_predictions: np.ndarray, plain_by_run: dict | None = None) -> dict:
    """One line of the ablation table: test accuracy over runs, gain over the plain arm, McNemar vs a baseline.

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
