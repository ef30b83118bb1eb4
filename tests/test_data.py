"""The loader reads the verified copies exactly, and every kind of bad file gets a clear error."""

import gzip
import hashlib
import shutil
import time

import numpy as np
import pytest

from mnist_study.core.data import (
    DATASET_NAMES,
    DEFAULT_DATA_DIR,
    DatasetError,
    load_dataset,
    pad_to_32,
    prepare_images,
    stratified_subset,
    train_validation_split,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("fixture", ["mnist", "fashion_mnist"])
def test_shapes_and_types(fixture, request):
    data = request.getfixturevalue(fixture)
    assert data.train_images.shape == (60000, 28, 28)
    assert data.test_images.shape == (10000, 28, 28)
    assert data.train_labels.shape == (60000,)
    assert data.test_labels.shape == (10000,)
    assert {array.dtype for array in data[:4]} == {np.dtype(np.uint8)}
    assert len(data.class_names) == 10


def test_mnist_class_counts(mnist):
    assert np.bincount(mnist.train_labels).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.test_labels).tolist() == MNIST_TEST_COUNTS
    assert mnist.class_names == [str(digit) for digit in range(10)]


def test_fashion_mnist_class_counts(fashion_mnist):
    assert np.bincount(fashion_mnist.train_labels).tolist() == [6000] * 10
    assert np.bincount(fashion_mnist.test_labels).tolist() == [1000] * 10
    assert fashion_mnist.class_names[0] == "T-shirt/top" and fashion_mnist.class_names[9] == "Ankle boot"


def test_known_pixel_statistics(mnist):
    # Independent of our parser: MNIST's training mean and std are the well-known 0.1307 and 0.3081.
    scaled = mnist.train_images / 255.0
    assert scaled.mean() == pytest.approx(0.1307, abs=1e-4)
    assert scaled.std() == pytest.approx(0.3081, abs=1e-4)
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_loading_is_fast_and_writes_nothing():
    before = {path: path.stat().st_mtime_ns for path in DEFAULT_DATA_DIR.rglob("*")}
    start = time.perf_counter()
    load_dataset("fashion_mnist")
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0  # 0.3 s measured here; generous for a loaded CI machine
    assert {path: path.stat().st_mtime_ns for path in DEFAULT_DATA_DIR.rglob("*")} == before


def test_preprocessing_ranges(mnist):
    images = prepare_images(mnist.test_images[:100])
    assert images.shape == (100, 28, 28, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    padded = prepare_images(mnist.test_images[:100], pad_to=32)
    assert padded.shape == (100, 32, 32, 1)
    assert np.array_equal(padded[:, 2:30, 2:30], images)  # centred, border zero
    assert padded[:, :2].max() == 0 and padded[:, :, 30:].max() == 0
    assert pad_to_32(mnist.test_images[:3]).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="pad_to: expected 28 or 32, got 30"):
        prepare_images(mnist.test_images[:3], pad_to=30)


def test_train_validation_split_is_stratified_and_seeded(mnist):
    split = train_validation_split(mnist.train_images, mnist.train_labels, validation_fraction=0.1, seed=3)
    assert len(split.train_images) == 54000 and len(split.validation_images) == 6000
    assert len(split.train_labels) == 54000 and len(split.validation_labels) == 6000
    expected = np.asarray(MNIST_TRAIN_COUNTS) * 0.1
    assert np.all(np.abs(np.bincount(split.validation_labels) - expected) <= 1)
    again = train_validation_split(mnist.train_images, mnist.train_labels, validation_fraction=0.1, seed=3)
    assert np.array_equal(split.validation_labels, again.validation_labels)
    other = train_validation_split(mnist.train_images, mnist.train_labels, validation_fraction=0.1, seed=4)
    assert not np.array_equal(split.validation_labels, other.validation_labels)
    # Unlike Keras' validation_split, the validation set is not the tail of the training set.
    assert not np.array_equal(split.validation_labels, mnist.train_labels[-6000:])


def test_split_and_subset_reject_bad_arguments(mnist):
    with pytest.raises(ValueError, match=r"validation_fraction: expected a value in \(0, 1\), got 1.5"):
        train_validation_split(mnist.test_images, mnist.test_labels, validation_fraction=1.5)
    with pytest.raises(ValueError, match=r"lengths differ \(10000 vs 9\)"):
        train_validation_split(mnist.test_images, mnist.test_labels[:9])
    with pytest.raises(ValueError, match="size: expected 1..10000, got 0"):
        stratified_subset(mnist.test_images, mnist.test_labels, 0, seed=0)
    images, labels = stratified_subset(mnist.test_images, mnist.test_labels, 500, seed=0)
    assert len(images) == len(labels) == 500 and np.bincount(labels).min() >= 40


# ---- bad input: broken copies built in a temporary folder ----

def _copy_mnist(tmp_path):
    shutil.copytree(DEFAULT_DATA_DIR / "mnist", tmp_path / "mnist")
    return tmp_path / "mnist"


def _rewrite(path, transform):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(bytes(transform(raw))))


def test_unknown_dataset_name_lists_valid_names():
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar10'; expected one of \['fashion_mnist', 'mnist'\]"):
        load_dataset("cifar10")
    assert DATASET_NAMES == ["fashion_mnist", "mnist"]


def test_missing_file(tmp_path):
    folder = _copy_mnist(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz: file not found"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_gzip(tmp_path):
    folder = _copy_mnist(tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz: not a complete gzip file.*truncated"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_content(tmp_path):
    folder = _copy_mnist(tmp_path)
    _rewrite(folder / "t10k-images-idx3-ubyte.gz", lambda raw: raw[:-784])
    with pytest.raises(DatasetError, match=r"7839232 bytes decompressed, expected 7840016 for shape \(10000, 28, 28\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_wrong_magic_number(tmp_path):
    folder = _copy_mnist(tmp_path)

    def corrupt(raw):
        raw[2] = 0x0C  # int32 instead of unsigned byte
        return raw

    _rewrite(folder / "train-labels-idx1-ubyte.gz", corrupt)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte.gz: magic number 0x00000c01, expected 0x00000801"):
        load_dataset("mnist", data_dir=tmp_path)


def test_wrong_dimensions(tmp_path):
    folder = _copy_mnist(tmp_path)

    def reshape(raw):
        raw[8:12] = (56).to_bytes(4, "big")  # rows = 56, with the count halved: same byte total
        raw[4:8] = (5000).to_bytes(4, "big")
        return raw

    _rewrite(folder / "t10k-images-idx3-ubyte.gz", reshape)
    with pytest.raises(DatasetError, match=r"images are 56x28, expected 28x28"):
        load_dataset("mnist", data_dir=tmp_path)


def test_mismatched_counts(tmp_path):
    folder = _copy_mnist(tmp_path)

    def drop_last_label(raw):
        raw[4:8] = (9999).to_bytes(4, "big")
        return raw[:-1]

    _rewrite(folder / "t10k-labels-idx1-ubyte.gz", drop_last_label)
    with pytest.raises(DatasetError, match=r"10000 images but .*t10k-labels-idx1-ubyte.gz has 9999 labels"):
        load_dataset("mnist", data_dir=tmp_path)


def test_checksum_mismatch(tmp_path):
    folder = _copy_mnist(tmp_path)

    def relabel(raw):
        raw[8] = (raw[8] + 1) % 10  # one label changed: structure intact, content not
        return raw

    path = folder / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, relabel)
    digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    with pytest.raises(DatasetError, match=rf"SHA-256 of decompressed bytes is {digest}, expected ff7bcfd4"):
        load_dataset("mnist", data_dir=tmp_path)


def test_recompressed_copy_still_verifies(tmp_path):
    folder = _copy_mnist(tmp_path)
    _rewrite(folder / "t10k-labels-idx1-ubyte.gz", lambda raw: raw)  # different gzip bytes, same content
    assert load_dataset("mnist", data_dir=tmp_path).test_labels[:3].tolist() == [7, 2, 1]
