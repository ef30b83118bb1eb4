"""The summary's sections (notebook 09): each table computed from the other notebooks' metrics, as markdown."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import false_discovery_control

from mnist_study.analysis.evaluation import mcnemar_exact
from mnist_study.reports.best_models_text import (
    arm_markdown,
    comparison_markdown,
    finals_markdown,
    screen_choice_sentence,
)
from mnist_study.reports.study_text import percent_against_target, seeds_words
from mnist_study.reports.summary import collect_rows, format_accuracy, markdown_table

TARGETS = [  # (model, dataset, target test accuracy, reference)
    ("feedforward", "mnist", 0.980, "seeds report 96.5-97.8 %"),
    ("lenet5", "mnist", 0.990, "LeCun et al. 1998: 99.05 %"),
    ("cnn_regularized", "mnist", 0.993, "seeds: 98.98-99.22 %"),
    ("cnn_batchnorm", "mnist", 0.994, "seed: 99.09 %"),
    ("fashion_cnn", "fashion_mnist", 0.920, "seed: 92.0 %"),  # the seed's own claim, as issue 39 sets it
]


def every_model_row(metrics: dict[str, dict]) -> list[dict]:
    """One row per trained model of the study (06's runs, one per dataset, file their finals as the others do)."""
    return collect_rows(metrics)


def best_of(rows: list[dict], dataset: str) -> dict:
    return max((row for row in rows if row["dataset"] == dataset), key=lambda row: row["test_accuracy_mean"])


def targets(rows: list[dict], best_models: dict[str, dict], best_targets: list[dict]) -> tuple[list[dict], str]:
    """Every target against the mean test accuracy reached, and its table: the seeds' claims (TARGETS), then 06's
    targets for its finals (`best_targets`; `best_models`: 06's result per dataset), which include Fashion-MNIST's
    best single model."""
    by_key = {(row["model"], row["dataset"]): row for row in rows}
    target_rows = [(model, dataset, target, reference, by_key[(model, dataset)]["test_accuracy_mean"])
                   for model, dataset, target, reference in TARGETS]
    target_rows += [(f"{best_models[t['dataset']]['final']['model']}: {t['what']}", t["dataset"],
                     t["target"], t["reference"], t["achieved"]) for t in best_targets]
    records = [{"model": model, "dataset": dataset, "target": target, "achieved": achieved, "met": achieved >= target}
               for model, dataset, target, _, achieved in target_rows]
    table = markdown_table(
        ["model", "dataset", "target %", "achieved % (mean)", "met", "reference"],
        [[model, dataset, f"{100 * target:.1f}", percent_against_target(achieved, target),
          "yes" if achieved >= target else "no", reference]
         for model, dataset, target, reference, achieved in target_rows])
    return records, table


def mcnemar_pairs(labels: np.ndarray, predictions: dict[str, np.ndarray]) -> tuple[list[dict], str]:
    """Exact McNemar tests between every pair of models, Benjamini-Hochberg adjusted, and their table."""
    tests = [{"model_a": a, "model_b": b, **mcnemar_exact(labels, predictions[a], predictions[b])}
             for a, b in itertools.combinations(predictions, 2)]
    for test, adjusted in zip(tests, false_discovery_control([test["p_value"] for test in tests]), strict=True):
        test["p_value_bh"] = float(adjusted)
    table = markdown_table(
        ["model A", "model B", "only A right", "only B right", "p", "p (BH)"],
        [[t["model_a"], t["model_b"], t["only_a_correct"], t["only_b_correct"], f"{t['p_value']:.2g}",
          f"{t['p_value_bh']:.2g}"] for t in tests])
    significant = sum(test["p_value_bh"] < 0.05 for test in tests)
    return tests, f"{table}\n\n{significant} of {len(tests)} pairs differ at the 5 % level after adjustment."


def beyond_test_set(per_model: dict) -> str:
    corruptions = list(next(iter(per_model.values()))["robustness"])
    return markdown_table(
        ["model", "MNIST test %", "UCI digits %", *[f"{name} AUC" for name in corruptions], "T", "ECE before",
         "ECE after"],
        [[name, f"{100 * r['mnist_test_accuracy']:.2f}", f"{100 * r['uci_accuracy']:.2f}",
          *[f"{r['robustness'][c]['auc']:.3f}" for c in corruptions], f"{r['temperature']:.2f}",
          f"{r['ece_before']:.4f}", f"{r['ece_after']:.4f}"] for name, r in per_model.items()])


def best_models_section(best_models: dict[str, dict]) -> str:
    """Per dataset (06's result for it): the screen, each arm's recipe and budget, the paired comparison, the final."""
    parts = []
    for dataset, result in best_models.items():
        screen, final, comparison = result["screen"], result["final"], result["comparison"]
        arms = "\n\n".join(arm_markdown(arm, record) for arm, record in result["arms"].items())
        scores = ", ".join(f"{row['architecture']} {100 * row['val_accuracy_at_equal_time']:.2f} %"
                           for row in screen["rows"])
        parts.append(
            f"**{dataset}**\n\nArchitecture screen (plain, {seeds_words(screen['seeds'])}, mean validation accuracy at "
            f"equal training time): {scores}. {screen_choice_sentence(screen)}\n\n{arms}\n\n"
            f"{comparison_markdown(comparison)}\n\n"
            f"Validation prefers the **{final['arm']}** arm at {final['epochs']} epochs ({final['model']}).\n\n"
            + finals_markdown(final, result["final_summary"], result["ensemble"], result["test_time_augmentation"]))
    return "\n\n".join(parts)


def pareto_table(costs: list[dict]) -> str:
    return markdown_table(
        ["dataset", "model", "notebook", "runs", "training TFLOP per run", "test accuracy %", "on the front"],
        [[row["dataset"], row["model"], row["notebook"], row["runs"], f"{row['training_flops'] / 1e12:.2f}",
          f"{100 * row['test_accuracy_mean']:.2f}", "yes" if row["on_front"] else ""]
         for row in sorted(costs, key=lambda row: (row["dataset"], row["training_flops"]))])


def looks_table(per_dataset: dict) -> str:
    return markdown_table(
        ["dataset", "model", "Grad-CAM on object, right %", "on object, mistakes %", "object's share of image %",
         "silhouette: pixels", "penultimate", "2-D"],
        [[dataset, r["model"], f"{r['grad_cam']['ink_share_right'] * 100:.0f}",
          "" if r["grad_cam"]["ink_share_mistakes"] is None else f"{r['grad_cam']['ink_share_mistakes'] * 100:.0f}",
          f"{r['grad_cam']['ink_pixels'] * 100:.0f}", f"{r['embedding']['silhouette_pixels']:.2f}",
          f"{r['embedding']['silhouette_penultimate']:.2f}", f"{r['embedding']['silhouette_2d']:.2f}"]
         for dataset, r in per_dataset.items()])


def labels_and_writers_tables(metrics_08: dict) -> str:
    few = metrics_08["few_label"]
    labels = markdown_table(
        ["dataset", "suspects (calibrated)", "suspects (raw)", "disputed labels", "best model", "its test errors",
         "errors among suspects", "test accuracy %", "without suspects %"],
        [[dataset, s["suspects"], s.get("suspects_uncalibrated", ""), s.get("disagreements", ""), s["best_model"],
          s["best_model_errors"], s["errors_among_suspects"], f"{s['test_accuracy'] * 100:.2f}",
          f"{s['test_accuracy_without_suspects'] * 100:.2f}"]
         for dataset, s in metrics_08["label_issue_summary"].items()])
    curve = markdown_table(
        ["k per class", *[f"{arm} %" for arm in few["arms"]], "share of the gap closed"],
        [[k, *[format_accuracy(few["arms"][arm]["mean"][i], few["arms"][arm]["std"][i]) for arm in few["arms"]],
          f"{few['gap_closed'][i]:.0%}"] for i, k in enumerate(few["k"])])
    return labels + "\n\n" + curve


def reused_training_s(metrics: dict) -> float:
    """The training time of the runs a notebook reused rather than trained (what a cold run would add)."""
    runs = metrics.get("trained_runs", [])
    computations = metrics.get("computations", {}).values()
    return sum(run["train_time_s"] for run in runs if run["reused_from"]) + \
        sum(record["computed"]["wall_time_s"] for record in computations if record["reused_from"])


def time_table(metrics: dict[str, dict]) -> str:
    """Where the time goes: each notebook's last wall time, the training it reused, and so its cold time."""
    cold = {name: metrics[name]["provenance"]["wall_time_s"] + reused_training_s(metrics[name]) for name in metrics}
    total = sum(cold.values())
    rows = [[name, f"{metrics[name]['provenance']['wall_time_s'] / 60:.1f}",
             f"{reused_training_s(metrics[name]) / 60:.1f}", f"{cold[name] / 60:.1f}",
             f"{100 * cold[name] / total:.0f}",
             (metrics[name]["provenance"]["commit"] or "unknown")[:10], metrics[name]["provenance"]["cpu"]]
            for name in metrics]
    rows.append(["all", f"{sum(m['provenance']['wall_time_s'] for m in metrics.values()) / 60:.1f}",
                 f"{sum(reused_training_s(m) for m in metrics.values()) / 60:.1f}", f"{total / 60:.1f}", "100", "", ""])
    return markdown_table(["notebook", "last run (min)", "training reused (min)", "cold (min)", "share of cold %",
                           "commit", "CPU"], rows)


def provenance_line(metrics: dict[str, dict]) -> str:
    """Which commits, package versions and machines made the results: an incremental run mixes several."""
    by_commit: dict[str, list[str]] = {}
    for name, notebook in metrics.items():
        by_commit.setdefault((notebook["provenance"]["commit"] or "unknown")[:10], []).append(name[:2])
    first = next(iter(metrics.values()))["provenance"]
    machines = sorted({f"{m['provenance']['cpu']} ({m['provenance']['cpu_count']} cores"
                       + (f", GPU: {', '.join(m['provenance']['gpus'])})" if m["provenance"]["gpus"] else ", no GPU)")
                       for m in metrics.values()})
    commits = "; ".join(f"{', '.join(names)} at commit `{commit}`" for commit, names in by_commit.items())
    return (f"Last run of each notebook: {commits}. TensorFlow {first['packages']['tensorflow']}, "
            f"{' and '.join(machines)}.")
