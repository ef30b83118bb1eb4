"""Augmentation is seeded, keeps images in range, suits each dataset, and reaches training."""

import numpy as np
import pytest

from mnist_study.augmentation import augmented_batches, build_augmentation
from mnist_study.training import TrainingRecipe


@pytest.fixture(scope="module")
def digits(mnist):
    return (mnist.train_images[:64, ..., None] / 255.0).astype(np.float32)


def test_same_seed_same_transforms_other_seed_other_transforms(digits):
    first = build_augmentation("digits", seed=0)(digits, training=True).numpy()
    again = build_augmentation("digits", seed=0)(digits, training=True).numpy()
    other = build_augmentation("digits", seed=1)(digits, training=True).numpy()
    assert first.shape == digits.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, digits)  # something moved
    assert first.min() >= -1e-6 and first.max() <= 1 + 1e-6
    # Small transforms: the ink mostly stays; a 10-degree turn, 10 % shift and zoom lose little of it.
    assert abs(first.sum() / digits.sum() - 1) < 0.2


def test_clothing_flips_but_never_rotates(digits):
    augment = build_augmentation("clothing", seed=0)
    assert [layer.__class__.__name__ for layer in augment.layers] == ["RandomFlip", "RandomTranslation"]
    assert augment.layers[0].mode == "horizontal"


def test_inference_leaves_images_alone(digits):
    np.testing.assert_array_equal(build_augmentation("digits", seed=0)(digits, training=False).numpy(), digits)
    assert build_augmentation("none", seed=0) is None


def test_batches_cover_every_image_once_per_epoch(digits):
    labels = np.eye(10, dtype=np.float32)[np.arange(64) % 10]
    batches = list(augmented_batches(digits, labels, batch_size=16, augmentation="none", seed=0))
    assert [len(images) for images, _ in batches] == [16, 16, 16, 16]
    seen = np.concatenate([targets.numpy().argmax(axis=1) for _, targets in batches])
    assert np.array_equal(np.sort(seen), np.sort(np.arange(64) % 10))


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match=r"augmentation: unknown 'mixup'; expected one of \['none', 'digits'"):
        build_augmentation("mixup", seed=0)
    with pytest.raises(ValueError, match=r"augmentation: unknown 'flip'"):
        TrainingRecipe(epochs=1, augmentation="flip")
