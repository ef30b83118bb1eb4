"""Machine-readable results: atomic JSON, provenance, and fingerprints of the inputs of each result."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent
RECORDED_PACKAGES = ["tensorflow", "keras", "numpy", "scikit-learn", "scipy", "matplotlib", "seaborn", "papermill"]


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(data: dict, path: str | Path) -> Path:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n")
    os.replace(temporary, path)
    return path


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: metrics file not found; run the notebook that writes it (make all)")
    return json.loads(path.read_text())


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(seeds: list[int], parameters: dict, started_at: datetime, wall_time_s: float) -> dict:
    """Where and how a result was produced: commit, versions, hardware, seeds, parameters, times."""
    import tensorflow as tf  # imported here so that reporting stays light for the results check

    status = _git("status", "--porcelain", "--", "src", "notebooks", "requirements.txt", "data")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_inputs": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in RECORDED_PACKAGES},
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "seeds": list(seeds),
        "parameters": parameters,
        "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 1),
    }


def _file_digest(path: Path) -> str:
    if path.suffix == ".ipynb":
        # Only what a notebook says, not its outputs or metadata, defines its results.
        cells = json.loads(path.read_text())["cells"]
        content = json.dumps([[cell["cell_type"], "".join(cell["source"])] for cell in cells]).encode()
    else:
        content = path.read_bytes()
    return hashlib.sha256(content).hexdigest()


def _display_path(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(resolved)


# Command-line tools that run or read results but compute none of their numbers; changing them must
# not force the whole study to re-run.
TOOLING_MODULES = {"run_notebook.py", "benchmark.py", "predict.py"}


def default_inputs(notebook: str) -> list[Path]:
    """Files every result of `notebook` depends on: the notebook, the package, the data, the pins."""
    return [
        PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb",
        *sorted(path for path in PACKAGE_DIR.glob("*.py") if path.name not in TOOLING_MODULES),
        PROJECT_ROOT / "requirements.txt",
        *sorted((PROJECT_ROOT / "data").glob("*/*.gz")),
    ]


def input_fingerprint(notebook: str, extra_inputs: list[str | Path] = ()) -> dict[str, str]:
    """SHA-256 of each input file, keyed by its path relative to the project."""
    paths = default_inputs(notebook) + [Path(extra) for extra in extra_inputs]
    return {_display_path(path): _file_digest(path) for path in paths}


def stale_inputs(metrics: dict) -> list[str]:
    """Inputs that changed, appeared or vanished since `metrics` was written (empty when fresh)."""
    recorded: dict[str, str] = metrics["fingerprint"]
    current_paths = {_display_path(path) for path in default_inputs(metrics["notebook"])} | set(recorded)
    problems = []
    for name in sorted(current_paths):
        path = Path(name) if Path(name).is_absolute() else PROJECT_ROOT / name
        if name not in recorded:
            problems.append(f"{name} (new input)")
        elif not path.is_file():
            problems.append(f"{name} (missing)")
        elif _file_digest(path) != recorded[name]:
            problems.append(f"{name} (changed)")
    return problems


def write_metrics(notebook: str, results_dir: str | Path, body: dict, seeds: list[int], parameters: dict,
                  started_at: datetime, extra_inputs: list[str | Path] = ()) -> Path:
    """Write `results_dir/metrics/<notebook>.json`: the results, their provenance and input fingerprint."""
    wall_time_s = (datetime.now(UTC) - started_at.astimezone(UTC)).total_seconds()
    metrics = {
        "notebook": notebook,
        **body,
        "provenance": provenance(seeds, parameters, started_at, wall_time_s),
        "fingerprint": input_fingerprint(notebook, extra_inputs),
    }
    return write_json(metrics, Path(results_dir) / "metrics" / f"{notebook}.json")
