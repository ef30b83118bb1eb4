"""Budget points keep the upstream recipe; gains are paired; validation gives the crossover; ensembles average."""

import numpy as np
import pytest

from mnist_study.core.training import TrainingRecipe
from mnist_study.pipeline.best_models import (
    architecture_of,
    augmentation_gains,
    budget_config,
    budget_epochs,
    choose_architecture,
    comparison_row,
    crossover_epochs,
    crossover_markdown,
    curve_point,
    ensemble_curve,
    ensemble_probabilities,
    final_model_name,
    final_point,
    upstream_runs,
)
from mnist_study.pipeline.experiment import ExperimentConfig

UPSTREAM = ExperimentConfig(dataset="fashion_mnist", seeds=[0, 1, 2], recipe=TrainingRecipe(
    epochs=10, lr_schedule="warmup_cosine", optimizer="adamw", weight_decay=0.05, early_stopping_patience=3,
    precision="mixed_bfloat16"))


def test_budget_points_keep_the_upstream_recipe_and_change_epochs_and_augmentation():
    plain = budget_config(UPSTREAM, "plain", 5, [0, 1])
    augmented = budget_config(UPSTREAM, "augmented", 20, [0, 1])
    assert (plain.recipe.augmentation, plain.recipe.epochs, plain.seeds) == ("none", 5, [0, 1])
    assert (augmented.recipe.augmentation, augmented.recipe.epochs) == ("clothing", 20)
    # Everything else is the upstream recipe, field for field.
    assert {**augmented.as_dict(), "augmentation": None, "epochs": None, "seeds": None} == \
           {**UPSTREAM.as_dict(), "augmentation": None, "epochs": None, "seeds": None}
    mnist = ExperimentConfig(dataset="mnist", seeds=[0], recipe=TrainingRecipe(epochs=4))
    assert budget_config(mnist, "augmented", 4, [0]).recipe.augmentation == "digits"
    with pytest.raises(ValueError, match=r"arm: unknown 'mixup'; expected one of \['plain', 'augmented'\]"):
        budget_config(UPSTREAM, "mixup", 5, [0])
    with pytest.raises(ValueError, match="seeds: expected a non-empty list"):
        budget_config(UPSTREAM, "plain", 5, [])


def test_budgets_are_fractions_of_the_upstream_epochs():
    assert budget_epochs(8, [0.5, 1.0, 2.0]) == [4, 8, 16]
    assert budget_epochs(3, [0.1, 1.0]) == [2, 3]  # at least 2: a warm-up epoch and one to decay
    with pytest.raises(ValueError, match=r"budget_fractions: \[0.5, 0.55\] give repeated budgets \[4\] of 8 epochs"):
        budget_epochs(8, [0.5, 0.55])
    with pytest.raises(ValueError, match="budget_fractions: expected a non-empty list of positive numbers"):
        budget_epochs(8, [0.5, -1])


def _runs(seeds, validation, test):
    return [{"seed": seed, "best_val_accuracy": v, "test_accuracy": t, "train_time_s": 1.0}
            for seed, v, t in zip(seeds, validation, test, strict=True)]


def test_gains_are_paired_by_seed_and_the_crossover_needs_every_larger_budget():
    points = [
        curve_point("plain", 4, _runs([0, 1], [0.990, 0.980], [0.99, 0.98]), "up"),
        curve_point("plain", 8, _runs([0, 1, 2], [0.991, 0.985, 0.5], [0.99, 0.98, 0.5]), "up"),
        curve_point("augmented", 4, _runs([0, 1], [0.985, 0.978], [0.98, 0.97]), "here"),
        curve_point("augmented", 8, _runs([0, 1], [0.995, 0.987], [0.99, 0.99]), "here"),
    ]
    assert points[0]["val_accuracy_std"] == pytest.approx(np.std([0.990, 0.980], ddof=1))
    gains = augmentation_gains(points)
    # Seed 2 ran only plain at 8 epochs: it does not enter the paired gain.
    assert [gain["epochs"] for gain in gains] == [4, 8] and gains[1]["seeds"] == [0, 1]
    assert gains[0]["val_gain"] == pytest.approx(-0.0035) and gains[1]["val_gain"] == pytest.approx(0.003)
    assert crossover_epochs(gains) == 8
    assert crossover_epochs([{"epochs": 4, "val_gain": 0.001}, {"epochs": 8, "val_gain": -0.001}]) is None
    assert crossover_epochs([{"epochs": 4, "val_gain": 0.001}, {"epochs": 8, "val_gain": 0.002}]) == 4


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
    row = comparison_row("augmentation only", {0: 0.995, 1: 0.993}, np.array([0, 1, 2, 0]), labels,
                       np.array([0, 1, 0, 0]), plain_by_run={0: 0.990, 2: 0.980})
    assert row["runs"] == 2 and row["test_accuracy_mean"] == pytest.approx(0.994)
    assert row["gain_over_plain"] == pytest.approx(0.005)  # seed 0 only, the one both ran
    assert row["test_accuracy_std"] == pytest.approx(np.std([0.995, 0.993], ddof=1))
    assert row["mcnemar_vs_baseline"]["only_a_correct"] == 1 and row["mcnemar_vs_baseline"]["only_b_correct"] == 0
    ensemble = comparison_row("ensemble", {"ensemble": 0.996}, labels, labels, labels, plain_by_run={0: 0.99, 1: 0.98})
    assert ensemble["gain_over_plain"] == pytest.approx(0.011) and ensemble["test_accuracy_std"] is None
    assert comparison_row("plain", {0: 0.99}, labels, labels, labels)["gain_over_plain"] is None


def test_the_crossover_sentence_says_what_the_gains_show():
    def curve(*gains):
        rows = [{"epochs": epochs, "val_gain": gain} for epochs, gain in gains]
        return {"gains": rows, "crossover_epochs": crossover_epochs(rows)}

    assert "pays on validation from 8 epochs on (gain from -0.30 points at 4 epochs to +0.20 at 8)" in \
        crossover_markdown("mnist", curve((4, -0.003), (8, 0.002)))
    assert "pays on validation at 4 epochs but not at the largest budget tried" in \
        crossover_markdown("mnist", curve((4, 0.001), (8, -0.002)))
    assert "does not pay on validation at any budget tried" in crossover_markdown("mnist", curve((4, -0.001), (8, 0.0)))


def test_a_budget_point_may_change_precision_and_nothing_else():
    config = budget_config(UPSTREAM, "plain", 5, [0], precision="float32")
    assert config.recipe.precision == "float32"
    assert budget_config(UPSTREAM, "plain", 5, [0]).recipe.precision == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision: unknown 'float16'"):
        budget_config(UPSTREAM, "plain", 5, [0], precision="float16")


def _screen(*rows):
    return [{"architecture": name, "val_accuracy": accuracy, "forward_flops": flops} for name, accuracy, flops in rows]


def test_the_screen_takes_the_best_validation_accuracy_unless_a_cheaper_one_is_within_tolerance():
    screen = _screen(("cnn_batchnorm", 0.9900, 11_000_000), ("resnet_mini", 0.9920, 9_000_000),
                     ("mobilenet_mini", 0.9915, 4_000_000))
    assert choose_architecture(screen, tolerance=0.0) == "resnet_mini"
    assert choose_architecture(screen, tolerance=0.001) == "mobilenet_mini"  # 0.05 points worse, half the FLOPs
    assert choose_architecture(screen, tolerance=0.0001) == "resnet_mini"
    with pytest.raises(ValueError, match=r"screen_tolerance: expected an accuracy difference in \[0, 0.1\), got 5"):
        choose_architecture(screen, tolerance=5)
    with pytest.raises(ValueError, match="screen: expected at least one candidate"):
        choose_architecture([], tolerance=0.001)


def test_the_final_point_is_the_best_on_validation_plain_or_augmented():
    points = [
        curve_point("plain", 4, _runs([0, 1], [0.990, 0.980], [0.5, 0.5]), "here"),
        curve_point("plain", 8, _runs([0, 1], [0.992, 0.990], [0.5, 0.5]), "up"),
        curve_point("augmented", 4, _runs([0, 1], [0.985, 0.978], [0.99, 0.99]), "here"),  # best on test: ignored
        curve_point("augmented", 8, _runs([0, 1], [0.990, 0.987], [0.99, 0.99]), "here"),
    ]
    assert (final_point(points)["arm"], final_point(points)["epochs"]) == ("plain", 8)
    tie = [curve_point("augmented", 4, _runs([0], [0.99], [0.9]), "here"),
           curve_point("plain", 4, _runs([0], [0.99], [0.9]), "here"),
           curve_point("plain", 2, _runs([0], [0.99], [0.9]), "here")]
    assert (final_point(tie)["arm"], final_point(tie)["epochs"]) == ("plain", 2)  # smaller budget, then plain
    with pytest.raises(ValueError, match="points: the budget curve is empty"):
        final_point([])


def test_final_names_map_back_to_their_architecture():
    names = ["cnn_batchnorm", "resnet_mini"]
    assert final_model_name("resnet_mini", "plain") == "resnet_mini_plain"
    assert architecture_of("resnet_mini_plain", names) == "resnet_mini"
    assert architecture_of(final_model_name("cnn_batchnorm", "augmented"), names) == "cnn_batchnorm"
    assert architecture_of("cnn_batchnorm", names) == "cnn_batchnorm"
    with pytest.raises(ValueError, match="model_name: 'vgg_plain' is no architecture"):
        architecture_of("vgg_plain", names)
    with pytest.raises(ValueError, match="arm: unknown 'mixup'"):
        final_model_name("resnet_mini", "mixup")


def test_upstream_runs_pick_their_seeds_with_their_probabilities():
    summary = {"parameters": 7, "first_seed_report": {"accuracy": 0.5},
               "runs": [{"seed": seed, "test_accuracy": 0.1 * seed} for seed in (0, 1, 2)]}
    probabilities = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    runs = upstream_runs(summary, probabilities, "cnn_batchnorm", [0, 2])
    assert [run["seed"] for run in runs.runs] == [0, 2] and runs.parameter_count == 7
    assert np.array_equal(np.stack(runs.seed_probabilities), probabilities[[0, 2]])
    assert runs.first is None and runs.first_report == {"accuracy": 0.5}
    assert upstream_runs(summary, probabilities, "cnn_batchnorm", [1]).first_report is None  # not seed 0's report
    with pytest.raises(ValueError, match=r"seeds: \[3\] are not all among cnn_batchnorm's upstream runs"):
        upstream_runs(summary, probabilities, "cnn_batchnorm", [3])
    with pytest.raises(ValueError, match="cnn_batchnorm: 3 runs but probabilities for 2"):
        upstream_runs(summary, probabilities[:2], "cnn_batchnorm", [0])
