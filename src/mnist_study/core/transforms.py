"""Image transforms: bringing foreign digits into MNIST's format, and seeded corruptions for robustness."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

MNIST_SIDE = 28
MNIST_BOX = 20  # MNIST digits were fitted into a 20x20 box, then centred by mass in 28x28

# Strength grids of the robustness study (the ranges the study asks for).
CORRUPTION_STRENGTHS = {
    "rotation": [0, 10, 20, 30, 40, 50, 60],  # degrees, sign drawn per image
    "translation": [0, 1, 2, 3, 4, 5, 6],  # pixels, direction drawn per image
    "noise": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # Gaussian sigma on the [0, 1] scale
    "occlusion": [0, 2, 4, 6, 8, 10, 12, 14],  # side of a zeroed square, placed per image
}


def to_mnist_format(image: np.ndarray, box: int = MNIST_BOX, side: int = MNIST_SIDE) -> np.ndarray:
    """One greyscale image with bright ink on a dark background -> uint8 (28, 28), the way MNIST was made.

    Scale to [0, 1], crop to the ink, resize the longer side to `box` keeping the aspect ratio
    (anti-aliased), then shift so the centre of mass sits at the centre of the `side` x `side` field.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image: expected a 2-D greyscale array, got shape {image.shape}")
    if image.size == 0 or image.max() <= image.min() or image.max() <= 0:
        raise ValueError("image: blank (no ink to centre)")
    scaled = np.clip(image, 0, None) / image.max()
    rows, columns = np.nonzero(scaled > 0)
    ink = scaled[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    factor = box / max(ink.shape)
    height, width = (max(1, round(extent * factor)) for extent in ink.shape)
    resized = np.asarray(Image.fromarray(ink, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    canvas = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    canvas[top:top + height, left:left + width] = np.clip(resized, 0, 1)
    centre_of_mass = np.asarray(ndimage.center_of_mass(canvas))
    centred = ndimage.shift(canvas, (side - 1) / 2 - centre_of_mass, order=1, mode="constant", cval=0.0)
    return np.round(np.clip(centred, 0, 1) * 255).astype(np.uint8)


def rotate(images: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by ±`degrees` about its centre (sign drawn per image)."""
    signs = rng.choice([-1.0, 1.0], size=len(images))
    return np.stack([ndimage.rotate(image, sign * degrees, reshape=False, order=1, mode="constant", cval=0.0)
                     for image, sign in zip(images, signs, strict=True)])


def translate(images: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by `pixels` in a direction drawn per image; what leaves the frame is lost."""
    angles = rng.uniform(0, 2 * np.pi, size=len(images))
    return np.stack([ndimage.shift(image, (pixels * np.sin(angle), pixels * np.cos(angle)), order=1,
                                   mode="constant", cval=0.0) for image, angle in zip(images, angles, strict=True)])


def add_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of standard deviation `sigma`, clipped back to [0, 1]."""
    return np.clip(images + rng.normal(0.0, sigma, size=images.shape), 0.0, 1.0).astype(images.dtype)


def occlude(images: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Zero a `size` x `size` square per image, placed at random inside the central 20x20 box."""
    occluded = images.copy()
    if size == 0:
        return occluded
    low, high = (MNIST_SIDE - MNIST_BOX) // 2, (MNIST_SIDE + MNIST_BOX) // 2 - size
    corners = rng.integers(low, max(low, high) + 1, size=(len(images), 2))
    for image, (top, left) in zip(occluded, corners, strict=True):
        image[top:top + size, left:left + size] = 0.0
    return occluded


CORRUPTIONS = {"rotation": rotate, "translation": translate, "noise": add_noise, "occlusion": occlude}


def corrupt(images: np.ndarray, corruption: str, strength: float, seed: int) -> np.ndarray:
    """Apply `corruption` at `strength` to float images (N, 28, 28) in [0, 1]; the same seed gives the same draw."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption: unknown {corruption!r}; expected one of {list(CORRUPTIONS)}")
    if images.ndim != 3:
        raise ValueError(f"images: expected shape (N, 28, 28), got {images.shape}")
    if strength == 0:
        return images.copy()
    return CORRUPTIONS[corruption](images, strength, np.random.default_rng(seed))
