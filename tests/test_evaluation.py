"""Metrics agree with scikit-learn and with small hand-computed cases."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_score, recall_score

from mnist_study.analysis.evaluation import (
    accuracy_coverage,
    apply_temperature,
    classification_report,
    expected_calibration_error,
    fit_temperature,
    mcnemar_exact,
    most_confused_pairs,
    summarize_over_seeds,
)

CLASSES = ["a", "b", "c"]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_report_matches_sklearn(predictions):
    labels, probabilities = predictions
    predicted = probabilities.argmax(axis=1)
    report = classification_report(labels, probabilities, CLASSES)
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert report["loss"] == pytest.approx(log_loss(labels, probabilities))
    assert report["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    np.testing.assert_allclose(report["confusion_matrix_normalized"],
                               confusion_matrix(labels, predicted, normalize="true"))
    for metric, key in ((precision_score, "precision"), (recall_score, "recall"), (f1_score, "f1")):
        expected = metric(labels, predicted, average=None)
        np.testing.assert_allclose([row[key] for row in report["per_class"]], expected)
    assert [row["support"] for row in report["per_class"]] == np.bincount(labels).tolist()
    assert report["error_count"] == int((predicted != labels).sum())


def test_example_indices_are_sorted_by_confidence(predictions):
    labels, probabilities = predictions
    report = classification_report(labels, probabilities, CLASSES, examples=10)
    wrong, right = report["misclassified_indices"], report["confident_correct_indices"]
    confidence = probabilities.max(axis=1)
    assert all(probabilities[i].argmax() != labels[i] for i in wrong)
    assert all(probabilities[i].argmax() == labels[i] for i in right)
    assert list(confidence[wrong]) == sorted(confidence[wrong], reverse=True)
    assert confidence[right[0]] == confidence[labels == probabilities.argmax(axis=1)].max()


def test_most_confused_pairs_by_hand():
    counts = np.array([[50, 3, 0], [7, 40, 1], [0, 0, 9]])
    assert most_confused_pairs(counts, CLASSES, top=5) == [
        {"true": "b", "predicted": "a", "count": 7},
        {"true": "a", "predicted": "b", "count": 3},
        {"true": "b", "predicted": "c", "count": 1},
    ]


def test_summarize_over_seeds_by_hand():
    summary = summarize_over_seeds([0.97, 0.98, 0.99])
    assert summary["mean"] == pytest.approx(0.98)
    assert summary["std"] == pytest.approx(0.01)  # sample std, ddof=1
    half_width = 4.302653 * 0.01 / np.sqrt(3)  # t(0.975, df=2)
    assert summary["ci95_low"] == pytest.approx(0.98 - half_width, abs=1e-7)
    assert summary["ci95_high"] == pytest.approx(0.98 + half_width, abs=1e-7)
    # Equal values (two seeds that land on the same count of a small split): a point interval, not scipy's NaN.
    assert summarize_over_seeds([0.5, 0.5]) == {"n": 2, "mean": 0.5, "std": 0.0, "ci95_low": 0.5, "ci95_high": 0.5}
    single = summarize_over_seeds([0.5])
    assert single == {"n": 1, "mean": 0.5, "std": None, "ci95_low": None, "ci95_high": None}
    with pytest.raises(ValueError, match="empty list"):
        summarize_over_seeds([])


def test_mcnemar_known_case():
    # 10 discordant pairs, split 9 to 1: exact two-sided p = 2 * (1 + 10) / 2**10 = 0.021484375.
    labels = np.zeros(30, dtype=int)
    a = np.zeros(30, dtype=int)
    b = np.zeros(30, dtype=int)
    b[:9] = 1  # only a is right
    a[9] = 1  # only b is right
    result = mcnemar_exact(labels, a, b)
    assert (result["only_a_correct"], result["only_b_correct"]) == (9, 1)
    assert result["p_value"] == pytest.approx(0.021484375)
    assert mcnemar_exact(labels, a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="mismatched array lengths"):
        mcnemar_exact(labels, a[:5], b)


def test_expected_calibration_error_by_hand():
    # Two bins used: confidence 0.9 (2 right of 2) and 0.6 (1 right of 2).
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 0, 0, 0])
    result = expected_calibration_error(labels, probabilities, n_bins=10)
    # |1.0 - 0.9| * 2/4 + |0.5 - 0.6| * 2/4 = 0.1
    assert result["ece"] == pytest.approx(0.1)
    assert sum(result["bin_counts"]) == 4 and result["bin_counts"][8] == 2 and result["bin_counts"][5] == 2
    perfect = expected_calibration_error(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert perfect["ece"] == 0.0


def test_report_rejects_mismatched_lengths(predictions):
    labels, probabilities = predictions
    with pytest.raises(ValueError, match=r"mismatched array lengths: \{'labels': 499, 'probabilities': 500\}"):
        classification_report(labels[:-1], probabilities, CLASSES)


def test_temperature_scaling_fixes_an_over_confident_model():
    # A model 70 % right that always claims 99 %: the fitted temperature must soften it and cut the ECE.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    predicted = np.where(rng.random(3000) < 0.7, labels, (labels + 1) % 3)
    probabilities = np.full((3000, 3), 0.005)
    probabilities[np.arange(3000), predicted] = 0.99
    temperature = fit_temperature(labels, probabilities)
    assert temperature > 1.5
    before = expected_calibration_error(labels, probabilities)["ece"]
    after = expected_calibration_error(labels, apply_temperature(probabilities, temperature))["ece"]
    assert before == pytest.approx(0.29, abs=0.02) and after < 0.03
    assert np.array_equal(apply_temperature(probabilities, temperature).argmax(axis=1), predicted)
    with pytest.raises(ValueError, match="temperature: expected a positive number, got 0"):
        apply_temperature(probabilities, 0)


def test_accuracy_coverage_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 0])  # by confidence: right, wrong, right, wrong
    curve = accuracy_coverage(labels, probabilities, points=4)
    assert curve["coverage"] == [0.25, 0.5, 0.75, 1.0]
    assert curve["accuracy"] == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
