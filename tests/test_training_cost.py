"""The analytic training cost behind the benchmark's lower bound on make all's time."""

import numpy as np
import pytest

from mnist_study.data import train_validation_split
from mnist_study.training_cost import run_flops, split_sizes, training_flops


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
    return {"architecture": "cnn_batchnorm", "provenance": {"parameters": {}, "wall_time_s": 9.0},
            "results": {"fashion_mnist": {"recipe": recipe, "models": {"cnn_batchnorm_augmented": {
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

    from mnist_study.training_cost import committed_training_cost

    (tmp_path / "01_feedforward.json").write_text(json.dumps(_metrics_01()))
    (tmp_path / "00_data_exploration.json").write_text(json.dumps({"provenance": {"parameters": {}}}))
    cost = committed_training_cost({"lenet5": 10}, tmp_path)
    # The real MNIST training set: 60,000 images, 6,000 of them held out for validation.
    assert cost == {"01_feedforward": {"runs": 2, "flops": 5 * (3 * 54000 + 6000) * 10, "wall_time_s": 7.0}}
