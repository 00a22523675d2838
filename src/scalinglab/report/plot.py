"""The report's main figure from analysis results: loss vs compute for two arms, their fitted
frontiers L*(C) with bootstrap bands, the crossover and the target.

The report draws it from a study (report.panels); `draw_comparison` draws it into any Matplotlib
axis from a table of runs and a Comparison, as in a notebook:

    fig, ax = plt.subplots()
    draw_comparison(ax, runs, compare_arms(runs, "constant", "scaled"))
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes

from scalinglab.analysis import Columns, Comparison, LawFit, select_runs
from scalinglab.report import caveats, figures
from scalinglab.report.sentences import flops

MARGIN = 1.3
"""The curves reach this factor beyond the outermost run, crossover or target."""
CROSSING_REACH = 30
"""A crossover further past the target than this would squash the data into a corner: it is left
to the text."""


def compute_grid(lo: float, hi: float) -> np.ndarray:
    return np.geomspace(lo / MARGIN, hi * MARGIN, 200)


def fit_curve(fit: LawFit, grid: np.ndarray, observed_max: float) -> figures.Curve:
    """A fit's frontier L*(C) on `grid`, with its band when the bootstrap could vary it; solid up to
    the largest run's compute, a forecast beyond."""
    band = fit.frontier_interval(grid) if fit.has_spread else (None, None)
    p = fit.params
    label = (f"fit: {p['E']:.2f} + {p['A']:.3g}·C^-{p['alpha']:.3f}" if fit.law.is_frontier
             else f"fit: best loss at C from {fit.law.formula}") + caveats.legend_note(fit)
    return figures.Curve(grid, fit.frontier(grid), band[0], band[1], label, observed_max)


def crossing_mark(c: Comparison, target: float | None) -> figures.Mark | None:
    """Where the arms' frontiers cross, with its interval shaded when there is one to shade."""
    crossing = c.crossing
    if crossing.compute is None or not target or crossing.compute > CROSSING_REACH * target:
        return None
    lo, hi = crossing.interval
    # A fit through exactly as many runs as parameters resamples to itself: its "interval" is a point.
    shaded = (math.isfinite(lo) and math.isfinite(hi) and hi > 1.01 * lo
              and c.fit_a.has_spread and c.fit_b.has_spread)
    return figures.Mark(crossing.compute, f"crossover {c.a}/{c.b}" + (" (95% interval shaded)" if shaded else ""),
                        lo if shaded else None, hi if shaded else None, figures.CROSSING_LINE, "#444444")


def target_mark(target: float) -> figures.Mark:
    return figures.Mark(target, f"target {flops(target)} FLOPs", linestyle=figures.TARGET_LINE)


def draw_comparison(ax: Axes, runs, comparison: Comparison, columns: Columns | None = None) -> Axes:
    """The report's main figure for `comparison` into `ax`: each arm's complete runs of `runs` (the
    table it was computed from, in `columns`' names) against compute, its fitted frontier and band,
    the crossover and the forecast's target. Returns the ax."""
    c = comparison
    frame = select_runs(runs, columns, need=("compute", "loss")).frame
    rows = {arm: frame[frame["group"] == arm] for arm in (c.a, c.b)}
    groups = [figures.Points(arm, r["compute"].to_numpy(float), r["loss"].to_numpy(float)) for arm, r in rows.items()]
    target = c.forecast.compute
    marks = [m for m in (crossing_mark(c, target), target_mark(target)) if m is not None]
    xs = np.concatenate([g.x for g in groups] + [[m.x for m in marks]])
    grid = compute_grid(xs.min(), xs.max())
    curves = [fit_curve(fit, grid, g.x.max()) for fit, g in zip((c.fit_a, c.fit_b), groups)]
    return figures.loss_vs_compute(ax, groups, curves, marks)
