"""Notebook 06's second half: plain against augmented, each at its own budget, paired by seed and image by image;
the final (the arm validation prefers); test-time augmentation and ensembles, reported apart from single models;
the final against the upstream notebook's best; the targets and the literature; what is saved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import false_discovery_control
from sklearn.metrics import accuracy_score

from mnist_study.analysis.evaluation import mcnemar_exact, summarize_over_seeds
from mnist_study.core.data import prepare_images, prepare_training_split
from mnist_study.core.distributed import is_chief
from mnist_study.core.inference import predict_probabilities
from mnist_study.core.models import input_side
from mnist_study.study.best_models import (
    ARMS,
    FLIP_INVARIANT,
    ensemble_curve,
    ensemble_probabilities,
    final_arm,
    final_model_name,
    mcnemar_by_seed,
    paired_gain,
)
from mnist_study.study.experiment import ModelRuns, add_run, save_first_model, save_model_outputs, summarize_runs
from mnist_study.workflow.artifacts import save_array
from mnist_study.workflow.reuse import current_session
from mnist_study.workflow.trained_run import TrainedRun
from mnist_study.workflow.training_runs import with_model

FLIP_TTA = "flip_tta"  # the name a run keeps its mirror-image test-time augmentation under
TARGETS = [  # (dataset, what, target test accuracy, reference)
    ("mnist", "single model, mean over seeds", 0.996, "CNN with elastic distortions (Simard et al. 2003): 99.6 %"),
    ("mnist", "ensemble of the seeds", 0.997, "35-CNN committee (Ciresan et al. 2012): 99.77 %"),
    ("fashion_mnist", "single model, mean over seeds, no test-time augmentation", 0.935,
     "Fashion-MNIST benchmark: 2 conv + pooling + BN, 93.4 %"),
    ("fashion_mnist", "ensemble of the seeds, no test-time augmentation", 0.940, ""),
]
# What the literature measured on the same test set, for the notebook to set its findings beside (test accuracy).
LITERATURE = {
    "mnist": [("Simard et al. 2003", "2-layer MLP, elastic distortions", 0.9930),  # their table 1, as error rates
              ("Simard et al. 2003", "CNN, affine distortions", 0.9940),
              ("Simard et al. 2003", "CNN, elastic distortions", 0.9960),
              ("Ciresan et al. 2010", "6-layer MLP, elastic and affine distortions", 0.9965)],
    "fashion_mnist": [("Xiao et al. 2017", "best scikit-learn classifier (SVC)", 0.897),
                      ("Fashion-MNIST benchmark", "2 conv + pooling + BN, no augmentation", 0.934),
                      ("Fashion-MNIST benchmark", "2 conv + 2 FC, random horizontal flips", 0.939)],
}


def compare_arms(labels: np.ndarray, arms: dict[str, dict]) -> dict:
    """Plain against augmented, each at the budget validation chose for it, on the same seeds: the paired gain on
    validation and test with its 95 % interval, a McNemar test per seed, and one between the arms' ensembles;
    Benjamini-Hochberg over these tests."""
    chosen = {arm: chosen_point(arms[arm]) for arm in ARMS}
    runs = {arm: arms[arm]["runs"][chosen[arm]["epochs"]] for arm in ARMS}
    plain, augmented = chosen["plain"], chosen["augmented"]
    tests = mcnemar_by_seed(labels, runs["plain"].seed_probabilities, runs["augmented"].seed_probabilities,
                            plain["seeds"])
    ensembles = {arm: ensemble_probabilities(runs[arm].seed_probabilities).argmax(axis=1) for arm in ARMS}
    ensemble_test = {"members": len(plain["seeds"]), **mcnemar_exact(labels, ensembles["plain"],
                                                                      ensembles["augmented"])}
    every = [*tests, ensemble_test]
    for test, adjusted in zip(every, false_discovery_control([test["p_value"] for test in every]), strict=True):
        test["p_value_bh"] = float(adjusted)
    return {"epochs": {arm: chosen[arm]["epochs"] for arm in ARMS}, "seeds": plain["seeds"],
            "augmentation": augmented["augmentation"],
            "val_gain": paired_gain(plain, augmented, "val_accuracy_by_seed"),
            "test_gain": paired_gain(plain, augmented, "test_accuracy_by_seed"),
            "mcnemar_by_seed": tests, "mcnemar_ensembles": ensemble_test,
            "ensemble_accuracy": {arm: float(accuracy_score(labels, ensembles[arm])) for arm in ARMS}}


def chosen_point(arm: dict) -> dict:
    return next(point for point in arm["points"] if point["epochs"] == arm["budget"]["epochs"])


def final_of(architecture: str, arms: dict[str, dict]) -> tuple[dict, ModelRuns]:
    """The arm validation prefers (best_models.final_arm), at its budget: its record and runs."""
    arm = final_arm({name: chosen_point(arms[name]) for name in ARMS})
    point = chosen_point(arms[arm])
    final = {"architecture": architecture, "arm": arm, "augmentation": point["augmentation"],
             "epochs": point["epochs"], "model": final_model_name(architecture, arm), "budget": arms[arm]["budget"],
             "val_accuracy": point["val_accuracy"]}
    return final, arms[arm]["runs"][point["epochs"]]


def with_flip_tta(run: TrainedRun, data, test_images) -> TrainedRun:
    """`run` with test-time augmentation by a mirror image measured: its validation accuracy as is and with each
    image's probabilities averaged with its mirror's (`extras["flip_tta"]`), and that average on the test images
    (`extra_test_probabilities["flip_tta"]`), kept with the run so that a rerun reuses them."""
    if FLIP_TTA in run.extras and FLIP_TTA in run.extra_test_probabilities:
        return run
    run = with_model(run)
    settings = run.settings
    split = prepare_training_split(data, settings["seed"], input_side(settings["model"]),
                                   settings["validation_fraction"], settings["train_subset"])
    model = run.keras_model()
    as_is = predict_probabilities(model, split.validation_images)
    mirrored = predict_probabilities(model, np.flip(split.validation_images, axis=2))
    run.extras[FLIP_TTA] = {"val_accuracy": float(accuracy_score(split.validation_labels, as_is.argmax(axis=1))),
                            "val_accuracy_flip": float(accuracy_score(split.validation_labels,
                                                                      (as_is + mirrored).argmax(axis=1)))}
    test_mirrored = predict_probabilities(model, np.flip(test_images, axis=2))
    run.extra_test_probabilities[FLIP_TTA] = ((run.test_probabilities + test_mirrored) / 2).astype(np.float32)
    if (session := current_session()) is not None:
        session.add(run, cache=True)
    return run


def test_time_augmentation(data, dataset: str, runs: ModelRuns) -> tuple[dict | None, ModelRuns | None]:
    """Where a mirror image is the same class: each seed's validation accuracy as is and averaged with its mirror,
    and, reported apart from the single models, the test accuracy of each seed and of the ensemble with it.
    Returns the record and the runs with the averaged test probabilities (None where a mirror changes the class)."""
    if not FLIP_INVARIANT[dataset]:
        return None, None
    test_images = prepare_images(data.test_images, input_side(runs.model_name))
    measured = [with_flip_tta(run, data, test_images) for run in runs.trained]
    averaged = None
    for run in measured:
        averaged = add_run(averaged, replace(run, test_probabilities=run.extra_test_probabilities[FLIP_TTA]), data)
    as_is = [run.extras[FLIP_TTA]["val_accuracy"] for run in measured]
    flipped = [run.extras[FLIP_TTA]["val_accuracy_flip"] for run in measured]
    return {"seeds": [run.seed for run in measured], "val_accuracy": as_is, "val_accuracy_flip": flipped,
            "val_gain": summarize_over_seeds(np.subtract(flipped, as_is).tolist()),
            "test_accuracy": summarize_over_seeds([run["test_accuracy"] for run in averaged.runs]),
            "ensemble_accuracy": ensemble_curve(data.test_labels, averaged.seed_probabilities)[-1]}, averaged


def ensemble_of(labels: np.ndarray, runs: ModelRuns) -> tuple[dict, np.ndarray]:
    """The seeds' ensemble: accuracy for the first 1, 2, ... members, and the full ensemble's predictions."""
    curve = ensemble_curve(labels, runs.seed_probabilities)
    predictions = ensemble_probabilities(runs.seed_probabilities).argmax(axis=1).astype(np.uint8)
    return {"members": len(curve), "seeds": [run["seed"] for run in runs.runs], "accuracy_by_size": curve,
            "accuracy": curve[-1]}, predictions


def upstream_best(upstream: dict) -> tuple[str, dict]:
    """The upstream notebook's model with the best mean validation accuracy (of the weights it kept)."""
    name = max(upstream["models"], key=lambda model: np.mean([run["final_val_accuracy"]
                                                              for run in upstream["models"][model]["runs"]]))
    return name, upstream["models"][name]


def against_upstream(labels: np.ndarray, final_runs: ModelRuns, ensemble_predictions: np.ndarray,
                     upstream_predictions: np.ndarray) -> dict:
    """McNemar: the final's first seed, and its ensemble, against the upstream best's first seed ("a": the final)."""
    return {"single": mcnemar_exact(labels, final_runs.test_probabilities.argmax(axis=1), upstream_predictions),
            "ensemble": mcnemar_exact(labels, ensemble_predictions, upstream_predictions)}


def targets(dataset: str, summary: dict, ensemble: dict) -> list[dict]:
    """TARGETS against what the final reached on the test set (single models and ensemble, no test-time
    augmentation)."""
    rows = []
    for target_dataset, what, target, reference in TARGETS:
        if target_dataset == dataset:
            achieved = ensemble["accuracy"] if what.startswith("ensemble") else summary["test_accuracy"]["mean"]
            rows.append({"dataset": dataset, "what": what, "target": target, "achieved": achieved,
                         "met": achieved >= target, "reference": reference})
    return rows


def save_runs(results_dir: str | Path, dataset: str, final: dict, runs: ModelRuns, summary: dict, ensemble: dict,
              ensemble_predictions: np.ndarray, arms: dict[str, dict], tta_runs: ModelRuns | None) -> dict:
    """Save the final's first seed's model, its predictions and every seed's probabilities (with a mirror too,
    where measured), the ensemble's predictions, and each arm at each budget: its first seed's model and every
    seed's test probabilities. Returns the models saved, as 09's tables list them."""
    for folder in ("predictions", "probabilities"):
        Path(results_dir, folder).mkdir(parents=True, exist_ok=True)
    summary["artifacts"] = save_model_outputs(runs, dataset, results_dir, name=final["model"])
    if tta_runs is not None:
        save_array(np.stack(tta_runs.seed_probabilities).astype(np.float32),
                   Path(results_dir, "probabilities", f"{dataset}_{final['model']}_flip_tta.npy"))
    ensemble["predictions"] = save_array(ensemble_predictions, Path(results_dir, "predictions",
                                                                    f"{dataset}_{final['model']}_ensemble.npy")).name
    for arm, record in arms.items():
        for epochs, result in record["runs"].items():
            stem = arm_model_stem(dataset, final["architecture"], arm, epochs)
            save_array(np.stack(result.seed_probabilities).astype(np.float32),
                       Path(results_dir, "probabilities", f"{stem}.npy"))
            if is_chief():  # notebook 08 asks each of them how it reads new writers
                save_first_model(result, Path(results_dir, "models", f"{stem}.keras"))
    return {final["model"]: summary}


def arm_model_stem(dataset: str, architecture: str, arm: str, epochs: int) -> str:
    """How 06 files an arm's first seed at a budget (models/<stem>.keras) and every seed's probabilities."""
    return f"{dataset}_{architecture}_{arm}_{epochs}_epochs"


def summarize_final(runs: ModelRuns, dataset: str) -> dict:
    return {**summarize_runs(runs), "dataset": dataset}
