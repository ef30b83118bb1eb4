"""Test-set metrics, seed statistics, McNemar's test and calibration, built on scikit-learn and SciPy."""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support


def _check_lengths(**arrays) -> None:
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"mismatched array lengths: {lengths}")


def classification_report(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str],
                          top_pairs: int = 10, examples: int = 25) -> dict:
    """Everything the notebooks report about one model on one labelled set, as plain JSON-able values."""
    _check_lengths(labels=labels, probabilities=probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(f"probabilities: expected shape (N, {len(class_names)}), got {probabilities.shape}")
    class_ids = list(range(len(class_names)))
    predictions = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=class_ids, zero_division=0)
    counts = confusion_matrix(labels, predictions, labels=class_ids)
    wrong = np.flatnonzero(predictions != labels)
    right = np.flatnonzero(predictions == labels)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "loss": float(log_loss(labels, probabilities, labels=class_ids)),
        "error_count": int(len(wrong)),
        "per_class": [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
        ],
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalized": confusion_matrix(labels, predictions, labels=class_ids,
                                                        normalize="true").tolist(),  # recall per true class
        "most_confused": most_confused_pairs(counts, class_names, top_pairs),
        # Most confident mistakes first: those are the interesting ones to look at.
        "misclassified_indices": wrong[np.argsort(-confidence[wrong], kind="stable")][:examples].tolist(),
        "confident_correct_indices": right[np.argsort(-confidence[right], kind="stable")][:examples].tolist(),
    }


def most_confused_pairs(counts: np.ndarray, class_names: list[str], top: int = 10) -> list[dict]:
    """The largest off-diagonal confusion-matrix cells, as (true, predicted, count), largest first."""
    off_diagonal = counts.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:top]
    pairs = []
    for flat_index in order:
        true, predicted = np.unravel_index(flat_index, counts.shape)
        if off_diagonal[true, predicted] == 0:
            break
        pairs.append({"true": class_names[true], "predicted": class_names[predicted],
                      "count": int(off_diagonal[true, predicted])})
    return pairs


def summarize_over_seeds(values: list[float], confidence: float = 0.95) -> dict:
    """Mean, sample standard deviation (ddof=1) and a Student-t confidence interval of the mean."""
    if len(values) == 0:
        raise ValueError("values: expected at least one value, got an empty list")
    array = np.asarray(values, dtype=float)
    summary = {"n": len(array), "mean": float(array.mean()), "std": None, "ci95_low": None, "ci95_high": None}
    if len(array) > 1:
        sem = stats.sem(array)
        # scipy returns NaN for a zero scale; equal values (a handful of seeds on a small split) have a point interval.
        low, high = (stats.t.interval(confidence, df=len(array) - 1, loc=summary["mean"], scale=sem) if sem > 0
                     else (summary["mean"], summary["mean"]))
        summary.update(std=float(array.std(ddof=1)), ci95_low=float(low), ci95_high=float(high))
    return summary


def mcnemar_exact(labels: np.ndarray, predictions_a: np.ndarray, predictions_b: np.ndarray) -> dict:
    """Exact (binomial) McNemar test of two classifiers on the same examples."""
    _check_lengths(labels=labels, predictions_a=predictions_a, predictions_b=predictions_b)
    correct_a, correct_b = predictions_a == labels, predictions_b == labels
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    discordant = only_a + only_b
    # With no disagreements there is no evidence either way.
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(only_a, discordant, 0.5).pvalue)
    return {"only_a_correct": only_a, "only_b_correct": only_b, "p_value": p_value}


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = 15) -> dict:
    """ECE over equal-width confidence bins, with the per-bin values a reliability diagram needs."""
    _check_lengths(labels=labels, probabilities=probabilities)
    if n_bins <= 0:
        raise ValueError(f"n_bins: expected a positive integer, got {n_bins}")
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (low, high]; a confidence of exactly 0 falls into the first bin.
    bin_ids = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(bin_ids, minlength=n_bins)
    accuracy = np.bincount(bin_ids, weights=correct, minlength=n_bins)
    mean_confidence = np.bincount(bin_ids, weights=confidence, minlength=n_bins)
    filled = counts > 0
    accuracy[filled] /= counts[filled]
    mean_confidence[filled] /= counts[filled]
    ece = float(np.sum(counts / len(labels) * np.abs(accuracy - mean_confidence)))
    return {"ece": ece, "bin_edges": edges.tolist(), "bin_counts": counts.tolist(),
            "bin_accuracy": accuracy.tolist(), "bin_confidence": mean_confidence.tolist()}


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of log-probabilities divided by `temperature` (> 1 softens, < 1 sharpens)."""
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)  # classes last: (n, classes), or (seeds, n, classes)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The temperature minimizing negative log-likelihood on held-out data (Guo et al. 2017)."""
    _check_lengths(labels=labels, probabilities=probabilities)

    def negative_log_likelihood(log_temperature: float) -> float:
        scaled = apply_temperature(probabilities, float(np.exp(log_temperature)))
        return float(-np.mean(np.log(np.clip(scaled[np.arange(len(labels)), labels], 1e-12, 1.0))))

    # Searched on log T so that 0.5 and 2 are equally far from 1.
    result = optimize.minimize_scalar(negative_log_likelihood, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def accuracy_coverage(labels: np.ndarray, probabilities: np.ndarray, points: int = 20) -> dict:
    """Accuracy on the most confident fraction of examples, for coverage from 1/points to 1."""
    _check_lengths(labels=labels, probabilities=probabilities)
    order = np.argsort(-probabilities.max(axis=1), kind="stable")
    correct = (probabilities.argmax(axis=1) == labels)[order]
    coverage = np.linspace(1 / points, 1.0, points)
    kept = np.maximum(1, np.round(coverage * len(labels)).astype(int))
    return {"coverage": coverage.tolist(), "accuracy": [float(correct[:count].mean()) for count in kept]}
