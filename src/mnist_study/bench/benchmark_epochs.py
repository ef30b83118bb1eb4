"""What makes a training epoch cheaper on this machine: each lever timed against the study's set-up, in one run.

The study's set-up is batch 128, mixed bfloat16, NumPy arrays into `model.fit`, op determinism on. Each lever
changes one thing. XLA needs op determinism off (Keras refuses `jit_compile` with it on), so it runs in a fresh
process; its ratio is against that process's own baseline.
"""

from __future__ import annotations

from pathlib import Path

PROFILED_MODELS = ["cnn_batchnorm", "fashion_cnn"]
STUDY_EPOCH_IMAGES = 54_000  # MNIST's training split after 10 % goes to validation: one notebook epoch
LEVERS = {  # name -> what it changes
    "study set-up": {},
    "float32": {"precision": "float32"},
    "batch 256": {"batch_size": 256},
    "batch 512": {"batch_size": 512},
    "steps_per_execution 16": {"steps_per_execution": 16},
    "tf.data input": {"pipeline": "dataset"},
    "augmented, integer shifts (now)": {"augmentation": "shifts"},
    "augmented, affine warps (before)": {"augmentation": "affine"},
}
CPU_FEATURES = ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"]


def cpu_features(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which of the instruction sets that decide bfloat16 speed this CPU has (from /proc/cpuinfo's flags)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return {feature: feature in flags for feature in CPU_FEATURES}


def read_cpu_counters() -> str:
    """The aggregate `cpu` line of /proc/stat (cumulative CPU time by state), or "" where there is none."""
    path = Path("/proc/stat")
    lines = path.read_text().splitlines() if path.is_file() else []
    return next((line for line in lines if line.startswith("cpu ")), "")


def stolen_share(before: str, after: str) -> float | None:
    """Share of CPU time between two `read_cpu_counters` readings that the hypervisor gave to other guests.

    On a shared virtual machine this is time the benchmark waited for a physical core, so every rate it measured
    is low by about that much. Fields: user nice system idle iowait irq softirq steal (guest time is in user).
    """
    if not before or not after:
        return None
    first, second = ([int(value) for value in line.split()[1:9]] for line in (before, after))
    elapsed = sum(second) - sum(first)
    return (second[7] - first[7]) / elapsed if elapsed > 0 else None


def _affine_augmentation(seed: int):
    """The study's augmentation before: Keras' per-image rotation, shift and zoom (bilinear interpolation)."""
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed, dtype="float32"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1, dtype="float32"),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2, dtype="float32"),
    ])


def epoch_throughput(model_name: str, *, batch_size: int = 128, precision: str = "mixed_bfloat16",
                     steps_per_execution: int = 1, pipeline: str = "numpy", augmentation: str = "none",
                     jit_compile: bool = False, images_per_epoch: int = STUDY_EPOCH_IMAGES, epochs: int = 3) -> float:
    """Training images/s: the median of the timed epochs after the first, inside one fit, as the notebooks fit.

    Every lever trains on the same `images_per_epoch`: with a fixed number of steps instead, batch 128 would
    time a few thousand cache-resident images and pay fit's per-epoch overhead on each, flattering larger batches.
    """
    import keras
    import tensorflow as tf

    from mnist_study.bench.measure import build_in_precision, prepared_mnist, steady_images_per_s
    from mnist_study.core.augmentation import epoch_batches
    from mnist_study.core.models import input_side

    images, labels = prepared_mnist(input_side(model_name), images_per_epoch)
    targets = keras.utils.to_categorical(labels, 10)
    model = build_in_precision(model_name, precision)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    steps_per_epoch = None
    if augmentation == "shifts":  # every epoch's batches in one stream, as the study trains: fit cuts it in epochs
        data = epoch_batches(images, targets, batch_size, "digits", seed=0, first_epoch=0, last_epoch=epochs)
        steps_per_epoch = -(-len(images) // batch_size)
    elif augmentation == "affine":
        augment = _affine_augmentation(seed=0)
        data = tf.data.Dataset.from_tensor_slices((images, targets)).shuffle(len(images), seed=0).batch(batch_size)
        data = data.map(lambda batch, y: (augment(batch, training=True), y)).prefetch(tf.data.AUTOTUNE)
    elif pipeline == "dataset":
        data = tf.data.Dataset.from_tensor_slices((images, targets)).cache().shuffle(len(images), seed=0)
        data = data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    else:
        data = None
    if data is None:
        rate = steady_images_per_s(model, len(images), images, targets, batch_size=batch_size, epochs=epochs)
    else:
        rate = steady_images_per_s(model, len(images), data, epochs=epochs, steps_per_epoch=steps_per_epoch)
    keras.backend.clear_session()
    return rate


def lever_table(models: list[str] = PROFILED_MODELS) -> dict[str, dict[str, float]]:
    """images/s of every lever for every profiled model, measured back to back in this process."""
    return {model: {lever: epoch_throughput(model, **change) for lever, change in LEVERS.items()} for model in models}


def xla_probe(model_name: str) -> dict[str, float]:
    """Without op determinism: images/s with and without XLA (call in a fresh process)."""
    import keras

    keras.utils.set_random_seed(0)
    return {"without_xla": epoch_throughput(model_name), "with_xla": epoch_throughput(model_name, jit_compile=True)}


def ratios(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each lever's images/s over the study set-up's, per model."""
    return {model: {lever: value / levers["study set-up"] for lever, value in levers.items()}
            for model, levers in table.items()}


def lever_markdown(report: dict) -> str:
    """The levers as a Markdown table (images/s and ratio per model), from `as_json`'s report."""
    from mnist_study.reports.summary import markdown_table

    table, xla, features = report["images_per_s"], report["xla"], report["cpu_features"]
    relative = ratios(table)
    models = list(table)
    rows = [[lever, *[f"{table[model][lever]:,.0f} ({relative[model][lever]:.2f}x)" for model in models]]
            for lever in LEVERS]
    rows.append(["XLA, op determinism off (own baseline)",
                 *[f"{xla[model]['with_xla']:,.0f} ({xla[model]['with_xla'] / xla[model]['without_xla']:.2f}x)"
                   for model in models]])
    has = [name for name, present in features.items() if present]
    lacks = [name for name, present in features.items() if not present]
    before_after = "; ".join(
        f"{model} {table[model]['augmented, affine warps (before)']:,.0f} -> "
        f"{table[model]['augmented, integer shifts (now)']:,.0f} images/s "
        f"({table[model]['augmented, integer shifts (now)'] / table[model]['augmented, affine warps (before)']:.2f}x)"
        for model in models)
    return "\n".join([
        "### Cheaper epochs: what each lever buys here",
        "",
        f"CPU features: has {', '.join(has) or 'none of them'}; lacks {', '.join(lacks) or 'none'}. Training "
        "images/s with one change at a time against the study's set-up (batch 128, mixed bfloat16, NumPy input, "
        f"op determinism on), each timed on epochs of {report['images_per_epoch']:,} images as a notebook trains, "
        "ratio in brackets; all measured in this run.",
        "",
        markdown_table(["lever", *models], rows),
        "",
        f"- Augmented training, before (affine warps) and after (integer shifts) this study's change: {before_after}.",
        "- Plain training runs the same code as before, so its images/s are the per-model table's.",
    ])


def as_json(table: dict, xla: dict, features: dict) -> dict:
    return {"images_per_s": table, "ratios": ratios(table), "xla": xla, "cpu_features": features,
            "images_per_epoch": STUDY_EPOCH_IMAGES,
            "levers": {name: dict(change) for name, change in LEVERS.items()}}
