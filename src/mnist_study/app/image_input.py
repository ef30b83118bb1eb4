"""People's images -> the dataset's 28x28 form: the one conversion behind `predict` and the demo.

Whatever arrives (a PNG from a drawing app with a transparent background, a 16-bit or palette scan, a
colour photo with uneven lighting, a phone photo stored sideways, a 6000-pixel image) is read, turned
upright, reduced to at most MAX_SIDE pixels, flattened onto its background, turned into light ink on a
dark background and framed the way MNIST was made (transforms.to_mnist_format).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from mnist_study.core.transforms import MNIST_BOX, MNIST_SIDE, to_mnist_format

MAX_SIDE = 512  # px: larger images are reduced first, so the work below is bounded (the result is 28x28 anyway)
BACKGROUND_SIDE = 96  # px: the lighting is estimated on a small copy; it varies slowly across the image
NOISE_FLOOR = 0.15  # share of the brightest ink below which a pixel counts as background (JPEG ringing, grain)
BLANK_CONTRAST = 0.1  # ink must stand this far (share of the full range) above the background


class ImageError(ValueError):
    """An input that cannot be turned into a dataset-style image; the message says why, for a person."""


def read_image(path: str | Path) -> Image.Image:
    """Open an image file, upright (EXIF orientation applied) and at most MAX_SIDE pixels on its longer side."""
    path = Path(path)
    if path.is_dir():
        raise ImageError("is a directory, not an image file")
    if not path.is_file():
        raise ImageError("file not found")
    if path.stat().st_size == 0:
        raise ImageError("empty file")
    try:
        with Image.open(path) as image:
            image.draft(image.mode, (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale, cheaply
            image = ImageOps.exif_transpose(image)
            image.load()
    except UnidentifiedImageError as error:
        raise ImageError("not an image in a format Pillow can read") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"too large to read safely ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"unreadable image ({error})") from error
    return _reduced(image)


def _reduced(image: Image.Image) -> Image.Image:
    if min(image.size) == 0:
        raise ImageError("zero-size image")
    if max(image.size) <= MAX_SIDE:
        return image
    if image.mode not in ("L", "RGB", "RGBA", "I", "F"):
        image = image.convert("RGBA" if _has_alpha(image) else ("I" if image.mode.startswith("I") else "RGB"))
    factor = MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BOX)  # an area average: thin strokes fade but do not vanish


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def greyscale(image: Image.Image) -> np.ndarray:
    """Float32 luminance in [0, 255]; transparent pixels take the colour that contrasts with the ink."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit scans and float images: stretch their own range; a plain convert("L") would clip it.
        values = np.asarray(image.convert("F") if image.mode != "F" else image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        return (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    if _has_alpha(image):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3] / 255.0
        luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if alpha.min() < 1.0 and alpha.max() > 0.0:
            # A drawing app's export: dark strokes on a transparent canvas (or light ones). Put the canvas
            # behind the strokes in the colour that is not theirs, before deciding which side is ink.
            ink_is_dark = float(np.average(luminance, weights=alpha)) < 128
            backdrop = 255.0 if ink_is_dark else 0.0
            return luminance * alpha + backdrop * (1.0 - alpha)
        return luminance
    return np.asarray(image.convert("L"), dtype=np.float32)


def ink_map(grey: np.ndarray, strokes: bool = True) -> np.ndarray:
    """Light ink on a zero background: inverted when the paper is light, with the lighting taken away.

    `strokes`: the content is thin lines (a digit), so the background can be estimated everywhere, under
    the strokes too; otherwise (a garment filling the frame) it is the level of the image's border.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if float(np.median(border)) > 127:  # dark ink on light paper: invert to MNIST's light-on-dark
        grey, border = 255.0 - grey, 255.0 - border
    if not strokes:
        return np.clip(grey - float(np.median(border)), 0, None)
    # The background (paper under uneven light) is what remains after opening away every stroke; estimated
    # on a small copy with a window wider than a stroke, then subtracted.
    factor = min(1.0, BACKGROUND_SIDE / max(grey.shape))
    small = ndimage.zoom(grey, factor, order=1) if factor < 1.0 else grey
    window = max(3, min(small.shape) // 3)
    background_small = ndimage.grey_opening(small, size=(window, window))
    background = ndimage.zoom(background_small, np.divide(grey.shape, small.shape), order=1) \
        if factor < 1.0 else background_small
    background = background[:grey.shape[0], :grey.shape[1]]
    if background.shape != grey.shape:  # zoom can fall a pixel short
        background = np.pad(background, [(0, g - b) for g, b in zip(grey.shape, background.shape, strict=True)],
                            mode="edge")
    return np.clip(grey - background, 0, None)


def to_dataset_image(image: Image.Image, dataset: str = "mnist") -> np.ndarray:
    """A PIL image -> uint8 (28, 28), light ink on a dark background, framed like the dataset's images."""
    image = _reduced(image)
    ink = ink_map(greyscale(image), strokes=dataset == "mnist")
    if ink.max() < BLANK_CONTRAST * 255:
        raise ImageError("blank image (no content distinguishable from the background)")
    ink[ink < NOISE_FLOOR * ink.max()] = 0  # faint specks would widen the crop and shrink the digit
    box = MNIST_BOX if dataset == "mnist" else MNIST_SIDE  # Fashion-MNIST items fill the frame
    return to_mnist_format(ink, box=box)


def load_image(path: str | Path, dataset: str = "mnist") -> np.ndarray:
    """Read an image file and return it as uint8 (28, 28): light ink on a dark background, centred."""
    return to_dataset_image(read_image(path), dataset)
