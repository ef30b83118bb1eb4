"""A search's winner confirmed, not drawn: its top recipes trained at the full budget on seeds the search never saw.

The search ranks its recipes on one seed's split, and its best score is the maximum of many noisy ones (the
winner's curse). So the CONFIRMED best recipes that reached the top rung are trained again on two other seeds, each
on its own split; their mean validation accuracy there decides. A recipe within one paired standard error of the
best (the spread of the per-seed differences) is not told apart from it, and of those the cheapest (the largest
batch: the fewest optimizer steps) wins. The test set takes no part.
"""

from __future__ import annotations

import numpy as np

from mnist_study.study.recipe_search import CONFIRMED, RECIPE_FIELDS, SEARCH_SPACE, trial_recipe
from mnist_study.workflow.training_runs import train_or_reuse


def at_range_edge(fields: dict, margin: float = 0.05) -> list[str]:
    """The searched numbers of a recipe that sit within `margin` of an end of their range (on the log scale where
    the search samples on it): a winner there asks for a wider range."""
    ranges = {"learning_rate": (*SEARCH_SPACE["learning_rate"][fields["optimizer"]], True),
              "weight_decay": (*SEARCH_SPACE["weight_decay"][fields["optimizer"]], True),
              "dropout_rate": (*SEARCH_SPACE["dropout_rate"], False)}
    edges = []
    for name, (low, high, log) in ranges.items():
        value = fields.get(name)
        if value is None:
            continue
        position = (np.log(value / low) / np.log(high / low)) if log else (value - low) / (high - low)
        if position < margin or position > 1 - margin:
            edges.append(name)
    return edges


def check_confirmation_seeds(seeds, search_seed: int) -> None:
    if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) or search_seed in seeds or any(
            isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in seeds):
        raise ValueError(f"confirmation_seeds: expected distinct non-negative integers other than the search's seed "
                         f"({search_seed}), got {seeds!r}")


def top_trials(search: dict, count: int = CONFIRMED) -> list[dict]:
    """The `count` best trials that completed the top rung, best first."""
    by_number = {row["trial"]: row for row in search["trials"]}
    return [by_number[number] for number in search["top_rung_trials"][:count]]


def paired_standard_error(first: list[float], second: list[float]) -> float:
    """The standard error of the mean per-seed difference (0 with one seed: no spread to measure)."""
    differences = np.subtract(first, second)
    return float(np.std(differences, ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else 0.0


def choose_confirmed(rows: list[dict]) -> dict:
    """The best mean validation accuracy, or the cheapest recipe (largest batch) within one paired standard error of
    it. Rows: trial, batch_size, val_accuracy_by_seed (same seeds, same order)."""
    if not rows:
        raise ValueError("confirmation: no recipe reached the top rung")
    for row in rows:
        row["val_accuracy_mean"] = float(np.mean(row["val_accuracy_by_seed"]))
    best = max(rows, key=lambda row: row["val_accuracy_mean"])  # the first, best-searched, on a tie
    for row in rows:
        row["paired_standard_error"] = paired_standard_error(best["val_accuracy_by_seed"], row["val_accuracy_by_seed"])
        row["within_one_standard_error"] = \
            best["val_accuracy_mean"] - row["val_accuracy_mean"] <= row["paired_standard_error"]
    # Cheaper: the larger batch, fewer optimizer steps per epoch (`make bench`: faster on these CPUs). Not the
    # measured seconds, which vary from run to run and would let a rerun choose another recipe.
    chosen = min((row for row in rows if row["within_one_standard_error"]),
                 key=lambda row: (-row["batch_size"], -row["val_accuracy_mean"]))
    return {"best_trial": best["trial"], "winner_trial": chosen["trial"],
            "winner": {key: chosen[key] for key in RECIPE_FIELDS}}


def confirm_recipes(search: dict, data, config, seeds: list[int]) -> dict:
    """The top recipes of `search` trained at its top rung on `seeds` (runs reused when found), and the choice.
    `config`: the notebook's ExperimentConfig (dataset, split, what the recipe does not search)."""
    check_confirmation_seeds(seeds, search["seed"])
    rows = []
    for trial in top_trials(search):
        fields = {key: trial[key] for key in RECIPE_FIELDS}
        recipe = trial_recipe(config.recipe, fields, search["epochs"])
        runs = [train_or_reuse(search["model"], data, dataset=config.dataset, recipe=recipe, seed=seed,
                               validation_fraction=config.validation_fraction, train_subset=config.train_subset,
                               log_prefix=f"   trial {trial['trial']} s{seed} ") for seed in seeds]
        rows.append({"trial": trial["trial"], **fields,
                     "search_val_accuracy": trial["val_accuracy_by_rung"][str(search["epochs"])],
                     "val_accuracy_by_seed": [float(run.history["val_accuracy"][-1]) for run in runs],
                     "train_time_s": float(np.mean([run.train_time_s for run in runs]))})
    return {"seeds": seeds, "epochs": search["epochs"], "rows": rows, **choose_confirmed(rows)}


def searched_recipe(base, confirmation: dict, epochs: int):
    """`base` (precision, devices...) trained by the confirmed winner, warmup-stable-decay over `epochs`."""
    return trial_recipe(base, confirmation["winner"], epochs)
