"""Notebook 06, one run per dataset: the architecture screen at equal training time, then plain and augmented
training of the chosen architecture, each arm with a recipe searched and confirmed for itself, on the same seeds
at budgets of a third of and all of `epochs` (one warmup-stable-decay run per arm and seed serves both). The
comparison and the finals, which these feed, are in best_models_finals; the pieces both use are in best_models."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mnist_study.core.models import check_model_name
from mnist_study.core.training import TrainingRecipe, check_budget
from mnist_study.study.best_models import (
    ARMS,
    AUGMENTATION_CANDIDATES,
    arm_augmentations,
    budget_point,
    check_augmentations,
    choose_architecture,
    choose_budget,
)
from mnist_study.study.experiment import (
    ExperimentConfig,
    config_from_parameters,
    run_budgets,
    search_or_reuse,
    with_searched_recipe,
)
from mnist_study.study.recipe_confirmation import check_confirmation_seeds, confirm_recipes
from mnist_study.study.recipe_search import SearchPlan, search_rungs
from mnist_study.workflow.provenance import read_json

NOTEBOOK = "06_best_models"
UPSTREAM = {"mnist": "03_cnn_architectures", "fashion_mnist": "04_fashion_mnist"}
SCREEN_SEEDS = [0, 1]  # two seeds: the fewest with a paired spread, at twice one seed's cost


def notebook_name(dataset: str) -> str:
    """What 06's run for `dataset` publishes as (workflow.notebooks lists both runs)."""
    return f"{NOTEBOOK}_{dataset}"


def best_models_results(metrics: dict[str, dict]) -> dict[str, dict]:
    """Each dataset's 06 result, from every notebook's metrics by name."""
    return {dataset: metrics[notebook_name(dataset)]["results"][dataset] for dataset in UPSTREAM
            if notebook_name(dataset) in metrics}


def _check_seeds(name: str, value) -> None:
    if not isinstance(value, list) or not value or len(set(value)) != len(value) \
            or any(isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in value):
        raise ValueError(f"{name}: expected a non-empty list of distinct non-negative integers, got {value!r}")


@dataclass
class BestModelsPlan:
    """06's parameters, validated, and what it reads from 03 or 04: their metrics and searched recipe."""

    dataset: str
    candidates: list[str]
    screen_budgets: list[int]
    epochs: int
    budgets: list[int]  # each arm's budgets: a third of `epochs` (where the search has that rung) and `epochs`
    search_trials: int
    search_seed: int
    augmentations: list[str]
    confirmation_seeds: list[int]
    seeds: list[int]
    screen_seeds: list[int]
    search_storage: str | None
    upstream_path: Path
    upstream: dict
    upstream_config: ExperimentConfig

    @property
    def notebook(self) -> str:
        return notebook_name(self.dataset)

    def screen_config(self, epochs: int) -> ExperimentConfig:
        """The upstream notebook's searched recipe, plain, at `epochs`, on the screen's seeds."""
        recipe = replace(self.upstream_config.recipe, epochs=epochs, augmentation="none")
        return replace(self.upstream_config, seeds=self.screen_seeds, recipe=recipe)

    def search_config(self) -> ExperimentConfig:
        """What an arm's search does not search: the upstream's split, precision and devices, at `epochs`."""
        upstream = self.upstream_config.recipe
        recipe = TrainingRecipe(epochs=self.epochs, lr_schedule="wsd", strategy=upstream.strategy,
                                precision=upstream.precision)
        return replace(self.upstream_config, seeds=self.seeds[:1], recipe=recipe)


def plan_best_models(dataset, candidates, screen_budgets, epochs, search_trials, search_seed, augmentations,
                     confirmation_seeds, seeds, inputs_dir, screen_seeds=None, search_storage=None) -> BestModelsPlan:
    """Validate 06's parameters (a bad value stops here with a message naming it) and read its upstream."""
    if dataset not in UPSTREAM:
        raise ValueError(f"dataset: expected one of {list(UPSTREAM)}, got {dataset!r}")
    _check_seeds("seeds", seeds)
    screen_seeds = SCREEN_SEEDS if screen_seeds is None else screen_seeds
    _check_seeds("screen_seeds", screen_seeds)
    if len(screen_seeds) < 2:  # one seed has no spread: the screen's rule pairs seeds
        raise ValueError(f"screen_seeds: expected at least two seeds, to pair the candidates' differences, "
                         f"got {screen_seeds!r}")
    check_confirmation_seeds(confirmation_seeds, seeds[0])
    if not isinstance(candidates, list) or not candidates or len(set(candidates)) != len(candidates):
        raise ValueError(f"candidates: expected a non-empty list of distinct architecture names, got {candidates!r}")
    for architecture in candidates:
        check_model_name(architecture)
    augmentations = AUGMENTATION_CANDIDATES[dataset] if augmentations is None else augmentations
    check_augmentations(dataset, augmentations)
    SearchPlan(candidates[0], search_trials, search_seed)  # the search's own checks, before any work
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 2:
        raise ValueError(f"epochs: expected an integer >= 2, got {epochs!r}")
    upstream_path = Path(inputs_dir, "metrics", f"{UPSTREAM[dataset]}.json")
    upstream = read_json(upstream_path)
    config = config_from_parameters(upstream["provenance"]["parameters"])
    if config.recipe.lr_schedule != "wsd":
        raise ValueError(f"{upstream_path}: its recipe is {config.recipe.lr_schedule!r}; 06's screen branches "
                         f"budgets from warmup-stable-decay runs (re-run {UPSTREAM[dataset]})")
    if not isinstance(screen_budgets, list) or not screen_budgets or len(set(screen_budgets)) != len(screen_budgets):
        raise ValueError(f"screen_budgets: expected a non-empty list of distinct epoch counts, got {screen_budgets!r}")
    for budget in screen_budgets:  # here, not at the first run: the searched warm-up sets the shortest budget
        try:
            check_budget(config.recipe, budget)
        except ValueError as error:
            raise ValueError(f"screen_budgets: {budget} epochs are too short for {dataset}'s recipe from "
                             f"{UPSTREAM[dataset]}: {str(error).removeprefix('epochs: ')}") from None
    return BestModelsPlan(dataset, candidates, sorted(screen_budgets), epochs, search_rungs(epochs)[-2:],
                          search_trials, search_seed, augmentations, confirmation_seeds, seeds, screen_seeds,
                          search_storage, upstream_path, upstream, config)


def screen_architectures(plan: BestModelsPlan, data, forward_flops: dict[str, float]) -> dict:
    """Every candidate, plain, one warmup-stable-decay run per seed of the screen serving every screen budget,
    judged on validation at equal measured training time with the paired spread across seeds
    (best_models.choose_architecture); the test set takes no part."""
    rows = []
    config = plan.screen_config(max(plan.screen_budgets))
    for architecture in plan.candidates:
        runs = run_budgets(architecture, data, config, plan.screen_budgets, test=False)
        points = []
        for epochs, seed_runs in sorted(runs.items()):
            by_seed = [run.history["val_accuracy"][-1] for run in seed_runs]
            points.append({"epochs": epochs, "train_time_s": float(np.mean([run.train_time_s for run in seed_runs])),
                           "val_accuracy": float(np.mean(by_seed)), "val_accuracy_by_seed": by_seed})
        rows.append({"architecture": architecture, "parameters": runs[plan.screen_budgets[0]][0].parameter_count,
                     "forward_flops": forward_flops[architecture], "points": points})
    return {"budgets": plan.screen_budgets, "seeds": plan.screen_seeds, **choose_architecture(rows), "rows": rows}


def arm_recipe(plan: BestModelsPlan, session, data, architecture: str, arm: str) -> dict:
    """The arm's own recipe: a search on the first seed whose top rung is `epochs`, with the arm's augmentations
    (none for the plain arm), its own sampler seed (the plain arm's `search_seed`, the augmented arm's one more),
    and its three best confirmed on `confirmation_seeds`. Returns the search, the confirmation and the config
    that trains the winner on every seed."""
    search_plan = SearchPlan(architecture, plan.search_trials, plan.search_seed + ARMS.index(arm),
                             arm_augmentations(arm, plan.augmentations))
    config = plan.search_config()
    search = search_or_reuse(session, search_plan, data, config, name=f"{plan.notebook}_{arm}",
                             storage=plan.search_storage)
    confirmation = confirm_recipes(search, data, config, plan.confirmation_seeds)
    return {"search": search, "confirmation": confirmation,
            "config": replace(with_searched_recipe(config, confirmation), seeds=plan.seeds)}


def arm_runs(plan: BestModelsPlan, data, architecture: str, arm: str, config: ExperimentConfig) -> dict:
    """The arm's winner on every seed, one branching run per seed for both budgets (the runs the search and the
    confirmation trained are reused); its points, and the budget validation chooses for it."""
    runs = run_budgets(architecture, data, config, plan.budgets)
    points = [budget_point(arm, config.recipe.augmentation, epochs, runs[epochs].runs) for epochs in plan.budgets]
    return {"runs": runs, "points": points, "budget": choose_budget(points)}
