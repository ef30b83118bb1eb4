"""Notebook 06's steps: the architecture screen, plain against augmented training over budgets, the final recipe
validation picks, its ensemble, the McNemar comparisons and what is saved. The pieces they are made of (budgets,
choices, gains, ensembles) are in best_models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import false_discovery_control

from mnist_study.core.models import check_model_name
from mnist_study.pipeline.artifacts import save_array
from mnist_study.pipeline.best_models import (
    ARMS,
    augmentation_gains,
    budget_config,
    budget_epochs,
    choose_architecture,
    comparison_row,
    crossover_epochs,
    curve_point,
    ensemble_curve,
    ensemble_probabilities,
    final_model_name,
    final_point,
    merge_runs,
    upstream_runs,
)
from mnist_study.pipeline.experiment import (
    ExperimentConfig,
    ModelRuns,
    config_from_parameters,
    run_model,
    save_model_outputs,
    summarize_runs,
)
from mnist_study.pipeline.reporting import read_json
from mnist_study.pipeline.summary import format_accuracy, markdown_table

NOTEBOOK = "06_best_models"
UPSTREAM = {"mnist": "03_cnn_architectures", "fashion_mnist": "04_fashion_mnist"}
TARGETS = [  # (dataset, what, target test accuracy, reference)
    ("mnist", "single model, mean over seeds", 0.996, "LeNet-5 with distortions: 99.2 %"),
    ("mnist", "ensemble of the seeds", 0.997, "35-CNN committee (Ciresan et al. 2012): 99.77 %"),
    ("fashion_mnist", "single model, mean over seeds", 0.935, "benchmark: 93.4-93.9 % for 2-conv nets"),
    ("fashion_mnist", "ensemble of the seeds", 0.940, ""),
]


def _check_seeds(name: str, value) -> None:
    if not isinstance(value, list) or not value or len(set(value)) != len(value) \
            or any(isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in value):
        raise ValueError(f"{name}: expected a non-empty list of distinct non-negative integers, got {value!r}")


def _check_architectures(name: str, value, allow_empty: bool) -> None:
    if not isinstance(value, list) or len(set(value)) != len(value) or (not allow_empty and not value):
        raise ValueError(f"{name}: expected a list of distinct architecture names, got {value!r}")
    for architecture in value:
        check_model_name(architecture)


@dataclass
class BestModelsPlan:
    """06's parameters, validated, and what it reads from 03 and 04: their metrics, recipes and budgets."""

    datasets: list[str]
    candidates: list[str]
    float32_architectures: list[str]
    screen_tolerance: float
    curve_seeds: list[int]
    seeds: list[int]
    baseline: str
    inputs_dir: str
    upstream_paths: dict[str, Path]
    upstream: dict[str, dict]
    upstream_configs: dict[str, ExperimentConfig]
    budgets: dict[str, list[int]]

    def precision(self, architecture: str) -> str | None:
        """float32 where the architecture is listed so; None: the upstream recipe's."""
        return "float32" if architecture in self.float32_architectures else None

    def config(self, dataset: str, arm: str, epochs: int, seeds: list[int], architecture: str) -> ExperimentConfig:
        return budget_config(self.upstream_configs[dataset], arm, epochs, seeds, self.precision(architecture))


def plan_best_models(datasets, candidates, float32_architectures, screen_tolerance, budget_fractions, curve_seeds,
                     seeds, baseline, inputs_dir) -> BestModelsPlan:
    """Validate 06's parameters (a bad value stops here with a message naming it) and read its upstream."""
    if not isinstance(datasets, list) or not datasets or len(set(datasets)) != len(datasets) \
            or not set(datasets) <= set(UPSTREAM):
        raise ValueError(f"datasets: expected a non-empty list of distinct names from {list(UPSTREAM)}, "
                         f"got {datasets!r}")
    _check_seeds("seeds", seeds)
    _check_seeds("curve_seeds", curve_seeds)
    _check_architectures("candidates", candidates, allow_empty=False)
    _check_architectures("float32_architectures", float32_architectures, allow_empty=True)
    check_model_name(baseline)
    upstream_paths = {dataset: Path(inputs_dir, "metrics", f"{UPSTREAM[dataset]}.json") for dataset in datasets}
    upstream = {dataset: read_json(path) for dataset, path in upstream_paths.items()}
    for dataset in datasets:
        if baseline not in upstream[dataset]["models"]:
            raise ValueError(f"baseline: {baseline!r} was not trained by {UPSTREAM[dataset]}; "
                             f"expected one of {list(upstream[dataset]['models'])}")
        # A candidate the upstream notebook trained reuses its runs (the plain arm at its budget): same seeds needed.
        for architecture in set(candidates) & set(upstream[dataset]["models"]):
            trained_seeds = upstream[dataset]["models"][architecture]["seeds"]
            for name, value in (("curve_seeds", curve_seeds), ("seeds", seeds)):
                if not set(value) <= set(trained_seeds):
                    raise ValueError(f"{name}: {value!r} must be among the seeds {UPSTREAM[dataset]} trained "
                                     f"{architecture} on, {trained_seeds!r}: its runs are the plain arm at its budget")
    configs = {dataset: config_from_parameters(upstream[dataset]["provenance"]["parameters"]) for dataset in datasets}
    budgets = {dataset: budget_epochs(configs[dataset].recipe.epochs, budget_fractions) for dataset in datasets}
    return BestModelsPlan(datasets, candidates, float32_architectures, screen_tolerance, curve_seeds, seeds,
                          baseline, inputs_dir, upstream_paths, upstream, configs, budgets)


def plain_runs(plan: BestModelsPlan, data, dataset: str, architecture: str, epochs: int,
               run_seeds: list[int]) -> tuple[ModelRuns, str]:
    """The plain arm's runs and who trained them: the upstream notebook's where it trained them at this budget."""
    summary = plan.upstream[dataset]["models"].get(architecture)
    if summary is not None and epochs == plan.upstream_configs[dataset].recipe.epochs:
        probabilities = np.load(Path(plan.inputs_dir, "probabilities", summary["artifacts"]["probabilities"]))
        return upstream_runs(summary, probabilities, architecture, run_seeds), UPSTREAM[dataset]
    return run_model(architecture, data, plan.config(dataset, "plain", epochs, run_seeds, architecture)), NOTEBOOK


def screen_architectures(plan: BestModelsPlan, data, dataset: str, forward_flops: dict[str, float]):
    """Every candidate, plain, at the smallest budget, on the first curve seed; validation (and FLOPs) choose.
    Returns the screen's record, each candidate's (runs, source) and the chosen architecture."""
    epochs, rows, runs = min(plan.budgets[dataset]), [], {}
    for architecture in plan.candidates:
        trained, source = plain_runs(plan, data, dataset, architecture, epochs, plan.curve_seeds[:1])
        runs[architecture] = (trained, source)
        rows.append({"architecture": architecture, "parameters": trained.parameter_count,
                     "forward_flops": forward_flops[architecture],
                     "precision": plan.precision(architecture) or plan.upstream_configs[dataset].recipe.precision,
                     "val_accuracy": trained.runs[0]["best_val_accuracy"],
                     "train_time_s": trained.runs[0]["train_time_s"], "source": source})
    chosen = choose_architecture(rows, plan.screen_tolerance)
    screen = {"epochs": epochs, "seed": plan.curve_seeds[0], "tolerance": plan.screen_tolerance, "rows": rows,
              "chosen": chosen}
    return screen, runs, chosen


def budget_curve_runs(plan: BestModelsPlan, data, dataset: str, architecture: str, screen: dict, screen_runs: dict):
    """Both arms at every budget on the curve seeds; the screen's run is the plain arm's first seed at its budget.
    Returns {(arm, epochs): runs} and the curve's points."""
    curve_runs, points = {}, []
    for arm in ARMS:
        for epochs in plan.budgets[dataset]:
            if arm == "plain" and epochs == screen["epochs"]:
                trained, source = screen_runs[architecture]
                if len(plan.curve_seeds) > 1:
                    trained = merge_runs(trained, plain_runs(plan, data, dataset, architecture, epochs,
                                                             plan.curve_seeds[1:])[0])
            elif arm == "plain":
                trained, source = plain_runs(plan, data, dataset, architecture, epochs, plan.curve_seeds)
            else:
                trained = run_model(architecture, data, plan.config(dataset, arm, epochs, plan.curve_seeds,
                                                                    architecture))
                source = NOTEBOOK
            curve_runs[(arm, epochs)] = trained
            points.append(curve_point(arm, epochs, trained.runs, source))
    return curve_runs, points


def final_runs(plan: BestModelsPlan, data, dataset: str, architecture: str, points: list[dict], curve_runs: dict):
    """The curve's best validation point on every seed: its curve runs, and the missing seeds trained.
    Returns the final's record and its runs."""
    point = final_point(points)
    arm, epochs = point["arm"], point["epochs"]
    runs = curve_runs[(arm, epochs)]
    missing = [seed for seed in plan.seeds if seed not in point["seeds"]]
    if missing and arm == "plain":
        runs = merge_runs(runs, plain_runs(plan, data, dataset, architecture, epochs, missing)[0])
    elif missing:
        runs = merge_runs(runs, run_model(architecture, data, plan.config(dataset, arm, epochs, missing,
                                                                          architecture)))
    # Runs the upstream notebook trained keep their name and files there; runs trained here are saved by 06.
    upstream_final = point["source"] != NOTEBOOK
    final = {"architecture": architecture, "arm": arm, "epochs": epochs, "source": point["source"],
             "model": architecture if upstream_final else final_model_name(architecture, arm)}
    return final, runs


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


def save_runs(results_dir: str | Path, dataset: str, final: dict, runs: ModelRuns, summary: dict,
              ensemble: dict, ensemble_predictions: np.ndarray, chosen: str, screen: dict, screen_runs: dict,
              points: list[dict], curve_runs: dict) -> dict:
    """Save a final trained here (its first seed's model and predictions), the ensemble's predictions, and the
    test probabilities of every run trained here, once. Returns the models saved, as 09's tables list them."""
    for folder in ("predictions", "probabilities"):  # a final that is 03/04's runs saves no model to create them
        Path(results_dir, folder).mkdir(parents=True, exist_ok=True)
    models = {}
    if runs.first is not None:  # trained here (03/04's runs keep their files there)
        summary["artifacts"] = save_model_outputs(runs, dataset, results_dir, name=final["model"])
        models[final["model"]] = summary
    ensemble["predictions"] = save_array(ensemble_predictions, Path(results_dir, "predictions",
                                                                    f"{dataset}_{final['model']}_ensemble.npy")).name
    # The chosen architecture's curve points, and the other candidates' screen runs.
    trained_here = {f"{chosen}_{point['arm']}_{point['epochs']}_epochs": curve_runs[(point["arm"], point["epochs"])]
                    for point in points if point["source"] == NOTEBOOK}
    trained_here |= {f"{architecture}_screen_{screen['epochs']}_epochs": result
                     for architecture, (result, source) in screen_runs.items()
                     if source == NOTEBOOK and architecture != chosen}
    for stem, result in trained_here.items():
        save_array(np.stack(result.seed_probabilities).astype(np.float32),
                   Path(results_dir, "probabilities", f"{dataset}_{stem}.npy"))
    return models


def summarize_final(runs: ModelRuns, dataset: str) -> dict:
    return {**summarize_runs(runs), "dataset": dataset}


def budget_curve_of(points: list[dict]) -> dict:
    """The curve's points, augmentation's paired gains at each budget and the crossover (from validation)."""
    gains = augmentation_gains(points)
    return {"points": points, "gains": gains, "crossover_epochs": crossover_epochs(gains)}


def budget_curve_table(points: list[dict], gains: list[dict]) -> str:
    """Both arms at each budget, validation and test (mean ± std over the curve seeds), and the gains."""
    def at(epochs, key):
        return [format_accuracy(point[f"{key}_mean"], point[f"{key}_std"]) for arm in ARMS for point in points
                if point["arm"] == arm and point["epochs"] == epochs]

    return markdown_table(
        ["epochs", "plain, validation %", "augmented, validation %", "gain, validation (pp)",
         "plain, test %", "augmented, test %", "gain, test (pp)"],
        [[gain["epochs"], *at(gain["epochs"], "val_accuracy"), f"{100 * gain['val_gain']:+.2f}",
          *at(gain["epochs"], "test_accuracy"), f"{100 * gain['test_gain']:+.2f}"] for gain in gains])


def comparisons_table(rows: list[dict], baseline: str) -> str:
    return markdown_table(
        ["arm", "runs", "test accuracy %", "gain over plain (pp)", "only arm right", f"only {baseline} right", "p",
         "p (BH)"],
        [[row["arm"], row["runs"], format_accuracy(row["test_accuracy_mean"], row["test_accuracy_std"]),
          f"{row['gain_over_plain'] * 100:+.2f}", row["mcnemar_vs_baseline"]["only_a_correct"],
          row["mcnemar_vs_baseline"]["only_b_correct"], f"{row['mcnemar_vs_baseline']['p_value']:.2g}",
          f"{row['mcnemar_vs_baseline']['p_value_bh']:.2g}"] for row in rows])
