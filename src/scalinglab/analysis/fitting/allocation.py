"""Compute-optimal allocation from an L(N, D) fit (Hoffmann et al. 2022, eq. 4).

Minimising E + A/N^α + B/D^β subject to C = 6·N·D gives
    N*(C) = G·(C/6)^(β/(α+β)),  D*(C) = G^−1·(C/6)^(α/(α+β)),  G = (αA / (βB))^(1/(α+β)).
Intervals come from pushing every bootstrap draw of (E, A, B, α, β) through the same formula.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.analysis.fitting.bootstrap import percentile_interval
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import frontier_loss, optimal_split
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal model at one compute budget, with percentile intervals."""

    compute: float
    params: float
    tokens: float
    tokens_per_param: float
    loss: float
    intervals: dict[str, tuple[float, float]]
    level: float

    def to_dict(self) -> dict:
        keys = ("compute", "params", "tokens", "tokens_per_param", "loss")
        return jsonable({k: getattr(self, k) for k in keys} | {"level": self.level, "intervals": self.intervals})


def compute_optimal(fit: LawFit, compute: float, level: float | None = None) -> Allocation:
    """N*, D*, D*/N* and the loss there, at `compute` FLOPs, from an L(N, D) fit."""
    if fit.law.is_frontier:
        raise ConfigError(f"compute-optimal allocation needs a law of N and D, not '{fit.law.name}'")
    if not compute > 0:
        raise ConfigError(f"must be positive, got {compute:g}", option="target_compute")
    level = fit.level if level is None else level
    n, d = optimal_split(fit.vector, compute)
    intervals: dict[str, tuple[float, float]] = {}
    if fit.draws is not None and len(fit.draws.samples):
        s = fit.draws.samples
        ns, ds = optimal_split(s, compute)
        for key, values in (("params", ns), ("tokens", ds), ("tokens_per_param", ds / ns),
                            ("loss", frontier_loss(fit.law, s, compute))):
            intervals[key] = percentile_interval(values, level)
    return Allocation(float(compute), float(n), float(d), float(d / n), float(frontier_loss(fit.law, fit.vector, compute)),
                      intervals, level)
