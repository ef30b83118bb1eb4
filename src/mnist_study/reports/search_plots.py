"""A recipe search shown: every trial in a table, and Optuna's own figures of its history and of what mattered."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.visualization import matplotlib as optuna_plots

from mnist_study.figure_style import styled
from mnist_study.study.recipe_search import FINISHED, RECIPE_FIELDS

IMPORTANCE_SEED = 0  # fANOVA fits a random forest: seeded, so the figure is the same on every run


def trials_table(search: dict) -> pd.DataFrame:
    """One row per trial: its recipe, how far it went, its score after each rung's decay (%)."""
    rows = []
    for row in search["trials"]:
        scores = {f"val % at {epochs} ep": 100 * row["val_accuracy_by_rung"][str(epochs)]
                  for epochs in search["rungs"] if str(epochs) in row["val_accuracy_by_rung"]}
        rows.append({"trial": row["trial"], "state": row["state"],
                     **{key: row.get(key) for key in RECIPE_FIELDS}, **scores,
                     "epochs": row["epochs_trained"], "seconds": row["train_time_s"]})
    return pd.DataFrame(rows).set_index("trial").round(4)


def confirmation_table(confirmation: dict) -> pd.DataFrame:
    """The top recipes on the confirmation seeds: validation per seed and mean (%), paired error, cost."""
    rows = [{"trial": row["trial"], "search seed %": 100 * row["search_val_accuracy"],
             **{f"seed {seed} %": 100 * value for seed, value in zip(confirmation["seeds"],
                                                                      row["val_accuracy_by_seed"], strict=True)},
             "mean %": 100 * row["val_accuracy_mean"], "paired SE (pp)": 100 * row["paired_standard_error"],
             "within 1 SE": row["within_one_standard_error"], "seconds": row["train_time_s"],
             "chosen": row["trial"] == confirmation["winner_trial"]} for row in confirmation["rows"]]
    return pd.DataFrame(rows).set_index("trial").round(3)


def _titled(axis, title: str) -> Figure:
    axis.set_title("")  # Optuna's own, generic title
    axis.figure.suptitle(title)
    axis.figure.set_size_inches(8, 4)
    axis.figure.tight_layout()
    return axis.figure


@styled
def search_history(study: optuna.Study, title: str) -> Figure:
    """Optuna's optimization history: each completed trial's top-rung score, and the best so far."""
    with warnings.catch_warnings():  # "experimental" in Optuna's words since 2.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axis = optuna_plots.plot_optimization_history(study)
    axis.set_ylabel("validation accuracy at the top rung")
    return _titled(axis, title)


def first_rung_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy in which every finished trial is complete with its first rung's score: every trial
    reaches that rung, so what mattered can be judged on all of them, not on the few that reached the top."""
    copy = optuna.create_study(direction="maximize")
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        value = trial.intermediate_values.get(1, trial.value)  # step 1 is the first rung; a one-rung search: value
        if value is not None:
            copy.add_trial(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions,
                                                     value=value))
    return copy


@styled
def search_importances(study: optuna.Study, title: str) -> Figure:
    """Optuna's fANOVA parameter importances for the first rung's score (first_rung_study); the parameters every
    trial has (each optimizer's own rate and decay are left out)."""
    copy = first_rung_study(study)
    if len({trial.value for trial in copy.trials}) < 2:  # fANOVA has no variance to attribute
        figure, axis = plt.subplots(figsize=(8, 4))
        axis.text(0.5, 0.5, f"every trial scored the same at the first rung ({len(copy.trials)} trials):\n"
                  "no spread to attribute to a parameter", ha="center", va="center")
        axis.set_axis_off()
        figure.suptitle(title)
        return figure
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axis = optuna_plots.plot_param_importances(copy, evaluator=evaluator)
    return _titled(axis, title)
