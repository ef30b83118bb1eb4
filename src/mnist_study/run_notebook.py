"""Execute the study's notebooks with papermill, publishing results only when a notebook succeeds.

    python -m mnist_study.run_notebook                # every stale notebook, in dependency order
    python -m mnist_study.run_notebook 02_lenet5      # just these (re-run even if fresh)
    python -m mnist_study.run_notebook --check        # fail naming results whose inputs changed
    python -m mnist_study.run_notebook 03_cnn_architectures -p strategy multi_worker   # with a parameter

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
import sys
import tempfile
from pathlib import Path

from mnist_study.distributed import is_chief
from mnist_study.reporting import PROJECT_ROOT, read_json, stale_inputs

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
    """Run notebook `name` into a staging folder; on success move its outputs into `results_dir`."""
    source = NOTEBOOK_DIR / f"{name}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook; expected one of {existing_notebooks()}")
    results_dir = Path(results_dir).resolve()
    if not is_chief():
        with tempfile.TemporaryDirectory(prefix=f"{name}-worker-") as scratch:
            print(f"==> {name} (a non-chief worker: results stay with the chief)", flush=True)
            _execute_into(name, Path(scratch), parameters, kernel_name, shown_results=scratch)
        return results_dir / "metrics" / f"{name}.json"
    staging = results_dir / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    print(f"==> {name}", flush=True)
    _execute_into(name, staging, parameters, kernel_name, shown_results=os.path.relpath(results_dir, NOTEBOOK_DIR))
    _publish(staging, results_dir, name)
    return results_dir / "metrics" / f"{name}.json"


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
    )
    notebook = nbformat.read(executed, as_version=4)
    strip_volatile_metadata(notebook, staged_results, shown_results)
    nbformat.write(notebook, executed)
    render_html(notebook, folder / "html" / f"{name}.html")


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
            problems[name] = [f"{path.relative_to(PROJECT_ROOT)} missing"]
        elif changed := stale_inputs(read_json(path)):
            problems[name] = changed
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help=f"notebooks to run (default: the stale ones of {NOTEBOOKS})")
    parser.add_argument("--check", action="store_true", help="only report results whose inputs changed")
    parser.add_argument("--force", action="store_true", help="re-run every notebook, stale or not")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a notebook parameter (JSON value or string); needs notebook names")
    args = parser.parse_args(argv)
    if args.parameter and not args.notebooks:
        parser.error("-p/--parameter applies to the notebooks named on the command line; name them")
    parameters = {name: parse_parameter(value) for name, value in args.parameter}
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter in the notebooks

    if args.check:
        stale = stale_results()
        for name, reasons in stale.items():
            print(f"stale: results of {name}: " + "; ".join(reasons))
        if stale:
            print("run 'make all' and commit results/", file=sys.stderr)
            return 1
        print(f"results are up to date for {len(existing_notebooks())} notebook(s)")
        return 0

    unknown = [name for name in args.notebooks if name not in existing_notebooks()]
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; expected some of {existing_notebooks()}")
    for name in args.notebooks or existing_notebooks():
        # Re-evaluated per notebook: a re-run upstream makes the summary stale.
        if args.notebooks or args.force or name in stale_results():
            execute(name, parameters=parameters)
        else:
            print(f"==> {name}: up to date", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
