"""Notebook 08's accounts: which models vote on the labels, and the budget's effect on new writers as is, in words
that follow the numbers."""

from pathlib import Path

import pytest

from mnist_study.reports.new_writers_text import budget_sentence, uci_table
from mnist_study.study.label_review import SavedModel, strongest
from mnist_study.study.new_writers import budget_effect


def _saved(name, val_accuracy):
    return SavedModel(name, name, "03_cnn_architectures", Path("p.npy"), Path("m.keras"), None, val_accuracy)


def test_the_strongest_on_validation_vote_and_the_judged_model_never_does():
    models = [_saved("feedforward", 0.980), _saved("cnn_deep", 0.992), _saved("cnn_batchnorm", 0.994),
              _saved("cnn_regularized", 0.993), _saved("final", 0.996)]
    assert strongest(models, "final", 2) == ["cnn_batchnorm", "cnn_regularized"]
    assert strongest(models, "cnn_batchnorm", 3) == ["final", "cnn_regularized", "cnn_deep"]
    assert strongest(models, "final", 0) == ["cnn_batchnorm", "cnn_regularized", "cnn_deep", "feedforward"]
    with pytest.raises(ValueError, match="voters: expected a non-negative integer, got -1"):
        strongest(models, "final", -1)


def _row(arm, epochs, accuracy, share):
    return {"model": f"cnn_{arm}_{epochs}", "notebook": "06_best_models_mnist", "arm": arm, "epochs": epochs,
            "augmentation": "none" if arm == "plain" else "digits", "label_smoothing": 0.1, "uci_accuracy": accuracy,
            "most_predicted": 1, "most_predicted_share": share}


def test_the_budget_sentence_says_what_the_numbers_show():
    rows = [_row("plain", 9, 0.79, 0.24), _row("plain", 27, 0.54, 0.53), _row("augmented", 9, 0.85, 0.15),
            _row("augmented", 27, 0.80, 0.18)]
    effects = budget_effect(rows)
    assert [(effect["arm"], effect["uci_accuracy"]) for effect in effects] == [("plain", [0.79, 0.54]),
                                                                               ("augmented", [0.85, 0.80])]
    sentence = budget_sentence(effects)
    assert "the plain arm (none) falls from 79.0 % at 9 epochs to 54.0 % at 27" in sentence
    assert "Longer training on MNIST costs accuracy on new writers" in sentence
    rising = budget_sentence(budget_effect([_row("plain", 9, 0.70, 0.2), _row("plain", 27, 0.75, 0.2)]))
    assert "rises from 70.0 %" in rising and "does not cost every arm" in rising
    assert "not measured here" in budget_sentence([])
    assert "| cnn_plain_9 | 06_best_models_mnist | 9 | none | 0.1 | 79.0 | 1 (24) |" in uci_table(rows)
