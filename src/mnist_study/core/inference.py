"""Class probabilities from a trained model: the one forward pass whose output the study keeps."""

from __future__ import annotations

import numpy as np


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities, shape (N, num_classes), float64 rows summing to 1."""
    probabilities = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)
    # float32 softmax rows are off by ~1e-7, which scikit-learn's log_loss warns about.
    return probabilities / probabilities.sum(axis=1, keepdims=True)
