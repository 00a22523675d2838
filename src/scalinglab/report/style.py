"""The one place for the report's look: rcParams, colours, markers, axis helpers, and saving.

Plot functions elsewhere take an `ax` and return it (STYLE.md item 10); they never touch pyplot.
Figures are `matplotlib.figure.Figure` objects drawn with the Agg canvas, so nothing here needs a
display or keeps global state beyond the scope of `render`'s rc_context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from scalinglab.config.paths import atomic_path

# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies and in greyscale.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DIVERGED_MARKER = "x"
FAILED_COLOR = "#888888"
BAND_ALPHA = 0.18
FIGSIZE = (7.0, 4.4)
WIDE = (9.6, 4.8)
"""For plots whose legend sits outside, on the right."""
DPI = 130

RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5.5,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",  # text stays text in SVGs: smaller files, searchable labels
    "svg.hashsalt": "scalinglab",  # deterministic ids, so rebuilding a report gives identical files
}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


@contextmanager
def _rc() -> Iterator[None]:
    with mpl.rc_context(RC):
        yield


def render(draw: Callable[[Figure], None], path: Path, size: tuple[float, float] = FIGSIZE) -> Path:
    """Make a figure, let `draw` fill it, save it to `path` (PNG or SVG by suffix) and return the path.

    rcParams are read when artists are created, so the whole drawing happens inside the context.
    """
    with _rc():
        fig = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."), metadata=_metadata(path.suffix))
    return path


def _metadata(suffix: str) -> dict:
    # No creation date in the files: the same data gives byte-identical figures.
    return {"Date": None} if suffix == ".svg" else {"Software": "scalinglab"}


def log_loss_axis(ax: Axes, which: str = "y") -> None:
    """A log axis for losses, which often span less than a decade: plain-number labels at 1-2-5
    steps (and every minor step when the range is narrow) instead of a lone "10^0"."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(1, 10) * 1.0))
    axis.set_major_formatter(FuncFormatter(_tick_label))
    lo, hi = (ax.get_ylim() if which == "y" else ax.get_xlim())
    axis.set_minor_formatter(FuncFormatter(_tick_label) if hi / max(lo, 1e-12) < 4 else NullFormatter())
    axis.grid(True, which="minor", color="#eeeeee", linewidth=0.5)


def _tick_label(x: float, _pos=None) -> str:
    return f"{x:.3g}"


def log_x(ax: Axes, base: int = 10, plain: bool = False) -> None:
    """A log x axis; `plain` labels ticks 64, 128, ... instead of 2^6, 2^7 (widths, batch sizes)."""
    ax.set_xscale("log", base=base)
    if plain:
        plain_ticks(ax.xaxis)


def plain_ticks(axis) -> None:
    """Tick labels as plain numbers (64, 128) rather than powers (2^6, 2^7)."""
    axis.set_major_formatter(FuncFormatter(_tick_label))


def diverged_rug(ax: Axes, xs, colour: str, label: str | None = None) -> None:
    """Mark runs without a final loss (diverged) at their x, on the top edge of the axes."""
    xs = np.asarray(list(xs), dtype=float)
    if xs.size == 0:
        return
    ax.plot(xs, np.full(xs.size, 0.97), linestyle="none", marker=DIVERGED_MARKER, color=colour,
            markersize=7, markeredgewidth=1.8, transform=ax.get_xaxis_transform(), clip_on=False,
            label=label, zorder=4)


def legend(ax: Axes, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def empty(ax: Axes, message: str) -> Axes:
    """An axes that says why it is empty, instead of a blank frame."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    return ax

