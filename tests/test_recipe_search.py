"""The recipe search: successive halving scored after each rung's decay, at least three trials at the top rung,
seeded and repeatable, resumable from its storage, shared by two processes without losing or repeating a trial;
the confirmation's choice; bad settings refused by name."""

import subprocess
import sys
import textwrap

import numpy as np
import optuna
import pytest

from mnist_study.core.training import TrainingRecipe
from mnist_study.study import recipe_search
from mnist_study.study.recipe_confirmation import at_range_edge, choose_confirmed, paired_standard_error
from mnist_study.study.recipe_search import (
    CONFIRMED,
    SEARCH_SPACE,
    SearchPlan,
    open_search,
    run_search,
    search_record,
    search_rungs,
)

BASE = TrainingRecipe(epochs=9, lr_schedule="wsd")
PLAN = SearchPlan("feedforward", trials=6, sampler_seed=7, augmentations=["none", "digits"])


def _search(mnist, url, plan=PLAN, **kwargs):
    study = open_search(url, "tiny", plan)
    run_search(study, plan, "feedforward", mnist, BASE, seed=0, validation_fraction=0.2, train_subset=600, **kwargs)
    return search_record(study, plan, BASE.epochs, 0)


def _without_timing(rows):
    return [{key: value for key, value in row.items() if key not in ("train_time_s", "worker")} for row in rows]


@pytest.fixture(scope="module")
def search(mnist, tmp_path_factory):
    kept = []
    record = _search(mnist, f"sqlite:///{tmp_path_factory.mktemp('search')}/s.db",
                     keep=lambda recipe, trained, started_at: kept.append((recipe, trained.history)))
    return record, kept


@pytest.mark.parametrize(("epochs", "rungs"), [(27, [3, 9, 27]), (9, [3, 9]), (18, [6, 18]), (10, [10]), (2, [2])])
def test_the_rungs_are_thirds_of_the_top_budget(epochs, rungs):
    assert search_rungs(epochs) == rungs


def test_every_trial_is_scored_after_a_decay_and_three_reach_the_top(search):
    record, kept = search
    rows = record["trials"]
    assert record["rungs"] == [3, 9] and len(rows) >= PLAN.trials
    assert all(row["state"] in ("complete", "pruned") for row in rows)
    complete = [row for row in rows if row["state"] == "complete"]
    assert len(complete) >= CONFIRMED and any(row["state"] == "pruned" for row in rows)
    # The three best at the rung below the top, among every trial that reached it, completed the top rung: by
    # themselves, or by a copy of the recipe run to the end.
    originals = [row for row in rows if row["promotes"] is None]
    best = sorted(originals, key=lambda row: (-row["val_accuracy_by_rung"]["3"], row["trial"]))[:CONFIRMED]
    finished = {row["promotes"] if row["promotes"] is not None else row["trial"] for row in complete}
    assert {row["trial"] for row in best} <= finished
    for copy in (row for row in rows if row["promotes"] is not None):
        original = next(row for row in rows if row["trial"] == copy["promotes"])
        assert original["state"] == "pruned" and copy["learning_rate"] == original["learning_rate"]
        assert copy["val_accuracy_by_rung"]["3"] == original["val_accuracy_by_rung"]["3"]  # the same run, again
    for row in rows:  # a pruned trial stopped at its first rung: 3 epochs, the last of them its decay
        assert list(row["val_accuracy_by_rung"]) == (["3", "9"] if row["state"] == "complete" else ["3"])
        assert row["epochs_trained"] == (9 if row["state"] == "complete" else 3)
        assert row["optimizer"] in SEARCH_SPACE["optimizer"] and row["batch_size"] in SEARCH_SPACE["batch_size"]
        assert row["augmentation"] in PLAN.augmentations and 0 <= row["dropout_rate"] <= 0.5
        low, high = SEARCH_SPACE["learning_rate"][row["optimizer"]]
        assert low <= row["learning_rate"] <= high
    # Ranked by the top rung's score, which is the kept run's last validation accuracy (after its decay).
    scores = [next(row for row in rows if row["trial"] == number)["val_accuracy_by_rung"]["9"]
              for number in record["top_rung_trials"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(complete)
    assert sorted(history["val_accuracy"][-1] for _, history in kept) == sorted(scores)
    assert all(recipe.epochs == 9 and recipe.lr_schedule == "wsd" for recipe, _ in kept)


def test_the_same_sampler_seed_repeats_the_search_and_another_does_not(search, mnist, tmp_path):
    again = _search(mnist, f"sqlite:///{tmp_path}/again.db")
    assert _without_timing(again["trials"]) == _without_timing(search[0]["trials"])
    other = _search(mnist, f"sqlite:///{tmp_path}/other.db", SearchPlan("feedforward", 6, 8, ["none", "digits"]))
    assert [row["learning_rate"] for row in other["trials"]] != [row["learning_rate"] for row in again["trials"]]


def test_a_finished_search_is_read_not_rerun_and_an_interrupted_one_resumes_as_it_would_have_run(
        search, mnist, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/resumed.db"
    trained = recipe_search.train_budgets
    calls = []

    def interrupted_at_the_fourth_trial(*args, **kwargs):  # Ctrl-C in the middle of a trial
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return trained(*args, **kwargs)

    monkeypatch.setattr(recipe_search, "train_budgets", interrupted_at_the_fourth_trial)
    with pytest.raises(KeyboardInterrupt):
        _search(mnist, url)
    monkeypatch.setattr(recipe_search, "train_budgets", trained)
    resumed = _search(mnist, url)
    # The interrupted trial failed and stays on record; every other trial is the uninterrupted search's.
    assert [row["state"] for row in resumed["trials"]][3] == "fail"
    kept = [row for row in resumed["trials"] if row["state"] != "fail"]

    def numbered_apart(rows):  # trial numbers after the failed one are one higher
        return [{**{key: value for key, value in row.items() if key not in ("trial", "promotes")},
                 "a copy": row["promotes"] is not None} for row in _without_timing(rows)]

    assert numbered_apart(kept) == numbered_apart(search[0]["trials"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished search trained again")

    monkeypatch.setattr(recipe_search, "train_budgets", no_training)
    assert _without_timing(_search(mnist, url)["trials"]) == _without_timing(resumed["trials"])


def test_a_storage_keeps_one_search(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/one.db"
    open_search(url, "old", PLAN)
    open_search(url, "new", PLAN)
    assert [summary.study_name for summary in optuna.get_all_study_summaries(url)] == ["new"]
    assert "search old was made for other inputs: deleted" in capsys.readouterr().out


WORKER = textwrap.dedent("""
    import sys
    from mnist_study.core.data import load_dataset
    from mnist_study.core.training import TrainingRecipe
    from mnist_study.study.recipe_search import SearchPlan, open_search, run_search
    plan = SearchPlan("feedforward", trials=8, sampler_seed=3)
    study = open_search(sys.argv[1], "shared", plan)
    run_search(study, plan, "feedforward", load_dataset("mnist"), TrainingRecipe(epochs=3, lr_schedule="wsd"),
               seed=0, validation_fraction=0.2, train_subset=400)
""")


def test_two_processes_share_one_search_without_losing_or_repeating_a_trial(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    open_search(url, "shared", SearchPlan("feedforward", trials=8, sampler_seed=3))  # created before both start
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    numbers = [trial.number for trial in trials]
    assert sorted(numbers) == list(range(len(trials))) and 8 <= len(trials) <= 9  # 9: both started the last one
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    assert len({trial.user_attrs["worker"] for trial in trials}) == 2  # both worked
    proposals = [tuple(sorted(trial.params.items())) for trial in trials]
    assert len(set(proposals)) == len(proposals)  # no recipe ran twice


def test_the_confirmation_prefers_the_cheaper_recipe_within_one_paired_standard_error():
    rows = [{"trial": 4, "val_accuracy_by_seed": [0.9950, 0.9940]},
            {"trial": 9, "val_accuracy_by_seed": [0.9951, 0.9935]},
            {"trial": 1, "val_accuracy_by_seed": [0.9900, 0.9890]}]
    for row, fields, batch in zip(rows, ["a", "b", "c"], [128, 512, 512], strict=True):
        row.update({key: fields for key in recipe_search.RECIPE_FIELDS}, batch_size=batch)
    choice = choose_confirmed(rows)
    assert choice["best_trial"] == 4 and choice["winner_trial"] == 9 and choice["winner"]["optimizer"] == "b"
    differences = np.subtract([0.9950, 0.9940], [0.9951, 0.9935])
    assert rows[1]["paired_standard_error"] == pytest.approx(np.std(differences, ddof=1) / np.sqrt(2))
    assert [row["within_one_standard_error"] for row in rows] == [True, True, False]
    assert paired_standard_error([0.99], [0.98]) == 0.0


@pytest.mark.parametrize(("arguments", "message"), [
    (("feedforward", 0, 1), "search_trials: expected a positive integer, got 0"),
    (("feedforward", 3, -1), "search_seed: expected a non-negative integer, got -1"),
    (("feedforward", 3, 1, ["none", "spin"]), "search_augmentations: augmentation: unknown 'spin'"),
    (("feedforward", 3, 1, []), r"search_augmentations: expected a non-empty list of distinct names, got \[\]"),
    (("resnet_maxi", 3, 1), "unknown model 'resnet_maxi'"),
])
def test_bad_settings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        SearchPlan(*arguments)


def test_a_winner_at_the_edge_of_its_range_is_named():
    low, high = SEARCH_SPACE["learning_rate"]["adamw"]
    middle = {"optimizer": "adamw", "learning_rate": (low * high) ** 0.5, "weight_decay": 0.02, "dropout_rate": 0.25}
    assert at_range_edge(middle) == []
    assert at_range_edge({**middle, "learning_rate": high * 0.99, "dropout_rate": 0.0}) == [
        "learning_rate", "dropout_rate"]
    assert at_range_edge({**middle, "dropout_rate": None}) == []
