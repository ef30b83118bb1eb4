"""Seeded, deterministic training through model.fit with explicit validation data."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

from mnist_study.core.augmentation import augmented_batches, check_augmentation
from mnist_study.core.data import Split
from mnist_study.core.distributed import STRATEGIES, distribution_strategy
from mnist_study.core.models import build_model, check_model_name

LR_SCHEDULES = ["constant", "cosine", "warmup_cosine", "plateau"]
OPTIMIZERS = ["adam", "adamw"]
PRECISIONS = ["float32", "mixed_bfloat16"]


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


@dataclass(frozen=True)
class TrainingRecipe:
    """How one model is trained (optimizer, schedule, stopping, precision, devices, augmentation); validated once.

    `batch_size` is the global batch: under a distribution strategy each replica gets an equal share.
    `precision` "mixed_bfloat16" computes in bfloat16 and keeps float32 weights (Keras mixed precision).
    `augmentation` (see augmentation.AUGMENTATIONS) transforms the training batches only, never validation.
    `lr_schedule` "warmup_cosine" rises linearly from 0 to `learning_rate` over `warmup_epochs`, then decays to 0.
    `weight_decay` is AdamW's decoupled decay (Loshchilov & Hutter 2019); plain Adam takes none.
    """

    epochs: int
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_epochs: int = 1
    optimizer: str = "adam"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = None
    strategy: str = "default"
    precision: str = "float32"
    augmentation: str = "none"

    def __post_init__(self):
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, int | float) \
                or not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: unknown schedule {self.lr_schedule!r}; expected one of {LR_SCHEDULES}")
        _positive_int("warmup_epochs", self.warmup_epochs)
        if self.lr_schedule == "warmup_cosine" and self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs: expected fewer than epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: unknown {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, int | float) \
                or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay: expected a number >= 0, got {self.weight_decay!r}")
        if self.weight_decay and self.optimizer != "adamw":
            raise ValueError(f"weight_decay: {self.optimizer!r} takes none; use optimizer 'adamw'")
        if isinstance(self.label_smoothing, bool) or not isinstance(self.label_smoothing, int | float) \
                or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing: expected a value in [0, 1), got {self.label_smoothing!r}")
        if self.early_stopping_patience is not None:
            _positive_int("early_stopping_patience", self.early_stopping_patience)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: unknown {self.strategy!r}; expected one of {STRATEGIES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: unknown {self.precision!r}; expected one of {PRECISIONS}")
        check_augmentation(self.augmentation)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingResult:
    model: keras.Model
    history: dict[str, list[float]]  # per-epoch loss, accuracy, val_loss, val_accuracy, learning_rate
    epochs_run: int
    best_epoch: int  # 1-based epoch with the lowest validation loss
    wall_time_s: float


def set_seed(seed: int) -> None:
    """The one place randomness is seeded: Python, NumPy and TensorFlow, with deterministic ops."""
    keras.utils.set_random_seed(seed)
    # Without this, some TF kernels pick non-deterministic algorithms and re-runs drift.
    tf.config.experimental.enable_op_determinism()


class EpochLogger(keras.callbacks.Callback):
    """One compact line per epoch instead of Keras' per-step progress bar."""

    def __init__(self, total_epochs: int, prefix: str = ""):
        super().__init__()
        self.total_epochs = total_epochs
        self.prefix = prefix

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        print(
            f"{self.prefix}epoch {epoch + 1:>2}/{self.total_epochs}"
            f"  loss {logs.get('loss', float('nan')):.4f}  acc {logs.get('accuracy', float('nan')):.4f}"
            f"  val_loss {logs.get('val_loss', float('nan')):.4f}  val_acc {logs.get('val_accuracy', float('nan')):.4f}"
            f"  {time.perf_counter() - self._start:.1f}s",
            flush=True,
        )


def _check_split(split: Split) -> None:
    for images, labels, name in ((split.train_images, split.train_labels, "train"),
                                 (split.validation_images, split.validation_labels, "validation")):
        if len(images) != len(labels):
            raise ValueError(f"{name} images and labels: lengths differ ({len(images)} vs {len(labels)})")
        if len(images) == 0:
            raise ValueError(f"{name} images: the set is empty")


def learning_rate_schedule(recipe: TrainingRecipe, steps_per_epoch: int):
    """The learning rate as Keras takes it: a number, or a schedule over training steps."""
    total_steps = recipe.epochs * steps_per_epoch
    if recipe.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=total_steps)
    if recipe.lr_schedule == "warmup_cosine":
        warmup_steps = recipe.warmup_epochs * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total_steps - warmup_steps,
                                                      warmup_target=recipe.learning_rate, warmup_steps=warmup_steps)
    return recipe.learning_rate  # "constant", and "plateau" (a callback lowers it)


def build_optimizer(recipe: TrainingRecipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate = learning_rate_schedule(recipe, steps_per_epoch)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(learning_rate=rate)


def train_model(model_name: str, split: Split, recipe: TrainingRecipe, *, seed: int,
                model_kwargs: dict | None = None, num_classes: int = 10, log_prefix: str = "") -> TrainingResult:
    """Seed, build, compile and fit `model_name` on prepared images by `recipe`; validation data is explicit."""
    check_model_name(model_name)
    _check_split(split)
    epochs, batch_size = recipe.epochs, recipe.batch_size
    distribution = distribution_strategy(recipe.strategy)
    set_seed(seed)  # before building, so initial weights are seeded too

    steps_per_epoch = math.ceil(len(split.train_images) / batch_size)
    callbacks: list[keras.callbacks.Callback] = [EpochLogger(epochs, log_prefix)]
    if recipe.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, verbose=0))
    if recipe.early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=recipe.early_stopping_patience, restore_best_weights=True, verbose=0))

    # Variables (weights, optimizer state) must be created inside the strategy's scope.
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(recipe.precision)  # layers take their dtype policy when built
    try:
        with distribution.scope():
            model = build_model(model_name, input_shape=split.train_images.shape[1:], num_classes=num_classes,
                                **(model_kwargs or {}))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    with distribution.scope():
        # One-hot targets so that label smoothing works with the same loss for every run.
        model.compile(
            optimizer=build_optimizer(recipe, steps_per_epoch),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            metrics=["accuracy"],
        )
    train_targets = keras.utils.to_categorical(split.train_labels, num_classes)
    validation_data = (split.validation_images, keras.utils.to_categorical(split.validation_labels, num_classes))
    start = time.perf_counter()
    if recipe.augmentation == "none":
        fit = model.fit(split.train_images, train_targets, validation_data=validation_data, epochs=epochs,
                        batch_size=batch_size, shuffle=True, callbacks=callbacks, verbose=0)
    else:
        batches = augmented_batches(split.train_images, train_targets, batch_size, recipe.augmentation, seed)
        fit = model.fit(batches, validation_data=validation_data, validation_batch_size=batch_size, epochs=epochs,
                        shuffle=False, callbacks=callbacks, verbose=0)  # shuffled in the pipeline instead
    wall_time_s = time.perf_counter() - start
    history = {key: [float(value) for value in values] for key, values in fit.history.items()}
    return TrainingResult(
        model=model,
        history=history,
        epochs_run=len(history["loss"]),
        best_epoch=int(np.argmin(history["val_loss"])) + 1,
        wall_time_s=wall_time_s,
    )
