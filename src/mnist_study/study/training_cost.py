"""What the study's training costs in arithmetic: a lower bound on `make all`'s wall time at a given FLOP/s.

The count comes from the committed metrics (epochs each run trained, the recipe's split) and the analytic FLOPs
per image of each architecture, so it says how fast `make all` could be on this machine before anything is timed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# A training step is a forward and a backward pass: about three forward passes' worth of FLOPs.
TRAIN_FLOPS_PER_FORWARD = 3


def forward_flops_per_image(model) -> int:
    """Multiply-adds x 2 of the convolution and dense layers, from the layer shapes (the rest is negligible)."""
    from keras import layers

    flops = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):  # one k x k filter per input channel, no mixing
            _, height, width, channels_out = layer.output.shape
            kernel_height, kernel_width = layer.kernel_size
            flops += 2 * height * width * channels_out * kernel_height * kernel_width
        elif isinstance(layer, layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kernel_height, kernel_width = layer.kernel_size
            channels_in = layer.input.shape[-1]
            flops += 2 * height * width * channels_out * kernel_height * kernel_width * channels_in
        elif isinstance(layer, layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
    return int(flops)


def architecture_forward_flops(names) -> dict[str, int]:
    """Forward FLOPs per image of each named architecture, at its default input shape."""
    from mnist_study.core.models import build_model

    return {name: forward_flops_per_image(build_model(name)) for name in names}


def split_sizes(dataset_size: int, recipe: dict) -> tuple[int, int]:
    """(train, validation) image counts of a recipe, as data.train_validation_split makes them.

    scikit-learn's train_test_split rounds the validation share up.
    """
    subset = recipe.get("train_subset")
    total = min(subset, dataset_size) if subset is not None else dataset_size
    validation = math.ceil(recipe["validation_fraction"] * total)
    return total - validation, validation


def run_flops(forward_flops: int, epochs_run: int, train_images: int, validation_images: int) -> int:
    """Training steps on every training image plus one validation pass, for each epoch a run trained."""
    per_epoch = TRAIN_FLOPS_PER_FORWARD * train_images + validation_images
    return epochs_run * per_epoch * forward_flops


def _trained_models(metrics: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(name, architecture, dataset, recipe, model summary) for every model whose runs a notebook's metrics record.

    Notebooks 01-04 record one dataset and name models by architecture; 06 records its architecture and recipe
    per dataset and names its final `<architecture>_<arm>`.
    """
    if "results" in metrics:
        return [(name, result["architecture"], dataset, result["recipe"], summary)
                for dataset, result in metrics["results"].items() for name, summary in result["models"].items()]
    recipe = metrics["provenance"]["parameters"]
    return [(name, name, recipe["dataset"], recipe, summary) for name, summary in metrics.get("models", {}).items()]


def training_flops(metrics_by_notebook: dict[str, dict], forward_flops: dict[str, int],
                   dataset_sizes: dict[str, int]) -> dict[str, dict]:
    """Per notebook that trains: analytic training FLOPs of the runs its metrics record, their count, wall time.

    Runs the metrics do not list (06's budget-curve points, 01-04's recipe screens) are not counted: a lower bound.
    """
    costs = {}
    for notebook, metrics in metrics_by_notebook.items():
        flops, runs = 0, 0
        for _, architecture, dataset, recipe, summary in _trained_models(metrics):
            if architecture not in forward_flops:
                raise KeyError(f"{notebook}: no FLOP count for architecture {architecture!r}")
            train_images, validation_images = split_sizes(dataset_sizes[dataset], recipe)
            for run in summary["runs"]:
                flops += run_flops(forward_flops[architecture], run["epochs_run"], train_images, validation_images)
                runs += 1
        if runs:
            costs[notebook] = {"runs": runs, "flops": flops,
                               "wall_time_s": metrics["provenance"]["wall_time_s"]}
    return costs


def model_costs(metrics_by_notebook: dict[str, dict], forward_flops: dict[str, int],
                dataset_sizes: dict[str, int]) -> list[dict]:
    """One row per trained model of every notebook: mean training FLOPs per run against mean test accuracy."""
    rows = []
    for notebook, metrics in metrics_by_notebook.items():
        for name, architecture, dataset, recipe, summary in _trained_models(metrics):
            train_images, validation_images = split_sizes(dataset_sizes[dataset], recipe)
            flops = [run_flops(forward_flops[architecture], run["epochs_run"], train_images, validation_images)
                     for run in summary["runs"]]
            rows.append({"notebook": notebook, "dataset": dataset, "model": name, "architecture": architecture,
                         "runs": len(flops), "training_flops": float(sum(flops) / len(flops)),
                         "test_accuracy_mean": summary["test_accuracy"]["mean"]})
    return rows


def pareto_front(rows: list[dict]) -> list[dict]:
    """The rows no other row of the same dataset beats on both counts: fewer training FLOPs and higher accuracy."""
    return [row for row in rows if not any(
        other["dataset"] == row["dataset"] and other["training_flops"] <= row["training_flops"]
        and other["test_accuracy_mean"] > row["test_accuracy_mean"] for other in rows)]


def committed_training_cost(forward_flops: dict[str, int], metrics_dir: Path) -> dict[str, dict]:
    """training_flops over the metrics JSON files in `metrics_dir` (results/metrics: the committed runs)."""
    from mnist_study.core.data import load_dataset

    metrics = {path.stem: json.loads(path.read_text()) for path in sorted(metrics_dir.glob("*.json"))}
    sizes = {name: len(load_dataset(name).train_labels) for name in ("mnist", "fashion_mnist")}
    return training_flops(metrics, forward_flops, sizes)
