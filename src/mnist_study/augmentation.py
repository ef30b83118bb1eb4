"""Seeded data augmentation from Keras preprocessing layers, applied to training batches only."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

# "digits": small rotations, shifts and zoom keep a digit a digit; a flip would not (2 vs 5).
# "clothing": a mirrored shirt is still a shirt, but an upside-down one is not a Fashion-MNIST image.
AUGMENTATIONS = ["none", "digits", "clothing"]
MAX_ROTATION_DEGREES = 10.0
MAX_SHIFT_FRACTION = 0.1  # of the image side: up to 2-3 pixels on 28x28
MAX_ZOOM_FRACTION = 0.1


def check_augmentation(augmentation: str) -> None:
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation: unknown {augmentation!r}; expected one of {AUGMENTATIONS}")


def build_augmentation(augmentation: str, seed: int) -> keras.Sequential | None:
    """The random transforms for `augmentation` (None for "none"), each layer seeded from `seed`."""
    check_augmentation(augmentation)
    if augmentation == "none":
        return None
    # float32 whatever the precision policy: the transforms interpolate pixel values.
    # fill_mode="constant" pads with 0, the background of both datasets; "reflect" would invent strokes.
    shift = layers.RandomTranslation(MAX_SHIFT_FRACTION, MAX_SHIFT_FRACTION, fill_mode="constant",
                                     seed=seed + 1, dtype="float32")
    if augmentation == "digits":
        transforms = [
            layers.RandomRotation(MAX_ROTATION_DEGREES / 360.0, fill_mode="constant", seed=seed,
                                  dtype="float32"),
            shift,
            layers.RandomZoom(MAX_ZOOM_FRACTION, fill_mode="constant", seed=seed + 2, dtype="float32"),
        ]
    else:
        transforms = [layers.RandomFlip("horizontal", seed=seed, dtype="float32"), shift]
    return keras.Sequential(transforms, name=f"augment_{augmentation}")


def augmented_batches(images, one_hot_labels, batch_size: int, augmentation: str, seed: int) -> tf.data.Dataset:
    """Shuffled (seeded, reshuffled every epoch) training batches, augmented afresh every epoch."""
    augment = build_augmentation(augmentation, seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, one_hot_labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment is not None:
        # Sequential map calls: with op determinism on, the random draws then follow the batch order.
        dataset = dataset.map(lambda batch, labels: (augment(batch, training=True), labels))
    return dataset.prefetch(tf.data.AUTOTUNE)
