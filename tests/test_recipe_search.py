"""The recipe search: seeded and repeatable, it prunes, its winner is its best finished trial, and it refuses
bad settings by name."""

import pytest

from mnist_study.core.training import TrainingRecipe
from mnist_study.study.recipe_search import SEARCH_SPACE, check_search, search_recipe, searched_recipe


@pytest.fixture(scope="module")
def search(mnist):
    return search_recipe("feedforward", mnist, TrainingRecipe(epochs=1), seed=0, trials=6, epochs=3,
                         validation_fraction=0.2, train_subset=600)


def test_the_winner_is_the_best_finished_trial_and_the_budget_adds_up(search):
    assert [row["trial"] for row in search["trials"]] == list(range(6))
    finished = [row for row in search["trials"] if not row["pruned"]]
    best = max(finished, key=lambda row: row["best_val_accuracy"])
    assert search["winner_trial"] == best["trial"] and search["winner_val_accuracy"] == best["best_val_accuracy"]
    assert all(row["epochs_run"] == 3 for row in finished)
    # Successive halving: a pruned trial stopped at a rung (1 epoch; 3 is the end), and some trial was pruned.
    assert {row["epochs_run"] for row in search["trials"] if row["pruned"]} <= {1}
    assert any(row["pruned"] for row in search["trials"])
    assert search["epochs_trained"] == sum(row["epochs_run"] for row in search["trials"])
    for row in search["trials"]:
        assert row["optimizer"] in SEARCH_SPACE["optimizer"] and row["batch_size"] in SEARCH_SPACE["batch_size"]
        low, high = SEARCH_SPACE["learning_rate"][row["optimizer"]]
        assert low <= row["learning_rate"] <= high


def test_the_same_seed_repeats_the_search(search, mnist):
    again = search_recipe("feedforward", mnist, TrainingRecipe(epochs=1), seed=0, trials=6, epochs=3,
                          validation_fraction=0.2, train_subset=600)
    strip = [{key: value for key, value in row.items() if key != "train_time_s"} for row in search["trials"]]
    assert [{key: value for key, value in row.items() if key != "train_time_s"} for row in again["trials"]] == strip
    assert again["winner"] == search["winner"]


def test_the_searched_recipe_is_the_winner_trained_warmup_stable_decay(search):
    recipe = searched_recipe(TrainingRecipe(epochs=3, precision="float32", early_stopping_patience=2), search, 12)
    assert recipe.epochs == 12 and recipe.lr_schedule == "wsd" and recipe.early_stopping_patience is None
    assert {key: getattr(recipe, key) for key in search["winner"]} == search["winner"]


@pytest.mark.parametrize(("trials", "epochs", "message"), [
    (0, 4, "search_trials: expected a positive integer, got 0"),
    (3, 2, r"search_epochs: expected at least 3 \(warm-up, stable, decay\), got 2"),
    (3, True, "search_epochs: expected a positive integer, got True"),
])
def test_bad_settings_are_refused(trials, epochs, message):
    with pytest.raises(ValueError, match=message):
        check_search(trials, epochs)
