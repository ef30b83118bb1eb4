"""Choosing a training recipe on validation: each candidate trains one model on one seed, the best validation
accuracy wins, and the test set takes no part. The winner's run is the same run as that model's first seed in
the notebook, so it is trained once (mnist_study.pipeline.reuse)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mnist_study.core.data import Dataset
from mnist_study.core.models import check_model_name
from mnist_study.core.training import TrainingRecipe
from mnist_study.pipeline.experiment import ExperimentConfig
from mnist_study.pipeline.reuse import train_or_reuse

# The study's recipe so far, then the two ingredients added one at a time: a warm-up to a higher peak
# with decoupled weight decay (AdamW), then label smoothing on top.
RECIPE_CANDIDATES: dict[str, dict] = {
    "adam_cosine": {"optimizer": "adam", "learning_rate": 1e-3, "lr_schedule": "cosine"},
    "adamw_warmup_cosine": {"optimizer": "adamw", "learning_rate": 2e-3, "lr_schedule": "warmup_cosine",
                            "weight_decay": 0.05},
    "adamw_warmup_cosine_smoothing": {"optimizer": "adamw", "learning_rate": 2e-3, "lr_schedule": "warmup_cosine",
                                      "weight_decay": 0.05, "label_smoothing": 0.1},
}
SCREENED_FIELDS = ["optimizer", "learning_rate", "lr_schedule", "weight_decay", "label_smoothing"]


def check_candidates(candidates: list[str]) -> None:
    if not isinstance(candidates, list) or not candidates or len(set(candidates)) != len(candidates):
        raise ValueError(f"recipe_candidates: expected a non-empty list of distinct names, got {candidates!r}")
    for name in candidates:
        if name not in RECIPE_CANDIDATES:
            raise ValueError(f"recipe_candidates: unknown {name!r}; expected names from {list(RECIPE_CANDIDATES)}")


def candidate_recipe(base: TrainingRecipe, name: str) -> TrainingRecipe:
    """`base` (epochs, batch, stopping, precision...) with candidate `name`'s optimizer, schedule and loss."""
    check_candidates([name])
    defaults = {"weight_decay": 0.0, "label_smoothing": 0.0}
    return replace(base, **{**defaults, **RECIPE_CANDIDATES[name]})


@dataclass
class RecipeScreen:
    model_name: str
    seed: int
    rows: list[dict]  # one per candidate, in the order given
    chosen: str
    config: ExperimentConfig  # the input config with the chosen recipe

    def as_dict(self) -> dict:
        return {"model": self.model_name, "seed": self.seed, "candidates": self.rows, "chosen": self.chosen}


def screen_recipes(model_name: str, data: Dataset, config: ExperimentConfig, candidates: list[str]) -> RecipeScreen:
    """Train `model_name` on the first seed under each candidate recipe; keep the best validation accuracy.

    With a single candidate nothing is trained: it is the recipe. Ties go to the earlier (simpler) candidate.
    """
    check_model_name(model_name)
    check_candidates(candidates)
    seed = config.seeds[0]
    rows = []
    for name in candidates:
        recipe = candidate_recipe(config.recipe, name)
        row = {"candidate": name, **{key: getattr(recipe, key) for key in SCREENED_FIELDS}}
        if len(candidates) > 1:
            print(f"== recipe {name}: {model_name} on {config.dataset}, seed {seed}", flush=True)
            run = train_or_reuse(model_name, data, dataset=config.dataset, recipe=recipe, seed=seed,
                                 validation_fraction=config.validation_fraction, train_subset=config.train_subset,
                                 log_prefix=f"   {name} ")
            best = run.best_epoch - 1
            row |= {"best_val_accuracy": run.history["val_accuracy"][best], "best_epoch": run.best_epoch,
                    "epochs_run": run.epochs_run, "train_time_s": run.train_time_s}
        rows.append(row)
    chosen = max(rows, key=lambda row: row.get("best_val_accuracy", 0.0))["candidate"]  # max keeps the first tie
    return RecipeScreen(model_name, seed, rows, chosen,
                        replace(config, recipe=candidate_recipe(config.recipe, chosen)))


def screen_markdown(screen: RecipeScreen) -> str:
    """One sentence for the notebook: which recipe won on validation, by how much, and what that is worth."""
    if len(screen.rows) == 1:
        return f"One candidate, **{screen.chosen}**: it is the recipe, unscreened."
    ranked = sorted(screen.rows, key=lambda row: -row["best_val_accuracy"])
    runner_up = ranked[1]
    margin = (ranked[0]["best_val_accuracy"] - runner_up["best_val_accuracy"]) * 100
    return (f"On the first seed's validation split, **{screen.chosen}** gives {screen.model_name} the best "
            f"validation accuracy, {ranked[0]['best_val_accuracy'] * 100:.2f} %, {margin:.2f} points above "
            f"{runner_up['candidate']}. Every model below trains with it. One seed per candidate: a margin of a "
            f"few hundredths of a point is within seed-to-seed noise.")
