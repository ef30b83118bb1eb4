"""The study's tables and sentences about the recipe search (01-04, 06) and the words the other reports share."""

from __future__ import annotations

from mnist_study.study.recipe_confirmation import at_range_edge


def recipe_words(fields: dict) -> str:
    dropout = "" if fields.get("dropout_rate") is None else f", dropout {fields['dropout_rate']:.2f}"
    return (f"**{fields['optimizer']}**, peak rate {fields['learning_rate']:.3g}, weight decay "
            f"{fields['weight_decay']:.3g}, label smoothing {fields['label_smoothing']}{dropout}, augmentation "
            f"{fields['augmentation']}, {fields['warmup_epochs']} warm-up epoch(s), batch {fields['batch_size']}")


def search_markdown(search: dict, confirmation: dict) -> str:
    """What the search did and what its confirmation chose, from their numbers."""
    rows = search["trials"]
    at_top = len(search["top_rung_trials"])
    rungs = ", ".join(str(epochs) for epochs in search["rungs"])
    chosen = next(row for row in confirmation["rows"] if row["trial"] == confirmation["winner_trial"])
    best = next(row for row in confirmation["rows"] if row["trial"] == confirmation["best_trial"])
    seeds = seeds_words(confirmation["seeds"])
    if chosen is best:
        verdict = f"trial {chosen['trial']} has the best mean"
    else:
        verdict = (f"trial {best['trial']} has the best mean ({100 * best['val_accuracy_mean']:.2f} %), and "
                   f"trial {chosen['trial']} is within one paired standard error of it "
                   f"({100 * chosen['paired_standard_error']:.2f} pp) and cheaper, so it is chosen")
    edges = at_range_edge(confirmation["winner"])
    edge = (f" Its {joined_words(edges)} {'sits' if len(edges) == 1 else 'sit'} at the edge of the range searched: "
            f"a wider range might find better." if edges else "")
    return (f"{len(rows)} trials of {search['model']} on seed {search['seed']}'s split, sampler seed "
            f"{search['sampler_seed']}, rungs at {rungs} epochs (each scored after its decay): {at_top} reached the "
            f"top rung; {search['epochs_trained']} epochs in {search['train_time_s']:.0f} s of training. The "
            f"{len(confirmation['rows'])} best of those were trained again at {confirmation['epochs']} epochs on "
            f"{seeds}: {verdict}. The recipe: {recipe_words(confirmation['winner'])} "
            f"({100 * chosen['val_accuracy_mean']:.2f} % mean validation accuracy on the confirmation seeds).{edge}")


def seeds_words(seeds: list[int]) -> str:
    """'seed 1', 'seeds 1 and 2'."""
    return f"seed{'s' if len(seeds) > 1 else ''} {joined_words([str(seed) for seed in seeds])}"


def joined_words(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def percent_against_target(achieved: float, target: float) -> str:
    """`achieved` in percent to 2 decimals, or to 3 where 2 would round a missed target up onto it (99.297 % against
    99.3 % reads "99.297", not "99.30")."""
    text = f"{100 * achieved:.2f}"
    return f"{100 * achieved:.3f}" if achieved < target and float(text) >= round(100 * target, 2) else text
