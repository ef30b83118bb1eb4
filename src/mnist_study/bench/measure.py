"""What every benchmark measures with: the verified MNIST images, models in a precision, steady training rates."""

from __future__ import annotations

import functools
import statistics
import time


@functools.cache
def mnist_dataset():
    # Loaded and verified once per process: every model's throughput run starts from the same images.
    from mnist_study.core.data import load_dataset

    return load_dataset("mnist")


def prepared_mnist(side: int, count: int):
    """The first `count` MNIST training images, prepared at `side` pixels, and their labels."""
    from mnist_study.core.data import prepare_images

    data = mnist_dataset()
    return prepare_images(data.train_images[:count], side), data.train_labels[:count]


def build_in_precision(model_name: str, precision: str):
    """build_model under the Keras dtype policy `precision`, leaving the global policy as it was."""
    import keras

    from mnist_study.core.models import build_model

    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        return build_model(model_name)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def steady_images_per_s(model, images_per_epoch: int, *fit_args, **fit_kwargs) -> float:
    """Median training images/s over the epochs of one `model.fit` after the first (tracing, allocation)."""
    import keras

    seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.clock = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.clock)

    model.fit(*fit_args, verbose=0, callbacks=[EpochTimer()], **fit_kwargs)
    return statistics.median(images_per_epoch / value for value in seconds[1:])
