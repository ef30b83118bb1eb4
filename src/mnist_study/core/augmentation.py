"""Seeded training batches: each epoch's order and augmentation a pure function of (seed, epoch).

The transforms are integer shifts (pad and crop), small rotations and scalings (one bilinear warp per image, the
distortions Simard et al. 2003 train with, less the elastic ones), horizontal flips and random erasing (Zhong et
al. 2017). A shift is a gather, not an interpolation: the cheapest transform (`make bench` times them).

Every draw is stateless, keyed by (seed, epoch, batch), so epoch 30 of a run is the same whether the run started
at epoch 1 or resumed from a checkpoint at epoch 20. That is what lets one warmup-stable-decay run branch into
several budgets and give each exactly the run it would have had alone (core.training.train_budgets).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Which transforms each augmentation applies, in order.
# "digits": shifts only; "digits_affine" also rotates and scales a little. A flip would turn a 2 into something else.
# The clothing ones: a mirrored shirt is still a shirt (an upside-down one is no Fashion-MNIST image), and erasing
# a patch teaches a net not to lean on one region (a collar, a sole).
AUGMENTATION_TRANSFORMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "digits": ("shift",),
    "digits_affine": ("affine", "shift"),
    "flip": ("flip",),
    "clothing": ("flip", "shift"),
    "clothing_erasing": ("flip", "shift", "erase"),
}
AUGMENTATIONS = list(AUGMENTATION_TRANSFORMS)
MAX_SHIFT_PIXELS = 2  # each way: 5x5 = 25 positions of a 28x28 image, padded with its background (0)
MAX_ROTATION_DEGREES = 10.0  # each way: a 1 leans, a 6 stays a 6 (a 9 is 180 degrees away)
SCALE_RANGE = (0.9, 1.1)  # a digit a tenth smaller or larger: writers differ that much
ERASE_PROBABILITY = 0.5  # Zhong et al.'s default
ERASE_AREA = (0.02, 0.25)  # share of the image a patch covers (their 0.02-0.4, less: a 28x28 item has little room)
ERASE_ASPECT = (0.3, 3.3)  # the patch's height / width


def check_augmentation(augmentation: str) -> None:
    if augmentation not in AUGMENTATION_TRANSFORMS:
        raise ValueError(f"augmentation: unknown {augmentation!r}; expected one of {AUGMENTATIONS}")


def _uniform(key, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, seed=key, minval=minval, maxval=maxval, dtype=dtype)


def random_shift(images: tf.Tensor, key, max_shift: int = MAX_SHIFT_PIXELS) -> tf.Tensor:
    """Each image of a (batch, height, width, channels) batch moved by its own integer offset in [-max, max]."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = _uniform(key, (count, 2), minval=0, maxval=2 * max_shift + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None, :]  # (batch, height): the padded rows each image keeps
    columns = offsets[:, 1:] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # (batch, height, width + 2 max, channels)
    return tf.gather(cropped, columns, axis=2, batch_dims=1)


def random_affine(images: tf.Tensor, key, max_degrees: float = MAX_ROTATION_DEGREES,
                  scales: tuple[float, float] = SCALE_RANGE) -> tf.Tensor:
    """Each image rotated about its centre by its own angle in [-max, max] degrees and scaled by its own factor in
    `scales`; bilinear, the background (0) fills what comes in from outside."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    keys = tf.random.experimental.stateless_split(key, num=2)
    angle = _uniform(keys[0], (count,), -max_degrees, max_degrees) * (np.pi / 180.0)
    scale = _uniform(keys[1], (count,), *scales)
    # The transform maps an output pixel (x, y) to the input pixel it samples: the inverse rotation and scaling
    # about the centre, as ImageProjectiveTransformV3 takes it (a0, a1, a2, b0, b1, b2, c0, c1).
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([cos, sin, centre_x - cos * centre_x - sin * centre_y,
                           -sin, cos, centre_y + sin * centre_x - cos * centre_y, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([height, width]),
        fill_value=tf.constant(0.0, images.dtype), interpolation="BILINEAR", fill_mode="CONSTANT")


def random_flip(images: tf.Tensor, key) -> tf.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = _uniform(key, (tf.shape(images)[0], 1, 1, 1)) < 0.5
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


def random_erase(images: tf.Tensor, key, probability: float = ERASE_PROBABILITY) -> tf.Tensor:
    """With `probability`, one rectangle of each image (area and aspect drawn per image) set to uniform noise."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    keys = tf.random.experimental.stateless_split(key, num=5)
    area = _uniform(keys[0], (count,), *ERASE_AREA) * height * width
    aspect = tf.exp(_uniform(keys[1], (count,), np.log(ERASE_ASPECT[0]), np.log(ERASE_ASPECT[1])))
    patch_height = tf.clip_by_value(tf.round(tf.sqrt(area * aspect)), 1, height)
    patch_width = tf.clip_by_value(tf.round(tf.sqrt(area / aspect)), 1, width)
    corner = _uniform(keys[2], (count, 2))
    top = tf.floor(corner[:, 0] * (height - patch_height + 1))
    left = tf.floor(corner[:, 1] * (width - patch_width + 1))
    rows = tf.range(height, dtype=tf.float32)[None, :]
    columns = tf.range(width, dtype=tf.float32)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + patch_height)[:, None])  # (batch, height)
    inside_columns = (columns >= left[:, None]) & (columns < (left + patch_width)[:, None])
    erase = _uniform(keys[3], (count,)) < probability
    mask = inside_rows[:, :, None] & inside_columns[:, None, :] & erase[:, None, None]  # (batch, height, width)
    noise = _uniform(keys[4], tf.shape(images), dtype=images.dtype)
    return tf.where(mask[..., None], noise, images)


TRANSFORMS = {"shift": random_shift, "affine": random_affine, "flip": random_flip, "erase": random_erase}


def augment_batch(images: tf.Tensor, augmentation: str, key) -> tf.Tensor:
    """`augmentation`'s transforms applied to one batch, every draw keyed by `key` (a stateless seed, shape (2,))."""
    check_augmentation(augmentation)
    transforms = AUGMENTATION_TRANSFORMS[augmentation]
    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), num=max(len(transforms), 1))
    for index, name in enumerate(transforms):
        images = TRANSFORMS[name](images, keys[index])
    return images


def augmented_examples(images, augmentation: str, seed: int, draws: int) -> list:
    """`draws` augmented versions of the same images (NumPy), for figures: epochs 0, 1, ... of batch 0."""
    batch = tf.convert_to_tensor(images)
    return [augment_batch(batch, augmentation, _batch_key(seed, epoch, 0)).numpy() for epoch in range(draws)]


def _batch_key(seed: int, epoch, batch):
    # Seeds, epochs and batch counts are small: these two numbers never collide between runs of the study.
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64) * 1_000_000 + tf.cast(batch, tf.int64)])


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch `epoch` (0-based) of run `seed` visits `count` training images."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def epoch_batches(images, one_hot_labels, batch_size: int, augmentation: str, seed: int, first_epoch: int,
                  last_epoch: int) -> tf.data.Dataset:
    """The training batches of epochs first_epoch .. last_epoch - 1 (0-based), back to back: each epoch a fresh
    seeded order of every image, each batch augmented afresh by keys drawn from (seed, epoch, batch)."""
    check_augmentation(augmentation)
    if not 0 <= first_epoch < last_epoch:
        raise ValueError(f"epochs: expected 0 <= first_epoch < last_epoch, got {first_epoch} and {last_epoch}")
    count = len(images)
    orders = np.stack([epoch_order(count, seed, epoch) for epoch in range(first_epoch, last_epoch)])
    images, one_hot_labels = tf.constant(images), tf.constant(one_hot_labels)

    def epoch_of(epoch_index):
        batches = tf.data.Dataset.from_tensor_slices(tf.gather(orders, epoch_index)).batch(batch_size)
        epoch = tf.cast(epoch_index, tf.int64) + first_epoch
        return batches.enumerate().map(lambda batch, indices: (epoch, batch, indices))

    def gather(epoch, batch, indices):
        batch_images = tf.gather(images, indices)
        if augmentation != "none":
            batch_images = augment_batch(batch_images, augmentation, _batch_key(seed, epoch, batch))
        return batch_images, tf.gather(one_hot_labels, indices)

    dataset = tf.data.Dataset.range(last_epoch - first_epoch).flat_map(epoch_of)
    # Stateless draws: a parallel map gives the same batches in the same order (tf.data keeps the order).
    return dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
