"""One notebook executed by papermill into a staging folder, and its outputs published only when it succeeds with
the inputs it started with (the runner, workflow.run_notebook, executes them in order)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mnist_study.core.distributed import is_chief
from mnist_study.workflow.fingerprints import PROJECT_ROOT, input_fingerprint, stale_inputs
from mnist_study.workflow.notebooks import NOTEBOOKS, notebook_entry
from mnist_study.workflow.reuse import PUBLISHED_DIR_VARIABLE, PUBLISHED_RESULTS

KERNEL_NAME = "mnist-study"
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
RESULTS_DIR = PUBLISHED_RESULTS
LOG_FOLDER = ".logs"  # under the results folder (git-ignored): each notebook's kernel output, from its last run
# Per-cell timings and paths change on every run; dropping them keeps re-runs diff-quiet.
VOLATILE_PAPERMILL_KEYS = ["start_time", "end_time", "duration", "input_path", "output_path", "environment_variables"]


def existing_notebooks() -> list[str]:
    return [name for name in NOTEBOOKS if notebook_file(name).is_file()]


def notebook_file(name: str) -> Path:
    """The notebook that run `name` executes (06's runs, one per dataset, share one)."""
    return NOTEBOOK_DIR / f"{notebook_entry(name).file}.ipynb"


# TensorFlow's C++ start-up lines (absl logging: "I0000 00:00:1795... port.cc:153] oneDNN ...") carry a
# timestamp and a thread id, and are printed whatever TF_CPP_MIN_LOG_LEVEL says; its Python warnings about
# retracing name a function by its address ("... at 0x7f8af8d71260> triggered tf.function retracing"). They tell a
# reader nothing, and would make a re-run that computes the same render another notebook; the log keeps them.
TENSORFLOW_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*"
                                 r"|WARNING: All log messages before absl::InitializeLog\(\) is called.*"
                                 r"|WARNING:tensorflow:.*)\n?$")


def strip_volatile_metadata(notebook, staged_results: str | None = None, shown_results: str | None = None) -> None:
    """Remove timestamps, random ids and TensorFlow's C++ log lines that papermill and TF add, and merge each cell's
    consecutive stream outputs, in place.

    `staged_results`, the staging folder the notebook wrote into, is shown as `shown_results`, where its
    outputs end up: a reader sees the experiment, not the runner's staging.
    """
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

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
            if output.get("output_type") == "stream":
                lines = output.text.splitlines(keepends=True)
                kept = [line for line in lines if not TENSORFLOW_LOG_LINE.match(line)]
                if len(kept) < len(lines) and not "".join(kept).strip():
                    continue  # nothing but log lines
                output.text = "".join(kept)
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
    # How a cell's prints split into stream outputs depends on when the kernel flushed them: merged, a re-run that
    # prints the same text renders the same notebook.
    CoalesceStreamsPreprocessor().preprocess(notebook, {})


def render_html(notebook, path: Path) -> None:
    """The notebook as a web page, each figure with the alt text its output carries (`metadata["image/png"]["alt"]`:
    its title, figure_style.titles_as_alt_text), which nbconvert's default template leaves out."""
    import logging

    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.log.setLevel(logging.ERROR)  # its "alternative text is missing" is answered below
    body, _ = exporter.from_notebook_node(notebook)
    alt_texts = {output.data["image/png"].strip(): output.metadata["image/png"]["alt"]
                 for cell in notebook.cells for output in cell.get("outputs", [])
                 if "image/png" in output.get("data", {}) and "alt" in output.get("metadata", {}).get("image/png", {})}
    page = BeautifulSoup(body, features="html.parser")
    for image in page.select('img[src^="data:image/png;base64,"]'):
        alt_text = alt_texts.get(image["src"].split(",", 1)[1].strip())
        if alt_text:
            image["alt"] = alt_text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(page))


def _publish(staging: Path, results_dir: Path, name: str) -> None:
    """Move every staged file into results_dir; the notebook's old figures go first so none linger."""
    shutil.rmtree(results_dir / "figures" / name, ignore_errors=True)
    for source in sorted(path for path in staging.rglob("*") if path.is_file()):
        target = results_dir / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(staging)


def log_path(name: str, results_dir: Path = RESULTS_DIR) -> Path:
    """Where the kernel's whole output from notebook `name`'s last run is kept: what it printed, its warnings."""
    return Path(results_dir) / LOG_FOLDER / f"{name}.log"


def execute(name: str, results_dir: Path = RESULTS_DIR, parameters: dict | None = None,
            kernel_name: str = KERNEL_NAME, progress: bool = False) -> Path:
    """Run notebook `name` into a staging folder; on success move its outputs into `results_dir`.

    The notebook reads the runs it published last time from `results_dir` (mnist_study.workflow.reuse).
    Whatever stops it (an error, Ctrl-C), the staging folder is removed and `results_dir` is left as it was.
    The kernel's output goes to `log_path(name)`, not to the console; `progress` shows a bar over the cells.
    """
    source = notebook_file(name)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook; expected one of {existing_notebooks()}")
    results_dir = Path(results_dir).resolve()
    previous = os.environ.get(PUBLISHED_DIR_VARIABLE)
    os.environ[PUBLISHED_DIR_VARIABLE] = str(results_dir)  # the kernel inherits it
    try:
        if not is_chief():
            with tempfile.TemporaryDirectory(prefix=f"{name}-worker-") as scratch:
                print(f"==> {name} (a non-chief worker: results stay with the chief)", flush=True)
                _execute_into(name, Path(scratch), parameters, kernel_name, shown_results=scratch,
                              log=Path(scratch) / f"{name}.log", progress=progress)
            return results_dir / "metrics" / f"{name}.json"
        staging = results_dir / ".staging" / name
        shutil.rmtree(staging, ignore_errors=True)
        # The kernel fingerprints the inputs when it writes the metrics, but imported the code when it started.
        inputs_at_start = input_fingerprint(name)
        try:
            _execute_into(name, staging, parameters, kernel_name,
                          shown_results=os.path.relpath(results_dir, NOTEBOOK_DIR), log=log_path(name, results_dir),
                          progress=progress)
            _check_unchanged(name, inputs_at_start)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, results_dir, name)
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
    # The same comparison as a published notebook's staleness, against the inputs it started with.
    changed = stale_inputs({"notebook": name, "fingerprint": inputs_at_start})
    if changed:
        raise InputsChanged(f"{name}'s inputs changed while it ran ({', '.join(changed)}): nothing of it was "
                            f"published; run it again, and its finished runs are reused")


def _execute_into(name: str, folder: Path, parameters: dict | None, kernel_name: str, shown_results: str,
                  log: Path, progress: bool) -> None:
    import nbformat
    import papermill

    executed = folder / "notebooks" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True)
    # Relative to notebooks/, papermill's working directory, as in an interactive Jupyter session.
    staged_results = os.path.relpath(folder, NOTEBOOK_DIR)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")  # this run's output only
    # The kernel's own stderr (its start-up, TensorFlow's C++ lines) and what the cells print, in one file; the
    # console gets papermill's bar over the cells.
    with open(log, "a") as cell_output:
        papermill.execute_notebook(
            notebook_file(name), executed,
            parameters={"results_dir": staged_results, **notebook_entry(name).parameters, **(parameters or {})},
            kernel_name=kernel_name,
            cwd=NOTEBOOK_DIR, log_output=False, stdout_file=cell_output, stderr_file=cell_output,
            # On stdout with the runner's other progress lines: stderr keeps only what went wrong.
            progress_bar={"desc": f"    {name}", "unit": "cell", "leave": False, "mininterval": 1.0,
                          "file": sys.stdout} if progress else False,
            kernel_manager_class=_kernel_manager_logging_to(log))
    notebook = nbformat.read(executed, as_version=4)
    strip_volatile_metadata(notebook, staged_results, shown_results)
    nbformat.write(notebook, executed)
    render_html(notebook, folder / "html" / f"{name}.html")


def _kernel_manager_logging_to(path: Path):
    """A kernel manager whose kernel writes its own stderr to `path`: its start-up warnings, and the traceback of a
    cell stopped by Ctrl-C, stay out of the console."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelLoggingToFile(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as log:  # the kernel keeps its own descriptor once started
                return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": log})

    return KernelLoggingToFile
