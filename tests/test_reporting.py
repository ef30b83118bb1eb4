"""Fingerprints follow each notebook's imports and notice every change to an input."""

import json
import os

from mnist_study.pipeline import fingerprints
from mnist_study.pipeline.fingerprints import default_inputs, package_dependencies


def _module_names(notebook):
    return {path.name for path in default_inputs(notebook) if path.suffix == ".py"}


def test_a_notebook_depends_on_the_modules_it_imports_and_theirs():
    exploration = _module_names("00_data_exploration")
    assert {"__init__.py", "data.py", "plots.py", "reporting.py"} <= exploration
    assert "training.py" not in exploration  # a change to training must not re-run the data exploration
    # 01 imports experiment, which imports training, which imports augmentation.
    assert {"experiment.py", "training.py", "augmentation.py", "models.py"} <= _module_names("01_feedforward")
    assert not {"run_notebook.py", "benchmark.py", "predict.py"} & _module_names("09_summary")


def test_imports_are_found_in_every_form(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    for name, source in {"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .c import thing\n",
                         "c.py": "thing = 1\n", "d.py": "", "e.py": ""}.items():
        (package / name).write_text(source)
    monkeypatch.setattr(fingerprints, "PACKAGE_DIR", package)
    code = "%matplotlib inline\nimport pkg.d\nfrom pkg import a\n!ls\nimport numpy\n"
    notebook = tmp_path / "n.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": code},
                                              {"cell_type": "markdown", "source": "from pkg import e"}]}))
    assert [path.name for path in package_dependencies(notebook)] == ["__init__.py", "a.py", "b.py", "c.py", "d.py"]


def test_digest_changes_with_the_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("one")
    before = fingerprints._file_digest(path)
    path.write_text("two")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))  # even within one clock tick
    assert fingerprints._file_digest(path) != before
