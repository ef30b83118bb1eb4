"""The study's one Matplotlib style: every figure function, in every room, draws under it (`@styled`), so that the
look of all figures changes here, and a figure looks the same whether a notebook, a test or the benchmark draws it
(nothing depends on the caller's rcParams)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

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


def figure_title(figure: Figure) -> str:
    """What a figure shows, in words: its title, else its panels' titles."""
    if figure.get_suptitle().strip():
        return figure.get_suptitle().strip()
    titles = [axis.get_title().strip() for axis in figure.axes if axis.get_title().strip()]
    return "; ".join(titles) or "A figure without a title"


def titles_as_alt_text() -> None:
    """In a notebook: every figure it shows carries its title as the PNG's alt text (`metadata["image/png"]["alt"]`,
    which nbconvert's HTML uses), so that a reader with a screen reader learns what each figure is."""
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure

    shell = get_ipython()
    if shell is None:  # not in IPython: nothing is shown
        return

    def png_with_alt_text(figure: Figure):
        return print_figure(figure, "png", bbox_inches="tight"), {"alt": figure_title(figure)}

    if "inline" in plt.get_backend():
        # Loading the inline backend registers its own PNG formatter: loaded first, so that this one replaces it.
        import matplotlib_inline.backend_inline  # noqa: F401
    shell.display_formatter.formatters["image/png"].for_type(Figure, png_with_alt_text)
