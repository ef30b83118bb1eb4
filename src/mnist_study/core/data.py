"""Load the vendored MNIST / Fashion-MNIST IDX files and prepare them for training."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import train_test_split

# src/mnist_study/data.py -> project root / data
# The project folder, the nearest above this file that has a pyproject.toml, so that the module may move.
PROJECT_DIR = next((folder for folder in Path(__file__).resolve().parents if (folder / "pyproject.toml").is_file()),
                   Path(__file__).resolve().parents[2])
DEFAULT_DATA_DIR = PROJECT_DIR / "data"

IMAGE_MAGIC = 0x00000803  # IDX: unsigned byte, 3 dimensions
LABEL_MAGIC = 0x00000801  # IDX: unsigned byte, 1 dimension
IMAGE_SIDE = 28

# SHA-256 of the *decompressed* files (data/README.md), so re-compressing never breaks them.
DATASETS = {
    "mnist": {
        "folder": "mnist",
        "class_names": [str(digit) for digit in range(10)],
        "sha256": {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    },
    "fashion_mnist": {
        "folder": "fashion-mnist",
        "class_names": [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ],
        "sha256": {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    },
}
DATASET_NAMES = sorted(DATASETS)


class DatasetError(ValueError):
    """A dataset file is missing, malformed, or not the verified copy."""


class Dataset(NamedTuple):
    train_images: np.ndarray  # (60000, 28, 28) uint8
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    class_names: list[str]


class Split(NamedTuple):
    train_images: np.ndarray
    train_labels: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray


def check_dataset_name(name: str) -> dict:
    """Return the spec of a dataset, or raise naming the valid choices."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {DATASET_NAMES}")
    return DATASETS[name]


def _decompress(path: Path) -> bytes:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (expected the gzipped IDX file here)")
    try:
        return gzip.decompress(path.read_bytes())
    except (EOFError, OSError, zlib.error) as error:
        raise DatasetError(f"{path}: not a complete gzip file ({error}); the file is truncated or corrupt") from error


def _parse_idx(raw: bytes, path: Path, expected_magic: int) -> np.ndarray:
    """Parse IDX bytes (big-endian header, then uint8 data) into an array, checking the header."""
    if len(raw) < 8:
        raise DatasetError(f"{path}: {len(raw)} bytes decompressed, expected at least an 8-byte IDX header")
    magic = int.from_bytes(raw[0:4], "big")
    if magic != expected_magic:
        raise DatasetError(f"{path}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DatasetError(f"{path}: {len(raw)} bytes, expected a {header_size}-byte header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DatasetError(f"{path}: images are {shape[1]}x{shape[2]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    expected_size = header_size + int(np.prod(shape))
    if len(raw) != expected_size:
        raise DatasetError(
            f"{path}: {len(raw)} bytes decompressed, expected {expected_size} for shape {shape}; "
            "the file is truncated or has trailing data"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _load_split(folder: Path, prefix: str, spec: dict, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    image_path, label_path = folder / f"{image_name}.gz", folder / f"{label_name}.gz"
    image_raw, label_raw = _decompress(image_path), _decompress(label_path)
    images = _parse_idx(image_raw, image_path, IMAGE_MAGIC)
    labels = _parse_idx(label_raw, label_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(
            f"{image_path}: {len(images)} images but {label_path} has {len(labels)} labels; expected equal counts"
        )
    if labels.size and labels.max() >= n_classes:
        raise DatasetError(f"{label_path}: label {labels.max()} found, expected labels 0..{n_classes - 1}")
    # Checked last so that structural problems get their own, more specific message.
    for path, raw, name in ((image_path, image_raw, image_name), (label_path, label_raw, label_name)):
        digest = hashlib.sha256(raw).hexdigest()
        if digest != spec["sha256"][name]:
            raise DatasetError(
                f"{path}: SHA-256 of decompressed bytes is {digest}, expected {spec['sha256'][name]}"
            )
    return images, labels


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Read and verify both splits of `name` ("mnist" or "fashion_mnist"); never writes anything."""
    spec = check_dataset_name(name)
    folder = Path(data_dir if data_dir is not None else DEFAULT_DATA_DIR) / spec["folder"]
    n_classes = len(spec["class_names"])
    train_images, train_labels = _load_split(folder, "train", spec, n_classes)
    test_images, test_labels = _load_split(folder, "t10k", spec, n_classes)
    return Dataset(train_images, train_labels, test_images, test_labels, list(spec["class_names"]))


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return images.astype(np.float32) / 255.0


def add_channel_axis(images: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, H, W, 1), the layout Keras' Conv2D expects."""
    return images[..., np.newaxis]


def pad_to_32(images: np.ndarray) -> np.ndarray:
    """Zero-pad 28x28 images to 32x32, the input size of LeNet-5 (LeCun et al. 1998)."""
    if images.shape[1:3] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"images: expected shape (N, 28, 28[, C]), got {images.shape}")
    pad = [(0, 0), (2, 2), (2, 2)] + [(0, 0)] * (images.ndim - 3)
    return np.pad(images, pad)


def prepare_images(images: np.ndarray, pad_to: int = IMAGE_SIDE) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, side, side, 1) in [0, 1]; side is 28 or 32."""
    return shape_for_model(scale_images(images), pad_to)


def shape_for_model(images: np.ndarray, pad_to: int = IMAGE_SIDE) -> np.ndarray:
    """Float (N, 28, 28) -> (N, side, side, 1): the channel axis, and LeNet-5's padding when side is 32."""
    if pad_to not in (IMAGE_SIDE, 32):
        raise ValueError(f"pad_to: expected 28 or 32, got {pad_to}")
    shaped = add_channel_axis(images)
    return pad_to_32(shaped) if pad_to == 32 else shaped


def stratified_subset(images: np.ndarray, labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-balanced random subset of `size` examples (for quick runs and tests)."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels: lengths differ ({len(images)} vs {len(labels)})")
    if not 0 < size <= len(labels):
        raise ValueError(f"size: expected 1..{len(labels)}, got {size}")
    if size == len(labels):
        return images, labels
    images_kept, _, labels_kept, _ = train_test_split(
        images, labels, train_size=size, stratify=labels, random_state=seed
    )
    return images_kept, labels_kept


def train_validation_split(
    images: np.ndarray, labels: np.ndarray, validation_fraction: float = 0.1, seed: int = 0
) -> Split:
    """Seeded, stratified split; unlike Keras' `validation_split` it does not just take the tail."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels: lengths differ ({len(images)} vs {len(labels)})")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction: expected a value in (0, 1), got {validation_fraction}")
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=validation_fraction, stratify=labels, random_state=seed
    )
    return Split(train_x, train_y, val_x, val_y)


def prepare_training_split(data: Dataset, seed: int, side: int, validation_fraction: float,
                           train_subset: int | None = None) -> Split:
    """Seeded stratified train/validation split (optionally a class-balanced subset first), images prepared."""
    images, labels = data.train_images, data.train_labels
    if train_subset is not None and train_subset < len(labels):
        images, labels = stratified_subset(images, labels, train_subset, seed)
    split = train_validation_split(images, labels, validation_fraction, seed)
    return split._replace(
        train_images=prepare_images(split.train_images, side),
        validation_images=prepare_images(split.validation_images, side),
    )
