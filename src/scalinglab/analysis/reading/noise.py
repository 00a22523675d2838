"""Run-to-run noise: how much one run's loss moves with its seed, measured from the table itself.

Never from the scaling law's misfit: a law that misses the points by 0.1 nats says nothing about
how far two seeds of one run fall apart, and reading one for the other makes every measured
difference look like noise (a published isoFLOP grid: 0.13 nats "of noise" against paired
differences that vary smoothly by 0.01–0.03). In order of preference:
- seeds: rows of one arm at the same (N, D) — the pooled variance of their log losses;
- the table's own standard errors of each loss (a loss measured on finitely many eval tokens);
- local smoothness: a comparison's paired differences (log L_b − log L_a at the same N and D, or
  the same budget) change smoothly from one rung to the next, since both arms' laws do, and what
  a straight line through a pair's two neighbours leaves is noise (Gasser, Sroka & Jennen-Steinmetz
  1986). Each such pseudo-residual has variance (1 + a² + b²)·var(d) whatever the trend's slope;
  the curvature of the difference between two laws is far below the noise at neighbouring rungs.
  Its degrees of freedom are Satterthwaite's for that quadratic form (neighbouring pseudo-residuals
  share points, so m of them carry about m/2 degrees of freedom).
All in relative terms (the σ of log loss), the scale on which laws are fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.reading.table import size_key


@dataclass(frozen=True)
class Noise:
    """The σ of one run's log loss, what measured it, and with how many degrees of freedom."""

    sigma: float
    """Relative (the σ of log loss); NaN where nothing measured it."""
    dof: float
    source: str
    """seeds | standard errors | smoothness | none."""
    detail: str = ""
    """What it was read from, for a sentence: '2 replicated points', '4 paired differences'."""
    points: int = 0
    """How many points measured it (replicated points, or paired differences)."""

    @property
    def measured(self) -> bool:
        return self.source != "none" and np.isfinite(self.sigma) and self.dof > 0

    def to_dict(self) -> dict:
        return {"sigma": self.sigma, "dof": self.dof, "source": self.source, "detail": self.detail,
                "points": self.points}


UNMEASURED = Noise(float("nan"), 0.0, "none", "no seeds, standard errors or neighbouring pairs")


def seed_noise(frame: pd.DataFrame) -> Noise:
    """Pooled σ of log loss over the points one arm ran more than once (its seeds)."""
    if not {"params", "tokens"} <= set(frame):
        return UNMEASURED
    # A run two arms share (their settings meet at one width) appears under both: count it once.
    frame = frame.drop_duplicates([c for c in ("params", "tokens", "seed", "loss") if c in frame])
    keyed = frame.assign(_n=size_key(frame["params"]), _d=size_key(frame["tokens"]), _y=np.log(frame["loss"]))
    groups = keyed.groupby(["group", "_n", "_d"])["_y"]
    var, count = groups.var(ddof=1), groups.size()
    rep = count > 1
    if not rep.any():
        return UNMEASURED
    dof = float((count[rep] - 1).sum())
    points = int(rep.sum())
    sigma = float(np.sqrt(((count[rep] - 1) * var[rep]).sum() / dof))
    return Noise(sigma, dof, "seeds", f"{points} replicated point{'s' if points > 1 else ''}", points)


def table_noise(loss: np.ndarray, loss_se: np.ndarray) -> Noise:
    """The table's own standard errors, as a relative σ (their median)."""
    rel = np.asarray(loss_se, dtype=float) / np.asarray(loss, dtype=float)
    if not len(rel) or not np.all(np.isfinite(rel)) or np.any(rel <= 0):
        return UNMEASURED
    return Noise(float(np.median(rel)), float("inf"), "standard errors", "the table's column of standard errors")


def smoothness_noise(lines: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Noise:
    """σ of one run from the local smoothness of paired differences.

    lines: (x, d, f) per line of pairs that should vary smoothly along x (log compute along a
    ladder, log N within a budget): d = log L_b − log L_a, and f its variance in units of one run's
    σ² (2 for a run of each arm; 1/m_a + 1/m_b for means of seeds). Lines under 3 pairs add nothing.
    """
    quadratic, count, pairs = [], 0, 0
    for x, d, f in lines:
        order = np.argsort(np.asarray(x, dtype=float), kind="stable")
        x, d, f = (np.asarray(v, dtype=float)[order] for v in (x, d, f))
        rows = []
        for i in range(1, len(x) - 1):
            span = x[i + 1] - x[i - 1]
            if span <= 0:
                continue
            a = (x[i + 1] - x[i]) / span  # d_i's neighbours' line, read at x_i: a·d_{i−1} + (1 − a)·d_{i+1}
            row = np.zeros(len(x))
            row[[i - 1, i, i + 1]] = (a, -1.0, 1.0 - a)
            rows.append(row / np.sqrt(row**2 @ f))  # unit variance per σ²
        if rows:
            r = np.array(rows)
            half = r * np.sqrt(f)  # the pseudo-residuals of unit-variance inputs
            quadratic.append((r @ d, half.T @ half))
            count += len(rows)
            pairs += len(x)
    if not count:
        return UNMEASURED
    q = sum(float(e @ e) for e, _ in quadratic)
    # Q = Σ e² has mean σ²·tr A and variance 2σ⁴·tr A² (A per line): Satterthwaite's dof.
    trace = sum(float(np.trace(a)) for _, a in quadratic)
    trace2 = sum(float(np.trace(a @ a)) for _, a in quadratic)
    return Noise(float(np.sqrt(q / trace)), trace**2 / trace2, "smoothness", f"{pairs} paired differences", pairs)
