"""Training under MirroredStrategy over two logical CPU devices reaches the single-device accuracy range."""

import json
import subprocess
import sys
import textwrap

import pytest

from mnist_study.core.distributed import distribution_strategy

# Logical devices must be configured before TensorFlow initializes its runtime, so this runs in a fresh process.
SCRIPT = textwrap.dedent("""
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mnist_study.core.data import load_dataset
    from mnist_study.study.experiment import ExperimentConfig, prepare_split
    from mnist_study.core.distributed import distribution_strategy
    from mnist_study.core.training import TrainingRecipe, train_model
    data = load_dataset("mnist")
    split = prepare_split(data, ExperimentConfig(dataset="mnist", seeds=[0], recipe=TrainingRecipe(epochs=1),
                                                      train_subset=2000), 0, 28)
    accuracy = {}
    for strategy in ("default", "mirrored"):
        result = train_model("feedforward", split, TrainingRecipe(epochs=3, batch_size=64, strategy=strategy), seed=0)
        accuracy[strategy] = result.history["val_accuracy"][-1]
    replicas = distribution_strategy("mirrored").num_replicas_in_sync
    print(json.dumps({"accuracy": accuracy, "replicas": replicas}))
""")


def test_mirrored_strategy_over_two_cpu_devices_trains_like_one():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["accuracy"]["default"] > 0.85
    assert result["accuracy"]["mirrored"] == pytest.approx(result["accuracy"]["default"], abs=0.03)


def test_unknown_strategy():
    expected = r"strategy: unknown 'tpu'; expected one of \['default', 'mirrored', 'multi_worker'\]"
    with pytest.raises(ValueError, match=expected):
        distribution_strategy("tpu")
