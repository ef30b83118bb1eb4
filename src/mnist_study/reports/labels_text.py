"""Notebook 08's account of the labels in words, written from review_labels' summary."""

from __future__ import annotations


def labels_sentence(dataset: str, s: dict, test_count: int, shown: int) -> str:
    """What confident learning found for `dataset`, who voted, why that count, what it means for the judged model."""
    alone = [row["suspects"] for row in s["alone"].values()]
    raw, calibrated = s["why"]["uncalibrated"], s["why"]["calibrated"]
    return (
        f"- **{dataset}**: calibrated, confident learning flags {s['suspects']} of {test_count:,} test labels for the "
        f"{len(s['voting_models'])} strongest models on validation ({', '.join(s['voting_models'])}); each model "
        f"alone flags between {min(alone)} and {max(alone)} (table below); on the raw probabilities the voters flag "
        f"{s['suspects_uncalibrated']}. Raw, the classes' thresholds average {raw['mean_threshold']:.3f} and the "
        f"highest probability any image gives a class other than its label is "
        f"{raw['highest_other_class_probability']:.3f} ({raw['images_reaching_a_threshold']} images reach a "
        f"threshold); calibrated, the thresholds average {calibrated['mean_threshold']:.3f} and "
        f"{calibrated['images_reaching_a_threshold']} images reach one. {s['errors_among_suspects']} of the "
        f"{s['best_model_errors']} test errors of {s['best_model']} are among the suspects; without them its accuracy "
        f"is {s['test_accuracy_without_suspects'] * 100:.2f} % instead of {s['test_accuracy'] * 100:.2f} %, an upper "
        f"bound on what label errors cost it, since a suspect may also be an image that is simply hard, which only a "
        f"person can tell. The models dispute {s['disagreements']} labels in all "
        f"({s['errors_among_disagreements']} of them are errors of {s['best_model']}); the grid shows the "
        f"{min(shown, s['disagreements'])} most suspect.")
