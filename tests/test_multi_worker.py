"""strategy="multi_worker": TF_CONFIG is checked, two local workers train in lockstep, only the chief writes."""

import json
import os
import sys
import textwrap

import pytest
from conftest import free_local_port

from mnist_study.bench.benchmark_workers import run_together
from mnist_study.core.distributed import ClusterConfigError, is_chief, read_cluster_config
from mnist_study.workflow.notebook_execution import execute

WORKER_TIMEOUT_S = 300

# One worker (or, without TF_CONFIG, the single-machine reference): a short fit on 2,000 MNIST images, then the
# writers the notebooks use, aimed at the results folder given as argv[1].
SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from mnist_study.reports import plots
    from mnist_study.core.data import load_dataset
    from mnist_study.study.experiment import ExperimentConfig, prepare_split
    from mnist_study.workflow.provenance import write_json
    from mnist_study.core.training import TrainingRecipe, train_model
    strategy = sys.argv[2]
    recipe = TrainingRecipe(epochs=2, batch_size=64, strategy=strategy)
    config = ExperimentConfig(dataset="mnist", seeds=[0], recipe=recipe, train_subset=2000)
    split = prepare_split(load_dataset("mnist"), config, 0, 28)
    result = train_model("feedforward", split, recipe, seed=0)
    weights = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in result.model.get_weights()))
    write_json({"written": True}, f"{sys.argv[1]}/metrics/run.json")
    plots.save_figure(plots.training_curves({"run": result.history}, "curves"), f"{sys.argv[1]}/figures/curves.png")
    print(json.dumps({"weights": weights.hexdigest(), "val_accuracy": result.history["val_accuracy"],
                      "epochs": result.epochs_run}))
""")


def _tf_config(addresses: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def test_two_local_workers_train_identical_weights_in_the_single_worker_range(tmp_path):
    addresses = [f"127.0.0.1:{free_local_port()}" for _ in range(2)]
    base = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    base["TF_CPP_MIN_LOG_LEVEL"] = "2"
    commands = [([sys.executable, "-c", SCRIPT, str(tmp_path / f"worker{index}"), "multi_worker"],
                 {**base, "TF_CONFIG": _tf_config(addresses, index)}) for index in range(2)]
    chief, other = run_together(commands, WORKER_TIMEOUT_S)
    (single,) = run_together([([sys.executable, "-c", SCRIPT, str(tmp_path / "single"), "default"], base)],
                             WORKER_TIMEOUT_S)

    assert chief["weights"] == other["weights"]  # all-reduced gradients: the same model on both workers
    assert chief["val_accuracy"] == other["val_accuracy"] and chief["epochs"] == 2
    assert chief["val_accuracy"][-1] > 0.8  # chance is 0.1
    assert chief["val_accuracy"][-1] == pytest.approx(single["val_accuracy"][-1], abs=0.03)
    # Only the chief (worker 0) wrote results; the other worker left its folder untouched.
    assert sorted(path.name for path in (tmp_path / "worker0").rglob("*") if path.is_file()) == \
        ["curves.png", "run.json"]
    assert not (tmp_path / "worker1").exists()


def test_a_non_chief_worker_runs_a_notebook_without_writing_results(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    execute("00_data_exploration", results_dir=tmp_path / "results", parameters={"sample_count": 10})
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("tf_config", "message"), [
    ("{cluster: }", r"TF_CONFIG: not JSON \("),
    ('{"task": {"type": "worker", "index": 0}}', r'TF_CONFIG: no "cluster"'),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', r"task type 'ps' is not supported"),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}',
     r'cluster\["worker"\] must be a non-empty list of "host:port"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', r'TF_CONFIG: no "task" with "type" and "index"'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', r"task type 'chief' is not in the"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     r"task index 2 is out of range; the cluster has 2 worker\(s\), so expected 0 to 1"),
])
def test_a_malformed_tf_config_is_named(tf_config, message):
    with pytest.raises(ClusterConfigError, match=message):
        read_cluster_config({"TF_CONFIG": tf_config})


def test_who_is_the_chief():
    assert read_cluster_config({}) is None and is_chief({})
    assert is_chief({"TF_CONFIG": _tf_config(["a:1", "b:2"], 0)})
    assert not is_chief({"TF_CONFIG": _tf_config(["a:1", "b:2"], 1)})
    with_chief = {"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}
    assert not is_chief({"TF_CONFIG": json.dumps(with_chief)})


def test_multi_worker_without_tf_config_is_refused(monkeypatch):
    from mnist_study.core.distributed import _multi_worker_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    _multi_worker_strategy.cache_clear()
    with pytest.raises(ClusterConfigError, match='strategy "multi_worker": TF_CONFIG is not set'):
        _multi_worker_strategy()

