"""Choosing a training recipe on validation with Optuna: a seeded TPE sampler proposes recipes and a
successive-halving pruner stops the weak ones after an epoch or three, so most of the budget goes to the promising.

One search per dataset and architecture family (the notebook that trains the family runs it; later notebooks read
its winner from that notebook's metrics). Every trial trains the family's representative on the first seed's
split, warmup-stable-decay, for the search's epochs; the test set takes no part.
"""

from __future__ import annotations

import time
from dataclasses import replace

import keras
import optuna

from mnist_study.core.data import Dataset, prepare_training_split
from mnist_study.core.models import check_model_name, input_side
from mnist_study.core.training import OPTIMIZERS, TrainingRecipe, train_model

# The space searched. Peak rates and weight decays are log-uniform; their ranges differ by optimizer because
# Keras multiplies the decoupled decay by the rate, and SGD's rates are some 50x Adam's.
SEARCH_SPACE = {
    "optimizer": ["adamw", "sgd_nesterov"],
    "learning_rate": {"adamw": (5e-4, 1e-2), "sgd_nesterov": (1e-2, 3e-1)},
    "weight_decay": {"adamw": (1e-3, 2e-1), "sgd_nesterov": (1e-5, 2e-3)},
    "label_smoothing": [0.0, 0.05, 0.1],
    "warmup_epochs": [1, 2],
    "batch_size": [64, 128, 256],
}
SEARCHED_FIELDS = list(SEARCH_SPACE)
STARTUP_TRIALS = 4  # random proposals before TPE starts to model the results


def check_search(trials, epochs) -> None:
    for name, value in (("search_trials", trials), ("search_epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if epochs < 3:
        raise ValueError(f"search_epochs: expected at least 3 (warm-up, stable, decay), got {epochs}")


def propose(trial: optuna.Trial, epochs: int) -> dict:
    """One recipe from SEARCH_SPACE, as TrainingRecipe fields."""
    optimizer = trial.suggest_categorical("optimizer", SEARCH_SPACE["optimizer"])
    low, high = SEARCH_SPACE["learning_rate"][optimizer]
    learning_rate = trial.suggest_float(f"learning_rate_{optimizer}", low, high, log=True)
    low, high = SEARCH_SPACE["weight_decay"][optimizer]
    weight_decay = trial.suggest_float(f"weight_decay_{optimizer}", low, high, log=True)
    warmup = trial.suggest_categorical("warmup_epochs", [w for w in SEARCH_SPACE["warmup_epochs"] if w < epochs - 1])
    return {"optimizer": optimizer, "learning_rate": learning_rate, "weight_decay": weight_decay,
            "label_smoothing": trial.suggest_categorical("label_smoothing", SEARCH_SPACE["label_smoothing"]),
            "warmup_epochs": warmup, "batch_size": trial.suggest_categorical("batch_size", SEARCH_SPACE["batch_size"])}


class _ReportToPruner(keras.callbacks.Callback):
    """Hands each epoch's validation accuracy to the trial, and stops the fit when the pruner says so."""

    def __init__(self, trial: optuna.Trial):
        super().__init__()
        self.trial = trial

    def on_epoch_end(self, epoch, logs=None):
        self.trial.report(float(logs["val_accuracy"]), step=epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")


def search_recipe(model_name: str, data: Dataset, base: TrainingRecipe, *, seed: int, trials: int, epochs: int,
                  validation_fraction: float, train_subset: int | None) -> dict:
    """Run the search; returns every trial (its recipe, the epochs it ran, its best validation accuracy, its
    seconds), the winner's fields, and what the search cost. `base` gives what is not searched (precision...)."""
    check_model_name(model_name)
    check_search(trials, epochs)
    if base.optimizer not in OPTIMIZERS:
        raise ValueError(f"base: unknown optimizer {base.optimizer!r}")
    split = prepare_training_split(data, seed, input_side(model_name), validation_fraction, train_subset)
    rows: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        fields = propose(trial, epochs)
        recipe = replace(base, epochs=epochs, lr_schedule="wsd", early_stopping_patience=None, **fields)
        print(f"== trial {trial.number}: " + ", ".join(f"{key} {value:.3g}" if isinstance(value, float)
                                                        else f"{key} {value}" for key, value in fields.items()),
              flush=True)
        row = {"trial": trial.number, **fields, "epochs_run": 0, "best_val_accuracy": None, "pruned": False}
        rows.append(row)
        history: dict[str, list[float]] = {"val_accuracy": []}

        class _Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                history["val_accuracy"].append(float(logs["val_accuracy"]))

        start = time.perf_counter()
        try:
            train_model(model_name, split, recipe, seed=seed, num_classes=len(data.class_names),
                        log_prefix=f"   trial {trial.number} ", extra_callbacks=[_Record(), _ReportToPruner(trial)])
        except optuna.TrialPruned:
            row["pruned"] = True
            raise
        finally:
            row |= {"epochs_run": len(history["val_accuracy"]), "train_time_s": round(time.perf_counter() - start, 2),
                    "best_val_accuracy": max(history["val_accuracy"], default=None)}
            keras.backend.clear_session()
        return row["best_val_accuracy"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        # TPE models the trials after its first few random ones (10 by default, as many as a whole search here).
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(STARTUP_TRIALS, trials)),
        # Rungs at 1, 3, 9 ... epochs: a third of the trials that reach a rung go on.
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    study.optimize(objective, n_trials=trials)
    completed = [row for row in rows if not row["pruned"]]
    winner = max(completed, key=lambda row: row["best_val_accuracy"])  # max keeps the first of a tie
    return {"model": model_name, "seed": seed, "epochs": epochs, "train_subset": train_subset, "trials": rows,
            "winner": {key: winner[key] for key in SEARCHED_FIELDS}, "winner_trial": winner["trial"],
            "winner_val_accuracy": winner["best_val_accuracy"],
            "epochs_trained": sum(row["epochs_run"] for row in rows),
            "train_time_s": round(sum(row["train_time_s"] for row in rows), 1)}


def searched_recipe(base: TrainingRecipe, search: dict, epochs: int) -> TrainingRecipe:
    """`base` (epochs, precision...) trained by the search's winner, warmup-stable-decay over `epochs`."""
    return replace(base, epochs=epochs, lr_schedule="wsd", early_stopping_patience=None, **search["winner"])
