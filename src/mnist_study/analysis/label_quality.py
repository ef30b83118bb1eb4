"""Which test "mistakes" are the labels': confident learning (cleanlab) on the study's out-of-sample probabilities,
calibrated first, and every disagreement between the models and a label ranked for a person to review."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from matplotlib.figure import Figure

from mnist_study.figure_style import styled


def consensus_probabilities(model_probabilities: dict[str, np.ndarray]) -> np.ndarray:
    """The mean over models of each model's mean over seeds: every architecture gets one vote, whatever its seeds.

    `model_probabilities` maps a model's name to its test probabilities, shape (seeds, n, classes) or (n, classes).
    """
    if not model_probabilities:
        raise ValueError("model_probabilities: expected at least one model's test probabilities")
    per_model = {name: np.asarray(values, dtype=np.float64).reshape(-1, *np.shape(values)[-2:]).mean(axis=0)
                 for name, values in model_probabilities.items()}
    shapes = {name: values.shape for name, values in per_model.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"model_probabilities: models disagree on shape: {shapes}")
    return np.mean(list(per_model.values()), axis=0)


def label_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """Likely label errors, most severe first: {index, given_label, suggested_label, score}.

    cleanlab's confident learning (prune by noise rate) decides which examples are suspects; `score` is the
    self-confidence label quality (the probability given to the given label: lower is more suspect).
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"probabilities: expected shape ({len(labels)}, classes), got {probabilities.shape}")
    ranked = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    scores = get_label_quality_scores(labels, probabilities, method="self_confidence")
    return [{"index": int(index), "given_label": int(labels[index]),
             "suggested_label": int(probabilities[index].argmax()), "score": float(scores[index])}
            for index in ranked]


def disagreements(labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """Every image whose most probable class is not its label, most suspect first by cleanlab's label-quality
    score (self-confidence: the probability of the given label), for a person to review."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"probabilities: expected shape ({len(labels)}, classes), got {probabilities.shape}")
    scores = get_label_quality_scores(labels, probabilities, method="self_confidence")
    disputed = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    ranked = disputed[np.argsort(scores[disputed], kind="stable")]
    return [{"index": int(index), "given_label": int(labels[index]),
             "suggested_label": int(probabilities[index].argmax()), "score": float(scores[index])}
            for index in ranked]


def confident_counts(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Why confident learning finds what it finds: an image counts as another class's only where that class's
    probability reaches the class's threshold, the mean probability of the class over the images labelled with
    it. The thresholds, the highest probability any image gives a class other than its label, and how many
    images reach a threshold."""
    labels = np.asarray(labels)
    classes = probabilities.shape[1]
    thresholds = np.array([probabilities[labels == label, label].mean() for label in range(classes)])
    others = probabilities.copy()
    others[np.arange(len(labels)), labels] = -1.0
    reaching = (others >= thresholds[None, :]).any(axis=1)
    return {"thresholds": thresholds.tolist(), "mean_threshold": float(thresholds.mean()),
            "highest_other_class_probability": float(others.max()), "images_reaching_a_threshold": int(reaching.sum())}


def accuracy_without(predictions: np.ndarray, labels: np.ndarray, excluded: list[int]) -> float:
    """Accuracy on every image except the `excluded` indices (the suspects)."""
    keep = np.ones(len(labels), dtype=bool)
    keep[list(excluded)] = False
    return float(np.mean(predictions[keep] == labels[keep]))


@styled
def suspects_figure(images: np.ndarray, issues: list[dict], probabilities: np.ndarray, class_names: list[str],
                    title: str, columns: int = 8) -> Figure:
    """The top suspects: each image with its given label, the label the models agree on, and their confidence."""
    rows = max(1, -(-len(issues) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.55, rows * 1.95), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, issue in zip(axes.flat, issues, strict=False):
        index, given, suggested = issue["index"], issue["given_label"], issue["suggested_label"]
        axis.imshow(images[index], cmap="gray_r", vmin=0, vmax=255)
        axis.set_title(f"#{index}\ngiven {class_names[given][:9]}\nmodels {class_names[suggested][:9]} "
                       f"{probabilities[index, suggested]:.0%}", fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
