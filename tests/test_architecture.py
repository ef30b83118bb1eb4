"""The package's layers: imports flow one way (core <- analysis, workflow <- study <- reports <- app, bench),
checked by import-linter with the contracts in pyproject.toml; a violation is caught, naming the import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_study.workflow.fingerprints import PACKAGE_DIR, PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(PROJECT_ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=source_root, env=environment, capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_layers():
    done = _lint_imports(PACKAGE_DIR.parent)
    assert done.returncode == 0, done.stdout
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    source = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, source / "mnist_study", ignore=shutil.ignore_patterns("__pycache__"))
    path = source / "mnist_study" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return source


# An import against the layers, in each direction that matters: what the core, the workflow, the study and the
# reports must not know.
AGAINST_THE_LAYERS = [
    ("core/data.py", "from mnist_study.reports import plots", "mnist_study.core.data -> mnist_study.reports.plots"),
    ("workflow/reuse.py", "from mnist_study.study import experiment",
     "mnist_study.workflow.reuse -> mnist_study.study.experiment"),
    ("study/experiment.py", "from mnist_study.reports import summary",
     "mnist_study.study.experiment -> mnist_study.reports.summary"),
    ("reports/summary.py", "from mnist_study.app import predict",
     "mnist_study.reports.summary -> mnist_study.app.predict"),
]


@pytest.mark.parametrize(("module", "line", "named"), AGAINST_THE_LAYERS)
def test_an_import_against_the_layers_is_caught_and_named(tmp_path, module, line, named):
    done = _lint_imports(_copy_with(tmp_path, module, line))
    assert done.returncode == 1 and named in done.stdout


def test_a_circle_in_the_benchmark_is_caught(tmp_path):
    done = _lint_imports(_copy_with(tmp_path, "bench/measure.py", "from mnist_study.bench import benchmark"))
    assert done.returncode == 1 and "The benchmark's modules import each other without a circle BROKEN" in done.stdout


def test_every_sub_package_says_what_belongs_there():
    packages = sorted(path.parent.name for path in PACKAGE_DIR.glob("*/__init__.py"))
    assert packages == ["analysis", "app", "bench", "core", "reports", "study", "workflow"]
    for name in packages:
        docstring = (PACKAGE_DIR / name / "__init__.py").read_text().strip()
        assert docstring.startswith('"""') and docstring.endswith('"""') and docstring.count("\n") == 0, name
