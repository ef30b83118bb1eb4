"""Each figure function returns a figure with the expected axes and titles; saving is byte-stable."""

import numpy as np
import pytest

from mnist_study.analysis.evaluation import classification_report, expected_calibration_error
from mnist_study.reports import analysis_plots, plots

CLASSES = [str(digit) for digit in range(10)]


@pytest.fixture(scope="module")
def fake_run():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 200)
    logits = rng.normal(size=(200, 10)) + 3.0 * np.eye(10)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.integers(0, 255, (200, 28, 28)).astype(np.uint8)
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.7, 0.9], "val_accuracy": [0.6, 0.85]}
    return images, labels, probabilities, history


def _titles(figure):
    return [axis.get_title() for axis in figure.axes if axis.get_title()]


def test_data_figures(fake_run):
    images, labels, _, _ = fake_run
    grid = plots.sample_grid(images[:20], labels[:20], CLASSES, "samples")
    assert len(grid.axes) == 20 and grid.get_suptitle() == "samples"
    assert len(plots.mean_images(images, labels, CLASSES, "means").axes) == 10
    distribution = plots.class_distribution({"train": labels, "test": labels[:50]}, CLASSES, "classes")
    assert _titles(distribution) == ["classes"] and len(distribution.axes[0].patches) == 20
    assert _titles(plots.pixel_histogram({"train": images}, "pixels")) == ["pixels"]


def test_model_figures(fake_run):
    images, labels, probabilities, history = fake_run
    report = classification_report(labels, probabilities, CLASSES)
    figures = plots.model_figures({"seed 0": history}, report, images, labels, probabilities, CLASSES, "m")
    assert set(figures) == {"curves", "confusion", "misclassified", "correct", "confidence"}
    assert _titles(figures["curves"]) == ["Loss", "Accuracy"]
    assert _titles(figures["confusion"]) == ["m: counts", "m: normalized by true class"]
    assert figures["confusion"].axes[0].get_xticklabels()[3].get_text() == "3"
    assert len(_titles(figures["misclassified"])) == min(24, report["error_count"]) == 13
    assert _titles(figures["confidence"]) == ["m: prediction confidence"]


def test_comparison_and_reliability(fake_run):
    _, labels, probabilities, _ = fake_run
    comparison = plots.model_comparison(["a", "b"], [0.98, 0.99], [0.001, None], [1000, 2000], [10.0, 20.0], "cmp")
    assert len(comparison.axes) == 3
    reliability = plots.reliability_diagram(expected_calibration_error(labels, probabilities), "model")
    assert _titles(reliability)[0].startswith("model\nECE = ")


def test_save_figure_is_byte_stable(tmp_path, fake_run):
    _, _, _, history = fake_run
    first = plots.save_figure(plots.training_curves({"run": history}, "t"), tmp_path / "a.png")
    second = plots.save_figure(plots.training_curves({"run": history}, "t"), tmp_path / "b.png")
    assert first.read_bytes() == second.read_bytes()
    assert b"matplotlib" not in first.read_bytes()  # no version stamp in the metadata
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_figure_function_draws_under_the_one_style():
    import inspect

    import matplotlib.pyplot as plt

    from mnist_study.analysis import interpretability, label_quality
    from mnist_study.bench import benchmark_report
    from mnist_study.figure_style import STYLE

    modules = [plots, analysis_plots, interpretability, label_quality, benchmark_report]
    drawing = [function for module in modules for name, function in inspect.getmembers(module, inspect.isfunction)
               if function.__module__ == module.__name__ and not name.startswith("_")
               and any(call in inspect.getsource(inspect.unwrap(function))
                       for call in ("plt.subplots", "_image_grid("))]
    assert len(drawing) >= 20  # every one that makes a figure, whether it draws its axes itself or not
    unstyled = [function.__qualname__ for function in drawing if not hasattr(function, "__wrapped__")]
    assert unstyled == []
    figure = plots.line_chart([1, 2], {"a": [0.5, 0.6]}, "epochs", "accuracy", "a title")
    axis = figure.axes[0]
    assert not axis.spines["top"].get_visible() and not axis.spines["right"].get_visible()
    assert STYLE["axes.spines.top"] is False
    assert plt.rcParams["axes.spines.top"]  # the caller's settings are left as they were
