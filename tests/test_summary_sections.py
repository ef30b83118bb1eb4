"""The summary's sections and notebook 06's plan, computed from metrics the way notebooks 06 and 09 use them."""

import json

import numpy as np
import pytest

from mnist_study.reports import summary_sections
from mnist_study.study.best_models_finals import targets
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


def test_the_best_models_targets_are_met_only_at_or_above_them():
    rows = targets("mnist", {"test_accuracy": {"mean": 0.9965}}, {"accuracy": 0.9968})
    assert [(row["what"], row["met"]) for row in rows] == [("single model, mean over seeds", True),
                                                           ("ensemble of the seeds", False)]
    assert [row["dataset"] for row in targets("fashion_mnist", {"test_accuracy": {"mean": 0.9}},
                                              {"accuracy": 0.9})] == ["fashion_mnist", "fashion_mnist"]


def test_the_summary_lists_each_target_once():
    rows = [{"model": model, "dataset": dataset, "test_accuracy_mean": target}
            for model, dataset, target, _ in summary_sections.TARGETS]
    best_targets = [*targets("mnist", {"test_accuracy": {"mean": 0.9965}}, {"accuracy": 0.9968}),
                    *targets("fashion_mnist", {"test_accuracy": {"mean": 0.934}}, {"accuracy": 0.941})]
    best_models = {"mnist": {"final": {"model": "cnn_regularized"}},
                   "fashion_mnist": {"final": {"model": "resnet_mini"}}}
    records, table = summary_sections.targets(rows, best_models, best_targets)
    assert len(records) == len(summary_sections.TARGETS) + 4
    fashion_single = [record for record in records if record["target"] == 0.935]
    assert [(record["model"], record["met"]) for record in fashion_single] == [
        ("resnet_mini: single model, mean over seeds, no test-time augmentation", False)]
    assert table.count("93.5 |") == 1


def _upstream(tmp_path, lr_schedule="wsd", warmup_epochs=1):
    (tmp_path / "metrics").mkdir(exist_ok=True)
    parameters = {"dataset": "mnist", "seeds": [0, 1, 2], "epochs": 8, "lr_schedule": lr_schedule,
                  "warmup_epochs": warmup_epochs,
                  "optimizer": "sgd_nesterov", "learning_rate": 0.05, "validation_fraction": 0.1, "train_subset": None}
    metrics = {"models": {"cnn_regularized": {"seeds": [0, 1, 2]}, "cnn_batchnorm": {"seeds": [0, 1, 2]}},
               "provenance": {"parameters": parameters}}
    (tmp_path / "metrics" / "03_cnn_architectures.json").write_text(json.dumps(metrics))
    return str(tmp_path)


ARGUMENTS = {"dataset": "mnist", "candidates": ["cnn_batchnorm", "resnet_mini"], "screen_budgets": [2, 4],
             "epochs": 27, "search_trials": 27, "search_seed": 60, "augmentations": None,
             "confirmation_seeds": [1, 2], "seeds": [0, 1, 2, 3, 4], "screen_seeds": [0, 1]}


def test_the_plan_reads_the_upstream_recipe_and_sets_each_arms_budgets(tmp_path):
    plan = plan_best_models(**ARGUMENTS, inputs_dir=_upstream(tmp_path))
    assert plan.budgets == [9, 27] and plan.augmentations == ["digits", "digits_affine"]
    assert plan.notebook == "06_best_models_mnist"
    screen = plan.screen_config(4)  # the upstream's searched recipe, plain, on the screen's seeds
    assert (screen.recipe.epochs, screen.recipe.augmentation, screen.recipe.optimizer, screen.seeds) == (
        4, "none", "sgd_nesterov", [0, 1])
    search = plan.search_config()  # what the arms' searches do not search
    assert (search.recipe.epochs, search.recipe.lr_schedule, search.seeds) == (27, "wsd", [0])
    assert plan_best_models(**{**ARGUMENTS, "epochs": 10}, inputs_dir=_upstream(tmp_path)).budgets == [10]
    defaults = {name: value for name, value in ARGUMENTS.items() if name != "screen_seeds"}
    assert plan_best_models(**defaults, inputs_dir=_upstream(tmp_path)).screen_seeds == [0, 1]


@pytest.mark.parametrize(("changes", "message"), [
    ({"dataset": "cifar10"}, r"dataset: expected one of \['mnist', 'fashion_mnist'\], got 'cifar10'"),
    ({"seeds": [0, 0]}, r"seeds: expected a non-empty list of distinct non-negative integers"),
    ({"confirmation_seeds": [0, 1]}, r"confirmation_seeds: expected distinct non-negative integers other than"),
    ({"candidates": []}, r"candidates: expected a non-empty list of distinct architecture names, got \[\]"),
    ({"candidates": ["vgg"]}, r"unknown model 'vgg'"),
    ({"augmentations": ["clothing"]}, r"mnist augmentations: expected a non-empty list of distinct names from"),
    ({"search_trials": 0}, r"search_trials: expected a positive integer, got 0"),
    ({"epochs": 1}, r"epochs: expected an integer >= 2, got 1"),
    ({"screen_budgets": []}, r"screen_budgets: expected a non-empty list of distinct epoch counts, got \[\]"),
    ({"screen_seeds": [3]}, r"screen_seeds: expected at least two seeds, to pair the candidates' differences, "
                            r"got \[3\]"),
    ({"screen_seeds": 2}, r"screen_seeds: expected a non-empty list of distinct non-negative integers, got 2"),
])
def test_a_bad_plan_names_the_parameter(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        plan_best_models(**{**ARGUMENTS, **changes}, inputs_dir=_upstream(tmp_path))


def test_a_plan_refuses_a_budget_shorter_than_the_searched_warm_up(tmp_path):
    # 03's search chose 2 warm-up epochs: a 2-epoch screen point would decay before its warm-up ends.
    with pytest.raises(ValueError, match=r"screen_budgets: 2 epochs are too short for mnist's recipe from "
                                         r"03_cnn_architectures: a 'wsd' budget of 2 decays over its last 1, leaving "
                                         r"no room for 2 warm-up epoch\(s\)"):
        plan_best_models(**ARGUMENTS, inputs_dir=_upstream(tmp_path, warmup_epochs=2))
    plan = plan_best_models(**{**ARGUMENTS, "screen_budgets": [3, 6]}, inputs_dir=_upstream(tmp_path, warmup_epochs=2))
    assert plan.screen_budgets == [3, 6]


def test_a_plan_refuses_an_upstream_recipe_it_cannot_branch(tmp_path):
    with pytest.raises(ValueError, match=r"03_cnn_architectures.json: its recipe is 'warmup_cosine'; 06's screen "
                                         r"branches budgets from warmup-stable-decay runs \(re-run 03_cnn_"):
        plan_best_models(**ARGUMENTS, inputs_dir=_upstream(tmp_path, lr_schedule="warmup_cosine"))
