"""Per arm, the compute-optimal frontier L*(C) as points, for a fit of L(C) = E + A·C^-α.

A loss-vs-compute law describes the best loss at each compute, so it must be fitted to the
frontier, not to every run: a run that put its compute into too large a model, or too many
tokens, lies above the frontier and drags the fit (Hoffmann et al. 2022, §3):
- points: every row; on a ladder (one budget per size) the rows are the frontier;
- envelope (Approach 1): the rows that no cheaper row beats, the lower envelope of loss against
  compute over every run and checkpoint;
- isoflop (Approach 2): per compute budget, a parabola of loss in log N through its sizes; its
  vertex is the budget's frontier point, with a standard error from the parabola's fit.
Approach 3 needs no points: the frontier of a fitted L(N, D) is allocation.frontier_loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.reading.design import MIN_SIZES_PER_BUDGET, budget_groups
from scalinglab.analysis.serialize import jsonable
from scalinglab.model.accounting import chinchilla_tokens

POINT_FRONTIERS = ("points", "envelope", "isoflop")


@dataclass(frozen=True)
class BudgetMinimum:
    """One isoFLOP budget's minimum. status: ok | edge (the lowest loss is at the smallest or largest
    size: the minimum lies outside the sizes run) | not_convex (loss does not bend up around it)."""

    group: str
    compute: float
    status: str
    n_sizes: int
    loss: float
    loss_se: float
    """From the parabola's covariance (NaN with exactly three sizes: the parabola passes through them)."""
    params: float
    """N* at the vertex."""

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def frontier_points(frame: pd.DataFrame, frontier: str) -> tuple[pd.DataFrame, list[BudgetMinimum]]:
    """Rows (group, run, compute, loss[, params, tokens, loss_se]) on each group's frontier.

    `run` stays the unit of resampling: a run for points and envelope, a budget for isoflop.
    """
    if frontier == "points":
        return frame, []
    if frontier == "envelope":
        return pd.concat([_envelope(rows) for _, rows in frame.groupby("group", sort=False)]), []
    minima = [m for group, rows in frame.groupby("group", sort=False) for m in isoflop_minima(rows, str(group))]
    ok = [m for m in minima if m.status == "ok"]
    points = pd.DataFrame({"group": [m.group for m in ok], "run": [f"budget {m.compute:.3g}" for m in ok],
                           "compute": [m.compute for m in ok], "loss": [m.loss for m in ok],
                           "params": [m.params for m in ok], "loss_se": [m.loss_se for m in ok]})
    points["tokens"] = chinchilla_tokens(points["compute"], points["params"])
    return points, minima


def _envelope(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.sort_values(["compute", "loss"], kind="stable")
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], rows["loss"].to_numpy()[:-1]]))
    return rows[rows["loss"].to_numpy() < best_before]


def isoflop_minima(rows: pd.DataFrame, group: str) -> list[BudgetMinimum]:
    """Approach 2 on one group: per compute budget with enough sizes, the vertex of loss in log N."""
    out = []
    for _, budget in rows.groupby(budget_groups(rows["compute"]), sort=True):
        x_all = np.log(budget["params"].to_numpy(float))
        if len(np.unique(x_all)) < MIN_SIZES_PER_BUDGET:
            continue
        out.append(_vertex(budget, x_all, group))
    return out


def _vertex(budget: pd.DataFrame, x_all: np.ndarray, group: str) -> BudgetMinimum:
    loss = budget["loss"].to_numpy(float)
    compute = float(np.exp(np.log(budget["compute"].to_numpy(float)).mean()))
    center = x_all.mean()  # centred log N keeps the 3×3 normal equations well conditioned
    x = x_all - center
    n_sizes = len(np.unique(x))
    nan = float("nan")
    if len(x) > 3:
        coef, cov = np.polyfit(x, loss, 2, cov=True)
    else:
        coef, cov = np.polyfit(x, loss, 2), None
    c2, c1, c0 = coef
    if c2 <= 0:
        return BudgetMinimum(group, compute, "not_convex", n_sizes, float(loss.min()), nan, nan)
    vertex = -c1 / (2 * c2)
    if not x.min() < vertex < x.max():
        best = int(np.argmin(loss))
        return BudgetMinimum(group, compute, "edge", n_sizes, float(loss[best]), nan, float(np.exp(x_all[best])))
    value = c0 + c1 * vertex + c2 * vertex**2
    # ∂L*/∂(c2, c1, c0) at the vertex (the vertex's own shift costs nothing to first order there).
    grad = np.array([vertex**2, vertex, 1.0])
    se = float(np.sqrt(grad @ cov @ grad)) if cov is not None and np.all(np.isfinite(cov)) else nan
    return BudgetMinimum(group, compute, "ok", n_sizes, float(value), se, float(np.exp(vertex + center)))
