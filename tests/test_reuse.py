"""Training fingerprints: what changes them and what does not; a session finds runs in memory, published results
and the cache, and only where they can serve the caller."""

import json

import numpy as np
import pytest

from mnist_study.core.training import TrainingRecipe
from mnist_study.workflow.fingerprints import (
    array_digest,
    code_digest,
    run_settings,
    training_fingerprint,
    training_modules,
)
from mnist_study.workflow.reuse import ReuseSession
from mnist_study.workflow.trained_run import TrainedRun

SOURCE = '''"""Module docstring."""
from mnist_study.core.models import build_model


def train(x):
    """Train."""
    return build_model(x) + 1  # a comment
'''


def test_code_digest_ignores_comments_docstrings_layout_and_import_paths():
    moved = SOURCE.replace("from mnist_study.core.models import", "from mnist_study.core.models import")
    reworded = SOURCE.replace('"""Train."""', '"""Train the model, reworded."""').replace("# a comment", "")
    relative = SOURCE.replace("from mnist_study.core.models import", "from .models import")
    assert code_digest(SOURCE) == code_digest(moved) == code_digest(reworded) == code_digest(relative)
    assert code_digest(SOURCE) == code_digest(SOURCE.replace("return build_model(x) + 1", "return (build_model(x)\n"
                                                                                           "        + 1)"))


def test_code_digest_changes_with_what_the_code_computes():
    assert code_digest(SOURCE) != code_digest(SOURCE.replace("+ 1", "+ 2"))
    assert code_digest(SOURCE) != code_digest(SOURCE.replace("import build_model", "import build_model as build")
                                              .replace("return build_model", "return build"))
    assert code_digest(SOURCE) != code_digest(SOURCE.replace("from mnist_study.core.models", "from keras"))


def test_the_training_code_is_found_from_the_import_graph():
    modules = training_modules()
    # The entry points' modules and what they import, and nothing that only reports or plots.
    assert modules == ["core.augmentation", "core.data", "core.distributed", "core.inference", "core.models",
                       "core.training"]  # and nothing that only reports or plots, nor a docstring-only __init__


def test_the_entry_points_are_where_the_fingerprint_looks():
    from mnist_study.core import data, inference, training
    from mnist_study.workflow.fingerprints import TRAINING_ENTRY_POINTS

    for module in (data, inference, training):
        name = module.__name__.removeprefix("mnist_study.")
        assert getattr(module, TRAINING_ENTRY_POINTS[name]).__module__ == module.__name__


def _settings(**changes):
    arguments = {"model_name": "cnn_minimal", "dataset": "mnist", "recipe": TrainingRecipe(epochs=2), "seed": 0,
                 "validation_fraction": 0.1, "train_subset": 300, "model_kwargs": None, "num_classes": 10}
    return run_settings(**{**arguments, **changes})


def test_every_setting_of_a_run_is_in_its_fingerprint():
    base = training_fingerprint(_settings(), code="c")
    assert base == training_fingerprint(_settings(), code="c")
    variants = [_settings(seed=1), _settings(model_name="cnn_deep"), _settings(recipe=TrainingRecipe(epochs=3)),
                _settings(recipe=TrainingRecipe(epochs=2, augmentation="digits")), _settings(train_subset=None),
                _settings(validation_fraction=0.2), _settings(model_kwargs={"filters": 16}),
                _settings(dataset="fashion_mnist")]
    fingerprints = {training_fingerprint(settings, code="c") for settings in variants}
    assert len(fingerprints) == len(variants) and base not in fingerprints
    assert training_fingerprint(_settings(), code="other code") != base


def _run(fingerprint="f" * 64, probabilities=None) -> TrainedRun:
    settings = _settings()
    run = TrainedRun(fingerprint, settings, {"val_accuracy": [0.5, 0.6], "val_loss": [1.0, 0.9]}, 2, 2, 1.5, 100,
                     {"notebook": "01_feedforward", "commit": "abc"}, test_probabilities=probabilities)
    if probabilities is not None:
        run.digests["test_probabilities"] = array_digest(probabilities)
    return run


def test_a_published_run_is_found_with_its_probabilities_by_content(tmp_path):
    probabilities = np.random.default_rng(0).random((2, 50, 10)).astype(np.float32)
    (tmp_path / "probabilities").mkdir()
    np.save(tmp_path / "probabilities" / "mnist_cnn_minimal.npy", probabilities)
    published = _run(probabilities=probabilities[1])
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "01_feedforward.json").write_text(json.dumps({"trained_runs": [published.record()]}))
    session = ReuseSession("01_feedforward", tmp_path, tmp_path / "cache")
    found = session.find(published.fingerprint, need_test=True, need_model=False)
    assert found.reused_from == "published" and found.history == published.history
    np.testing.assert_array_equal(found.test_probabilities, probabilities[1])
    # No model was published for it: a caller that needs one gets nothing, and must train.
    assert session.find(published.fingerprint, need_test=True, need_model=True) is None
    assert session.find("0" * 64, need_test=False, need_model=False) is None
    # Another notebook's published runs are not this one's.
    assert ReuseSession("02_lenet5", tmp_path, None).find(published.fingerprint, False, False) is None
    # retrain: nothing is reused.
    assert ReuseSession("01_feedforward", tmp_path, None, retrain=True).find(published.fingerprint, False, False) \
        is None


def test_a_published_run_whose_probabilities_are_gone_is_not_reused(tmp_path):
    published = _run(probabilities=np.ones((50, 10), dtype=np.float32) / 10)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "probabilities").mkdir()
    (tmp_path / "metrics" / "01_feedforward.json").write_text(json.dumps({"trained_runs": [published.record()]}))
    session = ReuseSession("01_feedforward", tmp_path, None)
    assert session.find(published.fingerprint, need_test=True, need_model=False) is None
    assert session.find(published.fingerprint, need_test=False, need_model=False).reused_from == "published"


def test_a_cached_run_is_written_whole_and_found_again(tmp_path):
    session = ReuseSession("01_feedforward", tmp_path, tmp_path / "cache")
    run = _run(probabilities=np.full((50, 10), 0.1, dtype=np.float32))
    session.add(run, cache=True)
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == [run.fingerprint]  # no scratch left
    again = ReuseSession("01_feedforward", tmp_path, tmp_path / "cache")
    found = again.find(run.fingerprint, need_test=True, need_model=False)
    assert found.reused_from == "cache" and found.train_time_s == 1.5 and found.trained == run.trained
    np.testing.assert_array_equal(found.test_probabilities, run.test_probabilities)
    assert again.find(run.fingerprint, need_test=False, need_model=True) is None  # it kept no model


def test_the_session_summary_counts_trained_and_reused_runs(tmp_path):
    session = ReuseSession("01_feedforward", None, None)
    session.add(_run("a" * 64), cache=False)
    reused = _run("b" * 64)
    reused.reused_from = "cache"
    session.add(reused, cache=False)
    assert session.summary() == "2 training run(s): 1 trained, 1 reused"
    assert [record["reused_from"] for record in session.trained_runs()] == [None, "cache"]


def test_retrain_must_be_a_boolean(tmp_path):
    from mnist_study.workflow.reuse import open_session

    with pytest.raises(ValueError, match="retrain: expected True or False, got 'yes'"):
        open_session("01_feedforward", tmp_path, retrain="yes")


def test_a_session_pins_the_training_code_and_commit_it_opened_with(tmp_path, monkeypatch):
    """A run trained after an edit (or a commit) mid-notebook is labelled with the code the kernel imported."""
    from datetime import UTC, datetime

    from mnist_study.workflow import reuse, training_runs

    monkeypatch.setattr(reuse, "training_code_fingerprint", lambda: "code at the start")
    monkeypatch.setattr(reuse, "machine", lambda: {"commit": "commit at the start"})
    session = reuse.open_session("01_feedforward", tmp_path)
    try:
        monkeypatch.setattr(reuse, "machine", lambda: {"commit": "a later commit"})
        monkeypatch.setattr(training_runs, "training_code_fingerprint", lambda: "edited code")
        assert session.training_code == "code at the start" == training_runs._training_code()
        provenance = reuse.training_provenance(session, datetime(2026, 1, 1, tzinfo=UTC))
        assert provenance == {"notebook": "01_feedforward", "commit": "commit at the start",
                              "started_at": "2026-01-01T00:00:00+00:00"}
    finally:
        reuse.close_session()
    assert training_runs._training_code() == "edited code"  # no session: the files as they are
    assert reuse.training_provenance(None, datetime(2026, 1, 1, tzinfo=UTC))["commit"] == "a later commit"


def test_a_computation_is_reused_until_its_inputs_change(tmp_path):
    from mnist_study.workflow.fingerprints import computation_fingerprint

    calls = []

    def compute():
        calls.append(1)
        return {"accuracy": [0.5, 0.75]}

    images = np.arange(12, dtype=np.uint8).reshape(3, 4)
    inputs = {"images": images, "k": [1, 5]}
    session = ReuseSession("08_label_errors_and_new_writers", tmp_path, tmp_path / "cache")
    assert session.computed("curve", ["analysis.few_labels"], inputs, compute) == {"accuracy": [0.5, 0.75]}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "08_label_errors_and_new_writers.json").write_text(
        json.dumps({"computations": session.computation_records()}))
    again = ReuseSession("08_label_errors_and_new_writers", tmp_path, tmp_path / "cache")
    assert again.computed("curve", ["analysis.few_labels"], inputs, compute) == {"accuracy": [0.5, 0.75]}
    assert len(calls) == 1
    assert again.computation_records()["curve"]["reused_from"] == "published"
    changed = {"images": images + 1, "k": [1, 5]}
    assert computation_fingerprint(["analysis.few_labels"], changed) != \
        computation_fingerprint(["analysis.few_labels"], inputs)
    again.computed("curve", ["analysis.few_labels"], changed, compute)
    assert len(calls) == 2
    # The cache keeps it too, for a notebook interrupted before it published.
    cached = ReuseSession("08_label_errors_and_new_writers", None, tmp_path / "cache")
    cached.computed("curve", ["analysis.few_labels"], changed, compute)
    assert len(calls) == 2 and cached.computation_records()["curve"]["reused_from"] == "cache"
    ReuseSession("08_label_errors_and_new_writers", tmp_path, tmp_path / "cache", retrain=True).computed(
        "curve", ["analysis.few_labels"], inputs, compute)
    assert len(calls) == 3


def test_budgets_branch_once_reuse_what_was_trained_and_match_a_run_of_that_length_alone(tmp_path, mnist):
    """The budgets of a warmup-stable-decay run: a branch is cached under the fingerprint of the run of that length
    alone, a longer budget list retrains only from the stable phase, and a standalone run finds the branch."""
    from mnist_study.core.data import prepare_images
    from mnist_study.workflow import reuse
    from mnist_study.workflow.training_runs import train_budgets_or_reuse, train_or_reuse

    recipe = TrainingRecipe(epochs=3, lr_schedule="wsd", decay_fraction=0.4)
    test_images = prepare_images(mnist.test_images[:50])
    common = {"dataset": "mnist", "recipe": recipe, "seed": 0, "validation_fraction": 0.2, "train_subset": 300,
              "test_images": test_images}
    reuse._session = ReuseSession("06_best_models", tmp_path, tmp_path / "cache")
    try:
        first = train_budgets_or_reuse("feedforward", mnist, budgets=[2, 3], **common)
        assert [run.reused_from for run in first.values()] == [None, None]
        assert all(run.model is None and run.model_file.is_file() for run in first.values())  # saved, then let go
        assert first[3].epochs_run == 3 and first[2].epochs_run == 2
        reuse._session = ReuseSession("06_best_models", tmp_path, tmp_path / "cache")
        longer = train_budgets_or_reuse("feedforward", mnist, budgets=[2, 3, 5], **common)
        assert [longer[epochs].reused_from for epochs in (2, 3, 5)] == ["cache", "cache", None]
        assert longer[5].epochs_run == 5
        alone = train_or_reuse("feedforward", mnist, dataset="mnist", recipe=recipe, seed=0, validation_fraction=0.2,
                               train_subset=300, test_images=test_images)
        assert alone.fingerprint == first[3].fingerprint and alone.reused_from == "cache"
        np.testing.assert_array_equal(alone.test_probabilities, first[3].test_probabilities)
    finally:
        reuse.close_session()


def test_a_hand_run_reads_the_published_results_and_keeps_its_runs_in_its_own_folder(tmp_path, monkeypatch):
    from mnist_study.workflow import reuse

    monkeypatch.delenv(reuse.PUBLISHED_DIR_VARIABLE, raising=False)
    try:
        session = reuse.open_session("02_lenet5", tmp_path / "scratch")  # Jupyter's Run All, say
        assert session.published_dir == reuse.PUBLISHED_RESULTS == reuse.PROJECT_ROOT / "results"
        assert session.cache_dir == tmp_path / "scratch" / reuse.CACHE_FOLDER
        assert session.published  # 02's published runs, reused by their fingerprints
        monkeypatch.setenv(reuse.PUBLISHED_DIR_VARIABLE, str(tmp_path / "results"))  # the runner's staging run
        session = reuse.open_session("02_lenet5", tmp_path / "results" / ".staging" / "02_lenet5")
        assert session.published_dir == tmp_path / "results"
        assert session.cache_dir == tmp_path / "results" / reuse.CACHE_FOLDER
    finally:
        reuse.close_session()
