"""Figures of the analyses whose computations are fingerprinted and reused (the few-label curve): kept out of their
modules, so that a figure's look never makes a computation run again."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnist_study.analysis.few_labels import ARMS
from mnist_study.figure_style import styled


@styled
def few_label_figure(curve: dict, reference_accuracy: float, reference_label: str, title: str) -> Figure:
    """Held-out accuracy against labelled images per class (log scale): mean and ± std over draws, per arm."""
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for arm, style in zip(ARMS, ("s--", "o-", "^-"), strict=True):
        mean = np.asarray(curve["arms"][arm]["mean"]) * 100
        std = np.asarray([value or 0.0 for value in curve["arms"][arm]["std"]]) * 100
        axis.errorbar(curve["k"], mean, yerr=std, fmt=style, capsize=3, label=arm)
    axis.axhline(reference_accuracy * 100, color="grey", linestyle=":", label=reference_label)
    axis.set_xscale("log")
    axis.set_xticks(curve["k"], [str(k) for k in curve["k"]])
    axis.set_xlabel("labelled UCI digits per class (k)")
    axis.set_ylabel("accuracy on the held-out UCI digits (%)")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
