"""Filters, feature maps, Grad-CAM and embeddings have the right shapes, ranges and meaning."""

import keras
import numpy as np
import pytest

from mnist_study.analysis.interpretability import (
    embed_2d,
    feature_maps,
    first_layer_filters,
    grad_cam,
    ink_share,
    penultimate_features,
)
from mnist_study.core.models import build_model


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("cnn_batchnorm")


@pytest.fixture(scope="module")
def images(mnist):
    return (mnist.test_images[:6, ..., None] / 255.0).astype(np.float32)


def test_filters_and_feature_maps(model, images):
    filters = first_layer_filters(model)
    assert filters.shape == (32, 3, 3)
    np.testing.assert_array_equal(filters[5], np.asarray(model.layers[1].kernel)[:, :, 0, 5])
    maps = feature_maps(model, images[0])
    assert [value.shape for value in maps.values()] == [(28, 28, 32), (14, 14, 64), (7, 7, 64)]
    assert all(value.min() >= 0 for value in maps.values())  # after ReLU
    single = feature_maps(build_model("cnn_minimal"), images[0])  # one convolution only
    assert [value.shape for value in single.values()] == [(26, 26, 32)]


def test_grad_cam_is_normalized_and_class_specific(model, images):
    classes = np.arange(6)
    heatmaps = grad_cam(model, images, classes)
    assert heatmaps.shape == (6, 28, 28) and heatmaps.min() >= 0 and heatmaps.max() <= 1
    assert np.allclose(heatmaps.max(axis=(1, 2))[heatmaps.max(axis=(1, 2)) > 0], 1)
    assert not np.allclose(heatmaps, grad_cam(model, images, (classes + 1) % 10))
    with pytest.raises(ValueError, match=r"class_indices: expected one class per image \(6\), got 2"):
        grad_cam(model, images, classes[:2])


def test_grad_cam_lights_the_evidence_for_a_class_and_not_against_it():
    # Activation = the input (1x1 conv of weight 1); class 0 adds up the activations, class 1 subtracts them.
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", activation="relu")(inputs)
    head = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, head(keras.layers.Flatten()(x)))
    head.set_weights([np.stack([np.ones(64), -np.ones(64)], axis=1), np.zeros(2)])
    image = np.zeros((1, 8, 8, 1), dtype=np.float32)
    image[0, :4, :4] = 1.0  # the object: the top-left quadrant
    evidence_for = grad_cam(model, image, np.array([0]))[0]
    np.testing.assert_allclose(evidence_for, np.squeeze(image[0]), atol=1e-6)
    assert grad_cam(model, image, np.array([1]))[0].max() == 0  # ReLU drops evidence against the class


def test_grad_cam_keeps_where_the_evidence_is_when_the_head_flattens():
    # Class 0 counts the left half for and the right half against: a gradient averaged over positions is 0,
    # and the original Grad-CAM would be blank; per position, the object on the left is the evidence.
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", activation="relu")(inputs)
    head = keras.layers.Dense(2)
    model = keras.Model(inputs, head(keras.layers.Flatten()(x)))
    left = np.tile([1.0, 1.0, -1.0, -1.0], 4)
    head.set_weights([np.stack([left, -left], axis=1), np.zeros(2)])
    image = np.zeros((1, 4, 4, 1), dtype=np.float32)
    image[0, :, :2] = 1.0
    np.testing.assert_allclose(grad_cam(model, image, np.array([0]))[0], np.squeeze(image[0]), atol=1e-6)


def test_ink_share():
    images = np.zeros((2, 4, 4, 1), dtype=np.float32)
    images[:, :2] = 1.0  # the top half is ink
    heatmaps = np.zeros((2, 4, 4))
    heatmaps[0, :2] = 1.0  # all on ink
    heatmaps[1] = 1.0  # uniform
    np.testing.assert_allclose(ink_share(heatmaps, images), [1.0, 0.5])


def test_embeddings(model, mnist):
    images = (mnist.test_images[:60, ..., None] / 255.0).astype(np.float32)
    features = penultimate_features(model, images)
    assert features.shape == (60, 128)
    for method in ("pca", "tsne"):
        points = embed_2d(features, method, seed=0)
        assert points.shape == (60, 2)
        np.testing.assert_array_equal(points, embed_2d(features, method, seed=0))  # seeded
    with pytest.raises(ValueError, match=r"embedding_method: unknown 'umap'"):
        embed_2d(features, "umap", seed=0)


@pytest.mark.parametrize(("name", "layer_type", "shape"), [
    ("cnn_batchnorm", keras.layers.BatchNormalization, (7, 7, 64)),  # after the normalization, before the pooling
    ("cnn_regularized", keras.layers.Conv2D, (10, 10, 64)),  # through dropout and pooling
    ("lenet5", keras.layers.Conv2D, (10, 10, 16)),
    ("resnet_mini", keras.layers.ReLU, (7, 7, 64)),  # the residual sum's activation, before global pooling
    ("mobilenet_mini", keras.layers.ReLU, (4, 4, 256)),
])
def test_grad_cam_reads_the_last_spatial_activation_that_feeds_the_head(name, layer_type, shape):
    from mnist_study.analysis.interpretability import grad_cam_layer

    layer = grad_cam_layer(build_model(name))
    assert isinstance(layer, layer_type) and tuple(layer.output.shape[1:]) == shape


@pytest.mark.parametrize(("name", "offset", "stride"), [
    ("lenet5", 6.5, 2.0),  # 5x5 valid: centre 2; pool: 2.5, stride 2; 5x5 valid: 2.5 + 2 * 2
    ("cnn_regularized", 4.5, 2.0),  # 5x5 valid: 2; pool: 2.5, stride 2; 3x3 valid: 2.5 + 2 * 1
    ("cnn_minimal", 1.0, 1.0),  # one 3x3 valid convolution
    ("cnn_batchnorm", 1.5, 4.0),  # same-padded convolutions: only the two poolings move the centre, by 0.5 and 2 * 0.5
])
def test_a_feature_maps_cells_sit_on_the_centres_of_their_receptive_fields(name, offset, stride):
    from mnist_study.analysis.interpretability import feature_map_grid, grad_cam_layer

    model = build_model(name)
    assert feature_map_grid(model, grad_cam_layer(model)) == (offset, stride)


def test_a_map_is_drawn_where_its_cells_are_not_stretched_over_the_image():
    from mnist_study.analysis.interpretability import _interpolation_matrix

    # LeNet-5's 10 cells on 32 pixels: cell 0 on pixel 6.5, cell 9 on 24.5; pixels outside take the edge cell.
    weights = _interpolation_matrix(32, 10, 6.5, 2.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert weights[0, 0] == 1.0 and weights[31, 9] == 1.0
    np.testing.assert_allclose(weights[7, :2], [0.75, 0.25])  # pixel 7 is a quarter of the way to cell 1
    np.testing.assert_allclose(weights[24, 8:], [0.25, 0.75])


def test_a_model_without_a_feature_map_says_so():
    from mnist_study.analysis.interpretability import grad_cam_layer

    with pytest.raises(ValueError, match="'feedforward': no convolutional feature map"):
        grad_cam_layer(build_model("feedforward"))


def _saved_cnns():
    from mnist_study.analysis.interpretability import grad_cam_layer
    from mnist_study.app.predict import MODEL_DIR

    for path in sorted(MODEL_DIR.glob("*.keras")):
        model = keras.models.load_model(path)
        try:
            grad_cam_layer(model)
        except ValueError:
            continue  # the feedforward network: no map to draw
        yield path.stem, model


def test_grad_cam_of_every_saved_cnn_is_rarely_blank_and_lies_on_the_ink(mnist, fashion_mnist):
    from mnist_study.core.data import prepare_images

    checked = []
    for stem, model in _saved_cnns():
        data = fashion_mnist if stem.startswith("fashion_mnist_") else mnist
        images = prepare_images(data.test_images[:200], model.input_shape[1])
        predicted = model.predict(images, verbose=0).argmax(axis=1)
        heatmaps = grad_cam(model, images, predicted)
        blank = float(np.mean(heatmaps.max(axis=(1, 2)) == 0))
        assert blank < 0.01, f"{stem}: {blank:.1%} of its Grad-CAM maps are blank"
        if data is mnist:
            square = heatmaps if heatmaps.shape[1] == 28 else heatmaps[:, 2:30, 2:30]  # LeNet-5's padding
            plain = prepare_images(data.test_images[:200], 28)
            on_ink = float(np.mean(ink_share(square, plain)))
            ink = float(np.mean(np.squeeze(plain, axis=-1) > 0.2))
            assert on_ink > ink, f"{stem}: {on_ink:.0%} of the map's mass on ink, which covers {ink:.0%}"
        checked.append(stem)
    assert checked, "no CNN saved under results/models/ (run make all)"
