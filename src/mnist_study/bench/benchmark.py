"""Benchmark of the study's own code: throughput, FLOP/s against the machine's matmul peak, time to accuracy.

    python -m mnist_study.bench.benchmark            # what `make bench` runs; writes results/benchmarks/
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mnist_study.bench.benchmark_epochs import (
    PROFILED_MODELS,
    as_json,
    cpu_features,
    lever_table,
    read_cpu_counters,
    stolen_share,
    xla_probe,
)
from mnist_study.bench.benchmark_report import markdown_section, splice_section, throughput_figure
from mnist_study.bench.benchmark_workers import worker_throughput
from mnist_study.bench.measure import build_in_precision, mnist_dataset, prepared_mnist, steady_images_per_s
from mnist_study.study.training_cost import TRAIN_FLOPS_PER_FORWARD, committed_training_cost, forward_flops_per_image
from mnist_study.workflow.fingerprints import PROJECT_ROOT
from mnist_study.workflow.provenance import provenance, write_json

BENCH_DIR = PROJECT_ROOT / "results" / "benchmarks"
STUDY_METRICS = PROJECT_ROOT / "results" / "metrics" / "03_cnn_architectures.json"  # records the recipe 03 chose
MODELS = ["feedforward", "lenet5", "cnn_minimal", "cnn_deep", "cnn_regularized", "cnn_batchnorm", "fashion_cnn",
          "resnet_mini", "mobilenet_mini"]


def matmul_peak_gflops(size: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    """Best GFLOP/s of a size x size matrix product through TensorFlow: the attainable peak here.

    "bfloat16" is the peak that the notebooks' mixed precision can reach (AVX512-BF16 doubles it on CPUs with it).
    """
    import tensorflow as tf

    a = tf.cast(tf.random.normal((size, size), seed=1), dtype)
    b = tf.cast(tf.random.normal((size, size), seed=2), dtype)
    product = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    product(a, b).numpy()  # trace and warm up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        timings.append(time.perf_counter() - start)
    return 2 * size**3 / min(timings) / 1e9


def model_throughput(model_name: str, batch_size: int = 128, block_steps: int = 40, blocks: int = 5,
                     deterministic: bool = True, precision: str = "float32") -> dict:
    """Steady-state training images/s and inference images/s of one model.

    Training: one fit over `blocks` + 1 epochs of `block_steps` batches, each epoch timed by a callback; the first
    (tracing, allocation) is dropped and the median of the rest kept, so fit's own set-up is not counted.
    """
    import keras

    from mnist_study.core.models import input_side
    from mnist_study.core.training import set_seed

    if deterministic:
        set_seed(0)
    else:
        keras.utils.set_random_seed(0)
    images, labels = prepared_mnist(input_side(model_name), batch_size * block_steps)
    model = build_in_precision(model_name, precision)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    train_rate = steady_images_per_s(model, len(images), images, labels, batch_size=batch_size, epochs=blocks + 1)
    model.predict(images, batch_size=1024, verbose=0)
    infer_rates = []
    for _ in range(3):
        start = time.perf_counter()
        model.predict(images, batch_size=1024, verbose=0)
        infer_rates.append(len(images) / (time.perf_counter() - start))
    forward = forward_flops_per_image(model)
    infer_rate = statistics.median(infer_rates)
    keras.backend.clear_session()
    return {
        "parameters": model.count_params(),
        "forward_flops_per_image": forward,
        "train_images_per_s": train_rate,
        "inference_images_per_s": infer_rate,
        "train_gflops_per_s": TRAIN_FLOPS_PER_FORWARD * forward * train_rate / 1e9,
        "inference_gflops_per_s": forward * infer_rate / 1e9,
    }


def throughput_both_precisions(model_name: str) -> dict:
    """Float32 numbers (compared with the float32 peak) plus training as the notebooks run it, mixed bfloat16."""
    result = model_throughput(model_name)
    bfloat16 = model_throughput(model_name, precision="mixed_bfloat16")
    result["bfloat16_train_images_per_s"] = bfloat16["train_images_per_s"]
    result["bfloat16_train_gflops_per_s"] = bfloat16["train_gflops_per_s"]
    return result


def build_keras_reference():
    """keras-io's `mnist_convnet` example: conv32-pool-conv64-pool-dropout(0.5)-dense10 (Adam, batch 128)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="keras_io_mnist_convnet")


def study_recipe(metrics_path: Path = STUDY_METRICS):
    """The training recipe notebook 03 chose on validation, as its committed metrics record it."""
    from mnist_study.study.experiment import config_from_parameters
    from mnist_study.workflow.provenance import read_json

    return config_from_parameters(read_json(metrics_path)["provenance"]["parameters"]).recipe


def time_to_accuracy(recipe: str, target: float = 0.99, eval_every: int = 200, max_epochs: int = 12) -> dict:
    """Training wall time (evaluations excluded) until validation accuracy first reaches `target`.

    "study": the regularized CNN under the recipe notebook 03 chose (optimizer, schedule over its epochs, label
    smoothing, batch size, precision), read from its committed metrics;
    "reference": keras-io's mnist_convnet as published (float32, Adam at a constant learning rate, batch 128).
    """
    import keras

    from mnist_study.core.training import TrainingRecipe, build_optimizer, set_seed
    from mnist_study.study.experiment import ExperimentConfig, prepare_split

    set_seed(0)
    config = ExperimentConfig(dataset="mnist", seeds=[0], recipe=TrainingRecipe(epochs=1))
    split = prepare_split(mnist_dataset(), config, 0, 28)
    if recipe == "study":
        chosen = study_recipe()
        batch_size, smoothing = chosen.batch_size, chosen.label_smoothing
        model = build_in_precision("cnn_regularized", chosen.precision)
        optimizer = build_optimizer(chosen, int(np.ceil(len(split.train_images) / batch_size)))
    else:
        batch_size, smoothing = 128, 0.0
        model = build_keras_reference()
        optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing))
    targets = keras.utils.to_categorical(split.train_labels, 10)

    class StopAtTarget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.training_time, self.steps, self.reached = 0.0, 0, None
            self.curve: list[tuple[float, float]] = []

        def on_train_begin(self, logs=None):
            self.clock = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps % eval_every:
                return
            self.training_time += time.perf_counter() - self.clock
            probabilities = self.model.predict(split.validation_images, batch_size=1024, verbose=0)
            accuracy = float(np.mean(probabilities.argmax(axis=1) == split.validation_labels))
            self.curve.append((round(self.training_time, 2), accuracy))
            if accuracy >= target and self.reached is None:
                self.reached = self.training_time
                self.model.stop_training = True
            self.clock = time.perf_counter()

    stopper = StopAtTarget()
    model.fit(split.train_images, targets, batch_size=batch_size, epochs=max_epochs, verbose=0,
              callbacks=[stopper])
    return {"model": model.name, "seconds_to_target": stopper.reached, "steps": stopper.steps,
            "target": target, "curve": stopper.curve}


def dataset_loading_seconds(repeats: int = 3) -> dict:
    from mnist_study.core.data import load_dataset

    timings = {}
    for name in ("mnist", "fashion_mnist"):
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            load_dataset(name)
            runs.append(time.perf_counter() - start)
        timings[name] = statistics.median(runs)
    return timings


def _in_fresh_process(arguments: list[str]) -> dict:
    """Run this module with `arguments` in a new interpreter (TF settings cannot be undone in-process)."""
    completed = subprocess.run([sys.executable, "-m", "mnist_study.bench.benchmark", *arguments],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def notebook_peak_memory_mb(notebook: str = "01_feedforward") -> dict:
    """Peak resident memory of the kernel running a full training notebook (default parameters)."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", "--log-level", "ERROR", "-k", "mnist-study",
                        str(PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb"), str(Path(folder, "out.ipynb")),
                        "--cwd", str(PROJECT_ROOT / "notebooks"), "-p", "results_dir", folder],
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
    # ru_maxrss of waited-for descendants, in KiB on Linux: the kernel is the largest of them.
    return {"notebook": notebook, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "wall_time_s": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe-determinism", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--probe-xla", choices=PROFILED_MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.probe_xla:
        print(json.dumps(xla_probe(args.probe_xla)))
        return 0
    if args.probe_determinism:
        result = model_throughput("cnn_regularized", blocks=3, deterministic=args.probe_determinism == "on")
        print(json.dumps(result))
        return 0

    from mnist_study.reports.plots import save_figure

    started_at, start = datetime.now(UTC), time.perf_counter()
    counters_at_start = read_cpu_counters()
    print("benchmark: float32 and bfloat16 matmul peaks", flush=True)
    peak, bfloat16_peak = matmul_peak_gflops(), matmul_peak_gflops(dtype="bfloat16")
    models = {}
    for name in MODELS:
        print(f"benchmark: throughput of {name}", flush=True)
        models[name] = throughput_both_precisions(name)
    print(f"benchmark: cheaper-epoch levers on {', '.join(PROFILED_MODELS)}", flush=True)
    levers = lever_table()
    xla = {name: _in_fresh_process(["--probe-xla", name]) for name in PROFILED_MODELS}
    print("benchmark: time to 99% validation accuracy (study, then keras-io reference)", flush=True)
    study, reference = time_to_accuracy("study"), time_to_accuracy("reference")
    ratio = (study["seconds_to_target"] / reference["seconds_to_target"]
             if study["seconds_to_target"] and reference["seconds_to_target"] else None)
    print("benchmark: op determinism on/off, dataset loading, notebook memory", flush=True)
    on, off = _in_fresh_process(["--probe-determinism", "on"]), _in_fresh_process(["--probe-determinism", "off"])
    print("benchmark: one process against two local workers", flush=True)
    workers = worker_throughput()
    print("benchmark: training cost of the committed notebook runs", flush=True)
    cost = committed_training_cost({name: result["forward_flops_per_image"] for name, result in models.items()},
                                   PROJECT_ROOT / "results" / "metrics")
    report = {
        "matmul_peak_gflops": peak,
        "bfloat16_matmul_peak_gflops": bfloat16_peak,
        "models": models,
        "training_cost": cost,
        "time_to_accuracy": {"study": study, "reference": reference, "ratio": ratio, "eval_every": 200},
        "determinism": {"on_images_per_s": on["train_images_per_s"], "off_images_per_s": off["train_images_per_s"],
                        "slowdown": off["train_images_per_s"] / on["train_images_per_s"]},
        "dataset_loading_s": dataset_loading_seconds(),
        "memory": notebook_peak_memory_mb(),
        "workers": workers,
        "epoch_levers": as_json(levers, xla, cpu_features()),
        "cpu_stolen_share": stolen_share(counters_at_start, read_cpu_counters()),
    }
    report["provenance"] = provenance([0], {"models": MODELS}, started_at, time.perf_counter() - start)
    write_json(report, BENCH_DIR / "benchmarks.json")
    save_figure(throughput_figure(models, peak, bfloat16_peak), BENCH_DIR / "throughput.png")
    section = markdown_section(report)
    (BENCH_DIR / "section.md").write_text(section + "\n")
    splice_section(PROJECT_ROOT / "results" / "README.md", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
