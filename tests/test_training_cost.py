"""The analytic training cost behind the benchmark's lower bound on make all's time."""

import numpy as np
import pytest

from mnist_study.core.data import train_validation_split
from mnist_study.study.training_cost import (
    forward_flops_per_image,
    model_costs,
    pareto_front,
    run_flops,
    split_sizes,
    training_flops,
)


@pytest.mark.parametrize("size, fraction, subset", [(60000, 0.1, None), (1003, 0.15, None), (60000, 0.1, 997)])
def test_split_sizes_match_the_real_split(size, fraction, subset):
    total = size if subset is None else subset
    labels = np.arange(total) % 10
    split = train_validation_split(np.zeros((total, 1)), labels, fraction, seed=0)
    assert split_sizes(size, {"validation_fraction": fraction, "train_subset": subset}) == (
        len(split.train_labels), len(split.validation_labels))


def test_run_flops_by_hand():
    # 2 epochs x (3 x 100 training images + 10 validation images) x 1,000 FLOPs per forward pass.
    assert run_flops(1000, epochs_run=2, train_images=100, validation_images=10) == 2 * 310 * 1000


def _metrics_01():
    recipe = {"dataset": "mnist", "validation_fraction": 0.1, "train_subset": None}
    runs = [{"epochs_run": 2}, {"epochs_run": 3}]
    return {"models": {"lenet5": {"runs": runs}}, "provenance": {"parameters": recipe, "wall_time_s": 7.0}}


def _metrics_06():
    recipe = {"validation_fraction": 0.5, "train_subset": None}
    return {"provenance": {"parameters": {}, "wall_time_s": 9.0},
            "results": {"fashion_mnist": {"architecture": "cnn_batchnorm", "recipe": recipe,
                                          "models": {"cnn_batchnorm_augmented": {
                "runs": [{"epochs_run": 1}]}}}}}


def test_training_flops_counts_every_recorded_run():
    cost = training_flops(
        {"01": _metrics_01(), "06": _metrics_06(), "05": {"per_model": {}, "provenance": {"parameters": {}}}},
        forward_flops={"lenet5": 10, "cnn_batchnorm": 100}, dataset_sizes={"mnist": 100, "fashion_mnist": 40})
    # 01: 90 training + 10 validation images, 5 epochs in all; 06: 20 + 20 images, 1 epoch.
    assert cost == {"01": {"runs": 2, "flops": 5 * (3 * 90 + 10) * 10, "wall_time_s": 7.0},
                    "06": {"runs": 1, "flops": 1 * (3 * 20 + 20) * 100, "wall_time_s": 9.0}}


def test_an_architecture_without_a_flop_count_is_named():
    with pytest.raises(KeyError, match="01: no FLOP count for architecture 'lenet5'"):
        training_flops({"01": _metrics_01()}, forward_flops={}, dataset_sizes={"mnist": 100})


def test_committed_training_cost_reads_every_metrics_file(tmp_path):
    import json

    from mnist_study.study.training_cost import committed_training_cost

    (tmp_path / "01_feedforward.json").write_text(json.dumps(_metrics_01()))
    (tmp_path / "00_data_exploration.json").write_text(json.dumps({"provenance": {"parameters": {}}}))
    cost = committed_training_cost({"lenet5": 10}, tmp_path)
    # The real MNIST training set: 60,000 images, 6,000 of them held out for validation.
    assert cost == {"01_feedforward": {"runs": 2, "flops": 5 * (3 * 54000 + 6000) * 10, "wall_time_s": 7.0}}


def test_model_costs_name_every_model_and_average_over_runs():
    metrics_01 = _metrics_01()
    metrics_01["models"]["lenet5"]["test_accuracy"] = {"mean": 0.99}
    metrics_06 = _metrics_06()
    metrics_06["results"]["fashion_mnist"]["models"]["cnn_batchnorm_augmented"]["test_accuracy"] = {"mean": 0.92}
    rows = model_costs({"01": metrics_01, "06": metrics_06}, {"lenet5": 10, "cnn_batchnorm": 100},
                       {"mnist": 100, "fashion_mnist": 40})
    assert rows == [
        {"notebook": "01", "dataset": "mnist", "model": "lenet5", "architecture": "lenet5", "runs": 2,
         "training_flops": 2.5 * (3 * 90 + 10) * 10, "test_accuracy_mean": 0.99},
        {"notebook": "06", "dataset": "fashion_mnist", "model": "cnn_batchnorm_augmented",
         "architecture": "cnn_batchnorm", "runs": 1, "training_flops": (3 * 20 + 20) * 100, "test_accuracy_mean": 0.92},
    ]


def test_pareto_front_keeps_what_nothing_cheaper_beats_within_a_dataset():
    rows = [{"dataset": "mnist", "model": name, "training_flops": flops, "test_accuracy_mean": accuracy}
            for name, flops, accuracy in [("cheap", 1, 0.97), ("dominated", 5, 0.96), ("better", 5, 0.99),
                                          ("best", 50, 0.995), ("wasteful", 80, 0.99)]]
    rows.append({"dataset": "fashion", "model": "alone", "training_flops": 1000, "test_accuracy_mean": 0.5})
    assert [row["model"] for row in pareto_front(rows)] == ["cheap", "better", "best", "alone"]


def test_depthwise_convolutions_are_counted_per_channel():
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 4))
    x = layers.DepthwiseConv2D(3, padding="same")(inputs)  # 8*8*4 outputs, 9 multiply-adds each
    x = layers.Conv2D(6, 1)(x)  # 8*8*6 outputs, 4 multiply-adds each
    model = keras.Model(inputs, x)
    assert forward_flops_per_image(model) == 2 * (8 * 8 * 4 * 9 + 8 * 8 * 6 * 4)
