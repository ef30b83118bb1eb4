"""Notebook 08's voters: the strongest saved models of a dataset on validation, their test probabilities
calibrated by a temperature fitted on each one's own validation split, before they judge the test labels.

Confident learning counts an image as another class's only where that class's probability reaches the class's
threshold, the mean probability the voters give the images labelled with it. The voters set the thresholds: a
weak voter (the dense net) spreads its probability and lowers them, a voter trained with label smoothing caps its
probabilities near 1 - smoothing. Calibration on validation undoes the compression; only the strongest models vote,
and each model's count alone is shown beside, so that the count found can be traced to who voted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mnist_study.analysis.evaluation import apply_temperature, fit_temperature
from mnist_study.analysis.label_quality import (
    accuracy_without,
    confident_counts,
    consensus_probabilities,
    disagreements,
    label_issues,
)
from mnist_study.core.inference import predict_probabilities
from mnist_study.core.models import input_side
from mnist_study.study.best_models import architecture_of
from mnist_study.study.experiment import ExperimentConfig, config_from_parameters, prepare_split
from mnist_study.workflow.notebooks import TRAINING_NOTEBOOKS
from mnist_study.workflow.provenance import read_json


@dataclass(frozen=True)
class SavedModel:
    """One voter: its test probabilities (every seed), the first seed's model, and how its data were split."""

    name: str  # as saved: <dataset>_<name>.keras
    architecture: str
    notebook: str
    probabilities_path: Path
    model_path: Path
    config: ExperimentConfig  # seeds: the runs behind the probabilities, the first being the saved model's
    val_accuracy: float  # the mean over its seeds of the validation accuracy of the weights kept


def saved_models(inputs_dir: str | Path, dataset: str, architectures: list[str]) -> list[SavedModel]:
    """Every model of `dataset` that a training notebook saved, with its first seed's model and split."""
    inputs_dir, found = Path(inputs_dir), []
    for notebook in TRAINING_NOTEBOOKS:
        path = inputs_dir / "metrics" / f"{notebook}.json"
        if not path.is_file():
            continue
        metrics = read_json(path)
        if "results" in metrics:  # 06: its results by dataset
            result = metrics["results"].get(dataset)
            groups = [(result["models"], config_from_parameters(result["recipe"]))] if result else []
        else:
            groups = [(metrics["models"], config_from_parameters(metrics["provenance"]["parameters"]))] \
                if metrics["dataset"] == dataset else []
        for models, config in groups:
            for name, summary in models.items():
                artifacts = summary["artifacts"]
                found.append(SavedModel(name, architecture_of(name, architectures), notebook,
                                        inputs_dir / "probabilities" / artifacts["probabilities"],
                                        inputs_dir / "models" / artifacts["model"],
                                        replace(config, seeds=summary["seeds"]),
                                        float(np.mean([run["final_val_accuracy"] for run in summary["runs"]]))))
    return found


def validation_temperature(model: SavedModel, data) -> float:
    """The temperature that fits the first seed's saved model to its own validation split (as notebook 05)."""
    import keras

    split = prepare_split(data, model.config, model.config.seeds[0], input_side(model.architecture))
    probabilities = predict_probabilities(keras.models.load_model(model.model_path), split.validation_images)
    return fit_temperature(split.validation_labels, probabilities)


def calibrated_probabilities(model: SavedModel, temperature: float) -> np.ndarray:
    """Every seed's test probabilities scaled by the model's temperature, the first seed's (only its model is kept,
    and the seeds share a recipe): (seeds, n, classes)."""
    return apply_temperature(np.load(model.probabilities_path).astype(np.float64), temperature)


def strongest(models: list[SavedModel], judged: str, count: int) -> list[str]:
    """The `count` models with the best validation accuracy, the judged one left out (every other with 0)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"voters: expected a non-negative integer, got {count!r}")
    ranked = sorted((model for model in models if model.name != judged), key=lambda model: -model.val_accuracy)
    return [model.name for model in (ranked[:count] if count else ranked)]


def review_labels(data, models: list[SavedModel], judged: str, voter_count: int) -> tuple[dict, dict, np.ndarray]:
    """Judge `data`'s test labels with the `voter_count` strongest models but `judged`, calibrated: the
    confident-learning suspects and every disputed label ranked for review, their summary (with why confident
    learning finds that count, raw and calibrated, what each model finds alone, and what they mean for the judged
    model), and the calibrated consensus."""
    labels = data.test_labels
    by_name = {model.name: model for model in models}
    temperatures = {name: validation_temperature(model, data) for name, model in by_name.items()}
    voters = strongest(models, judged, voter_count)
    # Each model's calibrated probabilities, read and scaled once: for its count alone and, for a voter, the vote.
    calibrated = {name: calibrated_probabilities(model, temperatures[name]) for name, model in by_name.items()}
    alone = {}
    for name, model in by_name.items():  # each model on its own: what its thresholds let through
        own = consensus_probabilities({name: calibrated[name]})
        alone[name] = {"val_accuracy": model.val_accuracy, "label_smoothing": model.config.recipe.label_smoothing,
                       "suspects": len(label_issues(labels, own)),
                       "mean_threshold": confident_counts(labels, own)["mean_threshold"],
                       "voted": name in voters}
    raw = consensus_probabilities({name: np.load(by_name[name].probabilities_path) for name in voters})
    consensus = consensus_probabilities({name: calibrated[name] for name in voters})
    suspects, ranked = label_issues(labels, consensus), disagreements(labels, consensus)
    predictions = np.load(by_name[judged].probabilities_path)[0].argmax(axis=1)  # the first seed: the saved model
    errors, suspect_indices = set(np.flatnonzero(predictions != labels).tolist()), [s["index"] for s in suspects]
    summary = {
        "best_model": judged, "voting_models": voters, "temperatures": temperatures, "alone": alone,
        "suspects": len(suspects), "suspects_uncalibrated": len(label_issues(labels, raw)),
        "disagreements": len(ranked),
        "why": {"calibrated": confident_counts(labels, consensus), "uncalibrated": confident_counts(labels, raw)},
        "best_model_errors": len(errors), "errors_among_suspects": len(errors & set(suspect_indices)),
        "errors_among_disagreements": len(errors & {issue["index"] for issue in ranked}),
        "test_accuracy": float(np.mean(predictions == labels)),
        "test_accuracy_without_suspects": accuracy_without(predictions, labels, suspect_indices),
    }
    return {"suspects": suspects, "disagreements": ranked}, summary, consensus
