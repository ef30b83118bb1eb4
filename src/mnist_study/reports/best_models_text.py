"""Notebook 06's tables and sentences, written from its records: the architecture screen, each arm's recipe and
budgets, the comparison of the arms, the finals apart from test-time augmentation and ensembles, and the literature
beside them."""

from __future__ import annotations

from mnist_study.reports.study_text import joined_words, percent_against_target, recipe_words, seeds_words
from mnist_study.reports.summary import format_accuracy, markdown_table


def _interval(summary: dict) -> str:
    """'+0.12 pp (95 % CI -0.03 to +0.27)' from summarize_over_seeds' record of differences."""
    if summary["std"] is None:
        return f"{100 * summary['mean']:+.2f} pp (one seed: no interval)"
    return (f"{100 * summary['mean']:+.2f} pp (95 % CI {100 * summary['ci95_low']:+.2f} to "
            f"{100 * summary['ci95_high']:+.2f})")


def screen_choice_sentence(screen: dict) -> str:
    """What the screen's numbers say, for the notebook and the summary."""
    rows = {row["architecture"]: row for row in screen["rows"]}
    others = [name for name in screen["within_one_standard_error"] if name != screen["best"]]
    seeds = seeds_words(screen["seeds"])
    if others:
        gaps = joined_words([f"{name} ({_gap(screen, rows[name])})" for name in others])
        verdict = (f"{gaps} {'is' if len(others) == 1 else 'are'} within one paired standard error of it over "
                   f"{seeds}, so the fastest per epoch of these, **{screen['chosen']}**, is chosen.")
    else:
        verdict = (f"no other candidate is within one paired standard error of it over {seeds}, so "
                   f"**{screen['chosen']}** is chosen.")
    return (f"At {screen['equal_time_s']:.0f} s the best is {screen['best']} "
            f"({100 * screen['best_val_accuracy']:.2f} % mean validation accuracy); {verdict}")


def _gap(screen: dict, row: dict) -> str:
    """'-0.05 pp, paired SE 0.07 pp': a candidate's distance from the screen's best."""
    gap = row["val_accuracy_at_equal_time"] - screen["best_val_accuracy"]
    return f"{100 * gap:+.2f} pp, paired SE {100 * row['paired_standard_error']:.2f} pp"


def screen_markdown(screen: dict) -> str:
    """The screen's table, every candidate's points (means over the seeds) and its score at equal time against the
    best's, and what they choose."""
    return markdown_table(
        ["architecture", "parameters", "forward MFLOP / image", "s / epoch",
         *(f"{epochs} epochs: validation % (s)" for epochs in screen["budgets"]), "validation % at equal time",
         "against the best"],
        [[row["architecture"], f"{row['parameters']:,}", f"{row['forward_flops'] / 1e6:.2f}",
          f"{row['seconds_per_epoch']:.0f}",
          *(f"{100 * point['val_accuracy']:.2f} ({point['train_time_s']:.0f})" for point in row["points"]),
          f"{100 * row['val_accuracy_at_equal_time']:.2f}"
          + (" (within 1 SE of the best)" if row["architecture"] in screen["within_one_standard_error"] else ""),
          _gap(screen, row)]
         for row in screen["rows"]]) + "\n\n" + screen_choice_sentence(screen)


def arm_markdown(arm: str, record: dict) -> str:
    """The arm's confirmed recipe, its budgets on every seed (validation and test), and the budget chosen."""
    confirmation, budget = record["confirmation"], record["budget"]
    table = markdown_table(
        ["epochs", "seeds", "validation %", "test %", "s per run"],
        [[point["epochs"], len(point["seeds"]),
          format_accuracy(point["val_accuracy"]["mean"], point["val_accuracy"]["std"]),
          format_accuracy(point["test_accuracy"]["mean"], point["test_accuracy"]["std"]),
          f"{point['train_time_s_mean']:.0f}"] for point in record["points"]])
    if len(budget["within_one_standard_error"]) > 1:
        close = joined_words([str(epochs) for epochs in budget["within_one_standard_error"]])
        choice = (f"{close} epochs are within one paired standard error of the best on validation, so the "
                  f"shortest, **{budget['epochs']}**, is chosen")
    else:
        choice = f"validation chooses **{budget['epochs']} epochs**"
    slope = "" if budget["last_gain_per_epoch"] is None else (
        f"; the longest budget gained {100 * budget['last_gain_per_epoch']:+.3f} pp of validation accuracy per "
        f"epoch over the one before it")
    return (f"**{arm}** (search trial {confirmation['winner_trial']}, confirmed on "
            f"{seeds_words(confirmation['seeds'])}): {recipe_words(confirmation['winner'])}.\n\n"
            f"{table}\n\nFor this arm {choice}{slope}.")


def comparison_markdown(comparison: dict) -> str:
    """Augmented against plain, paired by seed, each at its own budget; McNemar per seed and between ensembles."""
    epochs = comparison["epochs"]
    tests = markdown_table(
        ["seed", "only plain right", "only augmented right", "p", "p (BH)"],
        [[test["seed"], test["only_a_correct"], test["only_b_correct"], f"{test['p_value']:.2g}",
          f"{test['p_value_bh']:.2g}"] for test in comparison["mcnemar_by_seed"]]
        + [[f"ensembles of {comparison['mcnemar_ensembles']['members']}",
            comparison["mcnemar_ensembles"]["only_a_correct"], comparison["mcnemar_ensembles"]["only_b_correct"],
            f"{comparison['mcnemar_ensembles']['p_value']:.2g}",
            f"{comparison['mcnemar_ensembles']['p_value_bh']:.2g}"]])
    ensembles = comparison["ensemble_accuracy"]
    return (f"Augmented ({comparison['augmentation']}, {epochs['augmented']} epochs) minus plain "
            f"({epochs['plain']} epochs), seed by seed over {len(comparison['seeds'])} seeds: validation "
            f"{_interval(comparison['val_gain'])}, test {_interval(comparison['test_gain'])}. Ensembles: plain "
            f"{100 * ensembles['plain']:.2f} %, augmented {100 * ensembles['augmented']:.2f} %.\n\n{tests}")


def finals_markdown(final: dict, summary: dict, ensemble: dict, tta: dict | None) -> str:
    """Single models, then test-time augmentation, then ensembles: each on its own line."""
    lines = [f"- **Single models** ({final['model']}, {final['epochs']} epochs, {summary['test_accuracy']['n']} "
             f"seeds): {format_accuracy(summary['test_accuracy']['mean'], summary['test_accuracy']['std'])} % "
             f"on the test set.",
             f"- **Ensemble** of the {ensemble['members']} seeds: {100 * ensemble['accuracy']:.2f} % (of the first "
             f"1, 2, ... seeds: {', '.join(f'{100 * value:.2f}' for value in ensemble['accuracy_by_size'])} %; "
             f"an ensemble of one is the first seed alone, against the mean single model's "
             f"{100 * summary['test_accuracy']['mean']:.2f} %)."]
    if tta is not None:
        lines.insert(1, f"- **With a mirror image** averaged in (test-time augmentation, validation gain "
                        f"{_interval(tta['val_gain'])}): single models "
                        f"{format_accuracy(tta['test_accuracy']['mean'], tta['test_accuracy']['std'])} %, ensemble "
                        f"{100 * tta['ensemble_accuracy']:.2f} %.")
    return "\n".join(lines)


def upstream_markdown(name: str, upstream_notebook: str, record: dict, comparison: dict) -> str:
    single, ensemble = comparison["single"], comparison["ensemble"]
    return (f"Against {upstream_notebook}'s best on validation, **{name}** "
            f"({format_accuracy(record['test_accuracy']['mean'], record['test_accuracy']['std'])} %), image by "
            f"image on its first seed: the final's first seed is right on {single['only_a_correct']} images it gets "
            f"wrong and wrong on {single['only_b_correct']} it gets right (exact McNemar p = "
            f"{single['p_value']:.2g}); the final's ensemble: {ensemble['only_a_correct']} against "
            f"{ensemble['only_b_correct']} (p = {ensemble['p_value']:.2g}).")


def targets_table(rows: list[dict]) -> str:
    return markdown_table(
        ["what", "target %", "achieved %", "met", "reference"],
        [[row["what"], f"{row['target'] * 100:.1f}", percent_against_target(row["achieved"], row["target"]),
          "yes" if row["met"] else "no", row["reference"]] for row in rows])


def missed_targets_markdown(rows: list[dict], budget: dict, test_images: int) -> str:
    """For each target missed: by how many test images, and what validation says a longer budget would do."""
    slope = budget["last_gain_per_epoch"]
    sentences = []
    for row in (row for row in rows if not row["met"]):
        gap = row["target"] - row["achieved"]
        sentence = f"The {row['what']} misses {100 * row['target']:.1f} % by {round(gap * test_images)} test images. "
        if slope is None:
            sentence += "Only one budget was trained, so validation cannot say what a longer one would do."
        elif budget["at_longest"] and slope > 0:
            # Gains shrink as a budget grows, so a straight line from the last two budgets is optimistic.
            sentence += (f"Validation chose the longest budget, {budget['epochs']} epochs, and was still rising "
                         f"there by {100 * slope:.4f} pp per epoch: if the test accuracy rose as fast, the gap "
                         f"would close in about {gap / slope:.0f} more epochs, a lower bound since gains shrink "
                         f"as a budget grows.")
        else:
            sentence += (f"Validation was no better at the longest budget than at {budget['epochs']} epochs, so "
                         f"more epochs of this recipe are not the remedy; another architecture or recipe is.")
        sentences.append(sentence)
    return "\n\n".join(sentences)


def literature_markdown(literature: list[tuple], measured: list[tuple[str, float]], comparison: dict) -> str:
    """The literature's numbers beside this notebook's, and whether the augmentation answer agrees."""
    rows = [[source, what, f"{100 * accuracy:.2f}"] for source, what, accuracy in literature]
    rows += [["this notebook", what, f"{100 * accuracy:.2f}"] for what, accuracy in measured]
    gain = comparison["test_gain"]
    decided = gain["ci95_low"] is not None and (gain["ci95_low"] > 0 or gain["ci95_high"] < 0)
    if decided and gain["mean"] > 0:
        answer = "augmentation pays here, as it did for Simard et al. and Ciresan et al.: the literature agrees"
    elif decided:
        answer = ("augmentation costs accuracy here, against the literature, where distortions helped every "
                  "network that was trained long enough")
    else:
        answer = ("the paired interval of augmentation's gain holds zero: these seeds cannot tell the arms apart, "
                  "where the literature found a gain")
    return markdown_table(["source", "model", "test accuracy %"], rows) + f"\n\nOn the question itself: {answer}."
