"""Notebook 06's second half: the point of the budget curve that validation picks, on every seed; test-time
augmentation where validation says it pays; the ensemble; the targets; the McNemar comparisons; what is saved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import false_discovery_control
from sklearn.metrics import accuracy_score

from mnist_study.core.data import prepare_images, prepare_training_split
from mnist_study.core.inference import predict_probabilities
from mnist_study.core.models import input_side
from mnist_study.study.best_models import (
    FLIP_INVARIANT,
    comparison_row,
    ensemble_curve,
    ensemble_probabilities,
    final_convergence,
    final_model_name,
    final_point,
    merge_runs,
)
from mnist_study.study.best_models_study import BestModelsPlan
from mnist_study.study.experiment import ModelRuns, add_run, run_budgets, save_model_outputs, summarize_runs
from mnist_study.workflow.artifacts import save_array
from mnist_study.workflow.reuse import current_session
from mnist_study.workflow.trained_run import TrainedRun
from mnist_study.workflow.training_runs import with_model

FLIP_TTA = "flip_tta"  # the name a run keeps its mirror-image test-time augmentation under
TARGETS = [  # (dataset, what, target test accuracy, reference)
    ("mnist", "single model, mean over seeds", 0.996, "LeNet-5 with distortions: 99.2 %"),
    ("mnist", "ensemble of the seeds", 0.997, "35-CNN committee (Ciresan et al. 2012): 99.77 %"),
    ("fashion_mnist", "single model, mean over seeds", 0.935, "benchmark: 93.4-93.9 % for 2-conv nets"),
    ("fashion_mnist", "ensemble of the seeds", 0.940, ""),
]


def final_runs(plan: BestModelsPlan, data, dataset: str, architecture: str, points: list[dict], curve_runs: dict):
    """The curve's best validation point on every seed: its curve runs, and the missing seeds trained (a run of
    that budget alone is the curve's branch, bit for bit). Returns the final's record and its runs."""
    point = final_point(points)
    arm, epochs, augmentation = point["arm"], point["epochs"], point["augmentation"]
    runs = curve_runs[(arm, epochs)]
    missing = [seed for seed in plan.seeds if seed not in point["seeds"]]
    if missing:
        runs = merge_runs(runs, run_budgets(architecture, data, plan.config(dataset, augmentation, epochs, missing),
                                            [epochs])[epochs])
    final = {"architecture": architecture, "arm": arm, "augmentation": augmentation, "epochs": epochs,
             "model": final_model_name(architecture, arm), "convergence": final_convergence(points, point)}
    return final, runs


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


def test_time_augmentation(data, dataset: str, runs: ModelRuns) -> tuple[dict | None, ModelRuns, list]:
    """Where a mirror image is the same class: each seed's validation accuracy as is and averaged with its mirror.
    Where the mean gain on validation is positive, the final is tested on the averaged probabilities.
    Returns the record, the runs to report, and the measured runs (with both test probabilities)."""
    if not FLIP_INVARIANT[dataset]:
        return None, runs, []
    test_images = prepare_images(data.test_images, input_side(runs.model_name))
    measured = [with_flip_tta(run, data, test_images) for run in runs.trained]
    as_is = [run.extras[FLIP_TTA]["val_accuracy"] for run in measured]
    flipped = [run.extras[FLIP_TTA]["val_accuracy_flip"] for run in measured]
    gain = float(np.mean(np.subtract(flipped, as_is)))
    record = {"seeds": [run.seed for run in measured], "val_accuracy": as_is, "val_accuracy_flip": flipped,
              "val_gain": gain, "applied": gain > 0,
              "test_accuracy_as_is": [run["test_accuracy"] for run in runs.runs]}
    if not record["applied"]:
        return record, runs, measured
    averaged = None
    for run in measured:
        averaged = add_run(averaged, replace(run, test_probabilities=run.extra_test_probabilities[FLIP_TTA]), data)
    return record, averaged, measured


def ensemble_of(labels: np.ndarray, runs: ModelRuns) -> tuple[dict, np.ndarray]:
    """The seeds' ensemble: accuracy for the first 1, 2, ... members, and the full ensemble's predictions."""
    curve = ensemble_curve(labels, runs.seed_probabilities)
    predictions = ensemble_probabilities(runs.seed_probabilities).argmax(axis=1).astype(np.uint8)
    return {"members": len(curve), "seeds": [run["seed"] for run in runs.runs], "accuracy_by_size": curve,
            "accuracy": curve[-1]}, predictions


def targets(datasets: list[str], summaries: dict, ensembles: dict) -> list[dict]:
    """TARGETS against what the final recipes reached on the test set."""
    rows = []
    for dataset, what, target, reference in TARGETS:
        if dataset in datasets:
            achieved = (ensembles[dataset]["accuracy"] if what.startswith("ensemble")
                        else summaries[dataset]["test_accuracy"]["mean"])
            rows.append({"dataset": dataset, "what": what, "target": target, "achieved": achieved,
                         "met": achieved >= target, "reference": reference})
    return rows


def comparisons(labels: np.ndarray, baseline_predictions: np.ndarray, curve_runs: dict, points: list[dict],
                ensemble: dict, ensemble_predictions: np.ndarray, final_epochs: int) -> list[dict]:
    """McNemar rows: every augmented point's first seed, and the final ensemble, against the baseline."""
    plain = {point["epochs"]: dict(zip(point["seeds"], point["test_accuracy_by_seed"], strict=True))
             for point in points if point["arm"] == "plain"}
    rows = []
    for (arm, epochs), trained in curve_runs.items():
        if arm != "augmented":
            continue
        accuracy = {run["seed"]: run["test_accuracy"] for run in trained.runs}
        predictions = trained.test_probabilities.argmax(axis=1)
        rows.append({**comparison_row(f"augmented, {epochs} epochs", accuracy, predictions, labels,
                                      baseline_predictions, plain[epochs]), "epochs": epochs})
    rows.append({**comparison_row(f"final, ensemble of {ensemble['members']}", {"ensemble": ensemble["accuracy"]},
                                  ensemble_predictions, labels, baseline_predictions, plain[final_epochs]),
                 "epochs": final_epochs})
    return rows


def adjust_for_many_tests(rows_by_dataset: dict[str, list[dict]]) -> None:
    """Benjamini-Hochberg over every McNemar test of the table, in place (`p_value_bh`)."""
    every_test = [row["mcnemar_vs_baseline"] for rows in rows_by_dataset.values() for row in rows]
    for test, adjusted in zip(every_test, false_discovery_control([test["p_value"] for test in every_test]),
                              strict=True):
        test["p_value_bh"] = float(adjusted)


def save_runs(results_dir: str | Path, dataset: str, final: dict, runs: ModelRuns, measured: list, summary: dict,
              ensemble: dict, ensemble_predictions: np.ndarray, architecture: str, curve_runs: dict) -> dict:
    """Save the final's first seed's model, its predictions and every seed's probabilities (and, where the mirror
    was measured, those as is and averaged with it: reruns find them by content), the ensemble's predictions, and
    the test probabilities of every curve point. Returns the models saved, as 09's tables list them."""
    for folder in ("predictions", "probabilities"):
        Path(results_dir, folder).mkdir(parents=True, exist_ok=True)
    summary["artifacts"] = save_model_outputs(runs, dataset, results_dir, name=final["model"])
    if measured:  # the final's probabilities are one of the two; the other is saved beside them
        applied = summary.get("test_time_augmentation", {}).get("applied", False)
        other = [run.test_probabilities if applied else run.extra_test_probabilities[FLIP_TTA] for run in measured]
        stem = "as_is" if applied else "flip_tta"
        save_array(np.stack(other).astype(np.float32),
                   Path(results_dir, "probabilities", f"{dataset}_{final['model']}_{stem}.npy"))
    ensemble["predictions"] = save_array(ensemble_predictions, Path(results_dir, "predictions",
                                                                    f"{dataset}_{final['model']}_ensemble.npy")).name
    for (arm, epochs), result in curve_runs.items():
        save_array(np.stack(result.seed_probabilities).astype(np.float32),
                   Path(results_dir, "probabilities", f"{dataset}_{architecture}_{arm}_{epochs}_epochs.npy"))
    return {final["model"]: summary}


def summarize_final(runs: ModelRuns, dataset: str) -> dict:
    return {**summarize_runs(runs), "dataset": dataset}
