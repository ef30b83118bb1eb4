"""Reuse end to end, in a scratch copy of the project: a change to plots.py re-runs a training notebook without
training and with the same metrics, bit for bit; a change to training.py retrains; a run interrupted after its
first training run resumes from the cache."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mnist_study.workflow.fingerprints import PROJECT_ROOT
from mnist_study.workflow.reuse import PUBLISHED_DIR_VARIABLE

pytestmark = pytest.mark.notebook
# Three search trials of 2 epochs (one rung), the three confirmed on seed 1: four training runs, the last (seed 0)
# the search's own.
TINY = {"seeds": [0], "epochs": 2, "train_subset": 300, "search_trials": 3, "confirmation_seeds": [1]}
SEARCH = "recipe_search_01_feedforward"


@pytest.fixture
def project(tmp_path):
    """The package, notebooks and pins copied (the data linked), with an empty results/."""
    root = tmp_path / "project"
    for folder in ("src", "notebooks"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("requirements.txt", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "data").symlink_to(PROJECT_ROOT / "data")
    (root / "results").mkdir()
    return root


def _command(root, *arguments, parameters=TINY):
    options = [item for name, value in parameters.items() for item in ("-p", name, json.dumps(value))]
    return [sys.executable, "-m", "mnist_study.run_notebook", *arguments, *options]


def _environment(root):
    environment = {**os.environ, "PYTHONPATH": str(root / "src")}  # the kernel imports the copy too
    environment.pop(PUBLISHED_DIR_VARIABLE, None)
    return environment


def _run(root, *arguments, parameters=TINY):
    done = subprocess.run(_command(root, *arguments, parameters=parameters), cwd=root, env=_environment(root),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _append(path, text):
    assert path.is_file(), f"{path}: no such module"  # appending would create a file nothing imports
    with open(path, "a") as module:
        module.write(text)


def _metrics(root, name="01_feedforward"):
    return json.loads((root / "results" / "metrics" / f"{name}.json").read_text())


def _reused(metrics):
    return [run["reused_from"] for run in metrics["trained_runs"]]


def test_a_plots_change_reruns_without_training_and_a_training_change_retrains(project):
    _run(project, "01_feedforward")
    first = _metrics(project)
    assert _reused(first) == [None] * 4
    model = project / "results" / "models" / "mnist_feedforward.keras"
    probabilities = project / "results" / "probabilities" / "mnist_feedforward.npy"
    saved = model.read_bytes(), probabilities.read_bytes()

    _append(project / "src" / "mnist_study" / "reports" / "plots.py", "\n\n")  # stale notebook, same training
    check = subprocess.run(_command(project, "--check", parameters={}), cwd=project, env=_environment(project),
                           capture_output=True, text=True)
    assert check.returncode == 1 and "stale: results of 01_feedforward: src/mnist_study/reports/plots.py (changed)" \
        in check.stdout
    done = _run(project, "01_feedforward")
    assert "reused from the published results: trained by 01_feedforward" in (
        project / "results" / "notebooks" / "01_feedforward.ipynb").read_text()
    assert "==> [1/1] 01_feedforward: expected" in done.stdout
    # A few lines: where it is and what it expects, a bar over the cells (one line, redrawn), what it did.
    console = (done.stdout + done.stderr).replace("\r", "\n")
    lines = [line for line in console.splitlines() if line.strip() and "cell/s]" not in line
             and "?cell/s" not in line and "s/cell]" not in line]
    assert lines == [lines[0], "    01_feedforward: done in " + lines[1].split("done in ")[1]], lines
    assert lines[1].endswith("4 training run(s): 0 trained, 4 reused; 1 other computation(s): 0 run, 1 reused"), lines
    assert not [line for line in console.splitlines() if re.match(r"[IWEF]\d{4} ", line) or "Executing Cell" in line]
    log = (project / "results" / ".logs" / "01_feedforward.log").read_text()
    assert "reused from the published results" in log  # the kernel's whole output, kept
    second = _metrics(project)
    assert _reused(second) == ["published"] * 4
    assert json.dumps(second["models"]) == json.dumps(first["models"])  # every metric, bit for bit
    assert json.dumps(second["recipe_search"]) == json.dumps(first["recipe_search"])
    assert second["computations"][SEARCH]["reused_from"] == "published"
    # The reused run keeps the provenance of the run that trained it.
    assert second["trained_runs"][0]["trained"] == first["trained_runs"][0]["trained"]
    assert (model.read_bytes(), probabilities.read_bytes()) == saved

    _append(project / "src" / "mnist_study" / "core" / "training.py",
            "\n# a comment only: what the code computes is the same\n")
    _run(project, "01_feedforward")
    assert _reused(_metrics(project)) == ["published"] * 4

    _append(project / "src" / "mnist_study" / "core" / "training.py", "\nSTEPS_PER_EXECUTION = 1\n")  # retrains
    _run(project, "01_feedforward")
    third = _metrics(project)
    assert _reused(third) == [None] * 4 and third["trained_runs"][0]["fingerprint"] != first["trained_runs"][0][
        "fingerprint"]
    assert third["models"]["feedforward"]["test_accuracy"] == first["models"]["feedforward"]["test_accuracy"]

    _run(project, "01_feedforward", "--retrain")
    assert _reused(_metrics(project)) == [None] * 4



# Two architectures in one notebook, so that a change to one shows it retrains exactly that one's runs.
TWO_ARCHITECTURES = {**TINY, "models": ["feedforward", "cnn_minimal"]}
MODELS_MODULE = ("src", "mnist_study", "core", "models.py")


def _edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def _retrained(metrics):
    return {run["model"]: run["reused_from"] is None for run in metrics["trained_runs"]}


def test_a_run_retrains_only_when_its_own_architecture_changes(project):
    models = project.joinpath(*MODELS_MODULE)
    _run(project, "01_feedforward", parameters=TWO_ARCHITECTURES)
    assert _retrained(_metrics(project)) == {"feedforward": True, "cnn_minimal": True}
    search = _metrics(project)["computations"][SEARCH]["fingerprint"]

    # A new architecture: its builder, registered. Nothing that exists changes, so nothing retrains.
    _append(models, '\n\ndef build_wide(input_shape=DEFAULT_INPUT_SHAPE, num_classes: int = NUM_CLASSES):\n'
                    '    inputs = keras.Input(shape=input_shape)\n'
                    '    return keras.Model(inputs, _classifier_head(layers.Flatten()(inputs), num_classes))\n\n\n'
                    'MODEL_BUILDERS["wide"] = build_wide\nMODEL_NAMES.append("wide")\n')
    _run(project, "01_feedforward", parameters=TWO_ARCHITECTURES)
    assert _retrained(_metrics(project)) == {"feedforward": False, "cnn_minimal": False}
    assert _metrics(project)["computations"][SEARCH]["reused_from"] == "published"

    # Another architecture's builder (LeNet-5, not trained here) changes: nothing here retrains.
    _edit(models, 'x = layers.Dense(84, activation="relu")(x)', 'x = layers.Dense(86, activation="relu")(x)')
    _run(project, "01_feedforward", parameters=TWO_ARCHITECTURES)
    assert _retrained(_metrics(project)) == {"feedforward": False, "cnn_minimal": False}

    # The feedforward net's dropout rate changes: exactly its runs (and the search, which trains it) train again.
    _edit(models, "    units: tuple[int, int] | list[int] = (128, 64),\n    dropout_rate: float = 0.2,\n",
          "    units: tuple[int, int] | list[int] = (128, 64),\n    dropout_rate: float = 0.25,\n")
    _run(project, "01_feedforward", parameters=TWO_ARCHITECTURES)
    metrics = _metrics(project)
    assert _retrained(metrics) == {"feedforward": True, "cnn_minimal": False}
    assert metrics["computations"][SEARCH]["reused_from"] is None
    assert metrics["computations"][SEARCH]["fingerprint"] != search

def _sigint_as_in_a_terminal():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after_the_first_cached_run(project, parameters, send, runs=1):
    """Start 01 in its own process group, `send` it a signal once `runs` runs are in the cache: status, out, err."""
    # SIGINT handled as in a terminal: a shell that starts `make test` in the background (`&`) hands its children
    # SIGINT ignored, and Python keeps that.
    runner = subprocess.Popen(_command(project, "01_feedforward", parameters=parameters), cwd=project,
                              env=_environment(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, preexec_fn=_sigint_as_in_a_terminal)
    cache = project / "results" / ".run-cache"
    try:
        deadline = time.monotonic() + 600
        while len(list(cache.glob("*/run.json"))) < runs and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runner.poll() is None, "the notebook ended before its first run was cached"
        send(runner.pid)
        out, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    return runner.returncode, out, err


# Two seeds of a CNN on a few thousand images: the second trains long enough to be interrupted.
INTERRUPTIBLE = {**TINY, "seeds": [0, 1], "epochs": 12, "train_subset": 4000, "models": ["cnn_minimal"],
                 "search_model": "cnn_minimal"}


def test_an_interrupted_notebook_publishes_nothing_and_resumes_from_its_finished_runs(project):
    # Ctrl-C in a terminal reaches the whole process group: the runner and its kernel.
    # Two runs cached: the search's first trial has completed its top rung and been recorded.
    status, out, err = _interrupt_after_the_first_cached_run(project, INTERRUPTIBLE,
                                                             lambda pid: os.killpg(pid, signal.SIGINT), runs=2)
    assert status == 130, err
    assert "stopped in 01_feedforward: interrupted (Ctrl-C)" in err
    assert "Traceback" not in out + err
    assert "results/ is untouched for 01_feedforward" in err
    assert "still stale (written to results/pending.json): 00_data_exploration, 01_feedforward" in err
    assert not (project / "results" / "metrics").exists() and not (project / "results" / ".staging" /
                                                                   "01_feedforward").exists()
    pending = json.loads((project / "results" / "pending.json").read_text())["pending"]
    assert "01_feedforward" in pending
    assert len(list((project / "results" / ".run-cache").glob("*/run.json"))) >= 2
    assert (project / "results" / "searches" / "01_feedforward.db").is_file()  # the search's trials so far

    _run(project, "01_feedforward", parameters=INTERRUPTIBLE)
    metrics = _metrics(project)
    # The search resumed from its storage: its first trial was not run again.
    assert "== trial 0:" not in (project / "results" / ".logs" / "01_feedforward.log").read_text()
    assert metrics["recipe_search"]["trials"][0]["state"] == "complete"
    assert "01_feedforward" not in json.loads((project / "results" / "pending.json").read_text())["pending"]


def test_sigterm_ends_the_run_with_a_few_lines_and_no_traceback(project):
    # `kill` reaches the runner alone; its kernel is shut down by the runner, mid-cell.
    status, out, err = _interrupt_after_the_first_cached_run(project, INTERRUPTIBLE,
                                                             lambda pid: os.kill(pid, signal.SIGTERM))
    assert status == 143, err
    assert "Traceback" not in out, out[-3000:]
    lines = err.strip().splitlines()
    assert lines[:2] == [
        "stopped in 01_feedforward: terminated (SIGTERM)",
        "results/ is untouched for 01_feedforward: nothing of this attempt was published; the runs it finished are "
        "kept in .run-cache/ under results/ and are reused when it runs again"]
    assert len(lines) == 3
    assert lines[2].startswith("still stale (written to results/pending.json): 00_data_exploration, 01_feedforward")
    assert not (project / "results" / "metrics").exists()
