"""Beyond the MNIST test set: foreign handwriting, corrupted inputs, and calibration of trained models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import auc

from mnist_study.core.transforms import CORRUPTION_STRENGTHS, corrupt, to_mnist_format


def load_uci_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's copy of the UCI handwritten digits (1,797 images, 8x8, 0-16) in MNIST's format."""
    digits = load_digits()
    images = np.stack([to_mnist_format(image) for image in digits.images])
    return images, digits.target.astype(np.uint8)


def corrupted_test_sets(images: np.ndarray, seed: int) -> dict[str, list[np.ndarray]]:
    """Every corruption at every strength of CORRUPTION_STRENGTHS, drawn once so all models see the same images."""
    return {
        name: [corrupt(images, name, strength, seed) for strength in strengths]
        for name, strengths in CORRUPTION_STRENGTHS.items()
    }


def robustness_curves(predict: Callable[[np.ndarray], np.ndarray], corrupted: dict[str, list[np.ndarray]],
                      labels: np.ndarray) -> dict[str, dict]:
    """Accuracy at each strength, and the area under that curve with strength scaled to [0, 1]."""
    curves = {}
    for name, image_sets in corrupted.items():
        strengths = np.asarray(CORRUPTION_STRENGTHS[name], dtype=float)
        accuracy = [float(np.mean(predict(images).argmax(axis=1) == labels)) for images in image_sets]
        curves[name] = {
            "strengths": strengths.tolist(),
            "accuracy": accuracy,
            # Mean accuracy over the range: 1.0 for a model untouched by the corruption.
            "auc": float(auc(strengths / strengths.max(), accuracy)),
        }
    return curves


def make_predictor(model, side: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function from float images (N, 28, 28) in [0, 1] to class probabilities for `model`."""
    from mnist_study.core.data import shape_for_model
    from mnist_study.core.inference import predict_probabilities

    return lambda images: predict_probabilities(model, shape_for_model(images, side))
