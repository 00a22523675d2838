"""Compute-optimal allocation from an L(N, D) fit (Hoffmann et al. 2022, eq. 4).

Minimising E + A/N^α + B/D^β subject to C = 6·N·D gives
    N*(C) = G·(C/6)^(β/(α+β)),  D*(C) = G^−1·(C/6)^(α/(α+β)),  G = (αA / (βB))^(1/(α+β)).
Intervals come from pushing every bootstrap draw of (E, A, B, α, β) through the same formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scalinglab.analysis.bootstrap import percentile_interval
from scalinglab.analysis.laws import PARAMS_TOKENS, Law
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError
from scalinglab.model.accounting import chinchilla_tokens

if TYPE_CHECKING:
    from scalinglab.analysis.fit import LawFit


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


def optimal_split(params: np.ndarray, compute: float) -> tuple[np.ndarray, np.ndarray]:
    """N*(C), D*(C) for parameter rows (…, 5) in PARAMS_TOKENS order (E, A, B, α, β)."""
    _, a, b, alpha, beta = np.moveaxis(np.asarray(params, dtype=float), -1, 0)
    # A draw with an exponent at 0 has no interior optimum: its N* is 0 or inf, and its loss NaN.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = (alpha * a / (beta * b)) ** (1.0 / (alpha + beta))
        n = g * (compute / 6.0) ** (beta / (alpha + beta))
        return n, chinchilla_tokens(compute, n)


def frontier_loss(law: Law, params: np.ndarray, compute) -> np.ndarray:
    """L*(C), the best loss at compute C; parameter rows (..., p) and C (...) broadcast elementwise.

    For L(C) that is the law itself; for L(N, D) it is the law at the compute-optimal split.
    """
    params = np.asarray(params, dtype=float)
    log_c = np.log(np.asarray(compute, dtype=float))
    if law.name == PARAMS_TOKENS.name:
        n, d = optimal_split(params, np.exp(log_c))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return law.loss(params, np.stack(np.broadcast_arrays(np.log(n), np.log(d)), axis=-1))
    return law.loss(params, log_c[..., None])


def compute_optimal(fit: LawFit, compute: float, level: float | None = None) -> Allocation:
    """N*, D*, D*/N* and the loss there, at `compute` FLOPs, from an L(N, D) fit."""
    if fit.law.name != PARAMS_TOKENS.name:
        raise ConfigError(f"compute-optimal allocation needs the {PARAMS_TOKENS.name} law, not '{fit.law.name}'")
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
