"""The ablation arms change only their two switches; ensembles average; gains are paired."""

import numpy as np
import pytest

from mnist_study.best_models import ablation_row, arm_config, ensemble_curve, ensemble_probabilities
from mnist_study.experiment import ExperimentConfig
from mnist_study.training import TrainingRecipe

UPSTREAM = ExperimentConfig(dataset="fashion_mnist", seeds=[0, 1, 2], recipe=TrainingRecipe(
    epochs=10, lr_schedule="cosine", early_stopping_patience=3, precision="mixed_bfloat16"))


def test_arms_keep_the_upstream_recipe_and_flip_two_switches():
    plain = arm_config(UPSTREAM, "plain", [0])
    full = arm_config(UPSTREAM, "augmentation + schedule", [0, 1, 2])
    assert (plain.recipe.augmentation, plain.recipe.lr_schedule, plain.seeds) == ("none", "constant", [0])
    assert (full.recipe.augmentation, full.recipe.lr_schedule) == ("clothing", "cosine")
    # Everything else is the upstream recipe, field for field.
    assert {**plain.as_dict(), "augmentation": None, "lr_schedule": None, "seeds": None} == \
           {**UPSTREAM.as_dict(), "augmentation": None, "lr_schedule": None, "seeds": None}
    mnist = ExperimentConfig(dataset="mnist", seeds=[0], recipe=TrainingRecipe(epochs=1))
    assert arm_config(mnist, "augmentation only", [0]).recipe.augmentation == "digits"
    with pytest.raises(ValueError, match=r"arm: unknown 'dropout only'; expected one of \['plain'"):
        arm_config(UPSTREAM, "dropout only", [0])
    with pytest.raises(ValueError, match="seeds: expected a non-empty list"):
        arm_config(UPSTREAM, "plain", [])


def test_ensemble_averages_probabilities():
    a = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    b = np.array([[0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_allclose(ensemble_probabilities([a, b]), [[0.75, 0.25], [0.6, 0.4], [0.25, 0.75]])
    # Member 1 gets image 1 wrong; the ensemble follows member 2's confident vote there.
    assert ensemble_curve(np.array([0, 0, 1]), [a, b]) == [2 / 3, 1.0]
    with pytest.raises(ValueError, match="members disagree on shape"):
        ensemble_probabilities([a, b[:2]])
    with pytest.raises(ValueError, match="at least one"):
        ensemble_probabilities([])


def test_gain_is_paired_over_shared_seeds_and_mcnemar_counts_disagreements():
    labels = np.array([0, 1, 2, 3])
    row = ablation_row("augmentation only", {0: 0.995, 1: 0.993}, np.array([0, 1, 2, 0]), labels,
                       np.array([0, 1, 0, 0]), plain_by_run={0: 0.990, 2: 0.980})
    assert row["runs"] == 2 and row["test_accuracy_mean"] == pytest.approx(0.994)
    assert row["gain_over_plain"] == pytest.approx(0.005)  # seed 0 only, the one both ran
    assert row["test_accuracy_std"] == pytest.approx(np.std([0.995, 0.993], ddof=1))
    assert row["mcnemar_vs_baseline"]["only_a_correct"] == 1 and row["mcnemar_vs_baseline"]["only_b_correct"] == 0
    ensemble = ablation_row("ensemble", {"ensemble": 0.996}, labels, labels, labels, plain_by_run={0: 0.99, 1: 0.98})
    assert ensemble["gain_over_plain"] == pytest.approx(0.011) and ensemble["test_accuracy_std"] is None
    assert ablation_row("plain", {0: 0.99}, labels, labels, labels)["gain_over_plain"] is None
