"""A trained run for the notebooks: reused when a run with its training fingerprint is found (workflow.reuse),
else trained and kept; its model fetched on demand."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mnist_study.workflow.fingerprints import (
    array_digest,
    run_settings,
    training_code_fingerprint,
    training_fingerprint,
)
from mnist_study.workflow.reuse import REUSED_FROM, current_session, training_provenance
from mnist_study.workflow.trained_run import TrainedRun


def _training_code() -> str:
    """The training code's fingerprint: the one pinned when the session opened, which is the code this process runs."""
    session = current_session()
    return session.training_code if session and session.training_code else training_code_fingerprint()


def _describe(run: TrainedRun) -> str:
    trained = run.trained
    commit = (trained.get("commit") or "unknown")[:10]
    where = REUSED_FROM[run.reused_from]
    return (f"reused from {where}: trained by {trained.get('notebook')} at commit {commit} on "
            f"{trained.get('cpu')} in {run.train_time_s:.0f} s, {run.epochs_run} epochs")


def _new_run(fingerprint: str, settings: dict, trained, started_at: datetime, code: str) -> TrainedRun:
    """The record of a run trained now (`trained`: core.training's TrainingResult)."""
    return TrainedRun(fingerprint, settings, trained.history, trained.epochs_run, trained.best_epoch,
                      round(trained.wall_time_s, 2), trained.model.count_params(),
                      training_provenance(current_session(), started_at), model=trained.model, training_code=code)


def _test(run: TrainedRun, test_images) -> None:
    """Predict `run`'s test probabilities, once. float32, as published: a reused run's metrics then equal a trained
    one's bit for bit."""
    from mnist_study.core.inference import predict_probabilities

    run.test_probabilities = predict_probabilities(run.keras_model(), test_images).astype(np.float32)
    run.digests["test_probabilities"] = array_digest(run.test_probabilities)


def _found(fingerprint: str, need_test: bool, need_model: bool, log_prefix: str) -> TrainedRun | None:
    """The session's run with `fingerprint` that can serve the caller (announced when it comes from elsewhere)."""
    session = current_session()
    run = session.find(fingerprint, need_test, need_model) if session else None
    if run is not None and run.fingerprint not in session.runs:
        print(f"{log_prefix}{_describe(run) if run.reused_from else 'trained above, by the search'}", flush=True)
    return run


def train_or_reuse(model_name: str, data, *, dataset: str, recipe, seed: int, validation_fraction: float,
                   train_subset: int | None = None, model_kwargs: dict | None = None, test_images=None,
                   need_model: bool = False, log_prefix: str = "") -> TrainedRun:
    """The run of `model_name` by `recipe` on `seed`'s split: reused when one with its fingerprint exists, else
    trained (and, with `test_images`, its test probabilities predicted once) and kept for next time."""
    from mnist_study.core.data import prepare_training_split
    from mnist_study.core.models import input_side
    from mnist_study.core.training import train_model

    settings = run_settings(model_name, dataset, recipe, seed, validation_fraction, train_subset, model_kwargs,
                            len(data.class_names))
    code = _training_code()
    fingerprint = training_fingerprint(settings, code)
    need_test = test_images is not None
    run = _found(fingerprint, need_test, need_model, log_prefix)
    changed = run is None  # trained now, or given test probabilities now: then (re-)cached
    if run is None:
        started_at = datetime.now(UTC)
        split = prepare_training_split(data, seed, input_side(model_name), validation_fraction, train_subset)
        trained = train_model(model_name, split, recipe, seed=seed, model_kwargs=model_kwargs,
                              num_classes=len(data.class_names), log_prefix=log_prefix)
        run = _new_run(fingerprint, settings, trained, started_at, code)
    if need_test and run.test_probabilities is None:
        _test(run, test_images)
        changed = True
    if (session := current_session()) is not None:
        session.add(run, cache=changed)
    return run


def keep_trained_run(model_name: str, data, recipe, trained, started_at: datetime, *, dataset: str, seed: int,
                     validation_fraction: float, train_subset: int | None) -> TrainedRun:
    """Keep a run trained elsewhere (a search's trial at its top rung: the run of `recipe` on `seed`, bit for bit),
    so that a notebook that trains that recipe on that seed reuses it. `trained`: core.training's TrainingResult."""
    code = _training_code()
    settings = run_settings(model_name, dataset, recipe, seed, validation_fraction, train_subset, None,
                            len(data.class_names))
    run = _new_run(training_fingerprint(settings, code), settings, trained, started_at, code)
    if (session := current_session()) is not None:
        session.keep(run)
    run.model = None  # saved with the run; the live model trains on
    return run


def with_model(run: TrainedRun) -> TrainedRun:
    """`run` with its trained model at hand: in memory, or a saved copy found again; else the run is trained anew
    (a run whose model was never kept, such as a curve point that becomes a final)."""
    if run.model is not None or run.model_file is not None:
        return run
    from mnist_study.core.data import load_dataset, prepare_images
    from mnist_study.core.models import input_side
    from mnist_study.core.training import TrainingRecipe

    settings = run.settings
    data = load_dataset(settings["dataset"])
    print(f"== {settings['model']} on {settings['dataset']}, seed {settings['seed']}: its model is needed",
          flush=True)
    test_images = prepare_images(data.test_images, input_side(settings["model"])) \
        if run.test_probabilities is not None else None
    return train_or_reuse(settings["model"], data, dataset=settings["dataset"],
                          recipe=TrainingRecipe(**settings["recipe"]), seed=settings["seed"],
                          validation_fraction=settings["validation_fraction"], train_subset=settings["train_subset"],
                          model_kwargs=settings["model_kwargs"] or None, test_images=test_images, need_model=True,
                          log_prefix=f"   {settings['model']} s{settings['seed']} ")


def train_budgets_or_reuse(model_name: str, data, *, dataset: str, recipe, budgets: list[int], seed: int,
                           validation_fraction: float, train_subset: int | None = None,
                           model_kwargs: dict | None = None, test_images=None,
                           log_prefix: str = "") -> dict[int, TrainedRun]:
    """The run of a warmup-stable-decay `recipe` at each budget (epochs) in `budgets`, on `seed`'s split. Each
    budget's fingerprint is that of the recipe at that many epochs, since a branch is bit for bit the run of that
    length alone (core.training.train_budgets). Budgets found are reused; the rest train from one branching run."""
    from dataclasses import replace

    from mnist_study.core.data import prepare_training_split
    from mnist_study.core.models import input_side
    from mnist_study.core.training import train_budgets

    session, code = current_session(), _training_code()
    settings = {epochs: run_settings(model_name, dataset, replace(recipe, epochs=epochs), seed, validation_fraction,
                                     train_subset, model_kwargs, len(data.class_names)) for epochs in budgets}
    fingerprints = {epochs: training_fingerprint(settings[epochs], code) for epochs in budgets}
    need_test = test_images is not None
    runs = {epochs: _found(fingerprints[epochs], need_test, False, f"{log_prefix}{epochs} epochs: ")
            for epochs in budgets}
    missing = [epochs for epochs, run in runs.items() if run is None]
    if missing:
        started_at = datetime.now(UTC)
        split = prepare_training_split(data, seed, input_side(model_name), validation_fraction, train_subset)
        wanted = sorted(epochs for epochs in budgets if epochs <= max(missing))

        def keep(epochs: int, trained) -> None:
            if runs[epochs] is not None:  # found already: this branch is the same run
                return
            run = _new_run(fingerprints[epochs], settings[epochs], trained, started_at, code)
            if need_test:
                _test(run, test_images)
            if session is not None:
                session.add(run, cache=True)  # the model is saved now: the run trains on from its branch point
            run.model = None
            runs[epochs] = run

        train_budgets(model_name, split, replace(recipe, epochs=max(wanted)), wanted, seed=seed, on_budget=keep,
                      model_kwargs=model_kwargs, num_classes=len(data.class_names), log_prefix=log_prefix)
    for run in runs.values():
        if need_test and run.test_probabilities is None:
            _test(run, test_images)
            if session is not None:
                session.add(run, cache=True)
        elif session is not None and run.fingerprint not in session.runs:
            session.add(run, cache=False)
    return runs

