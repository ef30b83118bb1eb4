"""Why a model's accuracy on new writers (the UCI digits, as they are) depends on how it was trained: every MNIST
model a training notebook saved, and notebook 06's two arms at both of their budgets, asked the same question.

Notebook 05 measures 03's models on the UCI digits; notebook 08 fine-tunes the best CNN, which may come from 06,
trained longer and by another recipe. Their numbers "as is" differ; this puts the models side by side with what
set them apart (epochs, augmentation, label smoothing) and where their errors go (the class they over-predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_study.analysis.generalization import make_predictor
from mnist_study.core.models import MODEL_NAMES, input_side
from mnist_study.study.best_models import ARMS
from mnist_study.study.best_models_finals import arm_model_stem
from mnist_study.study.best_models_study import notebook_name
from mnist_study.study.label_review import saved_models
from mnist_study.workflow.provenance import read_json


def _as_is(model_path: Path, architecture: str, images: np.ndarray, labels: np.ndarray) -> dict:
    import keras

    predictions = make_predictor(keras.models.load_model(model_path), input_side(architecture))(
        images.astype(np.float32) / 255.0).argmax(axis=1)
    counts = np.bincount(predictions, minlength=10)
    return {"uci_accuracy": float(np.mean(predictions == labels)), "most_predicted": int(counts.argmax()),
            "most_predicted_share": float(counts.max() / len(labels))}


def uci_as_is(inputs_dir: str | Path, images: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Every saved MNIST model (first seed), then 06's arms at each budget: how it was trained, its UCI accuracy
    as is, and the class it predicts most (a model that has learned MNIST's style too well calls many foreign
    digits one thing). `images`: uint8 (N, 28, 28), as analysis.generalization.load_uci_digits gives them."""
    rows = []
    for model in saved_models(inputs_dir, "mnist", MODEL_NAMES):
        if model.notebook == notebook_name("mnist"):
            continue  # 06's final is one of its arms' points: listed below, with its arm and budget
        recipe = model.config.recipe
        rows.append({"model": model.name, "notebook": model.notebook, "arm": None, "epochs": recipe.epochs,
                     "augmentation": recipe.augmentation, "label_smoothing": recipe.label_smoothing,
                     **_as_is(model.model_path, model.architecture, images, labels)})
    path = Path(inputs_dir, "metrics", f"{notebook_name('mnist')}.json")
    if path.is_file():
        result = read_json(path)["results"]["mnist"]
        for arm in ARMS:
            record = result["arms"][arm]
            for point in record["points"]:
                stem = arm_model_stem("mnist", result["architecture"], arm, point["epochs"])
                rows.append({"model": stem.removeprefix("mnist_"), "notebook": notebook_name("mnist"), "arm": arm,
                             "epochs": point["epochs"], "augmentation": point["augmentation"],
                             "label_smoothing": record["recipe"]["label_smoothing"],
                             **_as_is(Path(inputs_dir, "models", f"{stem}.keras"), result["architecture"], images,
                                      labels)})
    return rows


def budget_effect(rows: list[dict]) -> list[dict]:
    """For each of 06's arms, its UCI accuracy as is at the shorter and the longer budget."""
    effects = []
    for arm in ARMS:
        points = sorted((row for row in rows if row["arm"] == arm), key=lambda row: row["epochs"])
        if len(points) > 1:
            effects.append({"arm": arm, "augmentation": points[0]["augmentation"],
                            "epochs": [points[0]["epochs"], points[-1]["epochs"]],
                            "uci_accuracy": [points[0]["uci_accuracy"], points[-1]["uci_accuracy"]],
                            "most_predicted": [points[0]["most_predicted"], points[-1]["most_predicted"]],
                            "most_predicted_share": [points[0]["most_predicted_share"],
                                                     points[-1]["most_predicted_share"]]})
    return effects
