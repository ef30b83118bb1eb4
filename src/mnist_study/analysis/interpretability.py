"""What a trained CNN looks at: filters, feature maps, Grad-CAM, embeddings of its penultimate layer.

The computations come first, the figures (which take their results and return matplotlib Figures) after.
"""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from mnist_study.figure_style import styled

EMBEDDING_METHODS = ["tsne", "pca"]


def conv_layers(model: keras.Model) -> list[keras.layers.Conv2D]:
    """The model's Conv2D layers, input to output."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no Conv2D layer to inspect")
    return layers


def first_layer_filters(model: keras.Model) -> np.ndarray:
    """The first convolution's kernels as (filters, height, width), for a single-channel input."""
    kernel = np.asarray(conv_layers(model)[0].kernel)  # (height, width, 1, filters)
    return np.moveaxis(kernel[:, :, 0, :], -1, 0)


def feature_maps(model: keras.Model, image: np.ndarray) -> dict[str, np.ndarray]:
    """The output of every convolution for one (height, width, 1) image, keyed by layer name."""
    layers = conv_layers(model)
    probe = keras.Model(model.input, [layer.output for layer in layers])
    outputs = probe(image[None], training=False)
    if len(layers) == 1:  # a one-output model returns a tensor, not a list
        outputs = [outputs]
    return {layer.name: np.asarray(output[0], dtype=np.float32) for layer, output in zip(layers, outputs, strict=True)}


def _head(model: keras.Model) -> keras.layers.Dense:
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(f"model {model.name!r}: expected a Dense classifier as the last layer, got {head.name!r}")
    return head


def penultimate_features(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """What the classifier head sees: the input of the last Dense layer, one row per image."""
    probe = keras.Model(model.input, _head(model).input)
    return np.asarray(probe.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


# Layers that only select or copy values: the map is taken where the features they pass on are computed.
SELECTING_LAYERS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Dropout,
                    keras.layers.SpatialDropout2D)


def grad_cam_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer whose output is the last spatial activation feeding the classifier, found from the graph.

    Walk back from the head to the last 4-D tensor, then through pooling and dropout to the layer that computed
    it. After a batch normalization that is its output, not the convolution's before it: the normalization
    rescales each channel, some by a negative factor, and a map of the convolution is then often blank.
    """
    producers = {id(layer.output): layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    tensor = _head(model).input
    while len(tensor.shape) != 4:
        layer = producers.get(id(tensor))
        if layer is None or isinstance(layer.input, list | tuple):
            raise ValueError(f"model {model.name!r}: no spatial (4-D) activation feeds its classifier")
        tensor = layer.input
    layer = producers.get(id(tensor))
    if layer is None:
        raise ValueError(f"model {model.name!r}: no convolutional feature map; its classifier reads the pixels")
    while isinstance(layer, SELECTING_LAYERS) and id(layer.input) in producers:
        layer = producers[id(layer.input)]
    return layer


# Layers that move a map's cells: a window of `kernel_size` or `pool_size` every `strides` input cells.
WINDOW_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.MaxPooling2D,
                 keras.layers.AveragePooling2D)


def feature_map_grid(model: keras.Model, layer: keras.layers.Layer) -> tuple[float, float]:
    """Where `layer`'s map cells sit on the input: cell j is centred on pixel offset + stride * j (both axes).

    Found by walking from the layer back to the input, through each window's size, stride and padding (for a
    branching block, along its first input, since the branches of the study's blocks share a grid). A map of
    valid convolutions covers less than the image: LeNet-5's 10x10 map is centred on pixels 6.5 to 24.5 of 32, so
    stretching it over the whole image would put its evidence beside the strokes.
    """
    producers = {id(each.output): each for each in model.layers if not isinstance(each, keras.layers.InputLayer)}
    windows = []
    while layer is not None:
        if isinstance(layer, WINDOW_LAYERS):
            windows.append(layer)
        inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
        layer = producers.get(id(inputs[0]))
    offset, stride, size = 0.0, 1.0, model.input_shape[1]
    for window in reversed(windows):  # input to output
        kernel = window.kernel_size[0] if hasattr(window, "kernel_size") else window.pool_size[0]
        step = window.strides[0]
        if window.padding == "same":  # TensorFlow pads the odd pixel at the end
            before = max((-(-size // step) - 1) * step + kernel - size, 0) // 2
            size = -(-size // step)
        else:
            before = 0
            size = (size - kernel) // step + 1
        offset += stride * ((kernel - 1) / 2 - before)
        stride *= step
    return offset, stride


def _interpolation_matrix(pixels: int, cells: int, offset: float, stride: float) -> np.ndarray:
    """(pixels, cells) weights of a linear interpolation between cell centres; past the outer centres, the edge."""
    position = np.clip((np.arange(pixels) - offset) / stride, 0, cells - 1)
    lower = np.minimum(np.floor(position).astype(int), max(cells - 2, 0))
    upper_weight = position - lower
    weights = np.zeros((pixels, cells), dtype=np.float32)
    weights[np.arange(pixels), lower] = 1 - upper_weight
    if cells > 1:
        weights[np.arange(pixels), lower + 1] += upper_weight
    return weights


def grad_cam(model: keras.Model, images: np.ndarray, class_indices: np.ndarray) -> np.ndarray:
    """Grad-CAM of `grad_cam_layer` for the given classes, in its HiResCAM form: (n, height, width) in [0, 1].

    Each position's activation times the class score's gradient there, summed over channels (Draelos & Carin
    2020). The original (Selvaraju et al. 2017) first averages the gradient over positions, which is exact for
    a head that average-pools but not for the study's CNNs, which flatten into dense layers: evidence at one
    position and counter-evidence at another cancel, and the map goes blank or lights the background. Gradients
    are those of the pre-softmax score, computed from the head's own weights, since the softmax of a confident
    prediction saturates and its gradient vanishes. Each cell's value is placed where its receptive field is
    centred (`feature_map_grid`) and interpolated between cells.
    """
    if len(images) != len(class_indices):
        raise ValueError(f"class_indices: expected one class per image ({len(images)}), got {len(class_indices)}")
    head = _head(model)
    probe = keras.Model(model.input, [grad_cam_layer(model).output, head.input])
    with tf.GradientTape() as tape:
        activations, features = probe(images, training=False)
        logits = tf.matmul(tf.cast(features, tf.float32), head.kernel) + head.bias
        scores = tf.gather(logits, tf.constant(class_indices, dtype=tf.int32), batch_dims=1)
    gradients = tf.cast(tape.gradient(scores, activations), tf.float32)  # (n, h, w, channels)
    cam = tf.nn.relu(tf.reduce_sum(gradients * tf.cast(activations, tf.float32), axis=-1))  # (n, h, w)
    offset, stride = feature_map_grid(model, grad_cam_layer(model))
    rows = _interpolation_matrix(images.shape[1], cam.shape[1], offset, stride)  # (height, map height)
    columns = _interpolation_matrix(images.shape[2], cam.shape[2], offset, stride)
    cam = np.einsum("yi,nij,xj->nyx", rows, cam.numpy(), columns)
    peaks = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, peaks, out=np.zeros_like(cam), where=peaks > 0)


def ink_share(heatmaps: np.ndarray, images: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Per image, the share of the heatmap's mass on "ink" (pixels brighter than `threshold` on a [0, 1] scale)."""
    ink = np.squeeze(images, axis=-1) > threshold
    totals = heatmaps.sum(axis=(1, 2))
    return np.divide((heatmaps * ink).sum(axis=(1, 2)), totals, out=np.zeros_like(totals), where=totals > 0)


def embed_2d(features: np.ndarray, method: str, seed: int) -> np.ndarray:
    """A seeded 2-D embedding of feature rows: t-SNE (on 50 PCA components, as usual) or plain PCA."""
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding_method: unknown {method!r}; expected one of {EMBEDDING_METHODS}")
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    reduced = PCA(n_components=min(50, *features.shape), random_state=seed).fit_transform(features)
    perplexity = min(30.0, (len(features) - 1) / 3)  # t-SNE requires perplexity < number of points
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


# --- Figures -------------------------------------------------------------------------------------------------

@styled
def filters_figure(filters: np.ndarray, title: str, columns: int = 8) -> Figure:
    """Each first-layer kernel as a small image, on one symmetric colour scale (red positive, blue negative)."""
    rows = int(np.ceil(len(filters) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.1 + 0.6), squeeze=False)
    limit = float(np.abs(filters).max()) or 1.0
    for axis in axes.flat:
        axis.axis("off")
    for axis, kernel in zip(axes.flat, filters, strict=False):
        axis.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.suptitle(title)
    return figure


@styled
def feature_maps_figure(image: np.ndarray, maps: dict[str, np.ndarray], title: str, channels: int = 8) -> Figure:
    """The input, then one row per convolution showing its first `channels` feature maps."""
    figure, axes = plt.subplots(len(maps) + 1, channels, figsize=(channels * 1.2, (len(maps) + 1) * 1.35),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes[0, 0].imshow(np.squeeze(image), cmap="gray_r")
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, activation) in enumerate(maps.items(), start=1):
        for channel in range(min(channels, activation.shape[-1])):
            axes[row, channel].imshow(activation[..., channel], cmap="viridis")
        axes[row, 0].set_title(f"convolution {row} ({name}): {activation.shape[0]}x{activation.shape[1]}"
                               f"x{activation.shape[2]}", fontsize=8, loc="left")
    figure.suptitle(title)
    return figure


@styled
def grad_cam_figure(images: np.ndarray, heatmap_rows: dict[str, np.ndarray], captions: list[str],
                    title: str) -> Figure:
    """One column per image: the image, then each named row of Grad-CAM heatmaps laid over it."""
    figure, axes = plt.subplots(len(heatmap_rows) + 1, len(images),
                                figsize=(len(images) * 1.3, (len(heatmap_rows) + 1) * 1.5), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for column, (image, caption) in enumerate(zip(images, captions, strict=True)):
        axes[0, column].imshow(np.squeeze(image), cmap="gray_r")
        axes[0, column].set_title(caption, fontsize=7)
        for row, heatmaps in enumerate(heatmap_rows.values(), start=1):
            axes[row, column].imshow(np.squeeze(image), cmap="gray")
            axes[row, column].imshow(heatmaps[column], cmap="jet", alpha=0.45, vmin=0, vmax=1)
    for row, name in enumerate(heatmap_rows, start=1):
        axes[row, 0].set_title(name, fontsize=7, loc="left")
    figure.suptitle(title)
    return figure


@styled
def embedding_figure(points: np.ndarray, labels: np.ndarray, class_names: list[str], title: str) -> Figure:
    """2-D embedding, one colour per class, with the class name at each cluster's median."""
    figure, axis = plt.subplots(figsize=(7, 6.5))
    colours = plt.get_cmap("tab10")
    for class_id, name in enumerate(class_names):
        members = points[labels == class_id]
        axis.scatter(members[:, 0], members[:, 1], s=4, color=colours(class_id), label=name, alpha=0.7)
        if len(members):
            centre = np.median(members, axis=0)
            axis.annotate(name, centre, fontsize=9, weight="bold", ha="center",
                          bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7})
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(markerscale=3, fontsize=7, loc="best")
    axis.set_title(title)
    return figure
