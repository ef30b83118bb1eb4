"""Notebook 06's first half: the architecture screen at equal training time, and plain against augmented training
over budgets up to 4x the upstream epochs (one warmup-stable-decay run per arm and seed serves every budget). The
finals, which these feed, are in best_models_finals; the pieces both are made of are in best_models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_study.core.data import IMAGE_SIDE
from mnist_study.core.models import check_model_name
from mnist_study.core.training import check_budget
from mnist_study.study.best_models import (
    ARMS,
    MNIST_AUGMENTATIONS,
    arm_plateau,
    augmentation_gains,
    budget_config,
    budget_epochs,
    check_augmentations,
    choose_architecture,
    crossover_epochs,
    curve_point,
)
from mnist_study.study.experiment import (
    ExperimentConfig,
    config_from_parameters,
    prepare_split,
    run_budgets,
)
from mnist_study.workflow.provenance import read_json

NOTEBOOK = "06_best_models"
UPSTREAM = {"mnist": "03_cnn_architectures", "fashion_mnist": "04_fashion_mnist"}


def _check_seeds(name: str, value) -> None:
    if not isinstance(value, list) or not value or len(set(value)) != len(value) \
            or any(isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in value):
        raise ValueError(f"{name}: expected a non-empty list of distinct non-negative integers, got {value!r}")


@dataclass
class BestModelsPlan:
    """06's parameters, validated, and what it reads from 03 and 04: their metrics and searched recipes."""

    datasets: list[str]
    candidates: list[str]
    screen_budgets: list[int]
    curve_seeds: list[int]
    seeds: list[int]
    baseline: str
    inputs_dir: str
    upstream_paths: dict[str, Path]
    upstream: dict[str, dict]
    upstream_configs: dict[str, ExperimentConfig]
    budgets: dict[str, list[int]]
    augmentations: dict[str, list[str]]

    def config(self, dataset: str, augmentation: str, epochs: int, seeds: list[int]) -> ExperimentConfig:
        return budget_config(self.upstream_configs[dataset], augmentation, epochs, seeds)


def plan_best_models(datasets, candidates, screen_budgets, budget_multiples, fashion_augmentations, curve_seeds,
                     seeds, baseline, inputs_dir) -> BestModelsPlan:
    """Validate 06's parameters (a bad value stops here with a message naming it) and read its upstream."""
    if not isinstance(datasets, list) or not datasets or len(set(datasets)) != len(datasets) \
            or not set(datasets) <= set(UPSTREAM):
        raise ValueError(f"datasets: expected a non-empty list of distinct names from {list(UPSTREAM)}, "
                         f"got {datasets!r}")
    _check_seeds("seeds", seeds)
    _check_seeds("curve_seeds", curve_seeds)
    if not isinstance(candidates, list) or not candidates or len(set(candidates)) != len(candidates):
        raise ValueError(f"candidates: expected a non-empty list of distinct architecture names, got {candidates!r}")
    for architecture in [*candidates, baseline]:
        check_model_name(architecture)
    augmentations = {"mnist": MNIST_AUGMENTATIONS, "fashion_mnist": fashion_augmentations}
    for dataset in datasets:
        check_augmentations(dataset, augmentations[dataset])
    upstream_paths = {dataset: Path(inputs_dir, "metrics", f"{UPSTREAM[dataset]}.json") for dataset in datasets}
    upstream = {dataset: read_json(path) for dataset, path in upstream_paths.items()}
    for dataset in datasets:
        if baseline not in upstream[dataset]["models"]:
            raise ValueError(f"baseline: {baseline!r} was not trained by {UPSTREAM[dataset]}; "
                             f"expected one of {list(upstream[dataset]['models'])}")
    configs = {dataset: config_from_parameters(upstream[dataset]["provenance"]["parameters"]) for dataset in datasets}
    for dataset in datasets:
        if configs[dataset].recipe.lr_schedule != "wsd":
            raise ValueError(f"{upstream_paths[dataset]}: its recipe is {configs[dataset].recipe.lr_schedule!r}; "
                             f"06 branches budgets from warmup-stable-decay runs (re-run {UPSTREAM[dataset]})")
    budgets = {dataset: budget_epochs(configs[dataset].recipe.epochs, budget_multiples) for dataset in datasets}
    if not isinstance(screen_budgets, list) or not screen_budgets or len(set(screen_budgets)) != len(screen_budgets):
        raise ValueError(f"screen_budgets: expected a non-empty list of distinct epoch counts, got {screen_budgets!r}")
    for dataset in datasets:  # here, not at the first run: the searched warm-up sets the shortest budget
        for name, values in (("screen_budgets", screen_budgets), ("budget_multiples", budgets[dataset])):
            for epochs in values:
                try:
                    check_budget(configs[dataset].recipe, epochs)
                except ValueError as error:
                    raise ValueError(f"{name}: {epochs} epochs are too short for {dataset}'s recipe from "
                                     f"{UPSTREAM[dataset]}: {str(error).removeprefix('epochs: ')}") from None
    return BestModelsPlan(datasets, candidates, sorted(screen_budgets), curve_seeds, seeds, baseline, inputs_dir,
                          upstream_paths, upstream, configs, budgets, {d: augmentations[d] for d in datasets})


def screen_architectures(plan: BestModelsPlan, data, dataset: str, forward_flops: dict[str, float]) -> dict:
    """Every candidate, plain, one warmup-stable-decay run per screen budget on the first curve seed, judged on
    validation at equal measured training time (best_models.choose_architecture); the test set takes no part."""
    rows = []
    config = plan.config(dataset, "none", max(plan.screen_budgets), plan.curve_seeds[:1])
    for architecture in plan.candidates:
        runs = run_budgets(architecture, data, config, plan.screen_budgets, test=False)
        points = [{"epochs": epochs, "train_time_s": run.train_time_s, "val_accuracy": run.history["val_accuracy"][-1]}
                  for epochs, (run,) in sorted(runs.items())]
        rows.append({"architecture": architecture, "parameters": runs[plan.screen_budgets[0]][0].parameter_count,
                     "forward_flops": forward_flops[architecture], "points": points})
    # The runs' own split, so that the standard error counts the images they were judged on.
    validation_size = len(prepare_split(data, config, plan.curve_seeds[0], IMAGE_SIDE).validation_labels)
    choice = choose_architecture(rows, validation_size)
    return {"budgets": plan.screen_budgets, "seed": plan.curve_seeds[0], "validation_size": validation_size,
            **choice, "rows": rows}


def budget_curve_runs(plan: BestModelsPlan, data, dataset: str, architecture: str):
    """Both arms at every budget on the curve seeds. The augmented arm's transforms are chosen on validation at the
    largest budget, on the first curve seed, among the dataset's candidates; the winner then runs on the others.
    Returns {(arm, epochs): runs}, the points, and the augmentation screen."""
    budgets, seeds = plan.budgets[dataset], plan.curve_seeds
    plain = run_budgets(architecture, data, plan.config(dataset, "none", max(budgets), seeds), budgets)
    # The candidates that lose never see the test set.
    scores = {}
    for augmentation in plan.augmentations[dataset]:
        runs = run_budgets(architecture, data, plan.config(dataset, augmentation, max(budgets), seeds[:1]), budgets,
                           test=False)
        scores[augmentation] = runs[max(budgets)][0].history["val_accuracy"][-1]
    chosen = max(scores, key=scores.get)  # the first listed on a tie
    augmented = run_budgets(architecture, data, plan.config(dataset, chosen, max(budgets), seeds), budgets)
    curve_runs = {**{("plain", epochs): plain[epochs] for epochs in budgets},
                  **{("augmented", epochs): augmented[epochs] for epochs in budgets}}
    points = [curve_point(arm, "none" if arm == "plain" else chosen, epochs, curve_runs[(arm, epochs)].runs)
              for arm in ARMS for epochs in budgets]
    augmentation_screen = {"epochs": max(budgets), "seed": seeds[0], "val_accuracy": scores, "chosen": chosen}
    return curve_runs, points, augmentation_screen


def budget_curve_of(points: list[dict]) -> dict:
    """The curve's points, augmentation's paired gains at each budget, the crossover (from validation), and
    whether the plain arm had stopped improving (best_models.arm_plateau)."""
    gains = augmentation_gains(points)
    plain = arm_plateau(points, "plain")
    return {"points": points, "gains": gains, "crossover_epochs": crossover_epochs(gains),
            "plain_last_gain": plain["last_gain"], "plain_plateaued": plain["plateaued"]}
