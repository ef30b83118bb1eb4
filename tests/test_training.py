"""A short fit learns, is bit-for-bit repeatable, and bad arguments are refused."""

import numpy as np
import pytest

from mnist_study.core.data import prepare_images, stratified_subset, train_validation_split
from mnist_study.core.models import build_model
from mnist_study.core.training import (
    TrainingRecipe,
    build_optimizer,
    learning_rate_schedule,
    train_budgets,
    train_model,
    with_dropout,
    wsd_rate,
)


@pytest.fixture(scope="module")
def small_split(mnist):
    images, labels = stratified_subset(mnist.train_images, mnist.train_labels, 1200, seed=0)
    split = train_validation_split(images, labels, validation_fraction=0.2, seed=0)
    return split._replace(train_images=prepare_images(split.train_images),
                          validation_images=prepare_images(split.validation_images))


def test_one_epoch_beats_chance(small_split, capsys):
    result = train_model("cnn_regularized", small_split, TrainingRecipe(epochs=1), seed=0)
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert result.history["val_accuracy"][0] > 0.5  # chance is 0.1
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.wall_time_s > 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1 and "epoch  1/1" in lines[0] and "val_acc" in lines[0]


def test_same_seed_gives_identical_weights(small_split):
    first = train_model("feedforward", small_split, TrainingRecipe(epochs=2, lr_schedule="cosine"), seed=7)
    second = train_model("feedforward", small_split, TrainingRecipe(epochs=2, lr_schedule="cosine"), seed=7)
    third = train_model("feedforward", small_split, TrainingRecipe(epochs=2, lr_schedule="cosine"), seed=8)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert first.history == second.history
    assert not np.array_equal(first.model.get_weights()[0], third.model.get_weights()[0])


def test_early_stopping_restores_best_epoch(small_split):
    # On 960 images the validation loss turns up within a few epochs; training must stop one epoch later.
    recipe = TrainingRecipe(epochs=12, early_stopping_patience=1, label_smoothing=0.1, lr_schedule="plateau")
    result = train_model("feedforward", small_split, recipe, seed=0)
    assert result.epochs_run <= 12
    assert result.best_epoch == int(np.argmin(result.history["val_loss"])) + 1
    if result.epochs_run < 12:
        assert result.epochs_run == result.best_epoch + 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "epochs: expected a positive integer, got 0"),
    ({"epochs": -3}, "epochs: expected a positive integer, got -3"),
    ({"epochs": 1, "batch_size": 0}, "batch_size: expected a positive integer, got 0"),
    ({"epochs": 1, "learning_rate": 0}, "learning_rate: expected a positive number, got 0"),
    ({"epochs": 1, "lr_schedule": "step"}, r"lr_schedule: unknown schedule 'step'; expected one of \['constant'"),
    ({"epochs": 1, "label_smoothing": 1.0}, r"label_smoothing: expected a value in \[0, 1\), got 1.0"),
    ({"epochs": 1, "strategy": "tpu"}, r"strategy: unknown 'tpu'; expected one of \['default', 'mirrored', 'multi_wo"),
    ({"epochs": 1, "precision": "float16"}, r"precision: unknown 'float16'; expected one of \['float32'"),
    ({"epochs": 1, "augmentation": "mixup"}, r"augmentation: unknown 'mixup'"),
    ({"epochs": 1, "optimizer": "sgd"},
     r"optimizer: unknown 'sgd'; expected one of \['adam', 'adamw', 'sgd_nesterov'\]"),
    ({"epochs": 1, "weight_decay": 0.01}, r"weight_decay: 'adam' takes none; use optimizer 'adamw' or 'sgd_nesterov'"),
    ({"epochs": 4, "decay_fraction": 1.0}, r"decay_fraction: expected a value in \(0, 1\), got 1.0"),
    ({"epochs": 4, "lr_schedule": "wsd", "early_stopping_patience": 2},
     r"early_stopping_patience: 'wsd' decays to its last epoch; expected None"),
    ({"epochs": 2, "lr_schedule": "wsd", "warmup_epochs": 2},
     r"epochs: a 'wsd' budget of 2 decays over its last 1, leaving no room for 2 warm-up epoch\(s\)"),
    ({"epochs": 1, "optimizer": "adamw", "weight_decay": -1}, r"weight_decay: expected a number >= 0, got -1"),
    ({"epochs": 2, "lr_schedule": "warmup_cosine", "warmup_epochs": 2},
     r"warmup_epochs: expected fewer than epochs \(2\)"),
    ({"epochs": 1, "dropout_rate": 1.0}, r"dropout_rate: expected None or a value in \[0, 1\), got 1.0"),
])
def test_bad_recipes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingRecipe(**kwargs)


def test_mismatched_lengths_and_unknown_model(small_split):
    broken = small_split._replace(train_labels=small_split.train_labels[:-1])
    with pytest.raises(ValueError, match=r"train images and labels: lengths differ \(960 vs 959\)"):
        train_model("feedforward", broken, TrainingRecipe(epochs=1), seed=0)
    with pytest.raises(ValueError, match="unknown model 'mlp'"):
        train_model("mlp", small_split, TrainingRecipe(epochs=1), seed=0)


def test_mixed_precision_is_deterministic_and_keeps_float32_outputs(small_split):
    import keras

    first = train_model("cnn_minimal", small_split, TrainingRecipe(epochs=1, precision="mixed_bfloat16"), seed=3)
    second = train_model("cnn_minimal", small_split, TrainingRecipe(epochs=1, precision="mixed_bfloat16"), seed=3)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert first.model.layers[1].compute_dtype == "bfloat16"
    assert first.model.layers[1].variable_dtype == "float32"
    assert first.model.output.dtype == "float32"
    assert first.history["val_accuracy"][0] > 0.5
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for whatever runs next


def test_augmented_training_is_deterministic_and_learns(small_split):
    first = train_model("cnn_minimal", small_split, TrainingRecipe(epochs=1, augmentation="digits"), seed=5)
    second = train_model("cnn_minimal", small_split, TrainingRecipe(epochs=1, augmentation="digits"), seed=5)
    plain = train_model("cnn_minimal", small_split, TrainingRecipe(epochs=1), seed=5)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(first.model.get_weights()[0], plain.model.get_weights()[0])
    assert first.history["val_accuracy"][0] > 0.5


def test_warmup_rises_to_the_peak_then_cosine_decays_to_zero():
    recipe = TrainingRecipe(epochs=4, learning_rate=2e-3, lr_schedule="warmup_cosine", warmup_epochs=1)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(1e-3) and rates[2] == pytest.approx(2e-3)
    assert rates[3] == pytest.approx(1e-3, rel=1e-3)  # halfway through the decay: half the peak
    assert rates[4] == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_schedule(TrainingRecipe(epochs=4), steps_per_epoch=10) == 1e-3  # constant


def test_adamw_decays_the_weights_and_adam_does_not():
    import keras

    adamw = build_optimizer(TrainingRecipe(epochs=2, optimizer="adamw", weight_decay=0.05), steps_per_epoch=1)
    adam = build_optimizer(TrainingRecipe(epochs=2), steps_per_epoch=1)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.05
    assert type(adam) is keras.optimizers.Adam and not adam.weight_decay


def test_wsd_rate_warms_up_holds_and_decays_to_zero():
    rates = [wsd_rate(step, 0.1, warmup_steps=4, decay_start=10, total_steps=20) for step in range(20)]
    np.testing.assert_allclose(rates[:4], [0.025, 0.05, 0.075, 0.1])
    assert rates[4:11] == [0.1] * 7
    assert all(later < earlier for earlier, later in zip(rates[10:], rates[11:], strict=False))
    assert 0 < rates[-1] < 0.1 * (1 - np.sqrt(0.9)) + 1e-12
    assert wsd_rate(10**6, 0.1, 4, float("inf"), float("inf")) == 0.1  # the stable phase of a branching run


def test_a_budget_branched_from_a_longer_run_is_that_budget_trained_alone(small_split):
    """The warmup-stable-decay branches: bit for bit the weights and history of a run of that length alone,
    with dropout, augmentation and SGD's momentum in play."""
    recipe = TrainingRecipe(epochs=5, lr_schedule="wsd", optimizer="sgd_nesterov", learning_rate=0.05,
                            weight_decay=1e-4, decay_fraction=0.4, augmentation="digits")
    branched = {}
    train_budgets("cnn_regularized", small_split, recipe, [3, 5], seed=1,
                  on_budget=lambda epochs, result: branched.setdefault(
                      epochs, (result.history, [weights.copy() for weights in result.model.get_weights()])))
    assert sorted(branched) == [3, 5]
    for epochs in (3, 5):
        alone = train_model("cnn_regularized", small_split, TrainingRecipe(**{**recipe.as_dict(), "epochs": epochs}),
                            seed=1)
        history, weights = branched[epochs]
        assert alone.history == history and len(history["loss"]) == epochs
        for a, b in zip(alone.model.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(a, b)
    # The 5-epoch run holds its peak for 3 epochs and decays over the last 2; the 3-epoch one decays over 1.
    five, three = branched[5][0]["learning_rate"], branched[3][0]["learning_rate"]
    assert five[:3] == pytest.approx([0.05] * 3) and five[4] < 0.01
    assert three[:2] == pytest.approx([0.05] * 2) and three[2] < 0.01
    with pytest.raises(ValueError, match="lr_schedule: budgets branch from a 'wsd' run, got 'constant'"):
        train_budgets("cnn_regularized", small_split, TrainingRecipe(epochs=2), [2], seed=0, on_budget=print)


def test_the_recipes_dropout_rate_sets_the_architectures_where_it_has_dropout():
    recipe = TrainingRecipe(epochs=1, dropout_rate=0.1)
    assert with_dropout("cnn_regularized", recipe, None) == {"dropout_rate": 0.1}
    assert with_dropout("cnn_minimal", recipe, {"filters": 8}) == {"filters": 8}  # no dropout to set
    assert with_dropout("feedforward", TrainingRecipe(epochs=1), {"dropout_rate": 0.3}) == {"dropout_rate": 0.3}
    with pytest.raises(ValueError, match=r"dropout_rate: set both by the recipe \(0.1\) and by model_kwargs \(0.3\)"):
        with_dropout("feedforward", recipe, {"dropout_rate": 0.3})
    # cnn_regularized: one rate sets both, the dense layer's twice the convolutions' (the seeds' 0.25 and 0.5).
    model = build_model("cnn_regularized", **with_dropout("cnn_regularized", recipe, None))
    assert [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"] == [0.1, 0.1, 0.2]
