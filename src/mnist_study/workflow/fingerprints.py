"""What a result depends on, as digests: the import graph of the package, the input files of each notebook
(its results are stale when one changes), and the training fingerprint of each run (what can change its weights).

A run's training fingerprint covers the source of every module on the path from the data files to the trained
weights and the test-set probabilities (found from the import graph, starting at `TRAINING_ENTRY_POINTS`) but the
architectures' module, its own architecture (the model its builder builds, layer by layer, and the builder's source),
`requirements.txt`, the dataset's files, and the run's own settings. So adding an architecture, or changing
another one, retrains nothing. Plots, summaries, reports and a notebook's
analysis are not part of it, so changing them re-runs a notebook without training (workflow.reuse).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = Path(__file__).resolve().parents[1]


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
            for alias in node.names:  # `from mnist_study.reports import plots`: a module, or a name defined in one
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
    from mnist_study.workflow.notebooks import notebook_entry

    notebook_path = PROJECT_ROOT / "notebooks" / f"{notebook_entry(notebook).file}.ipynb"
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


# The functions a run's weights and test probabilities come out of; their modules, and every module those import,
# make up the training code.
TRAINING_ENTRY_POINTS = {
    "core.data": "prepare_training_split",
    "core.training": "train_model",
    "core.inference": "predict_probabilities",
}


def training_modules(roots: list[str] | None = None) -> list[str]:
    """The package modules on the path to the trained weights: the entry points' modules (or `roots`) and all
    they import, less packages' __init__ files that define nothing (so that moving a module changes nothing)."""
    found = package_closure(set(roots or TRAINING_ENTRY_POINTS))
    return sorted(name for name in found
                  if module_path(name).name != "__init__.py" or code_digest(module_path(name).read_text()) != EMPTY)


class _WithoutPackageImports(ast.NodeTransformer):
    """Drops docstrings and the module paths of the package's own imports: moving a module, or rewording its
    documentation, leaves what it computes, and so its digest, unchanged (the imported module is hashed too)."""

    def _strip_docstring(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip_docstring

    def visit_Module(self, node):
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:]  # a module may be empty: a package's __init__ with only its docstring
        return self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level > 0 or (node.module or "").split(".")[0] == PACKAGE_DIR.name:
            return ast.ImportFrom(module="", names=node.names, level=0)
        return node


def code_digest(source: str) -> str:
    """SHA-256 of what a module computes: its syntax tree, without comments, layout, docstrings or import paths."""
    tree = _WithoutPackageImports().visit(ast.parse(source))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


EMPTY = code_digest("")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Not digested whole: each run digests its own architecture (architecture_fingerprint) instead.
ARCHITECTURES_MODULE = "core.models"


def training_code_fingerprint(roots: list[str] | None = None) -> str:
    """One digest of the training code (or of `roots` and what they import) but the architectures, and the pinned
    packages."""
    digests = sorted(code_digest(module_path(name).read_text()) for name in training_modules(roots)
                     if name != ARCHITECTURES_MODULE)
    parts = {"modules": digests, "requirements": sha256_file(PROJECT_ROOT / "requirements.txt")}
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def data_fingerprint(dataset: str) -> str:
    from mnist_study.core.data import DEFAULT_DATA_DIR, check_dataset_name

    folder = DEFAULT_DATA_DIR / check_dataset_name(dataset)["folder"]
    digests = {path.name: sha256_file(path) for path in sorted(folder.glob("*.gz"))}
    return hashlib.sha256(json.dumps(digests).encode()).hexdigest()


def run_settings(model_name: str, dataset: str, recipe, seed: int, validation_fraction: float,
                 train_subset: int | None, model_kwargs: dict | None, num_classes: int) -> dict:
    """Everything about one run, besides code and data, that can change its weights."""
    return {"model": model_name, "model_kwargs": model_kwargs or {}, "num_classes": num_classes,
            "dataset": dataset, "validation_fraction": validation_fraction, "train_subset": train_subset,
            "seed": seed, "recipe": recipe.as_dict()}


def _without_layer_names(config, names: dict[str, str]):
    """`config` with every layer and model name replaced by its position: Keras numbers unnamed layers by how many
    were built before in the process ("conv2d_7"), which says nothing about the architecture."""
    if isinstance(config, dict):
        return {key: _without_layer_names(value, names) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return [_without_layer_names(value, names) for value in config]
    return names.get(config, config) if isinstance(config, str) else config


@functools.cache
def _architecture_fingerprint(model_name: str, model_kwargs_json: str, num_classes: int) -> str:
    import keras

    from mnist_study.core.models import MODEL_BUILDERS, build_model, check_model_name

    check_model_name(model_name)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # the recipe's precision is in the run's settings
    try:
        model = build_model(model_name, num_classes=num_classes, **json.loads(model_kwargs_json))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    config = model.get_config()
    names = {name: f"layer {index}" for index, name in
             enumerate([model.name, *(layer["name"] for layer in config["layers"])])}
    parts = {"builder": code_digest(inspect.getsource(MODEL_BUILDERS[model_name])),
             "model": _without_layer_names(config, names)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def architecture_fingerprint(model_name: str, model_kwargs: dict | None = None, num_classes: int = 10) -> str:
    """What a run's architecture is: Keras's layer-by-layer configuration of the model its builder builds (with the
    initializers and regularizers, names aside) and the builder's own source."""
    return _architecture_fingerprint(model_name, json.dumps(model_kwargs or {}, sort_keys=True), num_classes)


def training_fingerprint(settings: dict, code: str | None = None) -> str:
    """The run's fingerprint: its settings, the training code, its architecture and its dataset's files."""
    parts = {"settings": settings, "code": code or training_code_fingerprint(),
             "architecture": architecture_fingerprint(settings["model"], settings["model_kwargs"],
                                                      settings["num_classes"]),
             "data": data_fingerprint(settings["dataset"])}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of a float32 array's shape and bytes: how a run's test probabilities are found again."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()


def _input_digest(value) -> object:
    """A JSON-able stand-in for one input of a computation: files and arrays by content, the rest as they are."""
    if isinstance(value, Path):
        return {"file_sha256": sha256_file(value)}
    if isinstance(value, np.ndarray):
        return {"array_sha256": hashlib.sha256(repr((value.shape, value.dtype.str)).encode()
                                               + np.ascontiguousarray(value).tobytes()).hexdigest()}
    return value


def computation_fingerprint(modules: list[str], inputs: dict, architectures: list[str] = ()) -> str:
    """The fingerprint of a computation other than a training run (a fine-tuning study): the code of `modules`
    and what they import but the architectures, the pinned packages, the `architectures` it builds, and its
    inputs."""
    parts = {"code": training_code_fingerprint(modules),
             "architectures": [architecture_fingerprint(name) for name in architectures],
             "inputs": {name: _input_digest(value) for name, value in sorted(inputs.items())}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
