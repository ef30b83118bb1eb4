"""Machine-readable results: atomic JSON, provenance, and fingerprints of the inputs of each result."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from mnist_study.core.distributed import is_chief

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = Path(__file__).resolve().parents[1]
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
    if not is_chief():  # in a multi-worker run only the chief writes results
        return path
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


def provenance(seeds: list[int], parameters: dict, started_at: datetime, wall_time_s: float) -> dict:
    """Where and how a result was produced: commit, versions, hardware, seeds, parameters, times."""
    import tensorflow as tf  # imported here so that reporting stays light for the results check

    return {
        "commit": git_commit(),
        "uncommitted_inputs": uncommitted_inputs(),
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in RECORDED_PACKAGES},
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "seeds": list(seeds),
        "parameters": parameters,
        "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 1),
    }


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    # Cached per (path, mtime, size): `make all` checks ~44 MB of data before every notebook, and a file that
    # a notebook rewrites gets a new mtime, so its digest is recomputed.
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


def module_path(name: str) -> Path | None:
    """The file of the package's module `name` (dotted below the package: "core.data"), or None if there is none."""
    if not name:
        return PACKAGE_DIR / "__init__.py"
    path = PACKAGE_DIR.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def imported_package_modules(source: str, importer: str = "") -> set[str]:
    """Names ("core.data") of this package's modules that Python `source` imports, absolutely or relative to
    `importer`, the name of the module the source is."""
    package = PACKAGE_DIR.name
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".", 1)[1] for alias in node.names if alias.name.startswith(f"{package}.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                parts = importer.split(".")[:-node.level] + ([node.module] if node.module else [])
            elif node.module == package or (node.module or "").startswith(f"{package}."):
                parts = node.module.split(".")[1:]
            else:
                continue
            base = ".".join(parts)
            for alias in node.names:  # `from mnist_study.pipeline import plots`: a module, or a name defined in one
                submodule = f"{base}.{alias.name}" if base else alias.name
                names.add(submodule if module_path(submodule) is not None else base)
    return {name for name in names if module_path(name) is not None}


def package_closure(names: set[str]) -> set[str]:
    """`names` and every package module they import, directly or through others."""
    pending, found = set(names), set()
    while pending:
        name = pending.pop()
        path = module_path(name)
        if path is None:
            raise ValueError(f"{name!r}: no module of {PACKAGE_DIR.name} has that name; expected one like 'core.data'")
        found.add(name)
        pending |= imported_package_modules(path.read_text(), name) - found
    return found


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    # IPython magics and shell escapes are not Python; they import nothing from the package.
    lines = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    return "\n".join(line for line in "\n".join(lines).splitlines() if not line.lstrip().startswith(("%", "!")))


def package_dependencies(notebook_path: Path) -> list[Path]:
    """The package modules a notebook imports, directly or through other modules, and the packages' __init__.py
    files (which run on import)."""
    found = package_closure(imported_package_modules(_notebook_source(notebook_path)))
    packages = {".".join(name.split(".")[:depth]) for name in found for depth in range(len(name.split(".")))}
    return sorted({module_path(name) for name in found | packages})


def default_inputs(notebook: str) -> list[Path]:
    """Files every result of `notebook` depends on: the notebook, the package modules it uses, data, pins.

    Only the modules the notebook imports count, so that a new module for one notebook leaves the results of
    the others fresh.
    """
    notebook_path = PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb"
    modules = package_dependencies(notebook_path) if notebook_path.is_file() else []
    return [
        notebook_path,
        *modules,
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
