"""The benchmark's report: its figure, its Markdown section, and splicing that into results/README.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_study.bench.benchmark_epochs import lever_markdown
from mnist_study.figure_style import styled
from mnist_study.reports.summary import BENCHMARK_END, BENCHMARK_START


@styled
def throughput_figure(results: dict, peak_gflops: float, bfloat16_peak_gflops: float):
    import matplotlib.pyplot as plt

    names = list(results)
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(8, 5))
    bars = [("training, float32", "train_gflops_per_s"), ("training, mixed bfloat16", "bfloat16_train_gflops_per_s"),
            ("inference, float32", "inference_gflops_per_s")]
    for offset, (label, key) in zip((-0.27, 0.0, 0.27), bars, strict=True):
        axis.barh(positions + offset, [results[name][key] for name in names], 0.27, label=label)
    axis.axvline(peak_gflops, color="black", linestyle="--", label=f"float32 matmul peak {peak_gflops:.0f}")
    axis.axvline(bfloat16_peak_gflops, color="grey", linestyle=":",
                 label=f"bfloat16 matmul peak {bfloat16_peak_gflops:.0f}")
    axis.set_yticks(positions, names)
    axis.invert_yaxis()
    axis.set_xlabel("achieved GFLOP/s (analytic FLOPs x measured images/s)")
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)  # clear of bars and peaks
    axis.set_title("Throughput of the study's models on this machine")
    figure.tight_layout()
    return figure


def markdown_section(report: dict) -> str:
    from mnist_study.reports.summary import markdown_table

    peak, bfloat16_peak = report["matmul_peak_gflops"], report["bfloat16_matmul_peak_gflops"]
    rows = [[name, f"{r['parameters']:,}", f"{r['forward_flops_per_image'] / 1e6:.2f}",
             f"{r['train_images_per_s']:,.0f}", f"{r['train_gflops_per_s']:.1f}",
             f"{100 * r['train_gflops_per_s'] / peak:.1f}", f"{r['bfloat16_train_images_per_s']:,.0f}",
             f"{100 * r['bfloat16_train_gflops_per_s'] / bfloat16_peak:.1f}", f"{r['inference_images_per_s']:,.0f}"]
            for name, r in report["models"].items()]
    table = markdown_table(["model", "parameters", "forward MFLOP / image", "float32 train images/s",
                            "float32 train GFLOP/s", "% of float32 peak", "bfloat16 train images/s",
                            "% of bfloat16 peak", "float32 inference images/s"], rows)
    study, reference = report["time_to_accuracy"]["study"], report["time_to_accuracy"]["reference"]

    def seconds(result):
        return "not reached" if result["seconds_to_target"] is None else f"{result['seconds_to_target']:.1f} s"

    ratio = report["time_to_accuracy"]["ratio"]
    share = report.get("cpu_stolen_share")
    stolen = "" if share is None else (
        f", with {100 * share:.0f} % of the CPU time taken by the hypervisor for other guests (rates are low by "
        "about that share; ratios within this run hold)")
    return "\n".join([
        f"Measured by `make bench` on {report['provenance']['cpu']} ({report['provenance']['cpu_count']} cores) at "
        f"{report['provenance']['started_at']}{stolen}. Matmul peaks through TensorFlow: float32 "
        f"**{peak:.0f} GFLOP/s**, bfloat16 **{bfloat16_peak:.0f} GFLOP/s**. Training throughput is the median of "
        "timed epochs after a warm-up epoch, inside one fit; the notebooks train in mixed bfloat16.",
        "", table, "",
        f"- Time to 99.0 % validation accuracy (training time, evaluations every "
        f"{report['time_to_accuracy']['eval_every']} steps excluded): study's regularized CNN {seconds(study)}, "
        f"keras-io reference recipe {seconds(reference)}"
        + ("" if ratio is None else f"; ratio {ratio:.2f}") + ".",
        f"- Cost of op determinism (cnn_regularized training throughput, off / on): "
        f"{report['determinism']['slowdown']:.2f}x.",
        *workers_line(report),
        f"- Loading and verifying a dataset: MNIST {report['dataset_loading_s']['mnist']:.2f} s, Fashion-MNIST "
        f"{report['dataset_loading_s']['fashion_mnist']:.2f} s.",
        f"- Peak memory of a full training notebook ({report['memory']['notebook']}): "
        f"{report['memory']['peak_rss_mb']:,.0f} MB resident.",
        "", "![throughput](benchmarks/throughput.png)",
        *(["", lever_markdown(report["epoch_levers"])] if "epoch_levers" in report else []),
        "", training_cost_section(report),
    ])


def workers_line(report: dict) -> list[str]:
    """One line on multi-worker training on this machine, when the report has it."""
    workers = report.get("workers")
    if workers is None:
        return []
    return [f"- {workers['model']} training throughput (float32, global batch {workers['global_batch']}) with one "
            f"process: {workers['one_worker_images_per_s']:,.0f} images/s; with two local workers "
            f"(MultiWorkerMirroredStrategy over 127.0.0.1): {workers['two_workers_images_per_s']:,.0f} images/s, "
            f"{workers['speed_up']:.2f}x. Both workers share this machine's {workers['cpu_count']} cores, so no "
            "gain is expected; the local run checks correctness, not speed."]


def training_cost_section(report: dict) -> str:
    """How long make all's training must take here: analytic FLOPs of the committed runs over measured rates."""
    from mnist_study.reports.summary import markdown_table

    cost = report["training_cost"]
    peak, bfloat16_peak = report["matmul_peak_gflops"], report["bfloat16_matmul_peak_gflops"]
    # The fastest training rate any model reached here, in either precision: the bound if every run trained as fast.
    fastest_model, fastest_gflops = max(
        ((f"{name}, {precision}", result[key]) for name, result in report["models"].items()
         for precision, key in (("float32", "train_gflops_per_s"), ("mixed bfloat16", "bfloat16_train_gflops_per_s"))),
        key=lambda pair: pair[1])

    def minutes(flops: float, gflops_per_s: float) -> str:
        return f"{flops / (gflops_per_s * 1e9) / 60:.1f}"

    rows = [[notebook, c["runs"], f"{c['flops'] / 1e12:,.0f}", minutes(c["flops"], peak),
             minutes(c["flops"], bfloat16_peak), minutes(c["flops"], fastest_gflops), f"{c['wall_time_s'] / 60:.1f}"]
            for notebook, c in cost.items()]
    flops, wall = sum(c["flops"] for c in cost.values()), sum(c["wall_time_s"] for c in cost.values())
    rows.append(["all", sum(c["runs"] for c in cost.values()), f"{flops / 1e12:,.0f}", minutes(flops, peak),
                 minutes(flops, bfloat16_peak), minutes(flops, fastest_gflops), f"{wall / 60:.1f}"])
    table = markdown_table(["notebook", "training runs", "training TFLOP", "min at float32 peak",
                            "min at bfloat16 peak", "min at the fastest training rate", "measured wall min"], rows)
    return "\n".join([
        "### What make all's training costs",
        "",
        "Analytic FLOPs of the training runs in the committed metrics (every epoch a run trained: forward and "
        "backward on the training split, one validation pass), divided by the matmul peaks above and by the "
        f"fastest training rate measured above ({fastest_model}, {fastest_gflops:.0f} GFLOP/s): the least time "
        "the training could take on this machine. 06's budget-curve points and the recipe screens are not "
        "counted, so the bounds are low. The measured wall time includes everything else a notebook does.",
        "",
        table,
    ])


def splice_section(readme: Path, section: str) -> None:
    """Put `section` between the benchmark markers of results/README.md (appended when missing)."""
    from mnist_study.reports.summary import replace_between_markers, write_text_atomically

    text = readme.read_text() if readme.is_file() else "# Results\n"
    if BENCHMARK_START not in text:
        text = f"{text.rstrip()}\n\n## Benchmark\n\n{BENCHMARK_START}\n{BENCHMARK_END}\n"
    write_text_atomically(readme, replace_between_markers(text, section, BENCHMARK_START, BENCHMARK_END))
