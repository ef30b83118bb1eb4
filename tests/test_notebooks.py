"""Every notebook runs end to end through papermill with tiny parameters and writes what it promises."""

import json
import shutil

import nbformat
import papermill
import pytest

from mnist_study.reporting import PROJECT_ROOT, read_json, stale_inputs
from mnist_study.run_notebook import NOTEBOOK_DIR, NOTEBOOKS, execute

TINY = {"seeds": [0], "epochs": 1, "train_subset": 300}
TRAINING = ["01_feedforward", "02_lenet5", "03_cnn_architectures", "04_fashion_mnist"]
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    """Every notebook, in dependency order, into one temporary results folder."""
    results = tmp_path_factory.mktemp("results")
    readme = results / "PROJECT_README.md"
    shutil.copy(PROJECT_ROOT / "README.md", readme)
    parameters = {
        "00_data_exploration": {"sample_count": 10},
        "02_lenet5": {**TINY, "inputs_dir": str(results)},
        "06_generalization_robustness_calibration": {"inputs_dir": str(results), "robustness_subset": 200},
        "05_summary": {"inputs_dir": str(results), "readme_path": str(readme)},
    }
    for name in NOTEBOOKS:
        execute(name, results_dir=results, parameters=parameters.get(name, TINY))
    return results


def test_source_notebooks_are_clean():
    assert sorted(path.stem for path in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), name
        tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1 and code[0] is tagged[0], name
        # Every parameter carries a help comment (shown by `papermill --help-notebook`).
        inferred = papermill.inspect_notebook(NOTEBOOK_DIR / f"{name}.ipynb")
        assert inferred and all(parameter["help"] for parameter in inferred.values()), name


def test_every_notebook_writes_figures_and_metrics(tiny_results):
    for name in NOTEBOOKS:
        metrics = read_json(tiny_results / "metrics" / f"{name}.json")
        assert {"notebook", "dataset", "provenance", "fingerprint"} <= set(metrics), name
        assert {"commit", "packages", "cpu", "seeds", "parameters", "wall_time_s"} <= set(metrics["provenance"])
        assert stale_inputs(metrics) == [], name
        assert list((tiny_results / "figures" / name).glob("*.png")), name
        executed = nbformat.read(tiny_results / "notebooks" / f"{name}.ipynb", as_version=4)
        assert all("papermill" not in cell.metadata for cell in executed.cells)  # no per-cell timestamps
        assert (tiny_results / "html" / f"{name}.html").stat().st_size > 10_000
    assert not (tiny_results / ".staging").exists() or not any((tiny_results / ".staging").iterdir())


def test_training_metrics_have_seeds_and_reports(tiny_results):
    for name in TRAINING:
        metrics = read_json(tiny_results / "metrics" / f"{name}.json")
        for model_name, summary in metrics["models"].items():
            assert summary["seeds"] == [0] and len(summary["runs"]) == 1
            assert 0.0 < summary["test_accuracy"]["mean"] <= 1.0
            report = summary["first_seed_report"]
            assert len(report["per_class"]) == 10 and len(report["confusion_matrix"]) == 10
            assert sum(map(sum, report["confusion_matrix"])) == 10_000
            assert (tiny_results / "models" / summary["artifacts"]["model"]).is_file()
            for figure in ("curves", "confusion", "misclassified", "correct", "confidence"):
                assert (tiny_results / "figures" / name / f"{model_name}_{figure}.png").is_file()
        assert metrics["provenance"]["parameters"]["train_subset"] == 300


def test_summary_builds_table_and_readmes(tiny_results):
    summary = read_json(tiny_results / "metrics" / "05_summary.json")
    assert [row["model"] for row in summary["table"]] == [
        "feedforward", "lenet5", "cnn_minimal", "cnn_deep", "cnn_regularized", "cnn_batchnorm",
        "fashion_cnn", "cnn_regularized", "cnn_batchnorm"]
    assert len(summary["mcnemar"]) == 15  # 6 MNIST models, pairwise
    page = (tiny_results / "README.md").read_text()
    assert "| feedforward | mnist |" in page and "figures/05_summary/comparison.png" in page
    assert "## Beyond the test set" in page and "| cnn_batchnorm |" in page
    readme = (tiny_results / "PROJECT_README.md").read_text()
    assert "| lenet5 | mnist |" in readme


def test_generalization_metrics(tiny_results):
    metrics = read_json(tiny_results / "metrics" / "06_generalization_robustness_calibration.json")
    assert len(metrics["per_model"]) == 6
    for result in metrics["per_model"].values():
        assert 0 <= result["uci_accuracy"] <= 1 and result["temperature"] > 0
        assert set(result["robustness"]) == {"rotation", "translation", "noise", "occlusion"}
        rotation = result["robustness"]["rotation"]
        assert len(rotation["accuracy"]) == len(rotation["strengths"]) == 7 and 0 <= rotation["auc"] <= 1
        assert len(result["accuracy_coverage"]["coverage"]) == 20


@pytest.mark.parametrize(("parameters", "message"), [
    ({"dataset": "cifar10"}, "dataset: unknown dataset 'cifar10'"),
    ({"epochs": 0}, "epochs: expected a positive integer, got 0"),
    ({"seeds": []}, r"seeds: expected a non-empty list of integers, got \[\]"),
])
def test_bad_parameters_fail_with_a_clear_message(tmp_path, parameters, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message):
        execute("01_feedforward", results_dir=tmp_path, parameters={**TINY, **parameters})
    # Nothing was published: a failed run leaves the results folder without metrics.
    assert not (tmp_path / "metrics").exists()


def test_metrics_are_valid_json_without_nan(tiny_results):
    for path in (tiny_results / "metrics").glob("*.json"):
        text = path.read_text()
        assert json.loads(text) and "NaN" not in text and "Infinity" not in text, path


TIME_FIELDS = {"train_time_s", "wall_time_s", "started_at"}


def _without_times(value):
    """The metrics with every timing and start-time field removed, recursively."""
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items() if key not in TIME_FIELDS}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value


def test_a_rerun_reproduces_metrics_and_figures(tiny_results, tmp_path):
    execute("01_feedforward", results_dir=tmp_path, parameters=TINY)
    first = read_json(tiny_results / "metrics" / "01_feedforward.json")
    second = read_json(tmp_path / "metrics" / "01_feedforward.json")
    assert _without_times(first) == _without_times(second)
    figures = sorted(path.name for path in (tiny_results / "figures" / "01_feedforward").glob("*.png"))
    assert figures == sorted(path.name for path in (tmp_path / "figures" / "01_feedforward").glob("*.png"))
    for name in figures:
        assert (tiny_results / "figures" / "01_feedforward" / name).read_bytes() == \
               (tmp_path / "figures" / "01_feedforward" / name).read_bytes(), name
