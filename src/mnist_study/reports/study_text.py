"""The study's tables and sentences, written from its records: the recipe search (01-04) and the best models (06)."""

from __future__ import annotations

from mnist_study.reports.summary import format_accuracy, markdown_table
from mnist_study.study.best_models import ARMS


def _recipe_words(fields: dict) -> str:
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
    seeds = f"seed{'s' if len(confirmation['seeds']) > 1 else ''} {_joined([str(s) for s in confirmation['seeds']])}"
    if chosen is best:
        verdict = f"trial {chosen['trial']} has the best mean"
    else:
        verdict = (f"trial {best['trial']} has the best mean ({100 * best['val_accuracy_mean']:.2f} %), and "
                   f"trial {chosen['trial']} is within one paired standard error of it "
                   f"({100 * chosen['paired_standard_error']:.2f} pp) and cheaper, so it is chosen")
    return (f"{len(rows)} trials of {search['model']} on seed {search['seed']}'s split, sampler seed "
            f"{search['sampler_seed']}, rungs at {rungs} epochs (each scored after its decay): {at_top} reached the "
            f"top rung; {search['epochs_trained']} epochs in {search['train_time_s']:.0f} s of training. The "
            f"{len(confirmation['rows'])} best of those were trained again at {confirmation['epochs']} epochs on "
            f"{seeds}: {verdict}. The recipe: {_recipe_words(confirmation['winner'])} "
            f"({100 * chosen['val_accuracy_mean']:.2f} % mean validation accuracy on the confirmation seeds).")


def _joined(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def screen_choice_sentence(screen: dict) -> str:
    """What the screen's numbers say, for the notebook and the summary."""
    others = [name for name in screen["within_one_standard_error"] if name != screen["best"]]
    error = f"one standard error ({100 * screen['standard_error']:.2f} pp)"
    if others:
        verdict = (f"{_joined(others)} {'is' if len(others) == 1 else 'are'} within {error} of it, so the fastest "
                   f"per epoch of these, **{screen['chosen']}**, is chosen.")
    else:
        verdict = f"no other candidate is within {error} of it, so **{screen['chosen']}** is chosen."
    return (f"At {screen['equal_time_s']:.0f} s the best is {screen['best']} "
            f"({100 * screen['best_val_accuracy']:.2f} % on validation); {verdict}")


def convergence_sentence(convergence: dict) -> str:
    """The final's convergence (final_convergence's record) in one sentence, from its numbers."""
    epochs = convergence["epochs"]
    if epochs < convergence["largest_epochs"]:
        return (f" Its arm scored lower on validation at longer budgets (up to {convergence['largest_epochs']} "
                f"epochs): {epochs} epochs is past its plateau.")
    if convergence["last_gain"] is None:
        return " Only one budget was tried: whether it stops short of its plateau is unknown."
    change = f"{100 * convergence['last_gain']:+.2f} points on validation over its last doubling"
    if convergence["stopped_short"]:
        return f" Its arm was still improving ({change}): the final stops short of its plateau."
    return f" Its arm had stopped improving ({change}, within the seeds' spread)."


def percent_against_target(achieved: float, target: float) -> str:
    """`achieved` in percent to 2 decimals, or to 3 where 2 would round a missed target up onto it (99.297 % against
    99.3 % reads "99.297", not "99.30")."""
    text = f"{100 * achieved:.2f}"
    return f"{100 * achieved:.3f}" if achieved < target and float(text) >= round(100 * target, 2) else text


def crossover_markdown(dataset: str, curve: dict) -> str:
    """The budget curve's answer in one sentence, from its numbers, and whether the plain arm had converged."""
    first, last = curve["gains"][0], curve["gains"][-1]
    trend = (f"from {100 * first['val_gain']:+.2f} points at {first['epochs']} epochs to "
             f"{100 * last['val_gain']:+.2f} at {last['epochs']}")
    plateau = ""
    if curve.get("plain_last_gain") is not None:
        change = f"{100 * curve['plain_last_gain']:+.2f} points over its last doubling"
        plateau = (f" The plain arm had stopped improving ({change})." if curve["plain_plateaued"] else
                   f" The plain arm was still improving ({change}): the curve stops short of its plateau.")
    if curve["crossover_epochs"] is None:
        paying = [gain["epochs"] for gain in curve["gains"] if gain["val_gain"] > 0]
        if paying:
            return (f"- **{dataset}**: augmentation pays on validation at {', '.join(map(str, paying))} epochs but "
                    f"not at the largest budget tried (gain {trend}): no crossover.{plateau}")
        if curve.get("plain_plateaued"):
            return (f"- **{dataset}**: augmentation does not pay on validation at any budget tried (gain {trend}), "
                    f"up to a budget where the plain arm had converged: no crossover.{plateau}")
        return (f"- **{dataset}**: augmentation does not pay on validation at any budget tried (gain {trend}); "
                f"only a budget beyond {last['epochs']} epochs could show whether it ever does.{plateau}")
    return (f"- **{dataset}**: augmentation pays on validation from {curve['crossover_epochs']} epochs on "
            f"(gain {trend}).{plateau}")


def screen_markdown(screen: dict) -> str:
    """The screen's table, every candidate's points and its score at equal time, and what they choose."""
    budgets = screen["budgets"]
    return markdown_table(
        ["architecture", "parameters", "forward MFLOP / image", "s / epoch",
         *(f"{epochs} epochs: validation % (s)" for epochs in budgets), "validation % at equal time"],
        [[row["architecture"], f"{row['parameters']:,}", f"{row['forward_flops'] / 1e6:.2f}",
          f"{row['seconds_per_epoch']:.0f}",
          *(f"{100 * point['val_accuracy']:.2f} ({point['train_time_s']:.0f})" for point in row["points"]),
          f"{100 * row['val_accuracy_at_equal_time']:.2f}"
          + (" (within 1 SE of the best)" if row["architecture"] in screen["within_one_standard_error"] else "")]
         for row in screen["rows"]]) + "\n\n" + screen_choice_sentence(screen)


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


def tta_sentence(record: dict | None) -> str:
    """What averaging with the mirror image did on validation, and so what the test set gets; "" where unmeasured."""
    if record is None:
        return ""
    use = "averaged with theirs" if record["applied"] else "used as they are"
    return (f" Averaging with the mirror image changes validation accuracy by {100 * record['val_gain']:+.2f} "
            f"points, so the test images are {use}.")


def comparisons_table(rows: list[dict], baseline: str) -> str:
    return markdown_table(
        ["arm", "runs", "test accuracy %", "gain over plain (pp)", "only arm right", f"only {baseline} right", "p",
         "p (BH)"],
        [[row["arm"], row["runs"], format_accuracy(row["test_accuracy_mean"], row["test_accuracy_std"]),
          f"{row['gain_over_plain'] * 100:+.2f}", row["mcnemar_vs_baseline"]["only_a_correct"],
          row["mcnemar_vs_baseline"]["only_b_correct"], f"{row['mcnemar_vs_baseline']['p_value']:.2g}",
          f"{row['mcnemar_vs_baseline']['p_value_bh']:.2g}"] for row in rows])
