"""Training throughput with 1 and 2 local workers (MultiWorkerMirroredStrategy over 127.0.0.1), for make bench.

Each worker is a fresh process with its own TF_CONFIG; the global batch is split between them. On one machine
the workers share its cores, so the point is what the all-reduce costs, not a speed-up.

    python -m mnist_study.bench.benchmark_workers          # prints the JSON it measures
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

MODEL = "cnn_batchnorm"
IMAGES = 12_800  # 100 global batches of 128 per epoch
EPOCHS = 4  # the first (tracing) is dropped, the median of the rest kept
TIMEOUT_S = 600

WORKER = textwrap.dedent("""
    import json, statistics, sys, time
    import keras
    from mnist_study.core.data import load_dataset, prepare_images
    from mnist_study.core.distributed import distribution_strategy
    from mnist_study.core.models import build_model
    from mnist_study.core.training import set_seed
    model_name, images_count, epochs, strategy_name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    strategy = distribution_strategy(strategy_name)
    set_seed(0)
    data = load_dataset("mnist")
    images, labels = prepare_images(data.train_images[:images_count]), data.train_labels[:images_count]
    with strategy.scope():
        model = build_model(model_name)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seconds = []
    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.clock = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.clock)
    model.fit(images, labels, batch_size=128, epochs=epochs, verbose=0, callbacks=[Timer()])
    print(json.dumps({"images_per_s": statistics.median(images_count / s for s in seconds[1:])}))
""")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_together(commands: list[tuple[list[str], dict]], timeout_s: float) -> list[dict]:
    """Start every (command, environment) at once and wait for all; each one's last stdout line, as JSON.

    A process that fails raises RuntimeError with its stderr's end; on a timeout or an error every process still
    running is killed, so no worker is left waiting for a peer that will not come.
    """
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command, env in commands]
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout_s)
            if process.returncode != 0:
                raise RuntimeError(f"worker process failed:\n{stderr[-3000:]}")
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outputs


def _run(workers: int) -> float:
    """Global training images/s of MODEL with `workers` local processes (1: no cluster at all)."""
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(workers)]
    base = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    commands = []
    for index in range(workers):
        env = dict(base)
        strategy = "default"
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                           "task": {"type": "worker", "index": index}})
            strategy = "multi_worker"
        command = [sys.executable, "-c", WORKER, MODEL, str(IMAGES), str(EPOCHS), strategy]
        commands.append((command, env))
    rates = [output["images_per_s"] for output in run_together(commands, TIMEOUT_S)]
    # Every worker times the same global steps, so they agree to within noise; the slowest sets the pace.
    return min(rates)


def worker_throughput() -> dict:
    """Training images/s of MODEL with one process and with two local workers, and their ratio."""
    one, two = _run(1), _run(2)
    return {"model": MODEL, "global_batch": 128, "one_worker_images_per_s": one, "two_workers_images_per_s": two,
            "speed_up": two / one, "cpu_count": os.cpu_count()}


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(worker_throughput(), indent=2))
