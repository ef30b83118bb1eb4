"""The study's one Matplotlib style: every figure function, in every room, draws under it (`@styled`), so that the
look of all figures changes here, and a figure looks the same whether a notebook, a test or the benchmark draws it
(nothing depends on the caller's rcParams)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import matplotlib.pyplot as plt

STYLE = {
    "figure.dpi": 100,  # the notebook's inline size; saved figures set their own dpi (reports.plots.save_figure)
    "font.size": 10,
    "axes.titlesize": "medium",
    "axes.spines.top": False,  # a frame on two sides only: less ink that carries no data
    "axes.spines.right": False,
    "legend.frameon": False,
}


def styled(function: Callable) -> Callable:
    """`function`, which returns a Figure, drawn under STYLE."""
    @functools.wraps(function)
    def draw_styled(*args, **kwargs):
        with plt.style.context(STYLE):
            return function(*args, **kwargs)

    return draw_styled
