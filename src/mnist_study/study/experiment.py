"""The arc every training notebook follows: validate parameters, train per seed, evaluate once, summarize."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path

import numpy as np

from mnist_study.analysis.evaluation import classification_report, summarize_over_seeds
from mnist_study.core.data import DATASET_NAMES, Dataset, prepare_images, prepare_training_split
from mnist_study.core.distributed import is_chief
from mnist_study.core.models import check_model_name, input_side
from mnist_study.core.training import TrainingRecipe
from mnist_study.study.recipe_confirmation import searched_recipe
from mnist_study.study.recipe_search import SearchPlan, open_search, run_search, search_record
from mnist_study.workflow.artifacts import copy_file_atomically, save_array, save_model_reproducibly
from mnist_study.workflow.fingerprints import computation_fingerprint, data_fingerprint
from mnist_study.workflow.reuse import ReuseSession
from mnist_study.workflow.trained_run import TrainedRun
from mnist_study.workflow.training_runs import keep_trained_run, train_budgets_or_reuse, train_or_reuse, with_model

SEARCH_MODULES = ["study.recipe_search"]  # the search's code, beside the training code it calls


@dataclass(frozen=True)
class ExperimentConfig:
    """What one training notebook runs: a dataset, seeds, the data split and the training recipe."""

    dataset: str
    seeds: list[int]
    recipe: TrainingRecipe
    validation_fraction: float = 0.1
    train_subset: int | None = None

    def __post_init__(self):
        if self.dataset not in DATASET_NAMES:
            raise ValueError(f"dataset: unknown dataset {self.dataset!r}; expected one of {DATASET_NAMES}")
        if not isinstance(self.seeds, list) or not self.seeds:
            raise ValueError(f"seeds: expected a non-empty list of integers, got {self.seeds!r}")
        if any(isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in self.seeds):
            raise ValueError(f"seeds: expected non-negative integers, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: expected distinct seeds, got {self.seeds!r}")
        if not isinstance(self.recipe, TrainingRecipe):
            raise ValueError(f"recipe: expected a TrainingRecipe, got {type(self.recipe).__name__}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction: expected a value in (0, 0.5), got {self.validation_fraction!r}")
        if self.train_subset is not None and (not isinstance(self.train_subset, int) or self.train_subset < 20):
            raise ValueError(f"train_subset: expected None or an integer >= 20, got {self.train_subset!r}")

    def as_dict(self) -> dict:
        """Flat, as the notebook parameters are recorded: the recipe's fields beside the others."""
        return {"dataset": self.dataset, "seeds": self.seeds, **self.recipe.as_dict(),
                "validation_fraction": self.validation_fraction, "train_subset": self.train_subset}


@dataclass
class ModelRuns:
    """All seeds of one model: per-seed numbers and test probabilities, the first seed's model and report."""

    model_name: str
    parameter_count: int
    runs: list[dict] = field(default_factory=list)
    histories: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    first: TrainedRun | None = None  # the first seed's run, with its model
    first_report: dict | None = None  # the first seed's classification report on the test set
    seed_probabilities: list[np.ndarray] = field(default_factory=list)  # every seed, in the order of `runs`
    trained: list[TrainedRun] = field(default_factory=list)  # every seed's run, in the order of `runs`

    @property
    def test_probabilities(self) -> np.ndarray:
        """The first seed's test probabilities, shape (n_test, n_classes): the model the figures show."""
        return self.seed_probabilities[0]


def prepare_split(data: Dataset, config: ExperimentConfig, seed: int, side: int):
    """Seeded stratified train/validation split (optionally subsampled) and the prepared test images."""
    return prepare_training_split(data, seed, side, config.validation_fraction, config.train_subset)


def add_run(result: ModelRuns | None, run: TrainedRun, data: Dataset) -> ModelRuns:
    """`result` with one more seed's run: its numbers, test probabilities and report (the first seed's kept)."""
    report = classification_report(data.test_labels, run.test_probabilities, data.class_names)
    if result is None:
        result = ModelRuns(run.model_name, run.parameter_count, first=run, first_report=report)
    result.seed_probabilities.append(run.test_probabilities)
    result.trained.append(run)
    result.histories[f"seed {run.seed}"] = run.history
    result.runs.append({
        "seed": run.seed,
        "test_accuracy": report["accuracy"],
        "test_loss": report["loss"],
        "best_val_accuracy": run.history["val_accuracy"][run.best_epoch - 1],
        "best_val_loss": run.history["val_loss"][run.best_epoch - 1],
        "final_val_accuracy": run.history["val_accuracy"][-1],  # the weights that are kept and tested
        "epochs_run": run.epochs_run,
        "best_epoch": run.best_epoch,
        "train_time_s": run.train_time_s,
        "fingerprint": run.fingerprint,
    })
    print(f"   {run.model_name} s{run.seed} {run.epochs_run} epochs: test accuracy {report['accuracy']:.4f}  "
          f"loss {report['loss']:.4f}", flush=True)
    return result


def run_model(model_name: str, data: Dataset, config: ExperimentConfig, model_kwargs: dict | None = None) -> ModelRuns:
    """Train `model_name` once per seed, or reuse a run whose training inputs did not change
    (mnist_study.workflow.reuse); each trained model touches the test set once."""
    check_model_name(model_name)
    test_images = prepare_images(data.test_images, input_side(model_name))
    result = None
    for seed in config.seeds:
        print(f"== {model_name} on {config.dataset}, seed {seed}", flush=True)
        run = train_or_reuse(model_name, data, dataset=config.dataset, recipe=config.recipe, seed=seed,
                             validation_fraction=config.validation_fraction, train_subset=config.train_subset,
                             model_kwargs=model_kwargs, test_images=test_images, log_prefix=f"   {model_name} s{seed} ")
        result = add_run(result, run, data)
    return result


def run_budgets(model_name: str, data: Dataset, config: ExperimentConfig, budgets: list[int],
                test: bool = True) -> dict[int, ModelRuns]:
    """Per budget (epochs), `model_name` trained by the warmup-stable-decay recipe of `config` on each seed: one
    branching run per seed serves every budget (mnist_study.core.training.train_budgets), or runs are reused.
    Without `test`, the runs never see the test set (a screen): budgets map to their TrainedRuns per seed."""
    check_model_name(model_name)
    test_images = prepare_images(data.test_images, input_side(model_name)) if test else None
    results: dict[int, ModelRuns | list] = {epochs: None if test else [] for epochs in budgets}
    for seed in config.seeds:
        print(f"== {model_name} on {config.dataset}, seed {seed}, {config.recipe.augmentation} augmentation, "
              f"budgets {sorted(budgets)} epochs", flush=True)
        runs = train_budgets_or_reuse(model_name, data, dataset=config.dataset, recipe=config.recipe,
                                      budgets=budgets, seed=seed, validation_fraction=config.validation_fraction,
                                      train_subset=config.train_subset, test_images=test_images,
                                      log_prefix=f"   {model_name} s{seed} ")
        for epochs, run in runs.items():
            if test:
                results[epochs] = add_run(results[epochs], run, data)
            else:
                results[epochs].append(run)
    return results


def summarize_runs(runs: ModelRuns) -> dict:
    """JSON-ready summary: per-seed runs, mean/std/CI of the headline numbers, first seed's full report."""
    return {
        "parameters": runs.parameter_count,
        "seeds": [run["seed"] for run in runs.runs],
        "runs": runs.runs,
        "test_accuracy": summarize_over_seeds([run["test_accuracy"] for run in runs.runs]),
        "test_loss": summarize_over_seeds([run["test_loss"] for run in runs.runs]),
        "train_time_s": summarize_over_seeds([run["train_time_s"] for run in runs.runs]),
        "first_seed_report": runs.first_report,
    }


def save_first_model(runs: ModelRuns, path: str | Path) -> Path:
    """The first seed's trained model saved at `path` (.keras): the cached or published copy where there is one
    (the same bytes, no re-save)."""
    first, path = with_model(runs.first), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if first.model_file is not None:
        copy_file_atomically(first.model_file, path)
    else:
        save_model_reproducibly(first.model, path)
    return path


def save_model_outputs(runs: ModelRuns, dataset: str, results_dir: str | Path,
                       name: str | None = None) -> dict[str, str]:
    """Save the first seed's model (.keras), its predicted test classes (.npy, for McNemar tests) and every
    seed's test-set class probabilities (float32 .npy, shape (seeds, n_test, n_classes), in the order of `runs`).

    Files are named `<dataset>_<name>`; `name` defaults to the architecture's. Only the chief writes them.
    """
    results_dir = Path(results_dir)
    stem = f"{dataset}_{name or runs.model_name}"
    paths = {
        "model": results_dir / "models" / f"{stem}.keras",
        "predictions": results_dir / "predictions" / f"{stem}.npy",
        "probabilities": results_dir / "probabilities" / f"{stem}.npy",
    }
    if is_chief():
        for path in paths.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        save_first_model(runs, paths["model"])
        save_array(runs.test_probabilities.argmax(axis=1).astype(np.uint8), paths["predictions"])
        save_array(np.stack(runs.seed_probabilities).astype(np.float32), paths["probabilities"])
    return {key: path.name for key, path in paths.items()}


def search_storage_url(session: ReuseSession, name: str, storage: str | None = None) -> str:
    """Where search `name` keeps its trials: `storage` (a database URL that several workers share), else a SQLite
    file in `searches/` beside the session's cache: the published results under the runner (committed with them),
    the scratch folder by hand, which starts from a copy of the published file so that nothing published changes."""
    if storage is not None:
        if not isinstance(storage, str) or "://" not in storage:
            raise ValueError(f"search_storage: expected None or a database URL such as "
                             f"'postgresql://user@host/db', got {storage!r}")
        return storage
    path = Path(session.cache_dir).parent / "searches" / f"{name}.db"
    published = Path(session.published_dir) / "searches" / f"{name}.db" if session.published_dir else None
    if not path.exists() and published is not None and published.is_file() and published != path:
        path.parent.mkdir(parents=True, exist_ok=True)
        copy_file_atomically(published, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def search_or_reuse(session: ReuseSession, plan: SearchPlan, data: Dataset, config: ExperimentConfig, *, name: str,
                    storage: str | None = None) -> dict:
    """The recipe search (study.recipe_search) on the first seed's split, its top rung `config`'s epochs: reused
    from the published results or the cache when its code and inputs did not change, else run (or resumed) in its
    storage. `name` names the storage file."""
    inputs = {"plan": plan.as_dict(), "dataset": config.dataset, "data": data_fingerprint(config.dataset),
              "base": config.recipe.as_dict(), "seed": config.seeds[0],
              "validation_fraction": config.validation_fraction, "train_subset": config.train_subset}
    study_name = computation_fingerprint(SEARCH_MODULES, inputs, [plan.model])[:16]
    url = search_storage_url(session, name, storage)

    def search() -> dict:
        study = open_search(url, study_name, plan)
        run_search(study, plan, plan.model, data, config.recipe, seed=config.seeds[0],
                   validation_fraction=config.validation_fraction, train_subset=config.train_subset,
                   keep=partial(keep_trained_run, plan.model, data, dataset=config.dataset, seed=config.seeds[0],
                                validation_fraction=config.validation_fraction, train_subset=config.train_subset))
        return search_record(study, plan, config.recipe.epochs, config.seeds[0])

    record = session.computed(f"recipe_search_{name}", SEARCH_MODULES, inputs, search, architectures=[plan.model])
    for row in record["trials"]:  # which process ran a trial stays in the storage: the record (and the metrics
        row.pop("worker", None)   # it is kept in) is the same whoever ran it, computed now or reused
    return {**record, "name": name}


def searched_study(session: ReuseSession, search: dict, storage: str | None = None):
    """The search's Optuna study, read from its storage (for Optuna's figures)."""
    import optuna

    return optuna.load_study(study_name=search["study_name"],
                             storage=search_storage_url(session, search["name"], storage))


def with_searched_recipe(config: ExperimentConfig, confirmation: dict) -> ExperimentConfig:
    """`config` trained by the confirmed winner (warmup-stable-decay over its own epochs)."""
    return replace(config, recipe=searched_recipe(config.recipe, confirmation, config.recipe.epochs))


def config_from_parameters(parameters: dict) -> ExperimentConfig:
    """Rebuild the ExperimentConfig recorded in a metrics file (extra notebook parameters are ignored)."""
    recipe_names = {item.name for item in fields(TrainingRecipe)}
    config_names = {item.name for item in fields(ExperimentConfig)} - {"recipe"}
    recipe = TrainingRecipe(**{name: value for name, value in parameters.items() if name in recipe_names})
    others = {name: value for name, value in parameters.items() if name in config_names}
    return ExperimentConfig(recipe=recipe, **others)
