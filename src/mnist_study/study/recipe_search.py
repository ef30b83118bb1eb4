"""Choosing a training recipe on validation with Optuna: a seeded TPE sampler proposes recipes, and successive
halving (Optuna's asynchronous pruner) gives the promising ones the budget the winner will be trained at.

Every trial is one warmup-stable-decay run of the family's representative on the first seed's split that branches
into each rung (core.training.train_budgets): a trial is scored at a rung by the validation accuracy of its weights
after that rung's decay, never in the middle of its stable phase. The top rung is the notebook's own budget, and the
rungs below it are a third and a ninth of it: a third of the trials that reach a rung go on. Optuna's pruner decides
as each trial arrives, so the first trials to reach a rung compete with few and go on almost whatever they score;
when the trials are done, the CONFIRMED best at the rung below the top, ranked among every trial that reached it,
are made to complete the top rung (a copy of a stopped one, with its recipe, runs to the end). Those are the choice
that study.recipe_confirmation confirms. The test set takes no part.

The trials live in an Optuna storage (a SQLite file beside the results, or any database URL): an interrupted search
resumes where it stopped, a finished one is read instead of re-run, and several processes or machines given one URL
share the search (Optuna's own distributed mode; a trial whose worker died is failed by its missing heartbeat and
retried with the same recipe).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import keras
import numpy as np
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from mnist_study.core.augmentation import check_augmentation
from mnist_study.core.data import Dataset, prepare_training_split
from mnist_study.core.models import check_model_name, has_dropout, input_side
from mnist_study.core.training import TrainingRecipe, decay_epochs, train_budgets

# The space searched. Peak rates and weight decays are log-uniform; their ranges differ by optimizer because
# Keras multiplies the decoupled decay by the rate, and SGD's rates are some 50x Adam's. The ranges are wider than
# the winners of the first searches, which sat at the edges of narrower ones.
SEARCH_SPACE = {
    "optimizer": ["adamw", "sgd_nesterov"],
    "learning_rate": {"adamw": (3e-4, 3e-2), "sgd_nesterov": (1e-2, 1.0)},
    "weight_decay": {"adamw": (1e-3, 5e-1), "sgd_nesterov": (1e-5, 1e-2)},
    "label_smoothing": [0.0, 0.05, 0.1, 0.15],
    "dropout_rate": (0.0, 0.5),  # only where the architecture has dropout (models.has_dropout)
    "warmup_epochs": [1, 2],
    "batch_size": [64, 128, 256, 512],  # 512 doubles some nets' throughput on AMD EPYC (make bench)
}
REDUCTION_FACTOR = 3  # a third of the trials at a rung go on to the next
MIN_RUNG_EPOCHS = 3  # the shortest rung still holds a warm-up, a stable epoch or none, and a decay
CONFIRMED = 3  # trials that must reach the top rung: the recipes confirmed on other seeds
STARTUP_TRIALS = 8  # random proposals before TPE starts to model the results
HEARTBEAT_S, GRACE_S = 10, 60  # a running trial whose worker is silent for GRACE_S is failed and retried
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
RECIPE_FIELDS = ["optimizer", "learning_rate", "weight_decay", "label_smoothing", "dropout_rate", "augmentation",
                 "warmup_epochs", "batch_size"]  # what a trial sets of a TrainingRecipe


@dataclass(frozen=True)
class SearchPlan:
    """One search: which architecture its trials train, how many trials, the sampler's own seed, and the
    augmentations it may choose among (["none"]: an arm without augmentation)."""

    model: str
    trials: int
    sampler_seed: int
    augmentations: list[str] = field(default_factory=lambda: ["none"])

    def __post_init__(self):
        check_model_name(self.model)
        for name, value in (("search_trials", self.trials), ("search_seed", self.sampler_seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "search_trials" else 0):
                raise ValueError(f"{name}: expected a {'positive' if name == 'search_trials' else 'non-negative'} "
                                 f"integer, got {value!r}")
        if not isinstance(self.augmentations, list) or not self.augmentations \
                or len(set(self.augmentations)) != len(self.augmentations):
            raise ValueError(f"search_augmentations: expected a non-empty list of distinct names, "
                             f"got {self.augmentations!r}")
        for name in self.augmentations:
            try:
                check_augmentation(name)
            except ValueError as error:
                raise ValueError(f"search_augmentations: {error}") from None

    def as_dict(self) -> dict:
        return {"model": self.model, "trials": self.trials, "sampler_seed": self.sampler_seed,
                "augmentations": self.augmentations}


def search_rungs(epochs: int) -> list[int]:
    """The rungs (epochs) of a search whose top rung is `epochs`: it, a third of it, a ninth of it, while a rung
    divides by REDUCTION_FACTOR and stays at least MIN_RUNG_EPOCHS long (27 -> 3, 9, 27; 10 -> 10)."""
    rungs = [epochs]
    while rungs[0] % REDUCTION_FACTOR == 0 and rungs[0] // REDUCTION_FACTOR >= MIN_RUNG_EPOCHS:
        rungs.insert(0, rungs[0] // REDUCTION_FACTOR)
    return rungs


def propose(trial: optuna.Trial, plan: SearchPlan, base: TrainingRecipe, rungs: list[int]) -> dict:
    """One recipe from SEARCH_SPACE, as TrainingRecipe fields."""
    # The shortest rung must hold the warm-up before its decay (a 2-epoch rung: one warm-up epoch, one decay).
    warmups = [w for w in SEARCH_SPACE["warmup_epochs"] if w <= rungs[0] - decay_epochs(base, rungs[0])]
    optimizer = trial.suggest_categorical("optimizer", SEARCH_SPACE["optimizer"])
    low, high = SEARCH_SPACE["learning_rate"][optimizer]
    learning_rate = trial.suggest_float(f"learning_rate_{optimizer}", low, high, log=True)
    low, high = SEARCH_SPACE["weight_decay"][optimizer]
    weight_decay = trial.suggest_float(f"weight_decay_{optimizer}", low, high, log=True)
    fields = {"optimizer": optimizer, "learning_rate": learning_rate, "weight_decay": weight_decay,
              "label_smoothing": trial.suggest_categorical("label_smoothing", SEARCH_SPACE["label_smoothing"]),
              "dropout_rate": trial.suggest_float("dropout_rate", *SEARCH_SPACE["dropout_rate"])
              if has_dropout(plan.model) else None,
              "augmentation": trial.suggest_categorical("augmentation", plan.augmentations),
              "warmup_epochs": trial.suggest_categorical("warmup_epochs", warmups),
              "batch_size": trial.suggest_categorical("batch_size", SEARCH_SPACE["batch_size"])}
    return fields


def trial_recipe(base: TrainingRecipe, fields: dict, epochs: int) -> TrainingRecipe:
    """`base` (precision, devices...) trained by a trial's fields, warmup-stable-decay over `epochs`."""
    return replace(base, epochs=epochs, lr_schedule="wsd", early_stopping_patience=None, **fields)


def open_search(storage_url: str, study_name: str, plan: SearchPlan) -> optuna.Study:
    """The study `study_name` in the storage, created if new; the storage's other studies (searches whose inputs
    have since changed) are deleted, so that one file holds one search."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials print their own lines
    with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words, since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            storage_url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
            engine_kwargs={"connect_args": {"timeout": 60}} if storage_url.startswith("sqlite") else None)
    for summary in optuna.get_all_study_summaries(storage):
        if summary.study_name != study_name:
            print(f"{storage_url}: search {summary.study_name} was made for other inputs: deleted", flush=True)
            optuna.delete_study(study_name=summary.study_name, storage=storage)
    return optuna.create_study(storage=storage, study_name=study_name, direction="maximize", load_if_exists=True,
                               pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                                             reduction_factor=REDUCTION_FACTOR))


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():  # "experimental" since Optuna 2.9, and what its own optimize() calls
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _counts(study: optuna.Study) -> dict[str, int]:
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    return {"finished": sum(state in FINISHED for state in states),
            "complete": states.count(TrialState.COMPLETE), "running": states.count(TrialState.RUNNING),
            "waiting": states.count(TrialState.WAITING)}


def _enqueue_promotions(study: optuna.Study, rungs: list[int]) -> bool:
    """Queue a copy of each of the CONFIRMED best trials at the rung below the top whose recipe has not completed
    the top rung (nor is on its way there); True if any was queued."""
    if len(rungs) < 2:
        return False
    step = REDUCTION_FACTOR ** (len(rungs) - 2)  # the rung below the top, as the pruner numbers it
    trials = study.get_trials(deepcopy=False)
    scored = [trial for trial in trials if trial.state in FINISHED and step in trial.intermediate_values
              and "promotes" not in trial.user_attrs]
    best = sorted(scored, key=lambda trial: (-trial.intermediate_values[step], trial.number))[:CONFIRMED]
    on_their_way = {trial.user_attrs.get("promotes", trial.number) for trial in trials
                    if trial.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)}
    missing = [trial for trial in best if trial.number not in on_their_way]
    for trial in missing:
        study.enqueue_trial(trial.params, user_attrs={"promotes": trial.number}, skip_if_exists=False)
    return bool(missing)


def _should_start_another(counts: dict[str, int], trials: int) -> bool:
    """Until `trials` are finished or under way, and until CONFIRMED have completed the top rung (or could: those
    under way count), with a cap at twice `trials` for a space where nothing ever completes."""
    active = counts["running"] + counts["waiting"]
    if counts["finished"] + active >= 2 * trials:
        return False
    return counts["finished"] + active < trials or counts["complete"] + active < CONFIRMED


def seeded_sampler(study: optuna.Study, trial: optuna.Trial, sampler_seed: int) -> optuna.samplers.TPESampler:
    """TPE seeded for this trial by its place among the trials that did not fail: a search resumed after an
    interruption proposes what the uninterrupted one would have, and two workers never draw alike."""
    place = sum(other.number < trial.number and other.state != TrialState.FAIL
                for other in study.get_trials(deepcopy=False))
    # Hashed: consecutive integer seeds give correlated first draws.
    seed = int(np.random.SeedSequence([sampler_seed, place]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)


def run_search(study: optuna.Study, plan: SearchPlan, model_name: str, data: Dataset,
               base: TrainingRecipe, *, seed: int, validation_fraction: float, train_subset: int | None,
               keep: Callable[[TrainingRecipe, object, datetime], None] | None = None) -> None:
    """Run trials into `study` until it is done (_should_start_another). Each trial that completes the top rung is
    that recipe's run on `seed`, bit for bit: `keep(recipe, training_result, started_at)` may keep it."""
    rungs = search_rungs(base.epochs)
    split = prepare_training_split(data, seed, input_side(model_name), validation_fraction, train_subset)
    # The pruner compares trials at a rung by step: steps are rung indices, so that rung k is step 3^k.
    steps = {epochs: REDUCTION_FACTOR ** index for index, epochs in enumerate(rungs)}

    def objective(trial: optuna.Trial) -> float:
        promotes = trial.user_attrs.get("promotes")  # a copy of a stopped trial, made to complete the top rung
        study.sampler = seeded_sampler(study, trial, plan.sampler_seed)
        fields = propose(trial, plan, base, rungs)
        recipe = trial_recipe(base, fields, max(rungs))
        trial.set_user_attr("fields", fields)
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        copy = "" if promotes is None else f" (trial {promotes}, to the top rung)"
        print(f"== trial {trial.number}{copy}: " + ", ".join(f"{key} {value:.3g}" if isinstance(value, float)
                                                              else f"{key} {value}" for key, value in fields.items()),
              flush=True)
        scores, started_at, start = {}, datetime.now(UTC), time.perf_counter()

        def at_rung(epochs: int, trained) -> None:
            scores[epochs] = float(trained.history["val_accuracy"][-1])  # after the rung's decay
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
            trial.set_user_attr("epochs_trained", len(trained.history["val_accuracy"]))
            if epochs == max(rungs):
                if keep is not None:
                    keep(recipe, trained, started_at)
                return
            trial.report(scores[epochs], step=steps[epochs])
            if promotes is None and trial.should_prune():
                raise optuna.TrialPruned(f"stopped after the {epochs}-epoch rung")

        try:
            train_budgets(model_name, split, recipe, rungs, seed=seed, on_budget=at_rung,
                          num_classes=len(data.class_names), log_prefix=f"   trial {trial.number} ")
        finally:
            keras.backend.clear_session()
        return scores[max(rungs)]

    while True:
        _fail_stale_trials(study)  # a dead worker's trial: failed, and queued again with its recipe (waiting)
        counts = _counts(study)
        if counts["waiting"] or _should_start_another(counts, plan.trials):
            study.optimize(objective, n_trials=1)  # a waiting trial first
        elif counts["running"]:  # another worker's trial is under way: the search is done when it is
            time.sleep(HEARTBEAT_S)
        elif not _enqueue_promotions(study, rungs):
            return


def search_record(study: optuna.Study, plan: SearchPlan, epochs: int, seed: int) -> dict:
    """Every trial (its recipe, state, score at each rung it reached, epochs and seconds), ranked, as JSON."""
    rungs = search_rungs(epochs)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        scores = {str(rungs[index]): value for index, value in enumerate(
            trial.intermediate_values.get(REDUCTION_FACTOR ** index) for index in range(len(rungs) - 1))
            if value is not None}
        if trial.state == TrialState.COMPLETE:
            scores[str(epochs)] = trial.value
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), **trial.user_attrs.get("fields", {}),
                     "rungs_reached": len(scores), "val_accuracy_by_rung": scores,
                     "epochs_trained": trial.user_attrs.get("epochs_trained", 0),
                     "train_time_s": trial.user_attrs.get("seconds", 0.0),
                     "promotes": trial.user_attrs.get("promotes"), "worker": trial.user_attrs.get("worker")})
    complete = sorted((row for row in rows if row["state"] == "complete"),
                      key=lambda row: -row["val_accuracy_by_rung"][str(epochs)])  # stable: the earlier on a tie
    return {**plan.as_dict(), "seed": seed, "epochs": epochs, "rungs": rungs, "study_name": study.study_name,
            "trials": rows, "top_rung_trials": [row["trial"] for row in complete],
            "epochs_trained": sum(row["epochs_trained"] for row in rows),
            "train_time_s": round(sum(row["train_time_s"] for row in rows), 1)}
