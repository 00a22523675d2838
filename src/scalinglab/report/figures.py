"""One function per figure kind. Each takes an `ax` and plain arrays, draws, and returns the ax.

Inputs are small records of numbers (no DataFrames, no fit objects), so every figure can be drawn
from anyone's results and tested without training or fitting; report/panels.py does the translation.
Conventions shared by all figures: colour and marker follow the group's index (style.color/marker),
complete runs are filled markers (hollow when the run repeated data), diverged runs are an x on the
top edge at their x value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import NullLocator

from scalinglab.report import style

# Line styles that captions name (style.LINE_NAMES turns them into words), so a caption says what is drawn.
FORECAST_LINE = "--"
"""A fitted curve beyond the largest run (solid up to it)."""
CROSSING_LINE = "-."
TARGET_LINE = ":"
STABLE_LINE = ":"
"""The largest hyperparameter value that did not diverge."""
ZERO_LINE = ":"
EVAL_LINE = "--"
"""Eval loss in learning curves (the train loss is solid)."""


def _array(values=()) -> np.ndarray:
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)


@dataclass(frozen=True)
class Points:
    """The observed runs of one group (an arm, a width): final loss against some x."""

    label: str
    x: np.ndarray
    loss: np.ndarray
    diverged_x: np.ndarray = field(default_factory=_array)
    """x of runs that diverged (no final loss): drawn on the top edge, never fitted."""
    repeated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per point of x: the run repeated data (more than one epoch), drawn hollow. Empty: none did."""

    def hollow(self) -> np.ndarray:
        return self.repeated if len(self.repeated) == len(self.x) else np.zeros(len(self.x), dtype=bool)


@dataclass(frozen=True)
class Curve:
    """A fitted curve on a grid, with an optional bootstrap band (lo, hi) on the same grid."""

    x: np.ndarray
    loss: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    label: str = ""
    """What to add to the legend, e.g. 'L = 2.1 + 41·C^-0.081'."""
    observed_max: float = np.inf
    """Largest observed x: the curve is solid up to here and dashed beyond (extrapolation)."""


@dataclass(frozen=True)
class Mark:
    """A vertical line at x with an optional interval (lo, hi), e.g. a crossover or a target."""

    x: float
    label: str
    lo: float | None = None
    hi: float | None = None
    linestyle: str = TARGET_LINE
    colour: str = "#333333"


@dataclass(frozen=True)
class Trace:
    """One run's learning curves: train loss at logged steps, eval loss at eval steps."""

    label: str
    step: np.ndarray
    train: np.ndarray
    eval_step: np.ndarray
    eval: np.ndarray
    diverged: bool = False


def loss_vs_compute(ax: Axes, groups: Sequence[Points], curves: Sequence[Curve | None],
                    marks: Sequence[Mark] = (), x_label: str = "training compute C (FLOPs, 6·N·D)") -> Axes:
    """Final eval loss against compute per arm (log-log), fitted L(C) with its band, crossover, target."""
    if not any(len(g.x) or len(g.diverged_x) for g in groups):
        return style.empty(ax, "no finished runs yet")
    for i, (g, curve) in enumerate(zip(groups, curves)):
        c = style.color(i)
        if len(g.x):
            ax.plot(g.x, g.loss, linestyle="none", marker=style.marker(i), color=c, label=f"{g.label}: runs",
                    zorder=3)
            _hollow(ax, g, i)
        style.diverged_rug(ax, g.diverged_x, c, label=f"{g.label}: diverged" if len(g.diverged_x) else None)
        if curve is None:
            continue
        if curve.lo is not None and curve.hi is not None:
            ax.fill_between(curve.x, curve.lo, curve.hi, color=c, alpha=style.BAND_ALPHA, linewidth=0)
        inside = curve.x <= curve.observed_max * (1 + 1e-9)
        ax.plot(curve.x[inside], curve.loss[inside], color=c, label=curve.label or None)
        # Beyond the largest run the curve is a forecast: dashed, and starting where the solid ends.
        beyond = np.flatnonzero(~inside)
        if beyond.size:
            start = max(beyond[0] - 1, 0)
            ax.plot(curve.x[start:], curve.loss[start:], color=c, linestyle=FORECAST_LINE)
    if any(g.hollow().any() for g in groups):
        ax.plot([], [], marker="o", color="#555555", markerfacecolor="white", linestyle="none",
                label="hollow: repeats data (> 1 epoch)")
    for m in marks:
        _vertical(ax, m)
    style.log_x(ax)
    ax.set_xlabel(x_label)
    ax.set_ylabel("final eval loss (nats/token)")
    ys = np.concatenate([g.loss for g in groups] + [c.loss for c in curves if c is not None])
    if ys.size and ys.max() < 1.1 * ys.min():  # about one loss: a log axis would pad it out to a decade
        ax.set_ylim(ys.min() / 1.1, ys.max() * 1.1)
    style.log_loss_axis(ax)
    # Outside the axes: curves extrapolated to the target fill the plot's whole width.
    style.legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def _hollow(ax: Axes, g: Points, i: int) -> None:
    """Redraw the points of runs that repeated data with a white face: the many-epoch regime at a glance."""
    mask = g.hollow()
    if mask.any():
        ax.plot(g.x[mask], g.loss[mask], linestyle="none", marker=style.marker(i), color=style.color(i),
                markerfacecolor="white", zorder=4)


def _vertical(ax: Axes, m: Mark) -> None:
    if m.lo is not None and m.hi is not None and np.isfinite([m.lo, m.hi]).all() and m.hi > m.lo:
        ax.axvspan(m.lo, m.hi, color=m.colour, alpha=0.08, linewidth=0)
    ax.axvline(m.x, color=m.colour, linestyle=m.linestyle, linewidth=1.2, label=m.label)


HPARAM_LABELS = {
    "lr": "peak learning rate η (log₂ scale)",
    "batch_size": "batch size (sequences per step, log₂ scale)",
}
BY_LABELS = {"width": "model width (residual dimension)", "compute": "training compute C (FLOPs, 6·N·D)",
             "params": "non-embedding parameters N"}


def loss_vs_hparam(ax: Axes, groups: Sequence[Points], hparam: str, optimum: Sequence[float | None] = (),
                   largest_stable: Sequence[float | None] = ()) -> Axes:
    """U-curves: final loss against a swept hyperparameter per group (width or budget), with the
    optimum (star, on the curve) and the largest stable value (dotted line, only where something diverged)."""
    if not any(len(g.x) or len(g.diverged_x) for g in groups):
        return style.empty(ax, f"no finished runs in the {hparam} sweep")
    for i, g in enumerate(groups):
        c = style.color(i)
        order = np.argsort(g.x)
        ax.plot(g.x[order], g.loss[order], marker=style.marker(i), color=c, label=g.label)
        style.diverged_rug(ax, g.diverged_x, c)
        best = optimum[i] if i < len(optimum) else None
        if best is not None and np.isfinite(best) and len(g.x):
            y = float(np.interp(np.log(best), np.log(g.x[order]), g.loss[order]))
            ax.plot([best], [y], marker="*", markersize=14, color=c, markeredgecolor="black",
                    markeredgewidth=0.6, linestyle="none", zorder=5)
        stable = largest_stable[i] if i < len(largest_stable) else None
        if stable is not None and np.isfinite(stable):
            ax.axvline(stable, color=c, linestyle=STABLE_LINE, linewidth=1.2)
    # Legend entries that explain the symbols once, not per group.
    ax.plot([], [], marker="*", markersize=11, color="white", markeredgecolor="black", linestyle="none",
            label="optimum")
    if any(s is not None and np.isfinite(s) for s in largest_stable):
        ax.plot([], [], color="#555555", linestyle=STABLE_LINE, label="largest stable")
    if any(len(g.diverged_x) for g in groups):
        ax.plot([], [], marker=style.DIVERGED_MARKER, color="#555555", linestyle="none", markeredgewidth=1.8,
                label="diverged (no final loss)")
    style.log_x(ax, base=2, plain=hparam == "batch_size")
    ax.set_xlabel(HPARAM_LABELS.get(hparam, hparam))
    ax.set_ylabel("final eval loss (nats/token)")
    style.log_loss_axis(ax)
    style.legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


SETTING_LABELS = {
    "l2": "L2 penalty λ in the loss",
    "weight_decay": "weight decay λ",
}


def loss_vs_setting(ax: Axes, groups: Sequence[Points], setting: str, colours: Sequence[int] = (),
                    markers: Sequence[int] = ()) -> Axes:
    """Final loss against a swept setting, one line per arm and width (colour and marker indices
    given per group, e.g. colour by arm and marker by width; else by the group's index). A 0 among
    positive values (no penalty vs some) gets a symlog axis: linear up to the smallest positive value."""
    xs = np.concatenate([np.concatenate([g.x, g.diverged_x]) for g in groups]) if groups else np.array([])
    if not xs.size:
        return style.empty(ax, f"no finished runs in the {setting} sweep")
    for i, g in enumerate(groups):
        c = style.color(colours[i] if colours else i)
        order = np.argsort(g.x)
        ax.plot(g.x[order], g.loss[order], marker=style.marker(markers[i] if markers else i), color=c, label=g.label)
        style.diverged_rug(ax, g.diverged_x, c)
    positive = xs[xs > 0]
    if positive.size and (xs == 0).any():
        ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
    elif positive.size == xs.size and positive.max() >= 10 * positive.min():
        ax.set_xscale("log")
    ax.set_xticks(sorted(set(xs.tolist())))
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(SETTING_LABELS.get(setting, setting))
    ax.set_ylabel("final eval loss (nats/token)")
    style.log_loss_axis(ax)
    style.legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


@dataclass(frozen=True)
class Optima:
    """One group's optimum (and largest stable value) of a hyperparameter across widths or budgets."""

    label: str
    by: np.ndarray
    optimum: np.ndarray
    stable: np.ndarray
    """NaN where nothing diverged (no stable edge seen)."""
    law: Curve | None = None
    """The fitted power law of the optimum, on a grid of `by`."""


def hparam_law(ax: Axes, groups: Sequence[Optima], hparam: str, by: str) -> Axes:
    """Optimal (stars) and largest stable (triangles) hyperparameter against width or compute,
    log-log, with the fitted power law of the optimum."""
    if not any(len(g.by) for g in groups):
        return style.empty(ax, f"no optimum found for {hparam}")
    for i, g in enumerate(groups):
        c = style.color(i)
        ax.plot(g.by, g.optimum, marker="*", markersize=12, linestyle="none", color=c, label=f"{g.label}: optimum")
        if np.isfinite(g.stable).any():
            ax.plot(g.by, g.stable, marker="v", linestyle="none", color=c, markerfacecolor="none",
                    label=f"{g.label}: largest stable")
        if g.law is not None:
            if g.law.lo is not None and g.law.hi is not None:
                ax.fill_between(g.law.x, g.law.lo, g.law.hi, color=c, alpha=style.BAND_ALPHA, linewidth=0)
            ax.plot(g.law.x, g.law.loss, color=c, label=g.law.label or None)
    style.log_x(ax, base=2 if by == "width" else 10, plain=by == "width")
    if by == "width":  # every width measured, not only the powers of 2 (48 between 32 and 64)
        ax.set_xticks(sorted({float(w) for g in groups for w in g.by}))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log", base=2)
    if hparam == "batch_size":
        style.plain_ticks(ax.yaxis)
    ax.set_xlabel(BY_LABELS.get(by, by))
    ax.set_ylabel(HPARAM_LABELS.get(hparam, hparam).replace(" (log₂ scale)", "").replace(", log₂ scale", ""))
    style.legend(ax, loc="best")
    return ax


def learning_curves(ax: Axes, traces: Sequence[Trace], title: str = "") -> Axes:
    """Train (solid) and eval (dashed, markers) loss against step, one colour per run."""
    if not traces:
        return style.empty(ax, "no logged curves")
    for i, t in enumerate(traces):
        c = style.color(i)
        label = t.label + (" (diverged)" if t.diverged else "")
        ax.plot(t.step, t.train, color=c, label=label, linewidth=1.3)
        if len(t.eval_step):
            ax.plot(t.eval_step, t.eval, color=c, linestyle=EVAL_LINE, marker=style.marker(i), markersize=4)
        if t.diverged and len(t.step):
            style.diverged_rug(ax, t.step[-1:], c)
    ax.plot([], [], color="#555555", label="train loss")
    ax.plot([], [], color="#555555", linestyle=EVAL_LINE, marker="o", markersize=4, label="eval loss")
    # A diverged run's last loss can be 1e4: keep the scale where the learning happens, and where the
    # eval loss of a run that did not diverge goes (over many epochs it rises above where it started).
    starts = [v for t in traces for v in (t.eval[:1] if len(t.eval) else t.train[:1]) if np.isfinite(v)]
    starts += [v for t in traces if not t.diverged for v in t.eval if np.isfinite(v)]
    finite = [v for t in traces for v in np.concatenate([t.train, t.eval]) if np.isfinite(v) and v > 0]
    if starts and finite:
        ax.set_ylim(min(finite) / 1.05, max(starts) * 1.15)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    style.log_loss_axis(ax)
    if title:
        ax.set_title(title)
    style.legend(ax, loc="upper right", fontsize=7.5)
    return ax



@dataclass(frozen=True)
class Line:
    """One group's values against width, coloured by `colour` (an index into the palette)."""

    label: str
    width: np.ndarray
    value: np.ndarray
    colour: int = 0


def by_width(ax: Axes, lines: Sequence[Line], y_label: str, title: str = "") -> Axes:
    """Lines of a quantity against model width (log₂ axis) with a zero line: e.g. each recipe's change
    of the final loss against a baseline, or each arm's generalization gap."""
    if not any(len(line.width) for line in lines):
        return style.empty(ax, "no finished runs")
    for line in lines:
        order = np.argsort(line.width)
        ax.plot(line.width[order], line.value[order], marker=style.marker(line.colour), color=style.color(line.colour),
                label=line.label)
    ax.axhline(0.0, color="#555555", linewidth=0.9, linestyle=ZERO_LINE)
    style.log_x(ax, base=2, plain=True)
    ax.set_xticks(sorted({float(w) for line in lines for w in line.width}))  # every width measured
    ax.set_xlabel(BY_LABELS["width"])
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    style.legend(ax, loc="best", fontsize=7.5)
    return ax
