"""The MNIST-format conversion and the corruptions do exactly what they say."""

import numpy as np
import pytest
from scipy import ndimage

from mnist_study.analysis.generalization import load_uci_digits
from mnist_study.core.transforms import CORRUPTION_STRENGTHS, corrupt, to_mnist_format

CENTRE = 13.5  # centre of a 28x28 field in pixel coordinates


def _ink_box(image):
    rows, columns = np.nonzero(image > 0)
    return rows.max() - rows.min() + 1, columns.max() - columns.min() + 1


def test_vertical_bar_is_fitted_into_20_pixels_and_centred():
    bar = np.zeros((8, 8))
    bar[1:7, 6] = 16  # off-centre, 6 tall and 1 wide, UCI's 0-16 range
    converted = to_mnist_format(bar)
    assert converted.shape == (28, 28) and converted.dtype == np.uint8
    assert converted.max() == 255 and converted.min() == 0
    height, width = _ink_box(converted)
    assert 20 <= height <= 22  # 20 plus at most one pixel of sub-pixel centring on each side
    assert width <= 6  # aspect ratio kept: the bar stays thin
    np.testing.assert_allclose(ndimage.center_of_mass(converted), (CENTRE, CENTRE), atol=0.5)


def test_ring_keeps_its_hole_and_lands_centred():
    yy, xx = np.mgrid[:40, :60]
    radius = np.hypot(yy - 12, xx - 40)
    ring = ((radius > 6) & (radius < 10)).astype(float) * 200  # in a corner of a larger image
    converted = to_mnist_format(ring)
    height, width = _ink_box(converted)
    assert 19 <= height <= 22 and 19 <= width <= 22  # round stays round
    np.testing.assert_allclose(ndimage.center_of_mass(converted), (CENTRE, CENTRE), atol=0.5)
    assert converted[14, 14] == 0  # the hole stays empty


def test_blank_and_bad_images_are_refused():
    with pytest.raises(ValueError, match="blank"):
        to_mnist_format(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"expected a 2-D greyscale array, got shape \(8, 8, 3\)"):
        to_mnist_format(np.ones((8, 8, 3)))


def test_uci_digits_are_converted():
    images, labels = load_uci_digits()
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).sum() == 1797 and len(np.bincount(labels)) == 10
    centres = np.array([ndimage.center_of_mass(image) for image in images[:50]])
    np.testing.assert_allclose(centres, CENTRE, atol=0.6)


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    images = np.zeros((20, 28, 28), dtype=np.float32)
    images[:, 8:20, 12:16] = rng.random((20, 12, 4))
    return images


@pytest.mark.parametrize("corruption", sorted(CORRUPTION_STRENGTHS))
def test_strength_zero_is_the_identity_and_draws_are_seeded(digits, corruption):
    assert np.array_equal(corrupt(digits, corruption, 0, seed=1), digits)
    strongest = CORRUPTION_STRENGTHS[corruption][-1]
    first = corrupt(digits, corruption, strongest, seed=1)
    assert np.array_equal(first, corrupt(digits, corruption, strongest, seed=1))
    assert not np.array_equal(first, digits)
    assert first.shape == digits.shape and first.min() >= 0 and first.max() <= 1


def test_known_effects(digits):
    rotated = corrupt(digits, "rotation", 90, seed=0)
    for original, turned in zip(digits, rotated, strict=True):  # +90 or -90, drawn per image
        assert any(np.allclose(turned, np.rot90(original, k), atol=1e-5) for k in (1, -1))
    shifted = corrupt(digits, "translation", 3, seed=0)
    moved = np.array(ndimage.center_of_mass(shifted[0])) - np.array(ndimage.center_of_mass(digits[0]))
    assert np.hypot(*moved) == pytest.approx(3, abs=0.05)
    noisy = corrupt(np.full((50, 28, 28), 0.5, dtype=np.float32), "noise", 0.1, seed=0)
    assert noisy.std() == pytest.approx(0.1, rel=0.02) and noisy.mean() == pytest.approx(0.5, abs=0.005)
    occluded = corrupt(np.ones((10, 28, 28), dtype=np.float32), "occlusion", 6, seed=0)
    assert np.all((occluded == 0).sum(axis=(1, 2)) == 36)


def test_unknown_corruption():
    with pytest.raises(ValueError, match=r"corruption: unknown 'blur'; expected one of \['rotation'"):
        corrupt(np.zeros((1, 28, 28)), "blur", 1, seed=0)
