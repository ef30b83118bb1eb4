"""The recipe screen trains each candidate once, chooses on validation accuracy alone, and names bad input."""

import pytest

from mnist_study.core.data import Dataset
from mnist_study.core.training import TrainingRecipe
from mnist_study.pipeline.experiment import ExperimentConfig
from mnist_study.pipeline.recipe_screen import RECIPE_CANDIDATES, candidate_recipe, screen_markdown, screen_recipes

BASE = TrainingRecipe(epochs=2, batch_size=64, early_stopping_patience=2, precision="float32")


def test_a_candidate_changes_only_optimizer_schedule_and_loss():
    recipe = candidate_recipe(BASE, "adamw_warmup_cosine_smoothing")
    assert (recipe.optimizer, recipe.lr_schedule, recipe.learning_rate, recipe.weight_decay,
            recipe.label_smoothing) == ("adamw", "warmup_cosine", 2e-3, 0.05, 0.1)
    assert (recipe.epochs, recipe.batch_size, recipe.early_stopping_patience) == (2, 64, 2)
    # Back to a simpler candidate: nothing of the other is left over.
    plain = candidate_recipe(recipe, "adam_cosine")
    assert (plain.optimizer, plain.weight_decay, plain.label_smoothing) == ("adam", 0.0, 0.0)


def test_unknown_or_repeated_candidates_are_refused():
    with pytest.raises(ValueError, match=r"recipe_candidates: unknown 'sgd'; expected names from \['adam_cosine'"):
        candidate_recipe(BASE, "sgd")
    with pytest.raises(ValueError, match="recipe_candidates: expected a non-empty list of distinct names"):
        screen_recipes("feedforward", None, None, ["adam_cosine", "adam_cosine"])


@pytest.fixture(scope="module")
def small_mnist(mnist):
    return Dataset(mnist.train_images[:600], mnist.train_labels[:600], mnist.test_images[:10],
                   mnist.test_labels[:10], mnist.class_names)


def test_the_best_validation_accuracy_wins(small_mnist):
    config = ExperimentConfig(dataset="mnist", seeds=[3, 4], recipe=BASE, validation_fraction=0.2)
    screen = screen_recipes("feedforward", small_mnist, config, list(RECIPE_CANDIDATES))
    assert screen.seed == 3 and [row["candidate"] for row in screen.rows] == list(RECIPE_CANDIDATES)
    best = max(screen.rows, key=lambda row: row["best_val_accuracy"])
    assert screen.chosen == best["candidate"]
    assert screen.config.recipe == candidate_recipe(BASE, screen.chosen) and screen.config.seeds == [3, 4]
    assert all(row["epochs_run"] <= 2 and 0 < row["best_val_accuracy"] <= 1 for row in screen.rows)
    assert f"**{screen.chosen}**" in screen_markdown(screen)


def test_a_single_candidate_trains_nothing(small_mnist):
    config = ExperimentConfig(dataset="mnist", seeds=[0], recipe=BASE)
    screen = screen_recipes("feedforward", small_mnist, config, ["adamw_warmup_cosine"])
    assert screen.chosen == "adamw_warmup_cosine" and "best_val_accuracy" not in screen.rows[0]
    assert "unscreened" in screen_markdown(screen)
