"""Few-label adaptation: seeded per-class draws, the three arms on a small saved model, the gap arithmetic."""

import numpy as np
import pytest

from mnist_study.analysis.few_labels import ARMS, FewLabelRecipe, draw_per_class, few_label_curve, gap_closed


def test_draws_take_k_per_class_and_hold_out_the_rest():
    labels = np.repeat(np.arange(10), 20)
    chosen, held_out = draw_per_class(labels, 5, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [5] * 10
    assert len(np.intersect1d(chosen, held_out)) == 0 and len(chosen) + len(held_out) == len(labels)
    assert np.array_equal(chosen, draw_per_class(labels, 5, seed=3)[0])  # seeded
    assert not np.array_equal(chosen, draw_per_class(labels, 5, seed=4)[0])
    with pytest.raises(ValueError, match="k: class 0 has 20 images; expected more than k=20"):
        draw_per_class(labels, 20, seed=0)


def test_recipe_is_checked():
    with pytest.raises(ValueError, match="fine_tune_epochs: expected a positive number, got 0"):
        FewLabelRecipe(fine_tune_epochs=0)


def test_curve_on_a_small_saved_model(tmp_path, mnist):
    from mnist_study.core.data import prepare_images
    from mnist_study.core.inference import predict_probabilities
    from mnist_study.core.training import TrainingRecipe, train_model

    # A feedforward network trained briefly on MNIST stands in for the study's CNN; "new writers" are MNIST
    # test digits here, which is enough to check the bookkeeping.
    images, labels = mnist.train_images[:2000], mnist.train_labels[:2000]
    split_images = prepare_images(images)
    from mnist_study.core.data import Split

    split = Split(split_images[:1600], labels[:1600], split_images[1600:], labels[1600:])
    model = train_model("feedforward", split, TrainingRecipe(epochs=2), seed=0).model
    path = tmp_path / "feedforward.keras"
    model.save(path)
    new_images, new_labels = mnist.test_images[:300], mnist.test_labels[:300]
    recipe = FewLabelRecipe(fine_tune_epochs=2, scratch_epochs=2, scratch_min_steps=2)
    curve = few_label_curve(path, "feedforward", new_images, new_labels, k_values=[1, 5], seeds=[0, 1],
                            recipe=recipe)
    assert curve["k"] == [1, 5] and set(curve["arms"]) == set(ARMS)
    for arm in ARMS:
        assert np.shape(curve["arms"][arm]["runs"]) == (2, 2)
        assert all(0 <= value <= 1 for row in curve["arms"][arm]["runs"] for value in row)
    # "As is" is the saved model scored on each draw's held-out images.
    chosen, held_out = draw_per_class(new_labels, 1, seed=0)
    expected = np.mean(predict_probabilities(model, prepare_images(new_images[held_out])).argmax(axis=1)
                       == new_labels[held_out])
    assert curve["arms"]["as is"]["runs"][0][0] == pytest.approx(expected)


def test_gap_closed_by_hand():
    curve = {"arms": {"as is": {"mean": [0.8, 0.8]}, "fine-tuned": {"mean": [0.9, 0.99]}}}
    assert gap_closed(curve, 1.0) == pytest.approx([0.5, 0.95])
