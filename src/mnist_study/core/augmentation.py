"""Seeded data augmentation of training batches: integer shifts (pad and crop) and horizontal flips.

Integer shifts do the job of the seeds' affine warps (a digit moved by two pixels is still that digit) at a
fraction of the cost: a gather instead of a per-image interpolation, so augmented epochs cost no more than plain
ones (`make bench` times both).
"""

from __future__ import annotations

import tensorflow as tf

# "digits": shifts only; a flip would turn a 2 into something else and a rotation costs an interpolation.
# "clothing": a mirrored shirt is still a shirt, and shifts; an upside-down one is not a Fashion-MNIST image.
AUGMENTATIONS = ["none", "digits", "clothing"]
MAX_SHIFT_PIXELS = 2  # each way: 5x5 = 25 positions of a 28x28 image, padded with its background (0)


def check_augmentation(augmentation: str) -> None:
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation: unknown {augmentation!r}; expected one of {AUGMENTATIONS}")


def random_shift(images: tf.Tensor, generator: tf.random.Generator, max_shift: int = MAX_SHIFT_PIXELS) -> tf.Tensor:
    """Each image of a (batch, height, width, channels) batch moved by its own integer offset in [-max, max]."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = generator.uniform((count, 2), minval=0, maxval=2 * max_shift + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None, :]  # (batch, height): the padded rows each image keeps
    columns = offsets[:, 1:] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # (batch, height, width + 2 max, channels)
    return tf.gather(cropped, columns, axis=2, batch_dims=1)


def random_flip(images: tf.Tensor, generator: tf.random.Generator) -> tf.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = generator.uniform((tf.shape(images)[0], 1, 1, 1)) < 0.5
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


def augment_batch(images: tf.Tensor, augmentation: str, generator: tf.random.Generator) -> tf.Tensor:
    """`augmentation`'s transforms applied to one batch, random draws from `generator`."""
    check_augmentation(augmentation)
    if augmentation == "none":
        return images
    if augmentation == "clothing":
        images = random_flip(images, generator)
    return random_shift(images, generator)


def augmented_examples(images, augmentation: str, seed: int, draws: int) -> list:
    """`draws` augmented versions of the same images (NumPy), for figures."""
    generator = tf.random.Generator.from_seed(seed)
    batch = tf.convert_to_tensor(images)
    return [augment_batch(batch, augmentation, generator).numpy() for _ in range(draws)]


def augmented_batches(images, one_hot_labels, batch_size: int, augmentation: str, seed: int) -> tf.data.Dataset:
    """Shuffled (seeded, reshuffled every epoch) training batches, augmented afresh every epoch."""
    check_augmentation(augmentation)
    generator = tf.random.Generator.from_seed(seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, one_hot_labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augmentation != "none":
        # A sequential map: the generator's draws then follow the batch order, so a run repeats exactly.
        dataset = dataset.map(lambda batch, labels: (augment_batch(batch, augmentation, generator), labels))
    return dataset.prefetch(tf.data.AUTOTUNE)
