"""Budget points keep the upstream recipe; the screen compares at equal time; gains are paired; validation gives the
crossover; ensembles average."""

import numpy as np
import pytest

from mnist_study.core.training import TrainingRecipe
from mnist_study.reports.study_text import (
    convergence_sentence,
    crossover_markdown,
    percent_against_target,
    screen_choice_sentence,
)
from mnist_study.study.best_models import (
    architecture_of,
    augmentation_gains,
    budget_config,
    budget_epochs,
    check_augmentations,
    choose_architecture,
    comparison_row,
    crossover_epochs,
    curve_point,
    ensemble_curve,
    ensemble_probabilities,
    final_convergence,
    final_model_name,
    final_point,
)
from mnist_study.study.experiment import ExperimentConfig

UPSTREAM = ExperimentConfig(dataset="fashion_mnist", seeds=[0, 1, 2], recipe=TrainingRecipe(
    epochs=10, lr_schedule="wsd", optimizer="sgd_nesterov", learning_rate=0.05, weight_decay=5e-4, batch_size=64,
    precision="mixed_bfloat16"))


def test_budget_points_keep_the_upstream_recipe_and_change_epochs_and_augmentation():
    plain = budget_config(UPSTREAM, "none", 5, [0, 1])
    augmented = budget_config(UPSTREAM, "clothing_erasing", 20, [0, 1])
    assert (plain.recipe.augmentation, plain.recipe.epochs, plain.seeds) == ("none", 5, [0, 1])
    assert (augmented.recipe.augmentation, augmented.recipe.epochs) == ("clothing_erasing", 20)
    # Everything else is the upstream recipe, field for field.
    assert {**augmented.as_dict(), "augmentation": None, "epochs": None, "seeds": None} == \
           {**UPSTREAM.as_dict(), "augmentation": None, "epochs": None, "seeds": None}
    with pytest.raises(ValueError, match=r"augmentation: unknown 'mixup'"):
        budget_config(UPSTREAM, "mixup", 5, [0])
    with pytest.raises(ValueError, match="seeds: expected a non-empty list"):
        budget_config(UPSTREAM, "none", 5, [])


def test_budgets_are_multiples_of_the_upstream_epochs_and_augmentations_suit_the_dataset():
    assert budget_epochs(8, [4, 1, 2]) == [8, 16, 32]
    with pytest.raises(ValueError, match=r"budget_multiples: expected a non-empty list of distinct positive integers"):
        budget_epochs(8, [1, 1])
    with pytest.raises(ValueError, match=r"budget_multiples: expected .*, got \[0.5, 1\]"):
        budget_epochs(8, [0.5, 1])
    check_augmentations("fashion_mnist", ["flip", "clothing", "clothing_erasing"])
    with pytest.raises(ValueError, match=r"mnist augmentations: expected a non-empty list of distinct names from "
                                         r"\['digits'\], got \['clothing'\]"):
        check_augmentations("mnist", ["clothing"])  # a mirrored 2 is no 2


def _runs(seeds, validation, test):
    return [{"seed": seed, "final_val_accuracy": v, "test_accuracy": t, "train_time_s": 1.0}
            for seed, v, t in zip(seeds, validation, test, strict=True)]


def test_gains_are_paired_by_seed_and_the_crossover_needs_every_larger_budget():
    points = [
        curve_point("plain", "none", 4, _runs([0, 1], [0.990, 0.980], [0.99, 0.98])),
        curve_point("plain", "none", 8, _runs([0, 1, 2], [0.991, 0.985, 0.5], [0.99, 0.98, 0.5])),
        curve_point("augmented", "digits", 4, _runs([0, 1], [0.985, 0.978], [0.98, 0.97])),
        curve_point("augmented", "digits", 8, _runs([0, 1], [0.995, 0.987], [0.99, 0.99])),
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
    converged = {**curve((4, -0.001), (8, 0.0)), "plain_last_gain": 0.0002, "plain_plateaued": True}
    assert "up to a budget where the plain arm had converged: no crossover. The plain arm had stopped improving " \
           "(+0.02 points over its last doubling)." in crossover_markdown("mnist", converged)
    short = {**curve((4, -0.003), (8, 0.002)), "plain_last_gain": 0.004, "plain_plateaued": False}
    assert "still improving (+0.40 points over its last doubling): the curve stops short of its plateau" in \
        crossover_markdown("mnist", short)


def _candidate(name, flops, *points):
    return {"architecture": name, "forward_flops": flops,
            "points": [{"epochs": epochs, "train_time_s": seconds, "val_accuracy": accuracy}
                       for epochs, seconds, accuracy in points]}


def test_the_screen_compares_within_the_slowest_candidates_shortest_budget_and_prefers_the_fastest_within_noise():
    fast = _candidate("cnn_regularized", 5e6, (3, 30.0, 0.990), (6, 60.0, 0.9920))
    slow = _candidate("cnn_batchnorm", 11e6, (3, 64.0, 0.9925), (6, 128.0, 0.9950))
    slowest = _candidate("resnet_mini", 14e6, (3, 75.0, 0.9890), (6, 150.0, 0.9990))
    rows = [fast, slow, slowest]
    # 6,000 validation images: one standard error at 99.25 % is 0.11 pp, so 99.20 % cannot be told from it.
    choice = choose_architecture(rows, validation_size=6000)
    assert choice["equal_time_s"] == 75.0  # resnet_mini's 3 epochs: every candidate has a point within it
    assert [row["val_accuracy_at_equal_time"] for row in rows] == [0.992, 0.9925, 0.989]
    assert [row["seconds_per_epoch"] for row in rows] == [10.0, 64.0 / 3, 25.0]
    assert choice["best"] == "cnn_batchnorm" and choice["best_val_accuracy"] == 0.9925
    assert choice["standard_error"] == pytest.approx((0.9925 * 0.0075 / 6000) ** 0.5)
    assert choice["within_one_standard_error"] == ["cnn_regularized", "cnn_batchnorm"]
    assert choice["chosen"] == "cnn_regularized"  # the fastest per epoch of the two
    assert "cnn_regularized is within one standard error (0.11 pp) of it, so the fastest per epoch of these, " \
           "**cnn_regularized**, is chosen." in screen_choice_sentence(choice)
    three = [*rows, _candidate("fashion_cnn_bn", 8e6, (3, 70.0, 0.9921), (6, 140.0, 0.996))]
    assert "cnn_regularized and fashion_cnn_bn are within one standard error" in \
        screen_choice_sentence(choose_architecture(three, validation_size=6000))
    # On 600 images one standard error at 93 % is 1.04 pp: a lead of 2 points stands alone.
    clear = [_candidate("cnn_regularized", 5e6, (3, 30.0, 0.900), (6, 60.0, 0.910)),
             _candidate("cnn_batchnorm", 11e6, (3, 64.0, 0.930), (6, 128.0, 0.940))]
    choice = choose_architecture(clear, validation_size=600)
    assert choice["chosen"] == "cnn_batchnorm" and choice["within_one_standard_error"] == ["cnn_batchnorm"]
    assert "no other candidate is within one standard error (1.04 pp) of it, so **cnn_batchnorm** is chosen." in \
        screen_choice_sentence(choice)
    with pytest.raises(ValueError, match="screen: expected at least one candidate"):
        choose_architecture([], validation_size=6000)
    with pytest.raises(ValueError, match="validation_size: expected a positive number of images, got 0"):
        choose_architecture(rows, validation_size=0)


def test_the_final_point_is_the_best_on_validation_plain_or_augmented():
    points = [
        curve_point("plain", "none", 4, _runs([0, 1], [0.990, 0.980], [0.5, 0.5])),
        curve_point("plain", "none", 8, _runs([0, 1], [0.992, 0.990], [0.5, 0.5])),
        curve_point("augmented", "digits", 4, _runs([0, 1], [0.985, 0.978], [0.99, 0.99])),  # best on test: ignored
        curve_point("augmented", "digits", 8, _runs([0, 1], [0.990, 0.987], [0.99, 0.99])),
    ]
    assert (final_point(points)["arm"], final_point(points)["epochs"]) == ("plain", 8)
    tie = [curve_point("augmented", "digits", 4, _runs([0], [0.99], [0.9])),
           curve_point("plain", "none", 4, _runs([0], [0.99], [0.9])),
           curve_point("plain", "none", 2, _runs([0], [0.99], [0.9]))]
    assert (final_point(tie)["arm"], final_point(tie)["epochs"]) == ("plain", 2)  # smaller budget, then plain
    with pytest.raises(ValueError, match="points: the budget curve is empty"):
        final_point([])


def test_the_final_stops_short_only_at_the_largest_budget_of_an_arm_still_improving():
    def arm(name, values_by_epochs):
        return [curve_point(name, "none" if name == "plain" else "digits", epochs, _runs([0, 1], values, [0.5, 0.5]))
                for epochs, values in values_by_epochs]

    # plain: +0.05 points over its last doubling, within the seeds' spread (0.14 points): at its plateau.
    # augmented: +0.50 points, identical seeds (no spread): still improving.
    points = arm("plain", [(8, [0.990, 0.988]), (16, [0.993, 0.991]), (32, [0.9935, 0.9915])]) \
        + arm("augmented", [(8, [0.985, 0.985]), (16, [0.990, 0.990]), (32, [0.995, 0.995])])
    plateaued = final_convergence(points, {"arm": "plain", "epochs": 32})
    assert not plateaued["stopped_short"] and plateaued["last_gain"] == pytest.approx(0.0005)
    assert "had stopped improving (+0.05 points on validation over its last doubling" in \
        convergence_sentence(plateaued)
    short = final_convergence(points, {"arm": "augmented", "epochs": 32})
    assert short["stopped_short"] and short["last_gain"] == pytest.approx(0.005)
    assert convergence_sentence(short).endswith("(+0.50 points on validation over its last doubling): the final "
                                                    "stops short of its plateau.")
    earlier = final_convergence(points, {"arm": "plain", "epochs": 16})
    assert not earlier["stopped_short"] and "(up to 32 epochs): 16 epochs is past its plateau" in \
        convergence_sentence(earlier)
    one_budget = final_convergence(points[:1], {"arm": "plain", "epochs": 8})
    assert one_budget["stopped_short"] and one_budget["last_gain"] is None
    assert "unknown" in convergence_sentence(one_budget)


def test_an_accuracy_beside_its_target_never_rounds_onto_a_missed_target():
    assert percent_against_target(0.99296667, 0.993) == "99.297"  # "99.30" would read as met
    assert percent_against_target(0.9930, 0.993) == "99.30"
    assert percent_against_target(0.99441, 0.994) == "99.44"
    assert percent_against_target(0.9212, 0.925) == "92.12"


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


