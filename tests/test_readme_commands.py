"""The commands the README shows work as written: the papermill example (with tiny parameters added), the
parameters' help, `make help`, and `predict` on an image file. A README edit that breaks one fails here."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mnist_study.workflow.fingerprints import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def _command(prefix: str) -> list[str]:
    """The README's one inline command that starts with `prefix`, split as a shell would."""
    found = re.findall(rf"`({re.escape(prefix)}[^`]*)`", README)
    assert len(found) == 1, f"expected one `{prefix}...` command in README.md, found {found}"
    return shlex.split(found[0])


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, **kwargs)


def test_the_parameters_help_lists_every_parameter():
    command = _command(".venv/bin/papermill --help-notebook")
    done = _run([str(BIN / "papermill"), *command[1:]])
    assert done.returncode == 0, done.stderr[-2000:]
    for parameter in ("seeds", "epochs", "results_dir", "inputs_dir", "retrain"):
        assert re.search(rf"^\s+{parameter}: ", done.stdout, re.M), f"{parameter} missing from:\n{done.stdout}"


@pytest.mark.notebook
def test_the_papermill_example_runs_as_written(tmp_path):
    command = _command(".venv/bin/papermill -k mnist-study")
    assert ["-y", "seeds: [0]"] == command[-2:]  # a list goes through YAML: `-p seeds "[0]"` would be a string
    output = command.index("scratch/01_feedforward.ipynb")
    command[output] = str(tmp_path / "01_feedforward.ipynb")
    # Tiny, and into this test's folder rather than scratch/: later values of a parameter win.
    tiny = ["-p", "train_subset", "300", "-p", "epochs", "2", "-p", "search_trials", "3", "-y",
            "confirmation_seeds: [1]", "-p", "results_dir", str(tmp_path)]
    done = _run([str(BIN / "papermill"), *command[1:], *tiny])
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics" / "01_feedforward.json").read_text())
    assert metrics["provenance"]["seeds"] == [0] and metrics["provenance"]["parameters"]["epochs"] == 2
    assert (tmp_path / "01_feedforward.ipynb").is_file()


def test_make_help_lists_the_targets_the_readme_names():
    done = _run(["make", "help"])
    assert done.returncode == 0, done.stderr
    for target in set(re.findall(r"`make ([a-z-]+)", README)):
        assert re.search(rf"^\s+make {target}\s", done.stdout, re.M), f"make {target}: not in make help"


def test_predict_classifies_an_image_file_as_the_readme_shows(tmp_path, mnist):
    example = re.search(r"^\$ (\.venv/bin/python -m mnist_study\.predict .*)$", README, re.M)
    assert example, "README.md shows no predict example"
    files = shlex.split(example.group(1))[3:]
    for name, index in zip(files, (0, 1), strict=True):  # a 7 and a 2 from the test set, as the named files
        Image.fromarray(255 - mnist.test_images[index]).resize((96, 96)).save(tmp_path / name)
    done = subprocess.run([sys.executable, "-m", "mnist_study.predict", *files], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == files
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["7", "2"]
    assert all(re.fullmatch(r"\S+: (\w+ \(\d+\.\d%\), ){2}\w+ \(\d+\.\d%\)", line) for line in lines), lines
