"""Execute the study's notebooks with papermill, publishing results only when a notebook succeeds.

    python -m mnist_study.run_notebook                # every stale notebook, in dependency order
    python -m mnist_study.run_notebook 02_lenet5      # just these (re-run even if fresh)
    python -m mnist_study.run_notebook --check        # fail naming stale results that pending.json does not declare
    python -m mnist_study.run_notebook --declare-pending   # write results/pending.json for a re-run still to come
    python -m mnist_study.run_notebook --retrain 03_cnn_architectures   # train every run, reusing none
    python -m mnist_study.run_notebook 03_cnn_architectures -p strategy multi_worker   # with a parameter

A run whose training inputs did not change is reused, not retrained (mnist_study.pipeline.reuse). When a run stops early
(Ctrl-C, SIGTERM, a failing notebook), the notebook it stopped in publishes nothing, and results/pending.json
lists what is still stale; it is emptied when everything is fresh.

On a worker that TF_CONFIG names as not the chief, a notebook runs in a scratch folder and nothing is
written under results/: the chief publishes the results of a multi-worker run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from mnist_study.core.distributed import is_chief
from mnist_study.pipeline.fingerprints import PROJECT_ROOT, input_fingerprint, stale_inputs, training_code_fingerprint
from mnist_study.pipeline.pending import declaration_problems, pending_entries, read_pending, write_pending
from mnist_study.pipeline.reporting import read_json
from mnist_study.pipeline.reuse import CACHE_FOLDER, PUBLISHED_DIR_VARIABLE

KERNEL_NAME = "mnist-study"
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
RESULTS_DIR = PROJECT_ROOT / "results"
# Numbered in the order they run, which their dependencies set: 05 reads the models of 01-03, 06 the results of
# 03-04, 07 the metrics and models of 03, 04 and 06, 08 every model's test probabilities and 07's choice, and the
# summary, last, reads everything.
NOTEBOOKS = [
    "00_data_exploration",
    "01_feedforward",
    "02_lenet5",
    "03_cnn_architectures",
    "04_fashion_mnist",
    "05_generalization_robustness_calibration",
    "06_best_models",
    "07_interpretability",
    "08_label_errors_and_new_writers",
    "09_summary",
]
# Per-cell timings and paths change on every run; dropping them keeps re-runs diff-quiet.
VOLATILE_PAPERMILL_KEYS = ["start_time", "end_time", "duration", "input_path", "output_path", "environment_variables"]


def existing_notebooks() -> list[str]:
    return [name for name in NOTEBOOKS if (NOTEBOOK_DIR / f"{name}.ipynb").is_file()]


# TensorFlow's C++ start-up lines (absl logging: "I0000 00:00:1795... port.cc:153] oneDNN ...") carry a
# timestamp and a thread id, and are printed whatever TF_CPP_MIN_LOG_LEVEL says; they tell a reader nothing.
TENSORFLOW_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*"
                                 r"|WARNING: All log messages before absl::InitializeLog\(\) is called.*)\n?$")


def strip_volatile_metadata(notebook, staged_results: str | None = None, shown_results: str | None = None) -> None:
    """Remove timestamps, random ids and TensorFlow's C++ log lines that papermill and TF add, in place.

    `staged_results`, the staging folder the notebook wrote into, is shown as `shown_results`, where its
    outputs end up: a reader sees the experiment, not the runner's staging.
    """
    for key in VOLATILE_PAPERMILL_KEYS:
        notebook.metadata.get("papermill", {}).pop(key, None)
    if staged_results is not None:
        parameters = notebook.metadata.get("papermill", {}).get("parameters", {})
        if parameters.get("results_dir") == staged_results:
            parameters["results_dir"] = shown_results
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if staged_results is not None:
            cell.source = cell.source.replace(staged_results, shown_results)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives it a random id on every run
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                kept = [line for line in output.text.splitlines(keepends=True) if not TENSORFLOW_LOG_LINE.match(line)]
                if not "".join(kept).strip():
                    continue
                output.text = "".join(kept)
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs


def render_html(notebook, path: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def _publish(staging: Path, results_dir: Path, name: str) -> None:
    """Move every staged file into results_dir; the notebook's old figures go first so none linger."""
    shutil.rmtree(results_dir / "figures" / name, ignore_errors=True)
    for source in sorted(path for path in staging.rglob("*") if path.is_file()):
        target = results_dir / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(staging)


def execute(name: str, results_dir: Path = RESULTS_DIR, parameters: dict | None = None,
            kernel_name: str = KERNEL_NAME) -> Path:
    """Run notebook `name` into a staging folder; on success move its outputs into `results_dir`.

    The notebook reads the runs it published last time from `results_dir` (mnist_study.pipeline.reuse).
    Whatever stops it (an error, Ctrl-C), the staging folder is removed and `results_dir` is left as it was.
    """
    source = NOTEBOOK_DIR / f"{name}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook; expected one of {existing_notebooks()}")
    results_dir = Path(results_dir).resolve()
    previous = os.environ.get(PUBLISHED_DIR_VARIABLE)
    os.environ[PUBLISHED_DIR_VARIABLE] = str(results_dir)  # the kernel inherits it
    try:
        if not is_chief():
            with tempfile.TemporaryDirectory(prefix=f"{name}-worker-") as scratch:
                print(f"==> {name} (a non-chief worker: results stay with the chief)", flush=True)
                _execute_into(name, Path(scratch), parameters, kernel_name, shown_results=scratch)
            return results_dir / "metrics" / f"{name}.json"
        staging = results_dir / ".staging" / name
        shutil.rmtree(staging, ignore_errors=True)
        # The kernel fingerprints the inputs when it writes the metrics, but imported the code when it started.
        inputs_at_start = input_fingerprint(name)
        try:
            _execute_into(name, staging, parameters, kernel_name,
                          shown_results=os.path.relpath(results_dir, NOTEBOOK_DIR))
            _check_unchanged(name, inputs_at_start)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, results_dir, name)
        # The kernel's own log is kept only where a run failed, for its diagnosis.
        (staging.parent / f"{name}.kernel.log").unlink(missing_ok=True)
    finally:
        if previous is None:
            os.environ.pop(PUBLISHED_DIR_VARIABLE, None)
        else:
            os.environ[PUBLISHED_DIR_VARIABLE] = previous
    return results_dir / "metrics" / f"{name}.json"


class InputsChanged(Exception):
    """A notebook's code, data or pins changed while it ran: its results would be labelled with inputs it did not
    run."""


def _check_unchanged(name: str, inputs_at_start: dict[str, str]) -> None:
    now = input_fingerprint(name)
    changed = sorted(path for path in inputs_at_start.keys() | now.keys() if inputs_at_start.get(path) != now.get(path))
    if changed:
        raise InputsChanged(f"{name}'s inputs changed while it ran ({', '.join(changed)}): nothing of it was "
                            f"published; run it again, and its finished runs are reused")


def _execute_into(name: str, folder: Path, parameters: dict | None, kernel_name: str, shown_results: str) -> None:
    import nbformat
    import papermill

    executed = folder / "notebooks" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True)
    # Relative to notebooks/, papermill's working directory, as in an interactive Jupyter session.
    staged_results = os.path.relpath(folder, NOTEBOOK_DIR)
    papermill.execute_notebook(
        NOTEBOOK_DIR / f"{name}.ipynb", executed, parameters={"results_dir": staged_results, **(parameters or {})},
        kernel_name=kernel_name, cwd=NOTEBOOK_DIR, log_output=True, progress_bar=False,
        kernel_manager_class=_kernel_manager_logging_to(folder.parent / f"{name}.kernel.log"),
    )
    notebook = nbformat.read(executed, as_version=4)
    strip_volatile_metadata(notebook, staged_results, shown_results)
    nbformat.write(notebook, executed)
    render_html(notebook, folder / "html" / f"{name}.html")


def _kernel_manager_logging_to(path: Path):
    """A kernel manager whose kernel writes its own stderr to `path`: its start-up warnings, and the traceback of a
    cell stopped by Ctrl-C, stay out of the console; what the notebook prints still reaches it (papermill logs it)."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelLoggingToFile(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as log:  # the kernel keeps its own descriptor once started
                return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": log})

    return KernelLoggingToFile


def parse_parameter(text: str):
    """A -p value as papermill reads one: JSON when it parses (numbers, lists, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def stale_results(results_dir: Path = RESULTS_DIR) -> dict[str, list[str]]:
    """Notebooks whose committed metrics are missing or were made from other inputs than today's."""
    problems = {}
    for name in existing_notebooks():
        path = results_dir / "metrics" / f"{name}.json"
        if not path.is_file():
            problems[name] = [f"{os.path.relpath(path, PROJECT_ROOT)} missing"]
        elif changed := stale_inputs(read_json(path)):
            problems[name] = changed
    return problems


def planned_notebooks(stale: list[str], results_dir: Path = RESULTS_DIR) -> list[str]:
    """The stale notebooks and those downstream of them, which read their results and so go stale on a re-run."""
    planned: list[str] = []
    for name in existing_notebooks():
        path = results_dir / "metrics" / f"{name}.json"
        reads = [key for key in read_json(path)["fingerprint"] if key.startswith("results/")] if path.is_file() else []
        reads_planned = any(key == f"results/metrics/{other}.json" or not key.startswith("results/metrics/")
                            for key in reads for other in planned)
        if name in stale or reads_planned:
            planned.append(name)
    return planned


def last_run(name: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    """The metrics notebook `name` published last, or None if it has none."""
    path = results_dir / "metrics" / f"{name}.json"
    return read_json(path) if path.is_file() else None


def expected_seconds(last: dict | None, training_code: str, retrain: bool = False) -> float | None:
    """How long a notebook should take now, from its `last` run's metrics: its wall time, plus the training time
    of the runs it reused when the training code changed since (they train again), less that of the runs it
    trained when it did not (they are reused). None without a last run."""
    if last is None:
        return None
    runs = last.get("trained_runs", [])
    retrains = retrain or any(run.get("training_code") != training_code for run in runs)
    reused = sum(run["train_time_s"] for run in runs if run["reused_from"])
    trained = sum(run["train_time_s"] for run in runs if not run["reused_from"])
    wall = last["provenance"]["wall_time_s"]
    return wall + reused if retrains else max(wall - trained, 0.0)


def notebook_changed(name: str, last: dict | None) -> bool:
    """Whether notebook `name` itself changed since its `last` run: its parameters may then ask for runs that one
    never trained, so its wall time is no estimate of this one's."""
    return last is not None and f"notebooks/{name}.ipynb (changed)" in stale_inputs(last)


def declare_pending(results_dir: Path = RESULTS_DIR) -> dict[str, list[str]]:
    """Write results/pending.json (and the READMEs' notices) for the notebooks stale now; return them."""
    stale = stale_results(results_dir)
    write_pending(pending_entries(stale, results_dir), results_dir)
    return stale


class Stopped(Exception):
    """SIGTERM, turned into an exception so that the run ends like a Ctrl-C."""


def _stop_on_signal(signum, frame):
    _quiet_the_kernel_client()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped("terminated (SIGTERM)")


def _quiet_the_kernel_client() -> None:
    """Silence what a stop makes the kernel client log on its way out: the interrupted cell's traceback as the
    kernel prints it (papermill logs the kernel's output), "Kernel died", and asyncio's "Task exception was never
    retrieved" for the polling tasks nbclient leaves behind. The runner's own lines say where it stopped."""
    for name in ("papermill", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _minutes(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds / 60:.1f} min"


def run_notebooks(names: list[str] | None = None, parameters: dict | None = None, force: bool = False,
                  retrain: bool = False, results_dir: Path = RESULTS_DIR) -> int:
    """`make all` (no `names`: every stale notebook and what it feeds, in order) or the notebooks named, with
    progress and the time left; an early stop says where it stopped and writes results/pending.json."""
    force = force or bool(names)
    plan = names or (existing_notebooks() if force else planned_notebooks(list(stale_results(results_dir)),
                                                                            results_dir))
    training_code = training_code_fingerprint()
    last_runs = {name: last_run(name, results_dir) for name in plan}
    estimates = {name: expected_seconds(last_runs[name], training_code, retrain) for name in plan}
    changed = {name for name in plan if notebook_changed(name, last_runs[name])}
    previous_handlers = {signal.SIGTERM: signal.signal(signal.SIGTERM, _stop_on_signal)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where a shell's `&` ignores Ctrl-C
        previous_handlers[signal.SIGINT] = signal.signal(signal.SIGINT, _stop_on_signal)
    current, started = None, time.monotonic()
    try:
        for position, name in enumerate(plan, start=1):
            # Re-evaluated per notebook: a re-run upstream makes the summary stale, and a fresh one is skipped.
            if not force and name not in stale_results(results_dir):
                print(f"==> [{position}/{len(plan)}] {name}: up to date", flush=True)
                continue
            left = plan[position - 1:]
            known = sum(estimates[other] for other in left if estimates[other] is not None)
            basis = "from its last run, but the notebook has changed since: it may train more" if name in changed \
                else "from its last run"
            print(f"==> [{position}/{len(plan)}] {name}: expected {_minutes(estimates[name])} ({basis}); "
                  f"time left for the whole run about {_minutes(known)}"
                  + (" and more (notebooks without a last run, or changed since)"
                     if any(estimates[other] is None or other in changed for other in left) else "")
                  + f"; {_minutes(time.monotonic() - started)} so far", flush=True)
            current = name
            extra = {"retrain": True} if retrain and _takes_retrain(name) else {}
            execute(name, results_dir, parameters={**(parameters or {}), **extra})
            current = None
            # Declared after each notebook, so that committing the ones published so far leaves results/ consistent.
            declare_pending(results_dir)
    except (KeyboardInterrupt, Stopped, Exception) as error:
        if current is None:
            raise
        # Ctrl-C reaches the kernel too, which then fails the cell with its own KeyboardInterrupt.
        interrupted = isinstance(error, KeyboardInterrupt) or getattr(error, "ename", None) == "KeyboardInterrupt"
        reason = "interrupted (Ctrl-C)" if interrupted else (
            str(error) if isinstance(error, Stopped) else _failure_line(error))
        _quiet_the_kernel_client()
        still = declare_pending(results_dir)
        print(f"\nstopped in {current}: {reason}", file=sys.stderr)
        print(f"results/ is untouched for {current}: nothing of this attempt was published; the runs it finished "
              f"are kept in {CACHE_FOLDER}/ under results/ and are reused when it runs again", file=sys.stderr)
        print(f"still stale (written to results/pending.json): {', '.join(still) or 'none'}", file=sys.stderr)
        return 130 if interrupted else 143 if isinstance(error, Stopped) else 1
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    declare_pending(results_dir)
    return 0


def _failure_line(error: BaseException) -> str:
    """papermill's error in one line: the exception the notebook raised, or this one's."""
    name, value = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    return f"failed with {name}: {value}".splitlines()[0]


def _takes_retrain(name: str) -> bool:
    import papermill

    return "retrain" in papermill.inspect_notebook(NOTEBOOK_DIR / f"{name}.ipynb")


def check(results_dir: Path = RESULTS_DIR) -> int:
    """`make check-results`: pass when the stale notebooks are exactly those results/pending.json declares."""
    stale, pending = stale_results(results_dir), read_pending(results_dir)
    problems = declaration_problems(stale, pending, results_dir)
    for problem in problems:
        print(problem)
    if problems:
        print("run 'make all' and commit results/, or declare a re-run still to come with 'make pending'",
              file=sys.stderr)
        return 1
    fresh = len(existing_notebooks()) - len(stale)
    print(f"results are up to date for {fresh} notebook(s)"
          + (f"; re-run declared pending for {', '.join(pending)}" if pending else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help=f"notebooks to run (default: the stale ones of {NOTEBOOKS})")
    parser.add_argument("--check", action="store_true",
                        help="only check that the stale results are exactly those results/pending.json declares")
    parser.add_argument("--declare-pending", action="store_true",
                        help="write results/pending.json and the READMEs' notices for the stale notebooks")
    parser.add_argument("--force", action="store_true", help="re-run every notebook, stale or not")
    parser.add_argument("--retrain", action="store_true", help="train every run again, reusing none")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a notebook parameter (JSON value or string); needs notebook names")
    args = parser.parse_args(argv)
    if args.parameter and not args.notebooks:
        parser.error("-p/--parameter applies to the notebooks named on the command line; name them")
    parameters = {name: parse_parameter(value) for name, value in args.parameter}
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter in the notebooks

    if args.check:
        return check()
    if args.declare_pending:
        pending = declare_pending()
        print(f"results/pending.json: {', '.join(pending) or 'nothing pending'}")
        return 0
    unknown = [name for name in args.notebooks if name not in existing_notebooks()]
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; expected some of {existing_notebooks()}")
    return run_notebooks(args.notebooks, parameters, force=args.force, retrain=args.retrain)


if __name__ == "__main__":
    sys.exit(main())
