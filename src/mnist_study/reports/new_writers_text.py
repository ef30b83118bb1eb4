"""Notebook 08's account of new writers as is: the table of every MNIST model on the UCI digits, and what the
budgets of 06's arms did to it, in words written from the numbers."""

from __future__ import annotations

from mnist_study.reports.summary import markdown_table


def uci_table(rows: list[dict]) -> str:
    return markdown_table(
        ["model", "notebook", "epochs", "augmentation", "label smoothing", "UCI accuracy as is %",
         "most predicted class (share %)"],
        [[row["model"], row["notebook"], row["epochs"], row["augmentation"], row["label_smoothing"],
          f"{100 * row['uci_accuracy']:.1f}", f"{row['most_predicted']} ({100 * row['most_predicted_share']:.0f})"]
         for row in rows])


def budget_sentence(effects: list[dict]) -> str:
    """What training longer did to each arm's UCI accuracy as is, and where the errors went."""
    if not effects:
        return "Notebook 06 has not saved its arms' models: the budget's effect on new writers is not measured here."
    parts = []
    for effect in effects:
        (short, long), (before, after) = effect["epochs"], effect["uci_accuracy"]
        direction = "falls" if after < before else "rises"
        parts.append(f"the {effect['arm']} arm ({effect['augmentation']}) {direction} from {100 * before:.1f} % at "
                     f"{short} epochs to {100 * after:.1f} % at {long}, its most predicted class "
                     f"{effect['most_predicted'][1]} taking {100 * effect['most_predicted_share'][1]:.0f} % of the "
                     f"UCI digits (a tenth would be even)")
    if all(effect["uci_accuracy"][1] < effect["uci_accuracy"][0] for effect in effects):
        verdict = ("Longer training on MNIST costs accuracy on new writers, whatever the augmentation: a model that "
                   "trains on fits MNIST's writers more closely, and a number as is depends on the budget it was "
                   "trained at. Notebook 05's models and this notebook's are trained for different budgets, so "
                   "their numbers as is differ by that, not by a fault in either.")
    else:
        verdict = ("Longer training does not cost every arm accuracy on new writers here: the gap between 05 and "
                   "this notebook's model lies in what else sets them apart in the table (recipe, augmentation).")
    return "Trained longer by the same recipe on MNIST, " + "; ".join(parts) + ". " + verdict
