"""The one place for the report's look: rcParams, colours, markers, axis helpers, and saving.

Plot functions elsewhere take an `ax` and return it (STYLE.md item 10); they never touch pyplot.
Figures are `matplotlib.figure.Figure` objects drawn with the Agg canvas, so nothing here needs a
display or keeps global state beyond the scope of `render`'s rc_context.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import combinations
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter, FuncFormatter, Locator, LogFormatterSciNotation, LogLocator, MaxNLocator

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


LINE_NAMES = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dot"}
"""What a caption calls each line style: captions name a line by the style it is drawn with."""


class TextOverlapWarning(UserWarning):
    """Two pieces of text in a saved figure overlap (the tests turn it into an error)."""


def render(draw: Callable[[Figure], None], paths: Sequence[Path], size: tuple[float, float] = FIGSIZE) -> list[Path]:
    """Make a figure, let `draw` fill it, and save it to each of `paths` (PNG or SVG by suffix), its
    tick labels thinned until none touch. Text that still overlaps is a TextOverlapWarning.

    rcParams are read when artists are created, so the whole drawing happens inside the context.
    The first save's drawing is the one checked, so the checks cost no drawing of their own.
    """
    with _rc():
        fig = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        _save(fig, paths[0])
        if readable_ticks(fig):
            _save(fig, paths[0])
        overlaps = overlapping_text(fig)
        if overlaps:
            shown = "; ".join(f"'{a}' and '{b}'" for a, b in overlaps[:5])
            warnings.warn(f"{paths[0].stem}: {len(overlaps)} overlapping text pair(s): {shown}", TextOverlapWarning,
                          stacklevel=2)
        for path in paths[1:]:
            _save(fig, path)
    return list(paths)


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), metadata=_metadata(path.suffix))


def _metadata(suffix: str) -> dict:
    # No creation date in the files: the same data gives byte-identical figures.
    return {"Date": None} if suffix == ".svg" else {"Software": "scalinglab"}


MINOR_LABELS = ((2, 3, 4, 5, 6, 7, 8, 9), (2, 3, 5), (2, 5), (3,), ())
"""The minor ticks of a log₁₀ axis that carry a label, by mantissa (the 3 of 3×10¹⁰), densest first."""


class MinorLabels(Formatter):
    """A log₁₀ axis's minor tick labels, thinned: only ticks whose mantissa is in one row of
    MINOR_LABELS are labelled (by `inner`). The row follows the axis's span (every minor tick under
    half a decade, none from two decades), and render() moves down the rows while labels touch:
    matplotlib's own choice counts whole decades, so 1.3e10 to 8e11 (one decade boundary) labelled
    2, 3, 4 and 6×10¹⁰ and ran "3×10¹⁰" into "4×10¹⁰"."""

    def __init__(self, inner: Formatter):
        self.inner = inner
        self.thinned = 0

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    @property
    def row(self) -> int:
        lo, hi = sorted(self.axis.get_view_interval())
        span = math.log10(hi / lo) if lo > 0 else math.inf
        start = 0 if span < 0.5 else 1 if span < 1 else 2 if span < 2 else len(MINOR_LABELS) - 1
        return min(start + self.thinned, len(MINOR_LABELS) - 1)

    def thin(self) -> bool:
        """One row sparser; False when already none is labelled."""
        if self.row == len(MINOR_LABELS) - 1:
            return False
        self.thinned += 1
        return True

    def format_ticks(self, values):
        self.inner.set_locs(values)
        return [self(v, i) for i, v in enumerate(values)]

    def __call__(self, x, pos=None) -> str:
        if not x > 0:
            return ""
        mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
        if abs(mantissa - round(mantissa)) > 1e-6 or round(mantissa) not in MINOR_LABELS[self.row]:
            return ""
        return self.inner(x, pos)


NARROW = 1.6
"""A log axis whose ends differ by less than this factor holds at most one whole mantissa (3.0 to
4.5): it is ticked like a linear one, else it could show a single label."""


class LossTicks(Locator):
    """Ticks of a log loss axis: the log ticks at mantissas `subs`, or on a narrow range plain linear
    steps (major) and none (minor)."""

    def __init__(self, subs, minor: bool = False):
        self.log = LogLocator(base=10, subs=subs)
        self.minor = minor

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.log.set_axis(axis)

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        if lo > 0 and hi / lo < NARROW:
            return [] if self.minor else MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        return self.log()

    def tick_values(self, vmin, vmax):
        return self.log.tick_values(vmin, vmax)


def log_loss_axis(ax: Axes, which: str = "y") -> None:
    """A log axis for losses, which often span less than a decade: plain-number labels at 1-2-5
    steps (and minor steps, thinned, when the range is narrow) instead of a lone "10^0"."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(LossTicks((1.0, 2.0, 5.0)))
    axis.set_minor_locator(LossTicks(np.arange(1, 10) * 1.0, minor=True))
    axis.set_major_formatter(FuncFormatter(_tick_label))
    axis.set_minor_formatter(MinorLabels(FuncFormatter(_tick_label)))
    axis.grid(True, which="minor", color="#eeeeee", linewidth=0.5)


def _tick_label(x: float, _pos=None) -> str:
    return f"{x:.3g}"


def log_x(ax: Axes, base: int = 10, plain: bool = False) -> None:
    """A log x axis; `plain` labels ticks 64, 128, ... instead of 2^6, 2^7 (widths, batch sizes).
    On base 10, minor ticks are labelled 3×10¹⁰ where the span is narrow (MinorLabels)."""
    ax.set_xscale("log", base=base)
    if base == 10:
        # Every minor tick formatted: MinorLabels alone decides which carry a label.
        inner = LogFormatterSciNotation(base, labelOnlyBase=False, minor_thresholds=(math.inf, math.inf))
        ax.xaxis.set_minor_formatter(MinorLabels(inner))
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



# --- readable text: tick labels thinned at save time, and what still overlaps ---------------------

def readable_ticks(fig: Figure) -> bool:
    """Thin each log axis's minor labels (MinorLabels.thin) while two labels of that axis touch, on a
    figure already drawn; True when it thinned any (and drew the figure again)."""
    thinned_any = False
    for _ in MINOR_LABELS:
        thinned = False
        for axis in _axes_of(fig):
            formatter = axis.get_minor_formatter()
            if isinstance(formatter, MinorLabels) and _touching(tick_labels(axis)) and formatter.thin():
                thinned = True
        if not thinned:
            return thinned_any
        thinned_any = True
        fig.draw_without_rendering()
    return thinned_any


def _axes_of(fig: Figure) -> list[Axis]:
    return [axis for ax in fig.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)]


def tick_labels(axis: Axis) -> list[Text]:
    """The tick labels an axis draws: ticks inside its view, with text (after a draw)."""
    lo, hi = sorted(axis.get_view_interval())
    slack = (hi - lo) * 1e-9
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return [label for tick in ticks if lo - slack <= tick.get_loc() <= hi + slack
            for label in (tick.label1, tick.label2) if label.get_visible() and label.get_text().strip()]


def _touching(labels: list[Text], gap: float = 2.0) -> bool:
    """Two labels closer than `gap` pixels (both ways: labels of one axis are on one line)."""
    boxes = [t.get_window_extent() for t in labels]
    return any(a.x0 < b.x1 + gap and b.x0 < a.x1 + gap and a.y0 < b.y1 + gap and b.y0 < a.y1 + gap
               for a, b in combinations(boxes, 2))


def drawn_texts(fig: Figure) -> list[Text]:
    """Every piece of text the figure shows (after a draw): tick labels in view, axis labels,
    titles, legend entries, notes; not those of hidden axes or of ticks outside the view."""
    every_axis = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    ticks = {id(label) for axis in every_axis for tick in axis.get_major_ticks() + axis.get_minor_ticks()
             for label in (tick.label1, tick.label2)}
    shown = [label for axis in _axes_of(fig) for label in tick_labels(axis)]
    shown += [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_visible() and t.get_text().strip()
              and (t.axes is None or t.axes.get_visible())]
    return shown


def overlapping_text(fig: Figure, tolerance: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than `tolerance` pixels each way (after a draw)."""
    texts = drawn_texts(fig)
    boxes = [t.get_window_extent() for t in texts]
    out = []
    for (i, a), (j, b) in combinations(enumerate(boxes), 2):
        if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance:
            out.append((_plain(texts[i].get_text()), _plain(texts[j].get_text())))
    return out


def _plain(text: str) -> str:
    """'$\\mathdefault{3\\times10^{10}}$' -> '3×10^10': a label as a person reads it, for messages."""
    return (text.replace("$", "").replace("\\mathdefault", "").replace("\\times", "×").replace("{", "")
            .replace("}", "").replace("\\", ""))
