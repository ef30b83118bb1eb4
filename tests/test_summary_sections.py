"""The summary's sections and notebook 06's plan, computed from metrics the way notebooks 06 and 09 use them."""

import json

import numpy as np
import pytest

from mnist_study.reports import summary_sections
from mnist_study.study.best_models_finals import adjust_for_many_tests, targets
from mnist_study.study.best_models_study import plan_best_models


def _provenance(commit, wall, cpu="CPU A"):
    return {"commit": commit, "wall_time_s": wall, "cpu": cpu, "cpu_count": 2, "gpus": [],
            "packages": {"tensorflow": "2.21.0"}}


def test_the_time_table_adds_the_training_a_notebook_reused():
    metrics = {
        "01_feedforward": {"provenance": _provenance("a" * 40, 60.0),
                           "trained_runs": [{"train_time_s": 300.0, "reused_from": "published"},
                                            {"train_time_s": 120.0, "reused_from": None}]},
        "08_label_errors_and_new_writers": {"provenance": _provenance("b" * 40, 30.0, "CPU B"), "computations": {
            "few_label_curve": {"reused_from": "cache", "computed": {"wall_time_s": 90.0}}}},
    }
    assert summary_sections.reused_training_s(metrics["01_feedforward"]) == 300.0
    table = summary_sections.time_table(metrics)
    assert "| 01_feedforward | 1.0 | 5.0 | 6.0 | 75 | aaaaaaaaaa | CPU A |" in table  # cold: 60 s + 300 s reused
    assert "| 08_label_errors_and_new_writers | 0.5 | 1.5 | 2.0 | 25 | bbbbbbbbbb | CPU B |" in table
    assert "| all | 1.5 | 6.5 | 8.0 | 100 |  |  |" in table
    line = summary_sections.provenance_line(metrics)
    assert line.startswith("Last run of each notebook: 01 at commit `aaaaaaaaaa`; 08 at commit `bbbbbbbbbb`.")
    assert "CPU A (2 cores, no GPU) and CPU B (2 cores, no GPU)" in line


def test_mcnemar_pairs_are_every_pair_adjusted():
    labels = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    predictions = {"a": labels.copy(), "b": 1 - labels, "c": np.where(np.arange(8) < 4, labels, 1 - labels)}
    tests, table = summary_sections.mcnemar_pairs(labels, predictions)
    assert [(t["model_a"], t["model_b"]) for t in tests] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert all(t["p_value"] <= t["p_value_bh"] <= 1 for t in tests)
    assert table.endswith("pairs differ at the 5 % level after adjustment.")


def test_the_best_models_targets_and_many_test_adjustment():
    summaries = {"mnist": {"test_accuracy": {"mean": 0.9965}}}
    rows = targets(["mnist"], summaries, {"mnist": {"accuracy": 0.9968}})
    assert [(row["what"], row["met"]) for row in rows] == [("single model, mean over seeds", True),
                                                           ("ensemble of the seeds", False)]
    comparisons = {"mnist": [{"mcnemar_vs_baseline": {"p_value": 0.01}}, {"mcnemar_vs_baseline": {"p_value": 0.04}}]}
    adjust_for_many_tests(comparisons)
    assert [row["mcnemar_vs_baseline"]["p_value_bh"] for row in comparisons["mnist"]] == [0.02, 0.04]


def _upstream(tmp_path, lr_schedule="wsd", warmup_epochs=1):
    (tmp_path / "metrics").mkdir(exist_ok=True)
    parameters = {"dataset": "mnist", "seeds": [0, 1, 2], "epochs": 8, "lr_schedule": lr_schedule,
                  "warmup_epochs": warmup_epochs,
                  "optimizer": "sgd_nesterov", "learning_rate": 0.05, "validation_fraction": 0.1, "train_subset": None}
    metrics = {"models": {"cnn_regularized": {"seeds": [0, 1, 2]}, "cnn_batchnorm": {"seeds": [0, 1, 2]}},
               "provenance": {"parameters": parameters}}
    (tmp_path / "metrics" / "03_cnn_architectures.json").write_text(json.dumps(metrics))
    return str(tmp_path)


def test_the_plan_reads_the_upstream_recipe_and_budgets(tmp_path):
    plan = plan_best_models(["mnist"], ["cnn_batchnorm", "resnet_mini"], [2, 4], [4, 1, 2], ["clothing"],
                            [0, 1], [0, 1, 2], "cnn_regularized", _upstream(tmp_path))
    assert plan.budgets == {"mnist": [8, 16, 32]} and plan.augmentations == {"mnist": ["digits"]}
    config = plan.config("mnist", "digits", 32, [0])
    assert (config.recipe.epochs, config.recipe.augmentation, config.recipe.optimizer) == (32, "digits",
                                                                                          "sgd_nesterov")


@pytest.mark.parametrize(("changes", "message"), [
    ({"datasets": ["cifar10"]}, "datasets: expected a non-empty list of distinct names from"),
    ({"curve_seeds": [0, 0]}, r"curve_seeds: expected a non-empty list of distinct non-negative integers"),
    ({"candidates": []}, r"candidates: expected a non-empty list of distinct architecture names, got \[\]"),
    ({"candidates": ["vgg"]}, r"unknown model 'vgg'"),
    ({"baseline": "lenet5"}, r"baseline: 'lenet5' was not trained by 03_cnn_architectures"),
    ({"budget_multiples": [1, 1]}, r"budget_multiples: expected a non-empty list of distinct positive integers"),
    ({"fashion_augmentations": ["rotate"], "datasets": ["fashion_mnist"]},
     r"fashion_mnist augmentations: expected a non-empty list of distinct names from \['digits', 'flip', "
     r"'clothing', 'clothing_erasing'\], got \['rotate'\]"),
    ({"screen_budgets": []}, r"screen_budgets: expected a non-empty list of distinct epoch counts, got \[\]"),
])
def test_a_bad_plan_names_the_parameter(tmp_path, changes, message):
    arguments = {"datasets": ["mnist"], "candidates": ["cnn_batchnorm"], "screen_budgets": [2, 4],
                 "budget_multiples": [1], "fashion_augmentations": ["clothing"], "curve_seeds": [0], "seeds": [0],
                 "baseline": "cnn_regularized", "inputs_dir": _upstream(tmp_path)}
    with pytest.raises(ValueError, match=message):
        plan_best_models(**{**arguments, **changes})


def test_a_plan_refuses_a_budget_shorter_than_the_searched_warm_up(tmp_path):
    # 03's search chose 2 warm-up epochs: a 2-epoch screen point would decay before its warm-up ends.
    with pytest.raises(ValueError, match=r"screen_budgets: 2 epochs are too short for mnist's recipe from "
                                         r"03_cnn_architectures: a 'wsd' budget of 2 decays over its last 1, leaving "
                                         r"no room for 2 warm-up epoch\(s\)"):
        plan_best_models(["mnist"], ["cnn_batchnorm"], [2, 4], [1], ["clothing"], [0], [0], "cnn_regularized",
                         _upstream(tmp_path, warmup_epochs=2))
    plan = plan_best_models(["mnist"], ["cnn_batchnorm"], [3, 6], [1], ["clothing"], [0], [0], "cnn_regularized",
                            _upstream(tmp_path, warmup_epochs=2))
    assert plan.screen_budgets == [3, 6]


def test_a_plan_refuses_an_upstream_recipe_it_cannot_branch(tmp_path):
    with pytest.raises(ValueError, match=r"03_cnn_architectures.json: its recipe is 'warmup_cosine'; 06 branches "
                                         r"budgets from warmup-stable-decay runs \(re-run 03_cnn_architectures\)"):
        plan_best_models(["mnist"], ["cnn_batchnorm"], [2], [1], ["clothing"], [0], [0], "cnn_regularized",
                         _upstream(tmp_path, lr_schedule="warmup_cosine"))

