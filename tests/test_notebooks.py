"""Every notebook runs end to end through papermill with tiny parameters and writes what it promises."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest

from mnist_study.study.recipe_search import RECIPE_FIELDS
from mnist_study.workflow.fingerprints import PROJECT_ROOT, stale_inputs
from mnist_study.workflow.notebook_execution import NOTEBOOK_DIR, execute
from mnist_study.workflow.notebooks import NOTEBOOK_FILES, NOTEBOOKS
from mnist_study.workflow.provenance import read_json

# 2 epochs: a warm-up epoch and one to decay; a search of 3 trials of 2 epochs (one rung), confirmed on seed 1.
TINY = {"seeds": [0], "epochs": 2, "train_subset": 300, "search_trials": 3, "confirmation_seeds": [1]}
TRAINING = ["01_feedforward", "02_lenet5", "03_cnn_architectures", "04_fashion_mnist"]
# 06, each dataset: three candidates (one slow); per arm a search of 3 trials with rungs at 3 and 9 epochs, confirmed
# on seed 1; both arms on seeds 0 and 1 at 3 and 9 epochs.
TINY_06 = {"seeds": [0, 1], "confirmation_seeds": [1], "screen_budgets": [2, 3], "screen_seeds": [0, 1], "epochs": 9,
           "search_trials": 3, "candidates": ["cnn_regularized", "fashion_cnn_bn", "resnet_mini"]}
BEST_MODELS = ["06_best_models_mnist", "06_best_models_fashion_mnist"]
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
        "05_generalization_robustness_calibration": {"inputs_dir": str(results), "robustness_subset": 200},
        **{name: {**TINY_06, "inputs_dir": str(results)} for name in BEST_MODELS},
        "07_interpretability": {"inputs_dir": str(results), "embedding_points": 300},
        "08_label_errors_and_new_writers": {"inputs_dir": str(results), "k_values": [1, 5], "draws": [0, 1],
                                            "fine_tune_epochs": 2, "scratch_epochs": 2},
        "09_summary": {"inputs_dir": str(results), "readme_path": str(readme)},
    }
    for name in NOTEBOOKS:
        execute(name, results_dir=results, parameters=parameters.get(name, TINY))
    return results


def test_source_notebooks_are_clean():
    assert sorted(path.stem for path in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOK_FILES)
    for name in NOTEBOOK_FILES:
        notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), name
        tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1 and code[0] is tagged[0], name
        # Thin: prose, parameters, calls into the package and figures; what they compute lives in the package.
        lines = [line for cell in code for line in cell.source.splitlines() if line.strip()]
        assert not [line for line in lines if line.lstrip().startswith(("def ", "class ", "lambda:"))], name
        assert len(lines) <= 155, f"{name}: {len(lines)} lines of code"
        # Every name is defined: ruff's F821 over the notebook's code as one script (the parameters cell included;
        # `make lint` must ignore F821 in notebooks, where papermill injects parameters).
        undefined = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "--isolated", "--select",
                                    "F821", "--stdin-filename", f"{name}.py", "-"], input="\n".join(
                                        cell.source for cell in code), capture_output=True, text=True)
        assert undefined.returncode == 0, undefined.stdout
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
        # Readers see where results end up, not the runner's staging folder or echoed paths.
        rendered = (tiny_results / "notebooks" / f"{name}.ipynb").read_text()
        assert ".staging" not in rendered and "PosixPath(" not in rendered, name
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
            probabilities = np.load(tiny_results / "probabilities" / summary["artifacts"]["probabilities"])
            assert probabilities.shape == (1, 10_000, 10) and probabilities.dtype == np.float32
            assert np.allclose(probabilities.sum(axis=2), 1, atol=1e-4)
            predictions = np.load(tiny_results / "predictions" / summary["artifacts"]["predictions"])
            assert np.array_equal(predictions, probabilities[0].argmax(axis=1))
            for figure in ("curves", "confusion", "misclassified", "correct", "confidence"):
                assert (tiny_results / "figures" / name / f"{model_name}_{figure}.png").is_file()
        assert metrics["provenance"]["parameters"]["train_subset"] == 300
        # The recipe was searched on validation: every trial is recorded, its three best were confirmed on another
        # seed, and the recorded recipe is the confirmed winner's, trained warmup-stable-decay.
        search, confirmation = metrics["recipe_search"], metrics["recipe_confirmation"]
        assert [row["trial"] for row in search["trials"]] == [0, 1, 2] and search["seed"] == 0
        assert search["rungs"] == [2] and all(row["state"] == "complete" for row in search["trials"])
        assert [row["trial"] for row in confirmation["rows"]] == search["top_rung_trials"]
        assert confirmation["seeds"] == [1]
        best = max(confirmation["rows"], key=lambda row: row["val_accuracy_mean"])
        assert confirmation["best_trial"] == best["trial"]
        recorded = metrics["provenance"]["parameters"]
        assert {key: recorded[key] for key in RECIPE_FIELDS} == confirmation["winner"]
        assert recorded["lr_schedule"] == "wsd" and recorded["early_stopping_patience"] is None
        assert metrics["computations"][f"recipe_search_{name}"]["value"] == {
            key: value for key, value in search.items() if key != "name"}
        assert (tiny_results / "searches" / f"{name}.db").is_file()


def test_summary_builds_table_and_readmes(tiny_results):
    summary = read_json(tiny_results / "metrics" / "09_summary.json")
    best_models = [read_json(tiny_results / "metrics" / f"{name}.json") for name in BEST_MODELS]
    finals = [(name, metrics["dataset"]) for metrics in best_models for name in metrics["models"]]
    assert [(row["model"], row["dataset"]) for row in summary["table"]] == [
        (name, "mnist") for name in ("feedforward", "lenet5", "cnn_minimal", "cnn_deep", "cnn_regularized",
                                     "cnn_batchnorm")] + [
        (name, "fashion_mnist") for name in ("fashion_cnn", "cnn_regularized", "cnn_batchnorm")] + finals
    mnist_models = 6 + sum(dataset == "mnist" for _, dataset in finals)
    assert len(summary["mcnemar"]) == mnist_models * (mnist_models - 1) // 2  # every MNIST model, pairwise
    page = (tiny_results / "README.md").read_text()
    assert "| feedforward | mnist |" in page and "figures/09_summary/comparison.png" in page
    assert "## Beyond the test set" in page and "| cnn_batchnorm |" in page
    assert "## The best models: does augmentation pay" in page and "| seed | only plain right |" in page
    assert "## Accuracy per unit of compute" in page and "figures/09_summary/pareto.png" in page
    assert len(summary["pareto"]) == len(summary["table"])
    for dataset in ("mnist", "fashion_mnist"):
        rows = [row for row in summary["pareto"] if row["dataset"] == dataset]
        front = [row for row in rows if row["on_front"]]
        # The cheapest model is always on the front, and so is the most accurate.
        assert min(rows, key=lambda row: row["training_flops"]) in front
        assert max(rows, key=lambda row: row["test_accuracy_mean"]) in front
    assert "## What the networks look at" in page and "figures/07_interpretability/mnist_embedding.png" in page
    readme = (tiny_results / "PROJECT_README.md").read_text()
    assert "| lenet5 | mnist |" in readme


@pytest.mark.parametrize("name", BEST_MODELS)
def test_best_models_screen_arms_comparison_and_ensembles(tiny_results, name):
    from mnist_study.core.data import load_dataset
    from mnist_study.study.best_models import AUGMENTATION_CANDIDATES, choose_budget, final_arm
    from mnist_study.study.recipe_confirmation import paired_standard_error

    metrics = read_json(tiny_results / "metrics" / f"{name}.json")
    dataset = metrics["dataset"]
    result = metrics["results"][dataset]
    labels = load_dataset(dataset).test_labels
    figures = tiny_results / "figures" / name
    # The screen: every candidate at each screen budget on both screen seeds; the choice is the best mean score at
    # equal time, or the fastest within one paired standard error of it.
    screen = result["screen"]
    assert [row["architecture"] for row in screen["rows"]] == TINY_06["candidates"] and screen["seeds"] == [0, 1]
    points = [point for row in screen["rows"] for point in row["points"]]
    assert all([point["epochs"] for point in row["points"]] == [2, 3] for row in screen["rows"])
    assert all(point["val_accuracy"] == pytest.approx(np.mean(point["val_accuracy_by_seed"]))
               and len(point["val_accuracy_by_seed"]) == 2 for point in points)
    assert screen["equal_time_s"] == max(min(point["train_time_s"] for point in row["points"])
                                         for row in screen["rows"])
    best = max(screen["rows"], key=lambda row: row["val_accuracy_at_equal_time"])
    assert screen["best_val_accuracy"] == best["val_accuracy_at_equal_time"]
    close = [row for row in screen["rows"] if best["val_accuracy_at_equal_time"] - row["val_accuracy_at_equal_time"]
             <= paired_standard_error(best["val_accuracy_by_seed_at_equal_time"],
                                      row["val_accuracy_by_seed_at_equal_time"])]
    assert result["architecture"] == screen["chosen"] == min(
        close, key=lambda row: row["seconds_per_epoch"])["architecture"]
    assert (figures / "screen.png").is_file()
    architecture = result["architecture"]
    # Each arm: its own search (own sampler seed, own augmentations), confirmed on seed 1, its winner on both seeds
    # at 3 and 9 epochs, and its own budget chosen on validation.
    arms = result["arms"]
    for index, (arm, record) in enumerate(arms.items()):
        search, confirmation = record["search"], record["confirmation"]
        assert search["model"] == architecture and search["rungs"] == [3, 9] and search["seed"] == 0
        assert search["sampler_seed"] == {"06_best_models_mnist": 60, "06_best_models_fashion_mnist": 62}[name] + index
        allowed = ["none"] if arm == "plain" else AUGMENTATION_CANDIDATES[dataset]
        assert search["augmentations"] == allowed and all(row["augmentation"] in allowed for row in search["trials"])
        assert len(search["top_rung_trials"]) >= 3 and confirmation["seeds"] == [1]
        assert {key: record["recipe"][key] for key in confirmation["winner"]} == confirmation["winner"]
        assert [point["epochs"] for point in record["points"]] == [3, 9]
        assert all(point["seeds"] == [0, 1] for point in record["points"])
        assert record["budget"] == choose_budget(record["points"])
        assert all((figures / f"{arm}_search_{kind}.png").is_file() for kind in ("history", "importances"))
        assert (tiny_results / "searches" / f"{name}_{arm}.db").is_file()
        for point in record["points"]:
            stem = f"{dataset}_{architecture}_{arm}_{point['epochs']}_epochs"
            assert np.load(tiny_results / "probabilities" / f"{stem}.npy").shape == (2, 10_000, 10)
    # The comparison: each arm at its own budget, paired by seed; McNemar per seed and between the ensembles.
    chosen = {arm: next(p for p in record["points"] if p["epochs"] == record["budget"]["epochs"])
              for arm, record in arms.items()}
    comparison = result["comparison"]
    assert comparison["test_gain"]["by_seed"] == pytest.approx(
        np.subtract(chosen["augmented"]["test_accuracy_by_seed"], chosen["plain"]["test_accuracy_by_seed"]))
    assert comparison["val_gain"]["mean"] == pytest.approx(
        np.mean(chosen["augmented"]["val_accuracy_by_seed"]) - np.mean(chosen["plain"]["val_accuracy_by_seed"]))
    assert [test["seed"] for test in comparison["mcnemar_by_seed"]] == [0, 1]
    for test in [*comparison["mcnemar_by_seed"], comparison["mcnemar_ensembles"]]:
        assert 0 <= test["p_value"] <= test["p_value_bh"] <= 1
    # The final: the arm validation prefers, on both seeds; single models apart from test-time augmentation.
    final = result["final"]
    assert final["arm"] == final_arm(chosen) and final["epochs"] == chosen[final["arm"]]["epochs"]
    assert final["model"] == f"{architecture}_{final['arm']}" and list(result["models"]) == [final["model"]]
    assert result["recipe"]["epochs"] == 9 and result["recipe"]["train_subset"] == 300
    summary = result["final_summary"]
    assert summary["seeds"] == [0, 1]
    assert [run["test_accuracy"] for run in summary["runs"]] == chosen[final["arm"]]["test_accuracy_by_seed"]
    assert (result["test_time_augmentation"] is not None) == (dataset == "fashion_mnist")
    assert (tiny_results / "models" / f"{dataset}_{final['model']}.keras").is_file()
    ensemble = result["ensemble"]
    predictions = np.load(tiny_results / "predictions" / ensemble["predictions"])
    assert ensemble["accuracy"] == float(np.mean(predictions == labels))
    assert ensemble["accuracy_by_size"][0] == summary["runs"][0]["test_accuracy"]  # one member = seed 0
    assert result["upstream"]["model"] in read_json(tiny_results / "metrics" / (
        "03_cnn_architectures.json" if dataset == "mnist" else "04_fashion_mnist.json"))["models"]
    assert [target["dataset"] for target in metrics["targets"]] == [dataset, dataset]


def test_a_rerun_of_06_reuses_every_run_and_reproduces_its_results(tiny_results, tmp_path):
    """06 holds the most runs and the most ways to meet one again (screen, searches, confirmations, arms, upstream):
    run again over its own published results, it trains nothing, and every number is the same."""
    for folder in ("metrics", "models", "predictions", "probabilities", "searches"):
        shutil.copytree(tiny_results / folder, tmp_path / folder)
    execute(BEST_MODELS[0], results_dir=tmp_path, parameters={**TINY_06, "inputs_dir": str(tmp_path)})
    first = read_json(tiny_results / "metrics" / f"{BEST_MODELS[0]}.json")
    second = read_json(tmp_path / "metrics" / f"{BEST_MODELS[0]}.json")
    assert first["trained_runs"] and {run["reused_from"] for run in second["trained_runs"]} == {"published"}
    assert json.dumps(second["results"]) == json.dumps(first["results"])
    for path in (tiny_results / "probabilities").glob("mnist_*_*.npy"):
        assert path.read_bytes() == (tmp_path / "probabilities" / path.name).read_bytes(), path.name


def test_interpretability_inspects_the_best_model_on_validation(tiny_results):
    metrics = read_json(tiny_results / "metrics" / "07_interpretability.json")
    candidates = {}  # (dataset, model) -> (mean validation accuracy, first seed's test accuracy)
    for name in ("03_cnn_architectures", "04_fashion_mnist"):
        upstream = read_json(tiny_results / "metrics" / f"{name}.json")
        for model, summary in upstream["models"].items():
            candidates[upstream["dataset"], model] = summary["runs"]
    for name in BEST_MODELS:
        best_models = read_json(tiny_results / "metrics" / f"{name}.json")
        for model, summary in best_models["models"].items():
            candidates[best_models["dataset"], model] = summary["runs"]
    for dataset, result in metrics["per_dataset"].items():
        scores = {model: np.mean([run["best_val_accuracy"] for run in runs])
                  for (name, model), runs in candidates.items() if name == dataset}
        assert result["model_name"] == max(scores, key=scores.get)  # chosen on validation, never on test
        # The model loaded back from disk predicts exactly what it predicted when it was trained.
        assert result["test_accuracy"] == candidates[dataset, result["model_name"]][0]["test_accuracy"]
        assert 0 <= result["grad_cam"]["ink_share_right"] <= 1 and 0 < result["grad_cam"]["ink_pixels"] < 1
        embedding = result["embedding"]
        assert embedding["points"] == 300 and embedding["method"] == "tsne"
        silhouettes = ("silhouette_pixels", "silhouette_penultimate", "silhouette_2d")
        assert all(-1 <= embedding[key] <= 1 for key in silhouettes)
        for figure in ("filters", "feature_maps", "grad_cam_right", "embedding"):
            assert (tiny_results / "figures" / "07_interpretability" / f"{dataset}_{figure}.png").is_file()


def test_label_errors_and_new_writers(tiny_results):
    from mnist_study.core.data import load_dataset

    metrics = read_json(tiny_results / "metrics" / "08_label_errors_and_new_writers.json")
    chosen = read_json(tiny_results / "metrics" / "07_interpretability.json")["per_dataset"]
    for dataset in ("mnist", "fashion_mnist"):
        labels = load_dataset(dataset).test_labels
        issues = metrics["label_issues"][dataset]
        assert set(issues) == {"suspects", "disagreements"} and issues["disagreements"]
        for entries in issues.values():
            assert all(set(issue) == {"index", "given_label", "suggested_label", "score"} for issue in entries)
            assert all(labels[issue["index"]] == issue["given_label"] != issue["suggested_label"] for issue in entries)
        scores = [issue["score"] for issue in issues["disagreements"]]
        assert scores == sorted(scores)  # most suspect first
        summary = metrics["label_issue_summary"][dataset]
        assert summary["suspects"] == len(issues["suspects"]) and summary["best_model"] == chosen[dataset]["model_name"]
        assert summary["disagreements"] == len(issues["disagreements"])
        assert {*summary["voting_models"], summary["best_model"]} <= set(summary["temperatures"])
        assert all(temperature > 0 for temperature in summary["temperatures"].values())
        assert summary["best_model"] not in summary["voting_models"]  # the judged model does not vote
        # The three strongest on validation vote; every model's count alone is kept beside.
        others = {name: row for name, row in summary["alone"].items() if name != summary["best_model"]}
        strongest = sorted(others, key=lambda name: -others[name]["val_accuracy"])[:3]
        assert summary["voting_models"] == strongest
        assert [name for name, row in summary["alone"].items() if row["voted"]] == [
            name for name in summary["alone"] if name in strongest]
        assert summary["test_accuracy"] == chosen[dataset]["test_accuracy"]
        figures = tiny_results / "figures" / "08_label_errors_and_new_writers"
        assert (figures / f"{dataset}_label_suspects.png").is_file()
    # New writers as they are: every saved MNIST model and 06's arms at both budgets, on the same UCI digits.
    as_is = metrics["new_writers_as_is"]
    assert [(row["arm"], row["epochs"]) for row in as_is["models"] if row["arm"]] == [
        ("plain", 3), ("plain", 9), ("augmented", 3), ("augmented", 9)]
    assert all(0 <= row["uci_accuracy"] <= 1 and 0.1 <= row["most_predicted_share"] <= 1 for row in as_is["models"])
    assert not [row for row in as_is["models"] if row["notebook"] == "06_best_models_mnist" and not row["arm"]]
    assert [effect["arm"] for effect in as_is["budget_effect"]] == ["plain", "augmented"]
    few = metrics["few_label"]
    assert few["k"] == [1, 5] and few["seeds"] == [0, 1] and few["model_name"] == chosen["mnist"]["model_name"]
    for arm in ("as is", "fine-tuned", "from scratch"):
        assert np.shape(few["arms"][arm]["runs"]) == (2, 2)
    assert len(few["gap_closed"]) == 2


def test_generalization_metrics(tiny_results):
    metrics = read_json(tiny_results / "metrics" / "05_generalization_robustness_calibration.json")
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


@pytest.mark.parametrize(("name", "parameters", "message"), [
    ("06_best_models_mnist", {"dataset": "cifar10"}, r"dataset: expected one of \['mnist', 'fashion_mnist'\]"),
    ("06_best_models_mnist", {"confirmation_seeds": [0]}, r"confirmation_seeds: expected distinct non-negative"),
    ("07_interpretability", {"embedding_method": "umap"}, r"embedding_method: unknown 'umap'; expected one of"),
])
def test_bad_parameters_of_the_later_notebooks(tmp_path, name, parameters, message):
    with pytest.raises(papermill.PapermillExecutionError, match=message):
        execute(name, results_dir=tmp_path, parameters={"inputs_dir": str(tmp_path), **parameters})
    assert not (tmp_path / "metrics").exists()


def test_missing_upstream_results_are_named(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match=r"03_cnn_architectures.json: metrics file not found"):
        execute("07_interpretability", results_dir=tmp_path, parameters={"inputs_dir": str(tmp_path)})
    with pytest.raises(papermill.PapermillExecutionError, match=r"mnist_cnn_deep.keras not found"):
        execute("07_interpretability", results_dir=tmp_path,
                parameters={"inputs_dir": str(tmp_path), "model_name": "cnn_deep"})


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


def test_a_retrained_rerun_reproduces_metrics_and_figures(tiny_results, tmp_path):
    # Over a copy of the published results, which it would otherwise reuse: retrain trains every run again.
    for folder in ("metrics", "models", "predictions", "probabilities"):
        shutil.copytree(tiny_results / folder, tmp_path / folder)
    execute("01_feedforward", results_dir=tmp_path, parameters={**TINY, "retrain": True})
    first = read_json(tiny_results / "metrics" / "01_feedforward.json")
    second = read_json(tmp_path / "metrics" / "01_feedforward.json")
    assert [run["reused_from"] for run in second["trained_runs"]] == [None] * len(first["trained_runs"])
    assert _without_times(first) == _without_times(second)
    # Saved models too: same weights, same bytes (no save date, object addresses or zip timestamps).
    for path in (tiny_results / "models").glob("mnist_feedforward*.keras"):
        assert path.read_bytes() == (tmp_path / "models" / path.name).read_bytes(), path.name
    figures = sorted(path.name for path in (tiny_results / "figures" / "01_feedforward").glob("*.png"))
    assert figures == sorted(path.name for path in (tmp_path / "figures" / "01_feedforward").glob("*.png"))
    for name in figures:
        assert (tiny_results / "figures" / "01_feedforward" / name).read_bytes() == \
               (tmp_path / "figures" / "01_feedforward" / name).read_bytes(), name


def test_executed_notebooks_lose_tensorflow_log_lines_and_random_ids():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from mnist_study.workflow.notebook_execution import strip_volatile_metadata

    parameters = new_code_cell("seeds = [0]", metadata={"tags": ["injected-parameters"]}, id="a1b2c3d4")
    noisy = new_code_cell("import tensorflow", outputs=[
        new_output("stream", name="stderr", text=(
            "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1795247178.786824    9475 port.cc:153] oneDNN custom operations are on.\n"
            "UserWarning: a warning a reader should see\n"
            "E0000 00:00:1795249683.690859   21271 cuda_platform.cc:52] failed call to cuInit\n")),
        new_output("stream", name="stderr", text="I0000 00:00:1795247178.787909    9475 cudart_stub.cc:31] no GPU\n"),
        new_output("stream", name="stdout", text="I0000 is not a log line on stdout\n"),
        new_output("stream", name="stdout", text=(
            "WARNING:tensorflow:5 out of the last 15 calls to <function TensorFlowTrainer.make_predict_function"
            ".<locals>.one_step_on_data_distributed at 0x7f8af8d71260> triggered tf.function retracing.\n")),
        new_output("stream", name="stdout", text="cnn_deep: 103,338 parameters"),  # flushed in two parts
        new_output("stream", name="stdout", text="\n"),
    ])
    notebook = new_notebook(cells=[parameters, noisy])
    strip_volatile_metadata(notebook)
    assert notebook.cells[0].id == "injected-parameters"
    assert [(output.name, output.text) for output in notebook.cells[1].outputs] == [
        ("stderr", "UserWarning: a warning a reader should see\n"),
        ("stdout", "I0000 is not a log line on stdout\ncnn_deep: 103,338 parameters\n")]


def test_runner_parameters_parse_like_papermill():
    from mnist_study.workflow.run_notebook import main, parse_parameter

    assert parse_parameter("3") == 3 and parse_parameter("[0, 1]") == [0, 1] and parse_parameter("null") is None
    assert parse_parameter("multi_worker") == "multi_worker"
    with pytest.raises(SystemExit):
        main(["-p", "epochs", "1"])  # parameters need the notebooks they apply to
