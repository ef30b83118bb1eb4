"""New writers with a few labels: fine-tune a trained MNIST CNN on k UCI digits per class, against training the
same architecture from scratch on those k and against the model left as it is; accuracy on the rest of UCI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mnist_study.core.data import prepare_images
from mnist_study.core.inference import predict_probabilities
from mnist_study.core.models import build_model
from mnist_study.core.training import set_seed

ARMS = ["as is", "fine-tuned", "from scratch"]


@dataclass(frozen=True)
class FewLabelRecipe:
    """Fixed in advance, not tuned: with 10 to 500 labelled images there is nothing left to validate on."""

    fine_tune_epochs: int = 30
    fine_tune_learning_rate: float = 3e-4  # a third of the study's rate: adjust the weights, do not relearn them
    scratch_epochs: int = 100  # many passes over a tiny set, so the from-scratch arm is not short of steps
    scratch_min_steps: int = 500  # and at least this many updates, for batch norm's running statistics to forget
    # their initial values (core.models.BATCH_NORM_MOMENTUM)
    scratch_learning_rate: float = 1e-3
    batch_size: int = 32

    def __post_init__(self):
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name}: expected a positive number, got {value!r}")


def draw_per_class(labels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of k images per class (seeded) and of every other image, which is held out for evaluation."""
    rng = np.random.default_rng(seed)
    chosen = []
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        if len(members) <= k:
            raise ValueError(f"k: class {digit} has {len(members)} images; expected more than k={k}")
        chosen.append(rng.choice(members, size=k, replace=False))
    chosen = np.sort(np.concatenate(chosen))
    return chosen, np.setdiff1d(np.arange(len(labels)), chosen)


def _fit(model, images: np.ndarray, labels: np.ndarray, learning_rate: float, epochs: int, batch_size: int):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    model.fit(images, labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    return model


def fine_tuned(model_path: str | Path, images: np.ndarray, labels: np.ndarray, recipe: FewLabelRecipe, seed: int):
    """The saved model, every weight trainable except batch normalization's statistics (ten images cannot
    estimate them), trained on the few labelled images."""
    import keras

    set_seed(seed)
    model = keras.models.load_model(model_path)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # Keras 3: also runs it in inference mode, with the MNIST statistics
    return _fit(model, images, labels, recipe.fine_tune_learning_rate, recipe.fine_tune_epochs, recipe.batch_size)


def from_scratch(architecture: str, images: np.ndarray, labels: np.ndarray, recipe: FewLabelRecipe, seed: int):
    set_seed(seed)
    model = build_model(architecture, input_shape=images.shape[1:])
    steps_per_epoch = -(-len(images) // recipe.batch_size)
    epochs = max(recipe.scratch_epochs, -(-recipe.scratch_min_steps // steps_per_epoch))
    return _fit(model, images, labels, recipe.scratch_learning_rate, epochs, recipe.batch_size)


def few_label_curve(model_path: str | Path, architecture: str, images: np.ndarray, labels: np.ndarray,
                    k_values: list[int], seeds: list[int], recipe: FewLabelRecipe) -> dict:
    """Held-out accuracy of each arm for each k, one run per seeded draw; `images` are uint8 (n, 28, 28)."""
    import keras

    as_is = keras.models.load_model(model_path)
    side = as_is.input_shape[1]
    prepared = prepare_images(images, side)
    runs = {arm: [] for arm in ARMS}
    for k in k_values:
        per_arm = {arm: [] for arm in ARMS}
        for seed in seeds:
            chosen, held_out = draw_per_class(labels, k, seed)
            trained = {
                "as is": as_is,
                "fine-tuned": fine_tuned(model_path, prepared[chosen], labels[chosen], recipe, seed),
                "from scratch": from_scratch(architecture, prepared[chosen], labels[chosen], recipe, seed),
            }
            for arm, model in trained.items():
                predictions = predict_probabilities(model, prepared[held_out]).argmax(axis=1)
                per_arm[arm].append(float(np.mean(predictions == labels[held_out])))
            print(f"   k={k:>3} draw {seed}: " + "  ".join(f"{arm} {per_arm[arm][-1]:.4f}" for arm in ARMS), flush=True)
        for arm in ARMS:
            runs[arm].append(per_arm[arm])
    return {
        "k": list(k_values),
        "seeds": list(seeds),
        "recipe": asdict(recipe),
        "arms": {arm: {"runs": runs[arm],
                       "mean": [float(np.mean(values)) for values in runs[arm]],
                       "std": [float(np.std(values, ddof=1)) if len(values) > 1 else None for values in runs[arm]]}
                 for arm in ARMS},
    }


def gap_closed(curve: dict, reference_accuracy: float) -> list[float]:
    """Per k, the share of the gap between the model as it is and `reference_accuracy` that fine-tuning closes."""
    as_is, tuned = curve["arms"]["as is"]["mean"], curve["arms"]["fine-tuned"]["mean"]
    return [float((after - before) / (reference_accuracy - before)) if reference_accuracy > before else float("nan")
            for before, after in zip(as_is, tuned, strict=True)]
