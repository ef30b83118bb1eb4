"""Where training runs: one device, all local devices, or several machines described by TF_CONFIG."""

from __future__ import annotations

import functools
import json
import os

STRATEGIES = ["default", "mirrored", "multi_worker"]
WORKER_TASK_TYPES = ["chief", "worker"]


class ClusterConfigError(ValueError):
    """TF_CONFIG is missing or does not describe a cluster this process belongs to."""


def read_cluster_config(environ: dict | None = None) -> dict | None:
    """Parse and check TF_CONFIG; None when it is unset. Raises ClusterConfigError naming what is wrong."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    if text is None or not text.strip():
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClusterConfigError(f"TF_CONFIG: not JSON ({error}); expected e.g. "
                                 '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                 '"task": {"type": "worker", "index": 0}}') from error
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or not config["cluster"]:
        raise ClusterConfigError('TF_CONFIG: no "cluster"; expected an object mapping task types to '
                                 '"host:port" lists, e.g. {"worker": ["host1:12345", "host2:12345"]}')
    cluster = config["cluster"]
    for task_type, addresses in cluster.items():
        if task_type not in WORKER_TASK_TYPES:
            raise ClusterConfigError(f"TF_CONFIG: cluster task type {task_type!r} is not supported; "
                                     f"expected some of {WORKER_TASK_TYPES}")
        if not isinstance(addresses, list) or not addresses or \
                not all(isinstance(address, str) and address.rpartition(":")[2].isdigit() for address in addresses):
            raise ClusterConfigError(f'TF_CONFIG: cluster["{task_type}"] must be a non-empty list of "host:port" '
                                     f"strings, got {addresses!r}")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterConfigError('TF_CONFIG: no "task" with "type" and "index"; expected e.g. '
                                 '{"type": "worker", "index": 0}')
    if task["type"] not in cluster:
        raise ClusterConfigError(f"TF_CONFIG: task type {task['type']!r} is not in the cluster {sorted(cluster)}")
    index, size = task["index"], len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ClusterConfigError(f"TF_CONFIG: task index {index!r} is out of range; the cluster has {size} "
                                 f"{task['type']}(s), so expected 0 to {size - 1}")
    return config


def is_chief(environ: dict | None = None) -> bool:
    """True unless TF_CONFIG names this process as a non-chief worker: only the chief writes results."""
    config = read_cluster_config(environ)
    if config is None:
        return True
    task_type, index = config["task"]["type"], config["task"]["index"]
    if "chief" in config["cluster"]:
        return task_type == "chief"
    return index == 0  # without a "chief" task, worker 0 is the chief, as in TensorFlow


def distribution_strategy(name: str):
    """"default": one device. "mirrored": synchronous data parallelism over all local GPUs or, without GPUs,
    all logical CPU devices. "multi_worker": the same across the machines that TF_CONFIG lists."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy: unknown {name!r}; expected one of {STRATEGIES}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        return _multi_worker_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])


@functools.cache
def _multi_worker_strategy():
    # One per process: the strategy starts this worker's gRPC server, which cannot be started twice.
    import tensorflow as tf

    if read_cluster_config() is None:
        raise ClusterConfigError('strategy "multi_worker": TF_CONFIG is not set; set it on every worker before '
                                 "Python starts (see the README, 'Several machines')")
    _patch_keras_for_multi_worker()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _patch_keras_for_multi_worker() -> None:
    """Mend two places where Keras 3's TensorFlow trainer fails under MultiWorkerMirroredStrategy.

    Upstream: keras-team/keras#20585 (open). `fit` reduces the first input batch across workers to build the
    model, which MultiWorkerMirroredStrategy cannot do for a tuple, and reduces the per-step metrics (scalars)
    along axis 0. Here the build uses this worker's own first batch, and scalars are averaged across workers,
    so every worker sees the same loss (and early stopping decides the same on all of them).
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_mnist_study_multi_worker_patch", False):
        return
    original_reduce = trainer.reduce_per_replica
    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    def reduce_per_replica(values, strategy, reduction):
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is not None and strategy is not None and trainer._collective_all_reduce_multi_worker(strategy):
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda value: strategy.experimental_local_results(value)[0],
                                                next(batches))
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._mnist_study_multi_worker_patch = True
