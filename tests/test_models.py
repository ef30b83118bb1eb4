"""Builders match the published parameter counts and produce probability vectors."""

import keras
import numpy as np
import pytest

from mnist_study.core.models import BATCH_NORM_MOMENTUM, MODEL_BUILDERS, build_feedforward, build_model, input_side

EXPECTED_PARAMETERS = {
    "feedforward": 109_386,  # seeds' "simple NN"
    "lenet5": 61_706,  # LeCun et al. 1998 (C1..F6 + output)
    "cnn_minimal": 216_650,  # 320 + (26*26*32*10 + 10)
    "cnn_deep": 103_338,  # 320 + 18,496 + 73,856 + (128*64 + 64) + 2,080 + 330
    "cnn_regularized": 225_546,  # 832 + 18,496 + (1600*128 + 128) + 1,290
    "cnn_batchnorm": 131_530,  # the seed's batch-norm CNN
    "fashion_cnn": 225_034,  # 320 + 18,496 + (1600*128 + 128) + 1,290
    "fashion_cnn_bn": 421_930,  # 288 + 128 + 18,432 + 256 (no conv bias; BN 4 per channel) + (3136*128 + 128) + 1,290
    # Convolutions without bias; every batch norm holds 4 numbers per channel (2 trained, 2 running statistics).
    # Stem 288 + 128; block 32: 1x1 shortcut 1,024 + 128, two 3x3 9,216 + 128 each; block 64: shortcut 2,048 + 256,
    # 3x3 18,432 + 256, 3x3 36,864 + 256; head 64*10 + 10.
    "resnet_mini": 79_018,
    # Stem 288 + 128; per block depthwise 9*C_in + 4*C_in and pointwise C_in*C_out + 4*C_out:
    # (32->64) 2,720, (64->128) 9,536, (128->128) 18,560, (128->256) 35,456; head 256*10 + 10.
    "mobilenet_mini": 69_258,
}


def test_every_builder_is_covered():
    assert set(MODEL_BUILDERS) == set(EXPECTED_PARAMETERS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_parameter_count_and_output(name):
    model = build_model(name)
    assert model.count_params() == EXPECTED_PARAMETERS[name]
    side = input_side(name)
    assert model.input_shape == (None, side, side, 1)
    probabilities = model.predict(np.random.default_rng(0).random((3, side, side, 1), dtype=np.float32), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert not model.compiled  # builders return uncompiled models


def test_modern_candidates_downsample_as_documented():
    resnet, mobilenet = build_model("resnet_mini"), build_model("mobilenet_mini")
    adds = [layer for layer in resnet.layers if layer.__class__.__name__ == "Add"]
    assert [tuple(layer.output.shape[1:]) for layer in adds] == [(14, 14, 32), (7, 7, 64)]  # two residual blocks
    depthwise = [layer for layer in mobilenet.layers if layer.__class__.__name__ == "DepthwiseConv2D"]
    assert [tuple(layer.output.shape[1:]) for layer in depthwise] == [(14, 14, 32), (7, 7, 64), (7, 7, 128),
                                                                      (4, 4, 128)]


@pytest.mark.parametrize("name", [name for name in sorted(MODEL_BUILDERS)
                                  if any(isinstance(layer, keras.layers.BatchNormalization)
                                         for layer in build_model(name).layers)])
def test_batch_norm_statistics_catch_up_within_a_few_dozen_steps(name):
    """The moving statistics must follow the batches within an epoch's steps (06's screen scored batch-norm nets
    near chance when they trailed by ~100 steps): after 30 steps on one batch the first layer's moving mean holds
    0.9**30 = 4 % of its start, where Keras's default 0.99 would leave 74 %."""
    model = build_model(name)
    images = np.random.default_rng(0).random((64, *model.input_shape[1:]), dtype=np.float32)
    for _ in range(30):
        model(images, training=True)
    first = next(layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization))
    assert first.momentum == BATCH_NORM_MOMENTUM == 0.9
    inputs = keras.Model(model.input, first.input)(images, training=True)
    batch_mean = np.asarray(inputs).reshape(-1, inputs.shape[-1]).mean(axis=0)
    np.testing.assert_allclose(np.asarray(first.moving_mean), batch_mean * (1 - 0.9 ** 30), rtol=1e-3, atol=1e-5)


def test_feedforward_small_variant():
    assert build_feedforward(units=[64, 64], dropout_rate=0.5).count_params() == 55_050


def test_lenet5_needs_padded_input():
    assert input_side("lenet5") == 32 and input_side("cnn_deep") == 28


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; expected one of \['feedforward', 'lenet5'"):
        build_model("resnet")


def test_saved_models_are_byte_identical_and_load_back(tmp_path):
    import keras

    from mnist_study.workflow.artifacts import save_model_reproducibly

    def fresh_model():
        # As in a re-run of a notebook: same layer names, same weights, but other Python objects, whose
        # addresses Keras writes into config.json.
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        return build_model("cnn_batchnorm")

    model = fresh_model()
    first = save_model_reproducibly(model, tmp_path / "a.keras")
    second = save_model_reproducibly(fresh_model(), tmp_path / "b.keras")
    assert first.read_bytes() == second.read_bytes()  # no save date, addresses or zip timestamps
    images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(keras.models.load_model(first).predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-6)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.keras", "b.keras"]  # no temporary left
