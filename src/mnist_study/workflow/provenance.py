"""Machine-readable results: atomic JSON, and the provenance and input fingerprint beside each result."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from mnist_study.workflow.artifacts import write_atomically
from mnist_study.workflow.fingerprints import PROJECT_ROOT, input_fingerprint

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
    """Write JSON, atomically; NaN is refused (it is not JSON)."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n"
    return write_atomically(path, lambda temporary: temporary.write_text(text))


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: metrics file not found; run the notebook that writes it (make all)")
    return json.loads(path.read_text())


def git_output(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def git_commit() -> str | None:
    return git_output("rev-parse", "HEAD")


def uncommitted_inputs() -> bool | None:
    """Whether the code, notebooks, pins or data differ from the commit (None outside a git checkout)."""
    status = git_output("status", "--porcelain", "--", "src", "notebooks", "requirements.txt", "data")
    return bool(status) if status is not None else None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The commit and the hardware a result comes from."""
    import tensorflow as tf  # imported here so that reporting stays light for the results check

    return {"commit": git_commit(), "uncommitted_inputs": uncommitted_inputs(), "cpu": cpu_name(),
            "cpu_count": os.cpu_count(), "gpus": [device.name for device in tf.config.list_physical_devices("GPU")]}


def provenance(seeds: list[int], parameters: dict, started_at: datetime, wall_time_s: float) -> dict:
    """Where and how a result was produced: commit, versions, hardware, seeds, parameters, times."""
    return {
        **machine(),
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in RECORDED_PACKAGES},
        "platform": platform.platform(),
        "seeds": list(seeds),
        "parameters": parameters,
        "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 1),
    }


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
