"""Seeded, deterministic training through model.fit with explicit validation data."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from mnist_study.core.augmentation import check_augmentation, epoch_batches
from mnist_study.core.data import Split
from mnist_study.core.distributed import STRATEGIES, distribution_strategy
from mnist_study.core.models import build_model, check_model_name, has_dropout

LR_SCHEDULES = ["constant", "cosine", "warmup_cosine", "plateau", "wsd"]
OPTIMIZERS = ["adam", "adamw", "sgd_nesterov"]
PRECISIONS = ["float32", "mixed_bfloat16"]
SGD_MOMENTUM = 0.9  # Nesterov momentum, as in most CNN recipes (Sutskever et al. 2013)


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
    "wsd" (warmup-stable-decay, Hägele et al. 2024) warms up as well, holds `learning_rate`, and decays it to 0
    (1 - sqrt) over the last `decay_fraction` of the epochs; one run then serves several budgets (train_budgets).
    `weight_decay` is decoupled decay (Loshchilov & Hutter 2019), for AdamW and SGD; plain Adam takes none.
    `optimizer` "sgd_nesterov" is SGD with Nesterov momentum 0.9.
    `dropout_rate`, where set, replaces the architecture's own `dropout_rate` where it has one (a search tunes it).
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
    decay_fraction: float = 0.2
    dropout_rate: float | None = None

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
        if self.weight_decay and self.optimizer == "adam":
            raise ValueError("weight_decay: 'adam' takes none; use optimizer 'adamw' or 'sgd_nesterov'")
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
        if isinstance(self.decay_fraction, bool) or not isinstance(self.decay_fraction, int | float) \
                or not 0.0 < self.decay_fraction < 1.0:
            raise ValueError(f"decay_fraction: expected a value in (0, 1), got {self.decay_fraction!r}")
        if self.dropout_rate is not None and (isinstance(self.dropout_rate, bool) or not isinstance(
                self.dropout_rate, int | float) or not 0.0 <= self.dropout_rate < 1.0):
            raise ValueError(f"dropout_rate: expected None or a value in [0, 1), got {self.dropout_rate!r}")
        if self.lr_schedule == "wsd":
            if self.early_stopping_patience is not None:
                raise ValueError("early_stopping_patience: 'wsd' decays to its last epoch; expected None")
            check_budget(self, self.epochs)

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


def with_dropout(model_name: str, recipe: TrainingRecipe, model_kwargs: dict | None) -> dict:
    """The builder's arguments with the recipe's dropout rate, where the recipe sets one and the architecture has
    dropout (a recipe searched on one architecture trains its notebook's others, some without dropout)."""
    model_kwargs = dict(model_kwargs or {})
    if recipe.dropout_rate is None or not has_dropout(model_name):
        return model_kwargs
    if "dropout_rate" in model_kwargs:
        raise ValueError(f"dropout_rate: set both by the recipe ({recipe.dropout_rate}) and by model_kwargs "
                         f"({model_kwargs['dropout_rate']}); expected one")
    return {**model_kwargs, "dropout_rate": recipe.dropout_rate}


def _check_split(split: Split) -> None:
    for images, labels, name in ((split.train_images, split.train_labels, "train"),
                                 (split.validation_images, split.validation_labels, "validation")):
        if len(images) != len(labels):
            raise ValueError(f"{name} images and labels: lengths differ ({len(images)} vs {len(labels)})")
        if len(images) == 0:
            raise ValueError(f"{name} images: the set is empty")


def decay_epochs(recipe: TrainingRecipe, epochs: int) -> int:
    """How many of a "wsd" run's `epochs` decay the rate: `decay_fraction` of them, at least one."""
    return max(1, round(recipe.decay_fraction * epochs))


def check_budget(recipe: TrainingRecipe, epochs: int) -> None:
    """A "wsd" budget must leave room for the warm-up before its decay starts."""
    _positive_int("epochs", epochs)
    if recipe.warmup_epochs > epochs - decay_epochs(recipe, epochs):
        raise ValueError(f"epochs: a 'wsd' budget of {epochs} decays over its last {decay_epochs(recipe, epochs)}, "
                         f"leaving no room for {recipe.warmup_epochs} warm-up epoch(s)")


def learning_rate_schedule(recipe: TrainingRecipe, steps_per_epoch: int):
    """The learning rate as Keras takes it: a number, or a schedule over training steps."""
    total_steps = recipe.epochs * steps_per_epoch
    if recipe.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=total_steps)
    if recipe.lr_schedule == "warmup_cosine":
        warmup_steps = recipe.warmup_epochs * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total_steps - warmup_steps,
                                                      warmup_target=recipe.learning_rate, warmup_steps=warmup_steps)
    return recipe.learning_rate  # "constant"; "plateau" (a callback lowers it); "wsd" (WarmupStableDecay sets it)


def build_optimizer(recipe: TrainingRecipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate = learning_rate_schedule(recipe, steps_per_epoch)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd_nesterov":
        return keras.optimizers.SGD(learning_rate=rate, momentum=SGD_MOMENTUM, nesterov=True,
                                    weight_decay=recipe.weight_decay or None)
    return keras.optimizers.Adam(learning_rate=rate)


def wsd_rate(step: int, peak: float, warmup_steps: int, decay_start: float, total_steps: int) -> float:
    """Warmup-stable-decay at a 0-based step: linear warm-up, `peak` until `decay_start`, then 1 - sqrt to 0."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if step < decay_start:
        return peak
    return peak * (1.0 - math.sqrt((step - decay_start) / (total_steps - decay_start)))


class WarmupStableDecay(keras.callbacks.Callback):
    """Sets the optimizer's rate before every step (wsd_rate). The decay's start is set per phase: none while a
    run is in its stable phase, a budget's own when that budget decays (train_budgets)."""

    def __init__(self, recipe: TrainingRecipe, steps_per_epoch: int):
        super().__init__()
        self.peak, self.steps_per_epoch = recipe.learning_rate, steps_per_epoch
        self.warmup_steps = recipe.warmup_epochs * steps_per_epoch
        self.decay_start, self.total_steps = math.inf, math.inf

    def decay_over(self, first_epoch: int, last_epoch: int) -> None:
        self.decay_start, self.total_steps = first_epoch * self.steps_per_epoch, last_epoch * self.steps_per_epoch

    def hold(self) -> None:
        self.decay_start, self.total_steps = math.inf, math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # the rate of the epoch's last step, into the history
            logs["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch * self.steps_per_epoch + batch
        self.model.optimizer.learning_rate.assign(
            wsd_rate(step, self.peak, self.warmup_steps, self.decay_start, self.total_steps))


class _Run:
    """One model being trained by one recipe on one seed: built and compiled once, fitted phase by phase."""

    def __init__(self, model_name: str, split: Split, recipe: TrainingRecipe, seed: int, model_kwargs: dict | None,
                 num_classes: int, log_prefix: str, extra_callbacks: list | None, total_epochs: int):
        check_model_name(model_name)
        _check_split(split)
        model_kwargs = with_dropout(model_name, recipe, model_kwargs)
        self.split, self.recipe, self.seed = split, recipe, seed
        distribution = distribution_strategy(recipe.strategy)
        set_seed(seed)  # before building, so initial weights are seeded too
        self.steps_per_epoch = math.ceil(len(split.train_images) / recipe.batch_size)
        # Variables (weights, optimizer state) must be created inside the strategy's scope.
        previous_policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(recipe.precision)  # layers take their dtype policy when built
        try:
            with distribution.scope():
                self.model = build_model(model_name, input_shape=split.train_images.shape[1:],
                                         num_classes=num_classes, **(model_kwargs or {}))
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        with distribution.scope():
            # One-hot targets so that label smoothing works with the same loss for every run.
            self.model.compile(
                optimizer=build_optimizer(recipe, self.steps_per_epoch),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                metrics=["accuracy"],
            )
            self.model.optimizer.build(self.model.trainable_variables)  # its state exists before a snapshot
        self.targets = keras.utils.to_categorical(split.train_labels, num_classes)
        self.validation = (split.validation_images, keras.utils.to_categorical(split.validation_labels, num_classes))
        self.callbacks: list[keras.callbacks.Callback] = [EpochLogger(total_epochs, log_prefix),
                                                          *(extra_callbacks or [])]
        self.rate = None
        if recipe.lr_schedule == "wsd":
            self.rate = WarmupStableDecay(recipe, self.steps_per_epoch)
            self.callbacks.append(self.rate)
        if recipe.lr_schedule == "plateau":
            self.callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                                                    verbose=0))
        if recipe.early_stopping_patience is not None:
            self.callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=recipe.early_stopping_patience, restore_best_weights=True, verbose=0))

    def fit(self, first_epoch: int, last_epoch: int) -> tuple[dict[str, list[float]], float]:
        """Epochs first_epoch .. last_epoch - 1 (0-based); their history and wall time."""
        batches = epoch_batches(self.split.train_images, self.targets, self.recipe.batch_size,
                                self.recipe.augmentation, self.seed, first_epoch, last_epoch)
        start = time.perf_counter()
        fit = self.model.fit(batches, validation_data=self.validation, validation_batch_size=self.recipe.batch_size,
                             initial_epoch=first_epoch, epochs=last_epoch, steps_per_epoch=self.steps_per_epoch,
                             callbacks=self.callbacks, shuffle=False, verbose=0)  # shuffled by epoch_batches
        return {key: [float(value) for value in values] for key, values in fit.history.items()}, \
            time.perf_counter() - start

    def snapshot(self) -> list[np.ndarray]:
        # model.variables includes the dropout layers' seed-generator state, so a restored run draws as it would have.
        return [variable.numpy() for variable in [*self.model.variables, *self.model.optimizer.variables]]

    def restore(self, snapshot: list[np.ndarray]) -> None:
        for variable, value in zip([*self.model.variables, *self.model.optimizer.variables], snapshot, strict=True):
            variable.assign(value)


def _joined(first: dict[str, list[float]], second: dict[str, list[float]]) -> dict[str, list[float]]:
    return {key: first.get(key, []) + second[key] for key in second}


def _result(model: keras.Model, history: dict[str, list[float]], wall_time_s: float) -> TrainingResult:
    return TrainingResult(model=model, history=history, epochs_run=len(history["loss"]),
                          best_epoch=int(np.argmin(history["val_loss"])) + 1, wall_time_s=wall_time_s)


def train_budgets(model_name: str, split: Split, recipe: TrainingRecipe, budgets: list[int], *, seed: int,
                  on_budget: Callable[[int, TrainingResult], None], model_kwargs: dict | None = None,
                  num_classes: int = 10, log_prefix: str = "", extra_callbacks: list | None = None) -> None:
    """One "wsd" run that serves every budget (epochs) in `budgets`: the stable phase runs on, and at each budget's
    decay start a branch decays to that budget and is handed to `on_budget(epochs, result)` (the model in the result
    is live: save what you need before returning); the run then resumes from where it branched.

    Each budget's result equals the one train_model gives a "wsd" recipe of that many epochs alone: the weights,
    the optimizer and dropout state are restored, and every epoch's batches depend on (seed, epoch) only.
    """
    if recipe.lr_schedule != "wsd":
        raise ValueError(f"lr_schedule: budgets branch from a 'wsd' run, got {recipe.lr_schedule!r}")
    if not isinstance(budgets, list) or not budgets or len(set(budgets)) != len(budgets):
        raise ValueError(f"budgets: expected a non-empty list of distinct epoch counts, got {budgets!r}")
    for epochs in budgets:
        check_budget(recipe, epochs)
    run = _Run(model_name, split, replace(recipe, epochs=max(budgets)), seed, model_kwargs, num_classes, log_prefix,
               extra_callbacks, total_epochs=max(budgets))
    stable: dict[str, list[float]] = {}
    stable_time, epoch = 0.0, 0
    for index, epochs in enumerate(sorted(budgets)):
        decay_start = epochs - decay_epochs(recipe, epochs)
        if decay_start > epoch:
            run.rate.hold()
            history, seconds = run.fit(epoch, decay_start)
            stable, stable_time, epoch = _joined(stable, history), stable_time + seconds, decay_start
        snapshot = run.snapshot()
        run.rate.decay_over(decay_start, epochs)
        history, seconds = run.fit(decay_start, epochs)
        on_budget(epochs, _result(run.model, _joined(stable, history), stable_time + seconds))
        if index < len(budgets) - 1:  # the last budget's model stays as trained: train_model returns it
            run.restore(snapshot)


def train_model(model_name: str, split: Split, recipe: TrainingRecipe, *, seed: int,
                model_kwargs: dict | None = None, num_classes: int = 10, log_prefix: str = "",
                extra_callbacks: list | None = None) -> TrainingResult:
    """Seed, build, compile and fit `model_name` on prepared images by `recipe`; validation data is explicit.
    `extra_callbacks` (a search's pruner, say) see every epoch."""
    if recipe.lr_schedule == "wsd":
        results = []
        train_budgets(model_name, split, recipe, [recipe.epochs], seed=seed, on_budget=lambda _, r: results.append(r),
                      model_kwargs=model_kwargs, num_classes=num_classes, log_prefix=log_prefix,
                      extra_callbacks=extra_callbacks)
        return results[0]
    run = _Run(model_name, split, recipe, seed, model_kwargs, num_classes, log_prefix, extra_callbacks,
               total_epochs=recipe.epochs)
    history, seconds = run.fit(0, recipe.epochs)
    return _result(run.model, history, seconds)
