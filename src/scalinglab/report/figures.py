"""One function per figure kind. Each takes an `ax` and plain arrays, draws, and returns the ax.

Inputs are small records of numbers (no DataFrames, no fit objects), so every figure can be drawn
from anyone's results and tested without training or fitting; report/__init__ does the translation.
Conventions shared by all figures: colour and marker follow the group's index (style.color/marker),
complete runs are filled markers, diverged runs are an x on the top edge at their x value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes

from scalinglab.report import style


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
        ax.plot(g.x, g.loss, linestyle="none", marker=style.marker(i), color=c, label=f"{g.label} (runs)", zorder=3)
        style.diverged_rug(ax, g.diverged_x, c, label=f"{g.label} diverged" if len(g.diverged_x) else None)
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
            ax.plot(curve.x[start:], curve.loss[start:], color=c, linestyle="--")
    for j, m in enumerate(marks):
        _vertical(ax, m, "#444444" if j == 0 else "#999999", ":" if j else "-.")
    style.log_x(ax)
    ax.set_xlabel(x_label)
    ax.set_ylabel("final eval loss (nats/token)")
    style.log_loss_axis(ax)
    style.legend(ax, loc="upper right", ncols=1)
    return ax


def _vertical(ax: Axes, m: Mark, colour: str, linestyle: str) -> None:
    if m.lo is not None and m.hi is not None and np.isfinite([m.lo, m.hi]).all() and m.hi > m.lo:
        ax.axvspan(m.lo, m.hi, color=colour, alpha=0.08, linewidth=0)
    ax.axvline(m.x, color=colour, linestyle=linestyle, linewidth=1.2, label=m.label)


def loss_vs_lr(ax: Axes, groups: Sequence[Points], optimum: Sequence[float | None] = (),
               largest_stable: Sequence[float | None] = ()) -> Axes:
    """U-curves: final loss against peak LR per width, the optimum (star) and the largest stable LR (|)."""
    if not any(len(g.x) or len(g.diverged_x) for g in groups):
        return style.empty(ax, "no finished runs in the LR sweep")
    for i, g in enumerate(groups):
        c = style.color(i)
        order = np.argsort(g.x)
        ax.plot(g.x[order], g.loss[order], marker=style.marker(i), color=c, label=g.label)
        style.diverged_rug(ax, g.diverged_x, c)
        best = optimum[i] if i < len(optimum) else None
        if best is not None and np.isfinite(best):
            y = float(np.interp(np.log(best), np.log(g.x[order]), g.loss[order])) if len(g.x) else np.nan
            ax.plot([best], [y], marker="*", markersize=14, color=c, markeredgecolor="black",
                    markeredgewidth=0.6, linestyle="none", zorder=5)
        stable = largest_stable[i] if i < len(largest_stable) else None
        if stable is not None and np.isfinite(stable):
            ax.axvline(stable, color=c, linestyle=":", linewidth=1.2)
    # Legend entries that explain the symbols once, not per width.
    ax.plot([], [], marker="*", markersize=11, color="white", markeredgecolor="black", linestyle="none",
            label="optimal LR (fit)")
    ax.plot([], [], color="#555555", linestyle=":", label="largest stable LR")
    if any(len(g.diverged_x) for g in groups):
        ax.plot([], [], marker=style.DIVERGED_MARKER, color="#555555", linestyle="none", markeredgewidth=1.8,
                label="diverged (no final loss)")
    style.log_x(ax, base=2)
    ax.set_xlabel("peak learning rate η (log₂ scale)")
    ax.set_ylabel("final eval loss (nats/token)")
    style.log_loss_axis(ax)
    style.legend(ax, loc="best")
    return ax


def lr_law(ax: Axes, width: np.ndarray, lr: np.ndarray, curve: Curve | None = None,
           stable: np.ndarray | None = None) -> Axes:
    """Optimal (and largest stable) LR against width, log-log, with the fitted power law."""
    if len(width) == 0:
        return style.empty(ax, "no optimum found at any width")
    ax.plot(width, lr, marker="*", markersize=11, linestyle="none", color=style.color(0), label="optimal LR")
    if stable is not None and np.isfinite(stable).any():
        ax.plot(width, stable, marker="v", linestyle="none", color=style.color(1), label="largest stable LR")
    if curve is not None:
        ax.plot(curve.x, curve.loss, color=style.color(0), label=curve.label or "fit")
    style.log_x(ax, base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width D (residual dimension)")
    ax.set_ylabel("peak learning rate η")
    style.legend(ax, loc="best")
    return ax


def loss_vs_batch(ax: Axes, groups: Sequence[Points]) -> Axes:
    """Final loss against batch size (sequences per step) at fixed tokens, per width."""
    if not any(len(g.x) or len(g.diverged_x) for g in groups):
        return style.empty(ax, "no finished runs in the batch sweep")
    for i, g in enumerate(groups):
        c = style.color(i)
        order = np.argsort(g.x)
        ax.plot(g.x[order], g.loss[order], marker=style.marker(i), color=c, label=g.label)
        if len(g.x):
            k = int(np.argmin(g.loss))
            ax.plot([g.x[k]], [g.loss[k]], marker="*", markersize=14, color=c, markeredgecolor="black",
                    markeredgewidth=0.6, linestyle="none", zorder=5)
        style.diverged_rug(ax, g.diverged_x, c)
    style.log_x(ax, base=2)
    ax.set_xlabel("batch size (sequences per step, log₂ scale)")
    ax.set_ylabel("final eval loss (nats/token)")
    style.log_loss_axis(ax)
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
            ax.plot(t.eval_step, t.eval, color=c, linestyle="--", marker=style.marker(i), markersize=4)
    ax.plot([], [], color="#555555", label="train loss")
    ax.plot([], [], color="#555555", linestyle="--", marker="o", markersize=4, label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    style.log_loss_axis(ax)
    if title:
        ax.set_title(title)
    style.legend(ax, loc="upper right", fontsize=7.5)
    return ax

