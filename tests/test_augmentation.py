"""Augmentation is seeded, moves each image by whole pixels, suits each dataset, and reaches training."""

import numpy as np
import pytest
import tensorflow as tf

from mnist_study.core.augmentation import MAX_SHIFT_PIXELS, augment_batch, augmented_batches, augmented_examples
from mnist_study.core.training import TrainingRecipe


@pytest.fixture(scope="module")
def digits(mnist):
    return (mnist.train_images[:64, ..., None] / 255.0).astype(np.float32)


def _offset(original: np.ndarray, moved: np.ndarray) -> tuple[int, int] | None:
    """The (rows, columns) shift that turns `original` into `moved`, padding with 0, or None."""
    m = MAX_SHIFT_PIXELS
    padded = np.pad(original, ((m, m), (m, m), (0, 0)))
    for dy in range(2 * m + 1):
        for dx in range(2 * m + 1):
            if np.array_equal(padded[dy:dy + 28, dx:dx + 28], moved):
                return m - dy, m - dx
    return None


def test_same_seed_same_transforms_other_seed_other_transforms(digits):
    first, = augmented_examples(digits, "digits", seed=0, draws=1)
    again, = augmented_examples(digits, "digits", seed=0, draws=1)
    other, = augmented_examples(digits, "digits", seed=1, draws=1)
    assert first.shape == digits.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_digits_are_shifted_by_whole_pixels_each_by_its_own_offset(digits):
    moved, = augmented_examples(digits, "digits", seed=0, draws=1)
    offsets = [_offset(original, shifted) for original, shifted in zip(digits, moved, strict=True)]
    assert None not in offsets  # every image is an exact integer shift: no interpolation, no flip
    assert len(set(offsets)) > 10  # per image, not one offset for the batch
    assert {dy for dy, _ in offsets} == set(range(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS + 1))


def test_clothing_flips_about_half_the_images(digits):
    generator = tf.random.Generator.from_seed(0)
    flipped = augment_batch(tf.constant(digits), "clothing", generator).numpy()
    mirrored = [_offset(original[:, ::-1], image) is not None and _offset(original, image) is None
                for original, image in zip(digits, flipped, strict=True)]
    assert 16 <= sum(mirrored) <= 48


def test_none_leaves_images_alone(digits):
    generator = tf.random.Generator.from_seed(0)
    np.testing.assert_array_equal(augment_batch(tf.constant(digits), "none", generator).numpy(), digits)


def test_batches_cover_every_image_once_per_epoch(digits):
    labels = np.eye(10, dtype=np.float32)[np.arange(64) % 10]
    batches = list(augmented_batches(digits, labels, batch_size=16, augmentation="digits", seed=0))
    assert [len(images) for images, _ in batches] == [16, 16, 16, 16]
    seen = np.concatenate([targets.numpy().argmax(axis=1) for _, targets in batches])
    assert np.array_equal(np.sort(seen), np.sort(np.arange(64) % 10))
    # Two passes over the same dataset draw different shifts (fresh every epoch), and a rebuilt one repeats them.
    dataset = augmented_batches(digits, labels, batch_size=64, augmentation="digits", seed=0)
    epoch_one, epoch_two = (next(iter(dataset))[0].numpy() for _ in range(2))
    rebuilt = next(iter(augmented_batches(digits, labels, batch_size=64, augmentation="digits", seed=0)))[0]
    assert not np.array_equal(epoch_one, epoch_two)
    np.testing.assert_array_equal(epoch_one, rebuilt.numpy())


def test_unknown_augmentation_is_refused(digits):
    with pytest.raises(ValueError, match=r"augmentation: unknown 'mixup'; expected one of \['none', 'digits'"):
        augmented_examples(digits, "mixup", seed=0, draws=1)
    with pytest.raises(ValueError, match=r"augmentation: unknown 'flip'"):
        TrainingRecipe(epochs=1, augmentation="flip")
