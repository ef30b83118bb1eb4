"""Trained runs reused when nothing that shapes them changed.

Each run (one architecture, recipe, seed and data split) is known by its training fingerprint
(workflow.fingerprints). It is looked up, in order, among the runs of this execution, the notebook's last published
results (its metrics' `trained_runs`, with the test probabilities and models found by content digest under
`results/probabilities/` and `results/models/`) and a local cache (`results/.run-cache/`, git-ignored), which
keeps every finished run, so that a notebook interrupted after some runs resumes where it stopped. The notebooks
get their runs through workflow.training_runs, which trains what this finds nowhere.

Why not joblib.Memory: it hashes the decorated function's own code, not the modules it calls (a change to
models.py would not invalidate a run), it pickles the Keras model, and its store is no format to publish.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mnist_study.core.distributed import is_chief
from mnist_study.workflow.fingerprints import (
    PACKAGE_DIR,
    PROJECT_ROOT,
    array_digest,
    computation_fingerprint,
    sha256_file,
    training_code_fingerprint,
    training_modules,
)
from mnist_study.workflow.provenance import machine, read_json, write_json
from mnist_study.workflow.trained_run import TrainedRun, from_record

CACHE_FOLDER = ".run-cache"
PUBLISHED_RESULTS = PROJECT_ROOT / "results"  # what `make all` publishes, and a notebook run by hand reads
# The runner stages a notebook's outputs in a scratch folder and names the folder it publishes to here, so that a
# notebook run by it reads the runs it published last time.
PUBLISHED_DIR_VARIABLE = "MNIST_STUDY_PUBLISHED_RESULTS"
# Where a reused run or computation was found, as a notebook's log says it.
REUSED_FROM = {"published": "the published results", "cache": "the local cache"}


class ReuseSession:
    """The runs of one notebook execution, and where earlier runs can be found."""

    def __init__(self, notebook: str, published_dir: str | Path | None, cache_dir: str | Path | None,
                 retrain: bool = False):
        self.notebook = notebook
        self.published_dir = Path(published_dir) if published_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.retrain = retrain
        self.runs: dict[str, TrainedRun] = {}  # this execution's, in the order first used
        self.kept: dict[str, TrainedRun] = {}  # trained here on the side (ReuseSession.keep), by fingerprint
        self.computations: dict[str, dict] = {}  # other trained computations, by name
        self.published: dict[str, dict] = {}
        self.published_computations: dict[str, dict] = {}
        metrics = self.published_dir / "metrics" / f"{notebook}.json" if self.published_dir else None
        if metrics is not None and metrics.is_file():
            published = read_json(metrics)
            self.published = {record["fingerprint"]: record for record in published.get("trained_runs", [])}
            self.published_computations = published.get("computations", {})
        self._probability_index: dict[str, tuple[Path, int]] | None = None
        self._model_index: dict[str, Path] | None = None
        self.training_code: str | None = None  # both pinned by open_session
        self.machine: dict | None = None

    def pin_code_and_commit(self) -> None:
        """Fingerprint the training code, with its modules imported first, and note the commit: both as this process
        runs them, so that an edit or a commit landing mid-run cannot label the runs it trains with code they never
        ran. (A module imported before an edit, in a kernel kept open across it, still escapes: restart the kernel.)"""
        for name in training_modules():
            importlib.import_module(f"{PACKAGE_DIR.name}.{name}" if name else PACKAGE_DIR.name)
        self.training_code = training_code_fingerprint()
        self.machine = machine()

    # -- published results -------------------------------------------------------------------------------------

    def _probabilities_by_digest(self) -> dict[str, tuple[Path, int]]:
        if self._probability_index is None:
            self._probability_index = {}
            for path in sorted((self.published_dir / "probabilities").glob("*.npy")):
                stack = np.load(path, mmap_mode="r")
                for index in range(len(stack)):
                    self._probability_index.setdefault(array_digest(stack[index]), (path, index))
        return self._probability_index

    def _models_by_digest(self) -> dict[str, Path]:
        if self._model_index is None:
            self._model_index = {sha256_file(path): path
                                 for path in sorted((self.published_dir / "models").glob("*.keras"))}
        return self._model_index

    def _published_run(self, fingerprint: str, need_test: bool, need_model: bool) -> TrainedRun | None:
        record = self.published.get(fingerprint)
        if record is None:
            return None
        run = from_record(record, "published")
        if digest := run.digests.get("test_probabilities"):
            found = self._probabilities_by_digest().get(digest)
            if found is not None:
                path, index = found
                run.test_probabilities = np.array(np.load(path, mmap_mode="r")[index], dtype=np.float32)
        for name, digest in record.get("extra_test_probabilities_sha256", {}).items():
            found = self._probabilities_by_digest().get(digest)
            if found is not None:
                path, index = found
                run.extra_test_probabilities[name] = np.array(np.load(path, mmap_mode="r")[index], dtype=np.float32)
            else:  # not published: the step measures it again from the model when needed
                run.extras.pop(name, None)
        if digest := run.digests.get("model"):
            run.model_file = self._models_by_digest().get(digest)
        if (need_test and run.test_probabilities is None and run.model_file is None) \
                or (need_model and run.model_file is None):
            return None
        return run

    # -- local cache ---------------------------------------------------------------------------------------------

    def _cached_run(self, fingerprint: str) -> TrainedRun | None:
        folder = self.cache_dir / fingerprint if self.cache_dir else None
        if folder is None or not (folder / "run.json").is_file():
            return None
        record = read_json(folder / "run.json")
        run = from_record(record, "cache")
        if (folder / "model.keras").is_file():
            run.model_file = folder / "model.keras"
        if (folder / "test_probabilities.npy").is_file():
            run.test_probabilities = np.load(folder / "test_probabilities.npy")
        for name in record.get("extra_test_probabilities_sha256", {}):
            if (folder / f"extra_{name}.npy").is_file():
                run.extra_test_probabilities[name] = np.load(folder / f"extra_{name}.npy")
            else:
                run.extras.pop(name, None)
        return run

    def _store(self, run: TrainedRun) -> None:
        """Keep `run` in the cache: written into a scratch folder, then renamed into place whole."""
        if self.cache_dir is None or not is_chief():
            return
        from mnist_study.workflow.artifacts import save_array, save_model_reproducibly

        folder = self.cache_dir / run.fingerprint
        scratch = self.cache_dir / f".{run.fingerprint}.{os.getpid()}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        if run.model is not None:
            save_model_reproducibly(run.model, scratch / "model.keras")
            run.digests["model"] = sha256_file(scratch / "model.keras")
        elif run.model_file is not None and Path(run.model_file).is_file():  # stored again: keep its model
            shutil.copy2(run.model_file, scratch / "model.keras")
        if run.test_probabilities is not None:
            save_array(run.test_probabilities, scratch / "test_probabilities.npy")
        for name, array in run.extra_test_probabilities.items():
            save_array(array, scratch / f"extra_{name}.npy")
        write_json(run.record(), scratch / "run.json")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(scratch, folder)
        if (folder / "model.keras").is_file():
            run.model_file = folder / "model.keras"

    # -- the one entry -------------------------------------------------------------------------------------------

    def find(self, fingerprint: str, need_test: bool, need_model: bool) -> TrainedRun | None:
        """A run with this fingerprint that can serve the caller, or None: then it must be trained."""
        candidates = [self.runs.get(fingerprint), self.kept.get(fingerprint)]
        if not self.retrain:
            candidates += [self._published_run(fingerprint, need_test, need_model), self._cached_run(fingerprint)]
        for run in candidates:
            if run is None:
                continue
            has_model = run.model is not None or run.model_file is not None
            if (need_model and not has_model) or (need_test and run.test_probabilities is None and not has_model):
                continue
            return run
        return None

    def keep(self, run: TrainedRun) -> None:
        """Cache a run trained on the side (a search's trial), not counted among this execution's runs until a
        notebook step asks for it: then it counts as trained here."""
        self._store(run)
        self.kept[run.fingerprint] = run

    def add(self, run: TrainedRun, cache: bool) -> None:
        if cache:
            self._store(run)
        self.runs[run.fingerprint] = run  # a run trained again for its model replaces the record that had none

    def computed(self, name: str, modules: list[str], inputs: dict, compute, architectures: list[str] = ()):
        """The JSON-able result of `compute()`, a computation that trains (fine-tuning, say): reused from the
        published results or the cache when its code (`modules` and what they import), the `architectures` it
        builds and `inputs` did not change."""
        fingerprint = computation_fingerprint(modules, inputs, architectures)
        published = self.published_computations.get(name, {})
        cached = self.cache_dir / "computations" / f"{fingerprint}.json" if self.cache_dir else None
        if not self.retrain and published.get("fingerprint") == fingerprint:
            record = {**published, "reused_from": "published"}
        elif not self.retrain and cached is not None and cached.is_file():
            record = {**read_json(cached), "reused_from": "cache"}
        else:
            started_at, start = datetime.now(UTC), time.perf_counter()
            value = compute()
            record = {"fingerprint": fingerprint, "value": value, "reused_from": None,
                      "computed": {**training_provenance(self, started_at),
                                   "wall_time_s": round(time.perf_counter() - start, 1)}}
            if cached is not None and is_chief():
                write_json(record, cached)
        if record["reused_from"]:
            provenance = record["computed"]
            print(f"{name}: reused from {REUSED_FROM[record['reused_from']]} (computed at commit "
                  f"{(provenance.get('commit') or 'unknown')[:10]} in {provenance['wall_time_s']:.0f} s)", flush=True)
        self.computations[name] = record
        return record["value"]

    def computation_records(self) -> dict[str, dict]:
        return self.computations

    def trained_runs(self) -> list[dict]:
        """Every run this execution used, for the notebook's metrics: trained here or reused, and from where."""
        return [run.record() for run in self.runs.values()]

    def summary(self) -> str:
        return reuse_summary([run.reused_from for run in self.runs.values()],
                             [record["reused_from"] for record in self.computations.values()])


def reuse_summary(runs_reused_from: list[str | None], computations_reused_from: list[str | None]) -> str:
    """How many training runs (and other computations) were trained and how many reused, from each one's
    `reused_from` (None: trained here): the kernel's last line, and the runner's line after a notebook."""
    reused = sum(where is not None for where in runs_reused_from)
    text = f"{len(runs_reused_from)} training run(s): {len(runs_reused_from) - reused} trained, {reused} reused"
    if computations_reused_from:
        again = sum(where is not None for where in computations_reused_from)
        text += f"; {len(computations_reused_from)} other computation(s): {len(computations_reused_from) - again} " \
                f"run, {again} reused"
    return text


_session: ReuseSession | None = None


def open_session(notebook: str, results_dir: str | Path, retrain: bool = False) -> ReuseSession:
    """Start a notebook's reuse session: runs come from the published results and the local cache unless retrain.

    Under the runner, the published results are those it publishes to, and their cache keeps the runs of an
    interrupted run. Run by hand, the notebook reads the project's published results, so it reuses their runs,
    and keeps what it trains in a cache under its own `results_dir` (the scratch folder), so that it writes nothing
    into results/."""
    global _session
    if not isinstance(retrain, bool):
        raise ValueError(f"retrain: expected True or False, got {retrain!r}")
    runner_published = os.environ.get(PUBLISHED_DIR_VARIABLE)
    published = Path(runner_published) if runner_published else PUBLISHED_RESULTS
    cache = (published if runner_published else Path(results_dir)) / CACHE_FOLDER
    _session = ReuseSession(notebook, published, cache, retrain=retrain)
    _session.pin_code_and_commit()
    return _session


def current_session() -> ReuseSession | None:
    return _session


def close_session() -> None:
    global _session
    _session = None


def training_provenance(session: ReuseSession | None, started_at: datetime) -> dict:
    """Which notebook trained a run, at which commit and on what machine (as pinned when the session opened)."""
    return {"notebook": session.notebook if session else None, **((session and session.machine) or machine()),
            "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds")}
