"""results/pending.json: make check-results passes only when it lists exactly the stale notebooks, and both
READMEs say what is pending first; a run that stops early names where, and declares what is still stale."""

import json
import logging

import papermill
import pytest

from mnist_study.workflow import notebook_execution, run_notebook
from mnist_study.workflow.fingerprints import input_fingerprint
from mnist_study.workflow.pending import notice, read_pending, with_notice
from mnist_study.workflow.run_notebook import check, existing_notebooks, run_notebooks

KERNEL_CLIENT_LOGGERS = ("papermill", "asyncio")


@pytest.fixture(autouse=True)
def _kernel_client_loggers_restored():
    """A stop quiets these loggers for the rest of the runner's process; the tests after it keep them."""
    levels = {name: logging.getLogger(name).level for name in KERNEL_CLIENT_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def results(tmp_path):
    """A results folder in which only 00's metrics are fresh: every other notebook is stale (its metrics missing)."""
    (tmp_path / "metrics").mkdir()
    metrics = {"notebook": "00_data_exploration", "provenance": {"commit": None, "wall_time_s": 12.0},
               "fingerprint": input_fingerprint("00_data_exploration")}
    (tmp_path / "metrics" / "00_data_exploration.json").write_text(json.dumps(metrics))
    (tmp_path / "README.md").write_text("# Results\n\nThe table.\n")
    return tmp_path


def _declare(results, names):
    entries = {name: {"stale_since": "uncommitted changes", "results_commit": None, "changed": ["x (changed)"]}
               for name in names}
    (results / "pending.json").write_text(json.dumps({"pending": entries}))
    (results / "README.md").write_text(with_notice((results / "README.md").read_text(), entries))


def test_an_exact_declaration_passes(results, capsys):
    stale = existing_notebooks()[1:]
    _declare(results, stale)
    assert check(results) == 0
    assert "results are up to date for 1 notebook(s); re-run declared pending for 01_feedforward" \
        in capsys.readouterr().out


def test_a_stale_notebook_missing_from_the_declaration_fails(results, capsys):
    _declare(results, existing_notebooks()[1:-1])
    assert check(results) == 1
    out = capsys.readouterr().out
    assert "stale: results of 09_summary: " in out and "(not declared in results/pending.json)" in out
    assert "01_feedforward" not in out


def test_a_fresh_notebook_in_the_declaration_fails(results, capsys):
    _declare(results, existing_notebooks())
    assert check(results) == 1
    assert "results/pending.json lists 00_data_exploration, but its results are fresh; run 'make pending'" \
        in capsys.readouterr().out


def test_no_declaration_fails_naming_every_stale_notebook(results, capsys):
    assert check(results) == 1
    out = capsys.readouterr().out
    assert all(f"stale: results of {name}:" in out for name in existing_notebooks()[1:])


def test_a_readme_without_the_notice_fails(results, capsys):
    _declare(results, existing_notebooks()[1:])
    (results / "README.md").write_text("# Results\n\nThe table.\n")
    assert check(results) == 1
    assert "its pending notice does not match results/pending.json" in capsys.readouterr().out


def test_the_notice_sits_under_the_title_and_goes_when_nothing_is_pending():
    pending = {"03_cnn_architectures": {"stale_since": "0123456789abcdef"}}
    text = with_notice("# Results\n\nThe table.\n", pending)
    assert text.startswith("# Results\n\n<!-- pending-rerun -->\n> **Re-run pending.**")
    assert "> - `03_cnn_architectures`, stale since commit `0123456789`" in text and text.endswith("The table.\n")
    assert with_notice(text, pending) == text  # idempotent
    assert with_notice(text, {}) == "# Results\n\nThe table.\n" and notice({}) == ""


def test_a_declaration_without_its_pending_mapping_is_refused_by_name(results):
    # "pending" is the key the project's before-stop hook counts; the old "notebooks" key would count as one entry
    (results / "pending.json").write_text(json.dumps({"notebooks": {}}))
    with pytest.raises(ValueError, match=r"pending\.json: expected an object with a 'pending' mapping"):
        read_pending(results)
    (results / "pending.json").write_text(json.dumps({"pending": {}}))
    assert read_pending(results) == {}


def test_a_failing_notebook_stops_the_run_and_declares_what_is_stale(results, monkeypatch, capsys):
    ran = []

    def execute(name, results_dir, parameters=None, **options):
        ran.append(name)
        error = papermill.PapermillExecutionError(0, 1, "", "ValueError", "epochs: expected a positive integer", [])
        raise error

    monkeypatch.setattr(run_notebook, "execute", execute)
    assert run_notebooks(results_dir=results) == 1
    assert ran == ["01_feedforward"]  # 00 is fresh: skipped; the first failure stops the run
    err = capsys.readouterr().err
    assert "stopped in 01_feedforward: failed with ValueError: epochs: expected a positive integer" in err
    assert f"the kernel's output: {results / '.logs' / '01_feedforward.log'}" in err
    assert "results/ is untouched for 01_feedforward" in err
    assert "still stale (written to results/pending.json): 01_feedforward, 02_lenet5" in err
    assert list(read_pending(results)) == existing_notebooks()[1:]
    assert check(results) == 0  # the declaration it wrote is exact
    assert "Traceback" not in err


def test_an_interrupt_ends_with_a_few_lines_and_status_130(results, monkeypatch, capsys):
    def execute(name, results_dir, parameters=None, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_notebook, "execute", execute)
    assert run_notebooks(results_dir=results) == 130
    err = capsys.readouterr().err
    assert "stopped in 01_feedforward: interrupted (Ctrl-C)" in err and len(err.strip().splitlines()) == 3


def test_sigterm_ends_with_status_143_and_quiets_the_kernel_client_tasks_it_leaves(results, monkeypatch, capsys):
    def execute(name, results_dir, parameters=None, **options):
        raise run_notebook.Stopped("terminated (SIGTERM)")

    monkeypatch.setattr(run_notebook, "execute", execute)
    assert run_notebooks(results_dir=results) == 143
    # Where the kernel's own traceback of the stopped cell, and "Task exception was never retrieved", go.
    assert not any(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in KERNEL_CLIENT_LOGGERS)
    err = capsys.readouterr().err
    assert "stopped in 01_feedforward: terminated (SIGTERM)" in err and len(err.strip().splitlines()) == 3


def test_progress_names_the_position_and_the_time_left(results, monkeypatch, capsys):
    metrics = {"notebook": "01_feedforward", "provenance": {"commit": None, "wall_time_s": 600.0},
               "fingerprint": input_fingerprint("01_feedforward"),
               "trained_runs": [{"train_time_s": 500.0, "reused_from": None, "training_code": "old code"},
                                {"train_time_s": 100.0, "reused_from": "published", "training_code": "old code"}]}
    (results / "metrics" / "01_feedforward.json").write_text(json.dumps(metrics))
    monkeypatch.setattr(run_notebook, "execute", lambda name, results_dir, parameters=None, **options: None)
    monkeypatch.setattr(run_notebook, "training_code_fingerprint", lambda: "old code")
    assert run_notebooks(["01_feedforward", "02_lenet5"], results_dir=results) == 0
    out = capsys.readouterr().out
    # Training code unchanged: the 500 s it trained are reused; 02 has no last run.
    assert "==> [1/2] 01_feedforward: expected 1.7 min (from its last run); time left for the whole run about " \
           "1.7 min and more (notebooks without a last run, or changed since)" in out
    assert "==> [2/2] 02_lenet5: expected unknown" in out
    monkeypatch.setattr(run_notebook, "training_code_fingerprint", lambda: "new code")
    assert run_notebooks(["01_feedforward"], results_dir=results) == 0
    assert "expected 11.7 min" in capsys.readouterr().out  # all of it trains again: 600 s + the 100 s reused
    metrics["fingerprint"]["notebooks/01_feedforward.ipynb"] = "an older notebook"
    (results / "metrics" / "01_feedforward.json").write_text(json.dumps(metrics))
    assert run_notebooks(["01_feedforward"], results_dir=results) == 0
    assert "(from its last run, but the notebook has changed since: it may train more); time left for the whole " \
           "run about 11.7 min and more (notebooks without a last run, or changed since)" in capsys.readouterr().out


def test_each_published_notebook_leaves_the_declaration_exact(results, monkeypatch):
    declared_when_started = {}

    def execute(name, results_dir, parameters=None, **options):
        declared_when_started[name] = list(read_pending(results_dir))
        if name == "01_feedforward":  # published: fresh metrics
            metrics = {"notebook": name, "provenance": {"commit": None, "wall_time_s": 1.0},
                       "fingerprint": input_fingerprint(name)}
            (results_dir / "metrics" / f"{name}.json").write_text(json.dumps(metrics))
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_notebook, "execute", execute)
    assert run_notebooks(results_dir=results) == 130
    # What 02 found when it started, had someone committed then: 01 no longer declared.
    assert "01_feedforward" not in declared_when_started["02_lenet5"]
    assert declared_when_started["02_lenet5"] == existing_notebooks()[2:]


def test_a_notebook_whose_inputs_changed_while_it_ran_publishes_nothing(tmp_path, monkeypatch):
    # The kernel imported the code as it was when it started; an edit since would label its results with code
    # it never ran. Here training.py read otherwise at the start, and every other input as it does now.
    at_start = {**notebook_execution.input_fingerprint("01_feedforward"),
                "src/mnist_study/core/training.py": "the digest at the start"}
    monkeypatch.setattr(notebook_execution, "input_fingerprint", lambda name: at_start)

    def execute_into(name, folder, parameters, kernel_name, shown_results, **options):
        (folder / "metrics").mkdir(parents=True)
        (folder / "metrics" / f"{name}.json").write_text("{}")

    monkeypatch.setattr(notebook_execution, "_execute_into", execute_into)
    with pytest.raises(notebook_execution.InputsChanged, match=r"01_feedforward's inputs changed while it ran "
                       r"\(src/mnist_study/core/training.py \(changed\)\): nothing of it was published; run it again"):
        notebook_execution.execute("01_feedforward", results_dir=tmp_path)
    assert not (tmp_path / "metrics").exists() and not (tmp_path / ".staging" / "01_feedforward").exists()
