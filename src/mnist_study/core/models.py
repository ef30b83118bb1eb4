"""Model builders: one function per architecture, each returning an uncompiled Functional keras.Model."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras
from keras import layers

DEFAULT_INPUT_SHAPE = (28, 28, 1)
LENET5_INPUT_SHAPE = (32, 32, 1)
NUM_CLASSES = 10
# PyTorch's default, not Keras's 0.99: at 0.99 the moving statistics average over ~100 steps, an epoch at batch 512,
# so they trail weights that are still moving fast. 06's 3-epoch screen runs then scored 38-58 % on validation at
# 99 % training accuracy (99.0 % with the statistics re-estimated for the final weights, as they are at 0.9).
BATCH_NORM_MOMENTUM = 0.9


def _classifier_head(features, num_classes: int):
    # float32 even under mixed precision: a bfloat16 softmax is too coarse for the loss and for calibration.
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(features)


def build_feedforward(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    units: tuple[int, int] | list[int] = (128, 64),
    dropout_rate: float = 0.2,
) -> keras.Model:
    """Two hidden dense layers with dropout (the seeds' "simple NN"; 109,386 parameters by default)."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    for width in units:
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="feedforward")


def build_lenet5(input_shape=LENET5_INPUT_SHAPE, num_classes: int = NUM_CLASSES) -> keras.Model:
    """LeNet-5 (LeCun et al. 1998) on 32x32 input, with ReLU and max pooling; 61,706 parameters."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(6, 5, activation="relu")(inputs)  # 28x28x6
    x = layers.MaxPooling2D()(x)  # 14x14x6
    x = layers.Conv2D(16, 5, activation="relu")(x)  # 10x10x16
    x = layers.MaxPooling2D()(x)  # 5x5x16
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu")(x)
    x = layers.Dense(84, activation="relu")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="lenet5")


def build_cnn_minimal(
    input_shape=DEFAULT_INPUT_SHAPE, num_classes: int = NUM_CLASSES, filters: int = 32
) -> keras.Model:
    """The smallest useful CNN: one 3x3 convolution straight into the classifier (seeds' baseline)."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(filters, 3, activation="relu")(inputs)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="cnn_minimal")


def build_cnn_deep(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    filters: tuple[int, ...] | list[int] = (32, 64, 128),
) -> keras.Model:
    """Three 3x3 conv layers (32, 64, 128) with pooling, then Dense 64 -> 32 -> 10 (seeds' deep CNN)."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for count in filters:
        x = layers.Conv2D(count, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)  # 28 -> 13 -> 5 -> 1 (after 26, 11, 3)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="cnn_deep")


def build_cnn_regularized(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    dropout_rate: float = 0.25,
    dense_dropout_rate: float | None = None,
) -> keras.Model:
    """Conv(32, 5x5) -> pool -> dropout -> Conv(64, 3x3) -> pool -> dropout -> Dense(128) -> dropout (seeds).
    The dense dropout is twice the convolutions' (the seeds' 0.25 and 0.5) unless given, so that one rate tunes both."""
    if dense_dropout_rate is None:
        dense_dropout_rate = min(2 * dropout_rate, 0.5)
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 5, activation="relu")(inputs)  # 24x24x32
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)  # 10x10x64
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(dense_dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="cnn_regularized")


def build_cnn_batchnorm(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    filters: tuple[int, ...] | list[int] = (32, 64, 64),
    dropout_rate: float = 0.5,
) -> keras.Model:
    """Three conv -> batch-norm -> max-pool blocks, then Dense(128) with dropout (seed's, 131,530 parameters)."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for count in filters:
        x = layers.Conv2D(count, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
        x = layers.MaxPooling2D()(x)  # 28 -> 14 -> 7 -> 3
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="cnn_batchnorm")


def build_fashion_cnn(
    input_shape=DEFAULT_INPUT_SHAPE, num_classes: int = NUM_CLASSES, dropout_rate: float = 0.0
) -> keras.Model:
    """Conv(32) -> pool -> Conv(64) -> pool -> Dense(128) -> Dense(10) (seed's Fashion-MNIST CNN)."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)  # rate 0 by default: the seed has none
    return keras.Model(inputs, _classifier_head(x, num_classes), name="fashion_cnn")


def build_fashion_cnn_bn(
    input_shape=DEFAULT_INPUT_SHAPE, num_classes: int = NUM_CLASSES, filters: tuple[int, int] | list[int] = (32, 64),
    dropout_rate: float = 0.3,
) -> keras.Model:
    """fashion_cnn with batch normalization: two 3x3 conv-BN-ReLU, each followed by pooling, then Dense(128)."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for count in filters:
        x = layers.Conv2D(count, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)  # 28 -> 14 -> 7
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="fashion_cnn_bn")


def _conv_bn_relu(x, filters: int, kernel_size: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    return layers.ReLU()(x)


def _residual_block(x, filters: int, strides: int):
    """He et al. (2016)'s basic block: two 3x3 conv-BN, added to a shortcut (1x1 projection when the shape changes)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        shortcut = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(shortcut)
    x = _conv_bn_relu(x, filters, strides=strides)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    return layers.ReLU()(layers.Add()([x, shortcut]))


def build_resnet_mini(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    filters: tuple[int, ...] | list[int] = (32, 64),
    dropout_rate: float = 0.2,
) -> keras.Model:
    """Stem conv, then one residual block per stage, each halving the side (28 -> 14 -> 7), global average pool."""
    inputs = keras.Input(shape=input_shape)
    x = _conv_bn_relu(inputs, filters[0])  # 28x28x32
    for count in filters:
        x = _residual_block(x, count, strides=2)  # 14x14x32, then 7x7x64
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="resnet_mini")


def _separable_block(x, filters: int, strides: int):
    """MobileNet's (Howard et al. 2017) block: a 3x3 depthwise conv and a 1x1 pointwise conv, each with BN-ReLU."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    x = layers.ReLU()(x)
    return _conv_bn_relu(x, filters, kernel_size=1)


def build_mobilenet_mini(
    input_shape=DEFAULT_INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
    blocks: tuple[tuple[int, int], ...] | list[list[int]] = ((64, 1), (128, 2), (128, 1), (256, 2)),
    dropout_rate: float = 0.2,
) -> keras.Model:
    """A stride-2 stem conv, then depthwise-separable blocks given as (filters, stride), global average pool."""
    inputs = keras.Input(shape=input_shape)
    x = _conv_bn_relu(inputs, 32, strides=2)  # 14x14x32
    for filters, strides in blocks:
        x = _separable_block(x, filters, strides)  # 14x14x64, 7x7x128, 7x7x128, 4x4x256
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name="mobilenet_mini")


MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "feedforward": build_feedforward,
    "lenet5": build_lenet5,
    "cnn_minimal": build_cnn_minimal,
    "cnn_deep": build_cnn_deep,
    "cnn_regularized": build_cnn_regularized,
    "cnn_batchnorm": build_cnn_batchnorm,
    "fashion_cnn": build_fashion_cnn,
    "fashion_cnn_bn": build_fashion_cnn_bn,
    "resnet_mini": build_resnet_mini,
    "mobilenet_mini": build_mobilenet_mini,
}
MODEL_NAMES = list(MODEL_BUILDERS)


def check_model_name(name: str) -> None:
    """Raise ValueError naming the valid choices when `name` is not a known architecture."""
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")


def has_dropout(name: str) -> bool:
    """Whether the architecture's builder takes a `dropout_rate` (a recipe or a search may then set it)."""
    check_model_name(name)
    return "dropout_rate" in inspect.signature(MODEL_BUILDERS[name]).parameters


def input_side(name: str) -> int:
    """Image side the architecture expects: 32 for LeNet-5 (padded), 28 for the rest."""
    check_model_name(name)
    return 32 if name == "lenet5" else 28


def build_model(name: str, input_shape=None, num_classes: int = NUM_CLASSES, **hyperparameters) -> keras.Model:
    """Build architecture `name` with its default input shape unless one is given."""
    check_model_name(name)
    if input_shape is None:
        side = input_side(name)
        input_shape = (side, side, 1)
    return MODEL_BUILDERS[name](input_shape=input_shape, num_classes=num_classes, **hyperparameters)
