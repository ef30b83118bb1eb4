"""Fingerprints follow each notebook's imports and notice every change to an input."""

import json
import os

from mnist_study.workflow import fingerprints
from mnist_study.workflow.fingerprints import default_inputs, package_dependencies


def _module_names(notebook):
    return {path.name for path in default_inputs(notebook) if path.suffix == ".py"}


def test_a_notebook_depends_on_the_modules_it_imports_and_theirs():
    exploration = _module_names("00_data_exploration")
    assert {"__init__.py", "data.py", "plots.py", "provenance.py"} <= exploration
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


def test_an_architecture_is_known_by_what_it_builds_not_by_the_names_keras_gives():
    from mnist_study.core.models import build_model

    first = fingerprints.architecture_fingerprint("cnn_regularized")
    build_model("cnn_regularized")  # Keras numbers the next model's layers after these ("conv2d_7")
    fingerprints._architecture_fingerprint.cache_clear()
    assert fingerprints.architecture_fingerprint("cnn_regularized") == first
    assert fingerprints.architecture_fingerprint("cnn_batchnorm") != first
    assert fingerprints.architecture_fingerprint("feedforward", {"dropout_rate": 0.3}) \
        != fingerprints.architecture_fingerprint("feedforward")
    assert fingerprints.architecture_fingerprint("feedforward", num_classes=5) \
        != fingerprints.architecture_fingerprint("feedforward")


def test_the_training_code_leaves_the_architectures_to_each_run(monkeypatch):
    modules = fingerprints.training_modules()
    assert fingerprints.ARCHITECTURES_MODULE in modules and "core.training" in modules
    before = fingerprints.training_code_fingerprint()
    models_path = fingerprints.module_path(fingerprints.ARCHITECTURES_MODULE)
    real_path = fingerprints.module_path

    class NewBuilder:  # the models module as it reads with one more builder appended
        name = models_path.name

        @staticmethod
        def read_text():
            return models_path.read_text() + "\n\ndef build_other():\n    return None\n"

    monkeypatch.setattr(fingerprints, "module_path",
                        lambda name: NewBuilder if name == fingerprints.ARCHITECTURES_MODULE else real_path(name))
    assert fingerprints.training_code_fingerprint() == before
    monkeypatch.setattr(fingerprints, "module_path", lambda name: NewBuilder if name == "core.training"
                        else real_path(name))
    assert fingerprints.training_code_fingerprint() != before  # the training code itself is still covered
