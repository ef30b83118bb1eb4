"""Execute the study's notebooks with papermill, publishing results only when a notebook succeeds.

    python -m mnist_study.run_notebook                # every stale notebook, in dependency order
    python -m mnist_study.run_notebook 02_lenet5      # just these (re-run even if fresh)
    python -m mnist_study.run_notebook --check        # fail naming stale results that pending.json does not declare
    python -m mnist_study.run_notebook --declare-pending   # write results/pending.json for a re-run still to come
    python -m mnist_study.run_notebook --retrain 03_cnn_architectures   # train every run, reusing none
    python -m mnist_study.run_notebook 03_cnn_architectures -p strategy multi_worker   # with a parameter

A run whose training inputs did not change is reused, not retrained (mnist_study.workflow.reuse). When a run stops early
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
import signal
import sys
import time
from pathlib import Path

from mnist_study.workflow.fingerprints import PROJECT_ROOT, stale_inputs, training_code_fingerprint
from mnist_study.workflow.notebook_execution import (
    RESULTS_DIR,
    execute,
    existing_notebooks,
    log_path,
    notebook_file,
)
from mnist_study.workflow.notebooks import NOTEBOOKS
from mnist_study.workflow.pending import declaration_problems, pending_entries, read_pending, write_pending
from mnist_study.workflow.provenance import read_json
from mnist_study.workflow.reuse import CACHE_FOLDER, reuse_summary


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
    return last is not None and f"notebooks/{notebook_file(name).name} (changed)" in stale_inputs(last)


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
            current, notebook_started = name, time.monotonic()
            execute(name, results_dir, parameters={**_runner_parameters(name, retrain, results_dir),
                                                   **(parameters or {})}, progress=True)
            current = None
            metrics = Path(results_dir, "metrics", f"{name}.json")
            print(f"    {name}: done in {time.monotonic() - notebook_started:.0f} s; "
                  f"{_what_it_trained(read_json(metrics)) if metrics.is_file() else 'it wrote no metrics'}", flush=True)
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
        if not interrupted and not isinstance(error, Stopped):  # a failure: where its whole story is
            print(f"the kernel's output: {_shown(log_path(current, results_dir))}", file=sys.stderr)
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


def _runner_parameters(name: str, retrain: bool, results_dir: Path) -> dict:
    """What the runner tells a notebook that declares the parameter: to retrain, and, where it publishes to the
    project's results, which README's table to regenerate (a notebook run by hand leaves the README alone)."""
    import papermill

    declared = papermill.inspect_notebook(notebook_file(name))
    given = {"retrain": True} if retrain and "retrain" in declared else {}
    if "readme_path" in declared and Path(results_dir).resolve() == RESULTS_DIR.resolve():
        given["readme_path"] = "../README.md"  # relative to notebooks/, where papermill runs it
    return given


def _what_it_trained(metrics: dict) -> str:
    """The published notebook's runs and computations, trained or reused, as its kernel said them."""
    runs = [run["reused_from"] for run in metrics.get("trained_runs", [])]
    computations = [record["reused_from"] for record in metrics.get("computations", {}).values()]
    return reuse_summary(runs, computations) if runs or computations else "trains nothing"


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.resolve().is_relative_to(PROJECT_ROOT) else str(path)


def gpu_present() -> bool:
    """Whether this machine has an NVIDIA device (the only accelerator the pinned TensorFlow drives)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


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
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    # TensorFlow's C++ chatter stays out of the notebooks; on a machine without a GPU its one error line ("failed
    # call to cuInit") means nothing, so error lines are shown only where there is a GPU to fail.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2" if gpu_present() else "3"

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
