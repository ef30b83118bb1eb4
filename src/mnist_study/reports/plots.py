"""Figures of the study: each function takes data and returns a matplotlib Figure; saving is separate."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from mnist_study.figure_style import styled
from mnist_study.workflow.artifacts import write_atomically

HISTORY_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write a PNG at 150 dpi with no version/time metadata (same bytes on re-run), atomically."""
    return write_atomically(path, lambda temporary: figure.savefig(
        temporary, dpi=150, format="png", bbox_inches="tight", metadata={"Software": None}))


def _image_grid(count: int, columns: int, cell: float = 1.4) -> tuple[Figure, np.ndarray]:
    rows = max(1, int(np.ceil(count / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * cell, rows * (cell + 0.25)), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    return figure, axes.flat


@styled
def sample_grid(images: np.ndarray, labels: np.ndarray, class_names: list[str], title: str,
                columns: int = 10) -> Figure:
    """Images with their labels, one per cell."""
    figure, axes = _image_grid(len(images), columns)
    for axis, image, label in zip(axes, images, labels, strict=False):
        axis.imshow(np.squeeze(image), cmap="gray_r")
        axis.set_title(class_names[label], fontsize=8)
    figure.suptitle(title)
    return figure


@styled
def mean_images(images: np.ndarray, labels: np.ndarray, class_names: list[str], title: str) -> Figure:
    """The pixel-wise mean image of every class."""
    figure, axes = _image_grid(len(class_names), len(class_names))
    for axis, class_id in zip(axes, range(len(class_names)), strict=False):
        axis.imshow(images[labels == class_id].mean(axis=0), cmap="gray_r")
        axis.set_title(class_names[class_id], fontsize=8)
    figure.suptitle(title)
    return figure


@styled
def class_distribution(label_sets: dict[str, np.ndarray], class_names: list[str], title: str) -> Figure:
    """Count of each class, one group of bars per class and one bar per split."""
    figure, axis = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(label_sets)
    positions = np.arange(len(class_names))
    for offset, (split_name, labels) in enumerate(label_sets.items()):
        counts = np.bincount(labels, minlength=len(class_names))
        axis.bar(positions + offset * width, counts, width, label=split_name)
    axis.set_xticks(positions + width * (len(label_sets) - 1) / 2, class_names, rotation=30)
    axis.set_ylabel("images")
    axis.set_title(title)
    axis.legend()
    return figure


@styled
def pixel_histogram(image_sets: dict[str, np.ndarray], title: str) -> Figure:
    """Distribution of pixel intensities per split (log scale: most pixels are background)."""
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for split_name, images in image_sets.items():
        axis.hist(images.ravel(), bins=64, range=(0, 255), density=True, histtype="step", label=split_name)
    axis.set_yscale("log")
    axis.set_xlabel("pixel intensity (0-255)")
    axis.set_ylabel("density")
    axis.set_title(title)
    axis.legend()
    return figure


@styled
def training_curves(histories: dict[str, dict[str, list[float]]], title: str) -> Figure:
    """Loss and accuracy per epoch; solid = training, dashed = validation, one colour per run."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for colour, (run_name, history) in zip(sns.color_palette(n_colors=len(histories)), histories.items(), strict=True):
        epochs = np.arange(1, len(history["loss"]) + 1)
        for axis, (key, _) in zip(axes, HISTORY_PANELS, strict=True):
            axis.plot(epochs, history[key], color=colour, label=f"{run_name} train")
            axis.plot(epochs, history[f"val_{key}"], color=colour, linestyle="--", label=f"{run_name} validation")
    for axis, (_, label) in zip(axes, HISTORY_PANELS, strict=True):
        axis.set_xlabel("epoch")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


@styled
def confusion_heatmaps(counts: np.ndarray, normalized: np.ndarray, class_names: list[str], title: str) -> Figure:
    """Confusion matrix as counts and row-normalized (recall per true class)."""
    figure, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    sns.heatmap(np.asarray(counts), annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0],
                xticklabels=class_names, yticklabels=class_names, annot_kws={"fontsize": 7})
    sns.heatmap(np.asarray(normalized), annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=axes[1],
                xticklabels=class_names, yticklabels=class_names, annot_kws={"fontsize": 7})
    for axis, kind in zip(axes, ("counts", "normalized by true class"), strict=True):
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(f"{title}: {kind}")
    figure.tight_layout()
    return figure


@styled
def prediction_grid(images: np.ndarray, true_labels: np.ndarray, probabilities: np.ndarray,
                    class_names: list[str], title: str, columns: int = 8) -> Figure:
    """Examples with true label, prediction and its confidence (red title when wrong)."""
    figure, axes = _image_grid(len(images), columns, cell=1.6)
    for axis, image, true, probs in zip(axes, images, true_labels, probabilities, strict=False):
        predicted = int(np.argmax(probs))
        axis.imshow(np.squeeze(image), cmap="gray_r")
        axis.set_title(f"true {class_names[true]}\npred {class_names[predicted]} {probs[predicted]:.0%}",
                       fontsize=7, color="black" if predicted == true else "crimson")
    figure.suptitle(title)
    return figure


@styled
def confidence_histogram(labels: np.ndarray, probabilities: np.ndarray, title: str) -> Figure:
    """Top-class confidence for correct versus wrong predictions."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    figure, axis = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(0, 1, 41)
    axis.hist(confidence[correct], bins=bins, density=True, alpha=0.6, label=f"correct ({correct.sum()})")
    axis.hist(confidence[~correct], bins=bins, density=True, alpha=0.6, label=f"wrong ({(~correct).sum()})")
    axis.set_xlabel("confidence of the predicted class")
    axis.set_ylabel("density")
    axis.set_title(title)
    axis.legend()
    return figure


@styled
def model_comparison(names: list[str], accuracy_mean: list[float], accuracy_std: list[float | None],
                     parameters: list[int], train_time_s: list[float], title: str) -> Figure:
    """Test accuracy (mean ± std over seeds), parameter count and training time per model."""
    figure, axes = plt.subplots(1, 3, figsize=(15, max(3.0, 0.45 * len(names) + 1.5)))
    positions = np.arange(len(names))
    errors = [std or 0.0 for std in accuracy_std]
    axes[0].barh(positions, np.asarray(accuracy_mean) * 100, xerr=np.asarray(errors) * 100, capsize=3)
    low = max(0.0, min(accuracy_mean) * 100 - 2)
    axes[0].set_xlim(low, 100)
    axes[0].set_title("test accuracy (%), mean ± std")
    axes[1].barh(positions, parameters)
    axes[1].set_xscale("log")
    axes[1].set_title("parameters")
    axes[2].barh(positions, train_time_s)
    axes[2].set_title("training time per run (s)")
    for axis in axes:
        axis.set_yticks(positions, names if axis is axes[0] else [""] * len(names))
        axis.invert_yaxis()
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _draw_reliability(axis, calibration: dict, title: str) -> None:
    edges = np.asarray(calibration["bin_edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    filled = np.asarray(calibration["bin_counts"]) > 0
    axis.bar(centres[filled], np.asarray(calibration["bin_accuracy"])[filled], width=np.diff(edges)[filled],
             edgecolor="black", alpha=0.7, label="accuracy")
    axis.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title(f"{title}\nECE = {calibration['ece']:.4f}")
    axis.legend(loc="upper left")


@styled
def reliability_diagram(calibration: dict, title: str) -> Figure:
    """Accuracy against confidence per bin (from evaluation.expected_calibration_error)."""
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    _draw_reliability(axis, calibration, title)
    return figure


@styled
def reliability_before_after(before: dict, after: dict, temperature: float, title: str) -> Figure:
    """Reliability diagrams before and after temperature scaling, side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    _draw_reliability(axes[0], before, f"{title}: as trained")
    _draw_reliability(axes[1], after, f"{title}: temperature {temperature:.2f}")
    figure.tight_layout()
    return figure


@styled
def line_chart(x: list[float], curves: dict[str, list[float]], xlabel: str, ylabel: str, title: str) -> Figure:
    """One line per named curve over a shared x axis (robustness and accuracy-coverage curves)."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        axis.plot(x, values, marker="o", markersize=3, label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


@styled
def screen_chart(rows: list[dict], equal_time_s: float, title: str) -> Figure:
    """Validation accuracy against measured training seconds, one line per architecture over its budgets, and the
    equal time at which the screen compares them."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for row in rows:
        seconds = [point["train_time_s"] for point in row["points"]]
        axis.plot(seconds, [100 * point["val_accuracy"] for point in row["points"]], marker="o", markersize=4,
                  label=row["architecture"])
        for point, x in zip(row["points"], seconds, strict=True):
            axis.annotate(f"{point['epochs']}", (x, 100 * point["val_accuracy"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
    axis.axvline(equal_time_s, color="grey", linestyle="--", linewidth=1, label="equal time")
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.xaxis.set_minor_formatter(ScalarFormatter())
    axis.set_xlabel("training time (s, log scale; labels: epochs)")
    axis.set_ylabel("validation accuracy (%)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


@styled
def pareto_chart(rows: list[dict], front: list[dict], title: str) -> Figure:
    """Test accuracy against training FLOPs (log scale), one panel per dataset, the Pareto front joined."""
    datasets = sorted({row["dataset"] for row in rows})
    figure, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        points = [row for row in rows if row["dataset"] == dataset]
        for row in points:
            axis.scatter(row["training_flops"], 100 * row["test_accuracy_mean"], s=24)
            axis.annotate(row["model"], (row["training_flops"], 100 * row["test_accuracy_mean"]), fontsize=7,
                          xytext=(3, 3), textcoords="offset points")
        edge = sorted((row for row in front if row["dataset"] == dataset), key=lambda row: row["training_flops"])
        axis.plot([row["training_flops"] for row in edge], [100 * row["test_accuracy_mean"] for row in edge],
                  color="black", linewidth=1, label="Pareto front")
        axis.set_xscale("log")
        axis.set_xlabel("training FLOPs per run (analytic)")
        axis.set_ylabel("test accuracy, mean over seeds (%)")
        axis.set_title(dataset)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


@styled
def model_figures(histories: dict, report: dict, images: np.ndarray, labels: np.ndarray,
                  probabilities: np.ndarray, class_names: list[str], title: str,
                  examples: int = 24) -> dict[str, Figure]:
    """The standard analysis of one trained model, keyed by file stem (for `save_figures`)."""
    wrong = report["misclassified_indices"][:examples]
    right = report["confident_correct_indices"][:examples]
    return {
        "curves": training_curves(histories, f"{title}: training curves"),
        "confusion": confusion_heatmaps(np.asarray(report["confusion_matrix"]),
                                        np.asarray(report["confusion_matrix_normalized"]), class_names, title),
        "misclassified": prediction_grid(images[wrong], labels[wrong], probabilities[wrong], class_names,
                                         f"{title}: most confident mistakes"),
        "correct": prediction_grid(images[right], labels[right], probabilities[right], class_names,
                                   f"{title}: most confident correct predictions"),
        "confidence": confidence_histogram(labels, probabilities, f"{title}: prediction confidence"),
    }


def save_figures(figures: dict[str, Figure], directory: str | Path, prefix: str = "") -> list[Path]:
    """Save each figure as `<directory>/<prefix><key>.png`."""
    return [save_figure(figure, Path(directory) / f"{prefix}{key}.png") for key, figure in figures.items()]
