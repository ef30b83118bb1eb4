"""The best-model study's pieces: the screen's choice, each arm's budget by the paired spread, the paired gain and
its interval, McNemar per seed, the final arm, ensembles; and the sentences written from them."""

import numpy as np
import pytest
from scipy import stats

from mnist_study.reports.best_models_text import (
    finals_markdown,
    literature_markdown,
    missed_targets_markdown,
    screen_choice_sentence,
    screen_markdown,
)
from mnist_study.reports.study_text import percent_against_target
from mnist_study.study.best_models import (
    architecture_of,
    arm_augmentations,
    budget_point,
    check_augmentations,
    choose_architecture,
    choose_budget,
    ensemble_curve,
    ensemble_probabilities,
    final_arm,
    final_model_name,
    mcnemar_by_seed,
    paired_gain,
)


def _candidate(name, flops, *points):
    """A screen row; each point is (epochs, mean seconds, validation accuracy on seeds 0 and 1)."""
    return {"architecture": name, "forward_flops": flops, "parameters": 100_000,
            "points": [{"epochs": epochs, "train_time_s": seconds, "val_accuracy": float(np.mean(by_seed)),
                        "val_accuracy_by_seed": by_seed} for epochs, seconds, by_seed in points]}


def _screen(rows):
    return {"budgets": [3, 6], "seeds": [0, 1], **choose_architecture(rows), "rows": rows}


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


def test_the_screen_compares_within_the_slowest_candidates_shortest_budget_and_prefers_the_fastest_within_noise():
    fast = _candidate("cnn_regularized", 5e6, (3, 30.0, [0.990, 0.990]), (6, 60.0, [0.9905, 0.9935]))
    slow = _candidate("cnn_batchnorm", 11e6, (3, 64.0, [0.9920, 0.9930]), (6, 128.0, [0.995, 0.995]))
    slowest = _candidate("resnet_mini", 14e6, (3, 75.0, [0.9890, 0.9890]), (6, 150.0, [0.999, 0.999]))
    rows = [fast, slow, slowest]
    screen = _screen(rows)
    assert screen["equal_time_s"] == 75.0  # resnet_mini's 3 epochs: every candidate has a point within it
    assert [row["val_accuracy_at_equal_time"] for row in rows] == pytest.approx([0.992, 0.9925, 0.989])
    assert [row["val_accuracy_by_seed_at_equal_time"] for row in rows] == [[0.9905, 0.9935], [0.9920, 0.9930],
                                                                          [0.9890, 0.9890]]
    assert [row["seconds_per_epoch"] for row in rows] == [10.0, 64.0 / 3, 25.0]
    assert screen["best"] == "cnn_batchnorm" and screen["best_val_accuracy"] == pytest.approx(0.9925)
    # The best minus cnn_regularized, seed by seed: +0.15 and -0.05 pp, so the paired SE is 0.10 pp, twice the
    # 0.05 pp gap of the means; resnet_mini trails by 0.30 and 0.40 pp, a paired SE of 0.05 pp.
    assert [row["paired_standard_error"] for row in rows] == pytest.approx([0.001, 0.0, 0.0005])
    assert screen["within_one_standard_error"] == ["cnn_regularized", "cnn_batchnorm"]
    assert screen["chosen"] == "cnn_regularized"  # the fastest per epoch of the two
    assert "cnn_regularized (-0.05 pp, paired SE 0.10 pp) is within one paired standard error of it over seeds 0 " \
           "and 1, so the fastest per epoch of these, **cnn_regularized**, is chosen." in screen_choice_sentence(screen)
    assert "| cnn_regularized | 100,000 | 5.00 | 10 | 99.00 (30) | 99.20 (60) | 99.20 (within 1 SE of the best) | " \
           "-0.05 pp, paired SE 0.10 pp |" in screen_markdown(screen)
    three = [*rows, _candidate("fashion_cnn_bn", 8e6, (3, 70.0, [0.9910, 0.9932]), (6, 140.0, [0.996, 0.996]))]
    assert "cnn_regularized (-0.05 pp, paired SE 0.10 pp) and fashion_cnn_bn (-0.04 pp, paired SE 0.06 pp) are " \
           "within one paired standard error" in screen_choice_sentence(_screen(three))
    # A small gap that every seed repeats is told apart: 0.2 pp behind on both seeds has no spread to hide in.
    clear = [_candidate("cnn_regularized", 5e6, (3, 30.0, [0.990, 0.991]), (6, 60.0, [0.990, 0.991])),
             _candidate("cnn_batchnorm", 11e6, (3, 64.0, [0.992, 0.993]), (6, 128.0, [0.992, 0.993]))]
    screen = _screen(clear)
    assert screen["chosen"] == "cnn_batchnorm" and screen["within_one_standard_error"] == ["cnn_batchnorm"]
    assert "no other candidate is within one paired standard error of it over seeds 0 and 1, so **cnn_batchnorm** " \
           "is chosen." in screen_choice_sentence(screen)
    with pytest.raises(ValueError, match="screen: expected at least one candidate"):
        choose_architecture([])
    uneven = [*clear, _candidate("resnet_mini", 14e6, (3, 75.0, [0.99]), (6, 150.0, [0.99]))]
    with pytest.raises(ValueError, match=r"screen: the candidates ran different numbers of seeds \(\[1, 2\]\)"):
        choose_architecture(uneven)


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


def _point(arm, epochs, validation, test=None):
    runs = [{"seed": seed, "final_val_accuracy": value, "test_accuracy": (test or validation)[seed],
             "train_time_s": 10.0 * epochs} for seed, value in enumerate(validation)]
    return budget_point(arm, "none" if arm == "plain" else "digits", epochs, runs)


def test_an_arm_takes_the_shorter_budget_unless_the_longer_beats_it_by_more_than_the_paired_spread():
    # The longer budget is better on every seed by about 0.05 pp: a small but consistent gain is kept.
    short, long = _point("plain", 9, [0.9930, 0.9940, 0.9935]), _point("plain", 27, [0.9935, 0.9946, 0.9940])
    choice = choose_budget([short, long])
    assert choice["epochs"] == 27 and choice["within_one_standard_error"] == [27] and choice["at_longest"]
    assert choice["last_gain_per_epoch"] == pytest.approx((0.99403333 - 0.99350) / 18, rel=1e-4)
    # Better on average, but up on one seed and down on another: within one paired standard error.
    noisy = _point("plain", 27, [0.9960, 0.9920, 0.9940])
    choice = choose_budget([short, noisy])
    assert choice["best_epochs"] == 27 and choice["epochs"] == 9 and choice["within_one_standard_error"] == [9, 27]
    # An arm that overfits is judged where it is best.
    assert choose_budget([short, _point("plain", 27, [0.9900, 0.9910, 0.9905])])["epochs"] == 9


def test_the_gain_is_paired_by_seed_with_a_t_interval_and_mcnemar_counts_each_seeds_disagreements():
    plain = _point("plain", 9, [0.990, 0.991, 0.992, 0.989, 0.990], [0.991, 0.992, 0.990, 0.993, 0.991])
    augmented = _point("augmented", 27, [0.993, 0.993, 0.994, 0.992, 0.994], [0.994, 0.993, 0.994, 0.995, 0.993])
    gain = paired_gain(plain, augmented, "test_accuracy_by_seed")
    differences = np.subtract(augmented["test_accuracy_by_seed"], plain["test_accuracy_by_seed"])
    assert gain["by_seed"] == pytest.approx(differences) and gain["mean"] == pytest.approx(differences.mean())
    low, high = stats.t.interval(0.95, 4, loc=differences.mean(), scale=stats.sem(differences))
    assert (gain["ci95_low"], gain["ci95_high"]) == (pytest.approx(low), pytest.approx(high))
    with pytest.raises(ValueError, match="the arms ran different seeds"):
        paired_gain(plain, _point("augmented", 27, [0.99, 0.99]), "test_accuracy_by_seed")
    labels = np.array([0, 1, 1, 0])
    one_hot = np.eye(2)
    tests = mcnemar_by_seed(labels, [one_hot[[0, 1, 0, 1]]], [one_hot[[0, 1, 1, 0]]], [7])
    assert tests == [{"seed": 7, "only_a_correct": 0, "only_b_correct": 2, "p_value": 0.5}]
    assert final_arm({"plain": plain, "augmented": augmented}) == "augmented"
    assert final_arm({"plain": plain, "augmented": {**augmented, "val_accuracy": plain["val_accuracy"]}}) == "plain"


def test_the_literature_sentence_follows_the_interval():
    literature = [("Simard et al. 2003", "CNN, elastic distortions", 0.996)]
    measured = [("final, single models", 0.9958)]

    def answer(low, high):
        gain = {"mean": (low + high) / 2, "ci95_low": low, "ci95_high": high}
        return literature_markdown(literature, measured, {"test_gain": gain})

    assert "| this notebook | final, single models | 99.58 |" in answer(0.001, 0.003)
    assert "augmentation pays here" in answer(0.001, 0.003)
    assert "costs accuracy here, against the literature" in answer(-0.003, -0.001)
    assert "holds zero: these seeds cannot tell the arms apart" in answer(-0.001, 0.002)


def test_each_arm_augments_what_its_dataset_allows():
    assert arm_augmentations("plain", ["digits"]) == ["none"]
    assert arm_augmentations("augmented", ["digits", "digits_affine"]) == ["digits", "digits_affine"]
    check_augmentations("mnist", ["digits", "digits_affine"])
    check_augmentations("fashion_mnist", ["clothing", "clothing_erasing"])
    with pytest.raises(ValueError, match="mnist augmentations: expected a non-empty list of distinct names from"):
        check_augmentations("mnist", ["clothing"])  # a mirrored 2 is no 2
    with pytest.raises(ValueError, match="arm: unknown 'mixup'"):
        arm_augmentations("mixup", ["digits"])


def test_a_missed_target_is_told_in_images_with_the_validation_slope_behind_it():
    rows = [{"what": "single model, mean over seeds", "target": 0.996, "achieved": 0.9964, "met": True},
            {"what": "ensemble of the seeds", "target": 0.997, "achieved": 0.9967, "met": False}]
    rising = {"epochs": 27, "best_epochs": 27, "last_gain_per_epoch": 6e-05, "at_longest": True}
    text = missed_targets_markdown(rows, rising, 10_000)
    assert "single model" not in text  # met: nothing to explain
    assert text.startswith("The ensemble of the seeds misses 99.7 % by 3 test images.")
    assert "rising there by 0.0060 pp per epoch" in text and "about 5 more epochs" in text
    overfit = {**rising, "epochs": 9, "last_gain_per_epoch": -1e-05, "at_longest": False}
    assert "more epochs of this recipe are not the remedy" in missed_targets_markdown(rows, overfit, 10_000)
    one = {**rising, "last_gain_per_epoch": None}
    assert "Only one budget was trained" in missed_targets_markdown(rows, one, 10_000)
    assert missed_targets_markdown(rows[:1], rising, 10_000) == ""


def test_the_ensemble_line_gives_each_size_beside_the_mean_single_model():
    final = {"model": "cnn_regularized_augmented", "epochs": 27}
    summary = {"test_accuracy": {"n": 5, "mean": 0.99642, "std": 0.0005}}
    ensemble = {"members": 3, "accuracy": 0.9967, "accuracy_by_size": [0.997, 0.9969, 0.9967]}
    line = finals_markdown(final, summary, ensemble, None).splitlines()[-1]
    assert line == ("- **Ensemble** of the 3 seeds: 99.67 % (of the first 1, 2, ... seeds: 99.70, 99.69, 99.67 %; "
                    "an ensemble of one is the first seed alone, against the mean single model's 99.64 %).")
