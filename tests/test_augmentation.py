"""Augmentation is seeded, moves each image by whole pixels, erases patches, suits each dataset, and every epoch's
batches depend on (seed, epoch) alone."""

import numpy as np
import pytest
import tensorflow as tf

from mnist_study.core.augmentation import (
    ERASE_AREA,
    MAX_SHIFT_PIXELS,
    augment_batch,
    augmented_examples,
    epoch_batches,
    random_affine,
)
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


KEY = tf.constant([0, 0], tf.int64)


def test_clothing_flips_about_half_the_images(digits):
    flipped = augment_batch(tf.constant(digits), "clothing", KEY).numpy()
    mirrored = [_offset(original[:, ::-1], image) is not None and _offset(original, image) is None
                for original, image in zip(digits, flipped, strict=True)]
    assert 16 <= sum(mirrored) <= 48


def test_random_erasing_replaces_one_rectangle_in_about_half_the_images(digits):
    erased = augment_batch(tf.constant(digits), "clothing_erasing", KEY).numpy()
    flipped_shifted = augment_batch(tf.constant(digits), "clothing", KEY).numpy()  # the same keys: same flips, shifts
    changed = 0
    for before, after in zip(flipped_shifted[..., 0], erased[..., 0], strict=True):
        rows, columns = np.nonzero(before != after)
        if len(rows) == 0:
            continue
        changed += 1
        box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
        assert box <= ERASE_AREA[1] * 28 * 28 * 1.3  # one rectangle, of at most the largest area (after rounding)
    assert 16 <= changed <= 48


def test_none_leaves_images_alone(digits):
    np.testing.assert_array_equal(augment_batch(tf.constant(digits), "none", KEY).numpy(), digits)


def test_batches_cover_every_image_once_per_epoch_and_depend_on_seed_and_epoch_only(digits):
    labels = np.eye(10, dtype=np.float32)[np.arange(64) % 10]
    batches = list(epoch_batches(digits, labels, batch_size=16, augmentation="digits", seed=0, first_epoch=0,
                                 last_epoch=2))
    assert [len(images) for images, _ in batches] == [16] * 8  # two epochs of four batches, back to back
    for epoch in (batches[:4], batches[4:]):
        seen = np.concatenate([targets.numpy().argmax(axis=1) for _, targets in epoch])
        assert np.array_equal(np.sort(seen), np.sort(np.arange(64) % 10))
    # Epoch 1 is the same batches whether the run starts at epoch 0 or resumes at epoch 1; epoch 0 differs.
    resumed = list(epoch_batches(digits, labels, batch_size=16, augmentation="digits", seed=0, first_epoch=1,
                                 last_epoch=2))
    for (images, targets), (again, again_targets) in zip(batches[4:], resumed, strict=True):
        np.testing.assert_array_equal(images.numpy(), again.numpy())
        np.testing.assert_array_equal(targets.numpy(), again_targets.numpy())
    assert not np.array_equal(batches[0][0].numpy(), batches[4][0].numpy())
    other_seed = next(iter(epoch_batches(digits, labels, 16, "digits", seed=1, first_epoch=0, last_epoch=1)))
    assert not np.array_equal(batches[0][0].numpy(), other_seed[0].numpy())
    with pytest.raises(ValueError, match="epochs: expected 0 <= first_epoch < last_epoch, got 2 and 2"):
        epoch_batches(digits, labels, 16, "digits", seed=0, first_epoch=2, last_epoch=2)


def test_unknown_augmentation_is_refused(digits):
    with pytest.raises(ValueError, match=r"augmentation: unknown 'mixup'; expected one of \['none', 'digits'"):
        augmented_examples(digits, "mixup", seed=0, draws=1)
    with pytest.raises(ValueError, match=r"augmentation: unknown 'rotate'"):
        TrainingRecipe(epochs=1, augmentation="rotate")


def test_affine_rotates_and_scales_about_the_centre_each_image_by_its_own_draw(digits):
    key = tf.constant([3, 4], tf.int64)
    unchanged = random_affine(tf.constant(digits), key, max_degrees=0.0, scales=(1.0, 1.0)).numpy()
    np.testing.assert_allclose(unchanged, digits, atol=1e-6)
    # A bar through the centre, turned by up to a quarter: its ink is kept.
    bar = np.zeros((1, 28, 28, 1), np.float32)
    bar[0, 4:24, 13:15] = 1.0
    turned = random_affine(tf.constant(bar), key, max_degrees=90.0 - 1e-9, scales=(1.0, 1.0)).numpy()
    assert turned.sum() == pytest.approx(bar.sum(), rel=0.05)
    # Twice the size: a centred dot covers about four times the pixels.
    dot = np.zeros((1, 28, 28, 1), np.float32)
    dot[0, 12:16, 12:16] = 1.0
    doubled = random_affine(tf.constant(dot), key, max_degrees=0.0, scales=(2.0, 2.0)).numpy()
    assert doubled.sum() == pytest.approx(4 * dot.sum(), rel=0.1) and doubled[0, 13, 13, 0] == pytest.approx(1.0)
    first, = augmented_examples(digits, "digits_affine", seed=0, draws=1)
    again, = augmented_examples(digits, "digits_affine", seed=0, draws=1)
    assert np.array_equal(first, again) and not np.array_equal(first, digits)
    ink = digits.sum(axis=(1, 2, 3))
    assert np.abs(first.sum(axis=(1, 2, 3)) - ink).max() < 0.35 * ink.max()  # scaled by 0.9-1.1: ink within ~21 %
