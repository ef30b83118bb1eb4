"""A search shown: its table has a row per trial and a column per rung reached; Optuna's figures carry the study's
title; importances are judged on every trial's first rung, and a search with no spread says so."""

import numpy as np
import optuna
import pytest

from mnist_study.figure_style import figure_title
from mnist_study.reports.search_plots import (
    confirmation_table,
    first_rung_study,
    search_history,
    search_importances,
    trials_table,
)

DISTRIBUTIONS = {"optimizer": optuna.distributions.CategoricalDistribution(["adamw", "sgd_nesterov"]),
                 "batch_size": optuna.distributions.CategoricalDistribution([64, 128, 256, 512]),
                 "dropout_rate": optuna.distributions.FloatDistribution(0.0, 0.5)}


def _study(first_rung_scores, top_scores):
    """Trials scored at a first rung (step 1); those with a top score completed, the rest were pruned."""
    study = optuna.create_study(direction="maximize")
    for index, (first, top) in enumerate(zip(first_rung_scores, top_scores, strict=True)):
        params = {"optimizer": ["adamw", "sgd_nesterov"][index % 2], "batch_size": [64, 128, 256, 512][index % 4],
                  "dropout_rate": 0.05 * index}
        state = optuna.trial.TrialState.COMPLETE if top is not None else optuna.trial.TrialState.PRUNED
        study.add_trial(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, value=top,
                                                  intermediate_values={1: first}, state=state))
    return study


def test_importances_are_judged_on_every_trials_first_rung():
    study = _study([0.90, 0.95, 0.80, 0.97, 0.85, 0.93], [None, 0.98, None, 0.99, None, None])
    copy = first_rung_study(study)
    assert [trial.value for trial in copy.trials] == [0.90, 0.95, 0.80, 0.97, 0.85, 0.93]
    figure = search_importances(study, "what mattered")
    assert figure_title(figure) == "what mattered"
    labels = {label.get_text() for label in figure.axes[0].get_yticklabels()}
    assert labels == {"optimizer", "batch_size", "dropout_rate"}
    assert figure_title(search_history(study, "history")) == "history"


def test_a_search_with_no_spread_says_so_instead_of_failing():
    figure = search_importances(_study([0.5, 0.5, 0.5], [0.6, None, None]), "flat")
    text = " ".join(item.get_text() for item in figure.axes[0].texts)
    assert "every trial scored the same at the first rung (3 trials)" in text


def test_the_tables_show_every_trial_and_the_confirmation():
    search = {"rungs": [3, 9], "trials": [
        {"trial": 0, "state": "complete", "optimizer": "adamw", "val_accuracy_by_rung": {"3": 0.9, "9": 0.95},
         "epochs_trained": 9, "train_time_s": 10.0},
        {"trial": 1, "state": "pruned", "optimizer": "sgd_nesterov", "val_accuracy_by_rung": {"3": 0.8},
         "epochs_trained": 3, "train_time_s": 3.0}]}
    table = trials_table(search)
    assert list(table.index) == [0, 1] and table.loc[0, "val % at 9 ep"] == pytest.approx(95.0)
    assert np.isnan(table.loc[1, "val % at 9 ep"])  # trial 1 never reached the top rung
    confirmation = {"seeds": [1, 2], "winner_trial": 0, "rows": [
        {"trial": 0, "search_val_accuracy": 0.95, "val_accuracy_by_seed": [0.94, 0.96], "val_accuracy_mean": 0.95,
         "paired_standard_error": 0.0, "within_one_standard_error": True, "train_time_s": 9.5}]}
    shown = confirmation_table(confirmation)
    assert list(shown.columns[:3]) == ["search seed %", "seed 1 %", "seed 2 %"] and bool(shown.loc[0, "chosen"])
