"""The benchmark's report: its figure, its Markdown section, and splicing that into results/README.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_study.summary import BENCHMARK_END, BENCHMARK_START


def throughput_figure(results: dict, peak_gflops: float):
    import matplotlib.pyplot as plt

    names = list(results)
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.barh(positions - 0.2, [results[name]["train_gflops_per_s"] for name in names], 0.4, label="training")
    axis.barh(positions + 0.2, [results[name]["inference_gflops_per_s"] for name in names], 0.4, label="inference")
    axis.axvline(peak_gflops, color="black", linestyle="--", label=f"float32 matmul peak {peak_gflops:.0f}")
    axis.set_yticks(positions, names)
    axis.invert_yaxis()
    axis.set_xlabel("achieved GFLOP/s (analytic FLOPs x measured images/s)")
    axis.legend(fontsize=8)
    axis.set_title("Throughput of the study's models on this machine")
    figure.tight_layout()
    return figure


def markdown_section(report: dict) -> str:
    from mnist_study.summary import markdown_table

    peak = report["matmul_peak_gflops"]
    rows = [[name, f"{r['parameters']:,}", f"{r['forward_flops_per_image'] / 1e6:.2f}",
             f"{r['train_images_per_s']:,.0f}", f"{r['train_gflops_per_s']:.1f}",
             f"{100 * r['train_gflops_per_s'] / peak:.1f}", f"{r['inference_images_per_s']:,.0f}"]
            for name, r in report["models"].items()]
    table = markdown_table(["model", "parameters", "forward MFLOP / image", "train images/s", "train GFLOP/s",
                            "% of matmul peak", "inference images/s"], rows)
    study, reference = report["time_to_accuracy"]["study"], report["time_to_accuracy"]["reference"]

    def seconds(result):
        return "not reached" if result["seconds_to_target"] is None else f"{result['seconds_to_target']:.1f} s"

    ratio = report["time_to_accuracy"]["ratio"]
    return "\n".join([
        f"Measured by `make bench` on {report['provenance']['cpu']} ({report['provenance']['cpu_count']} cores) at "
        f"{report['provenance']['started_at']}. Float32 matmul peak through TensorFlow: **{peak:.0f} GFLOP/s**.",
        "", table, "",
        f"- Time to 99.0 % validation accuracy (training time, evaluations every "
        f"{report['time_to_accuracy']['eval_every']} steps excluded): study's regularized CNN {seconds(study)}, "
        f"keras-io reference recipe {seconds(reference)}"
        + ("" if ratio is None else f"; ratio {ratio:.2f}") + ".",
        f"- Cost of op determinism (cnn_regularized training throughput, off / on): "
        f"{report['determinism']['slowdown']:.2f}x.",
        f"- Loading and verifying a dataset: MNIST {report['dataset_loading_s']['mnist']:.2f} s, Fashion-MNIST "
        f"{report['dataset_loading_s']['fashion_mnist']:.2f} s.",
        f"- Peak memory of a full training notebook ({report['memory']['notebook']}): "
        f"{report['memory']['peak_rss_mb']:,.0f} MB resident.",
        "", "![throughput](benchmarks/throughput.png)",
    ])


def splice_section(readme: Path, section: str) -> None:
    """Put `section` between the benchmark markers of results/README.md (appended when missing)."""
    from mnist_study.summary import replace_between_markers, write_text_atomically

    text = readme.read_text() if readme.is_file() else "# Results\n"
    if BENCHMARK_START not in text:
        text = f"{text.rstrip()}\n\n## Benchmark\n\n{BENCHMARK_START}\n{BENCHMARK_END}\n"
    write_text_atomically(readme, replace_between_markers(text, section, BENCHMARK_START, BENCHMARK_END))
