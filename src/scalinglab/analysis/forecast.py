"""The question as people ask it: at the target, how much better is B, how sure, and what is it worth.

At a target compute C each arm's loss is its frontier L*(C); at a target (N, D) it is L(N, D)
itself. Over the paired bootstrap draws (one joint refit gives both arms' row i) this gives
Δ = L_B − L_A with a percentile interval, and two probabilities:
- P(B beats A): that a run of B at the target ends below a run of A. Each draw's Δ is blurred by
  the run-to-run noise of two new runs (σ relative, so √2·σ·L in nats): P = mean F(−Δ_i/(√2σL_i)),
  F the Student t distribution with the degrees of freedom σ was measured with (normal for many).
  This is the probability the backtests can check (a held-out pair is two runs, noise included),
  and when the expected difference is smaller than the noise it says so by staying near 0.5;
- P for the expected losses (the share of draws with Δ < 0), which only the fit's uncertainty moves.
The forecast also gives the
compute multiplier k: the compute A needs on its own frontier to reach B's loss at the target,
divided by the target's compute (k = 2: B is worth twice the compute; k < 1: B is behind). That is
how architecture and data-mix gains are usually reported (e.g. "a 2× compute multiplier"). At a
target model (N, D) the multiplier keeps N: the tokens (so the compute) A needs at size N to reach
B's loss, over D — a model trained off the frontier is compared with itself, not with the frontier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, stdtr

from scalinglab.analysis.allocation import frontier_loss, optimal_split
from scalinglab.analysis.bootstrap import percentile_interval
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.laws import PARAMS_TOKENS
from scalinglab.analysis.serialize import jsonable
from scalinglab.model.accounting import chinchilla_flops

_SEARCH_DECADES = 30.0
"""The multiplier is looked for within this many decades either side of the target."""


@dataclass(frozen=True)
class Target:
    """Where the forecast is made: a compute (on each arm's frontier), or a model (N, D)."""

    compute: float
    params: float | None = None
    tokens: float | None = None

    @classmethod
    def at(cls, compute: float | None = None, params: float | None = None, tokens: float | None = None) -> Target:
        if params is not None and tokens is not None:
            return cls(chinchilla_flops(params, tokens), float(params), float(tokens))
        return cls(float(compute))

    @property
    def is_model(self) -> bool:
        return self.params is not None

    def describe(self) -> str:
        c = f"C = {self.compute:.3g} FLOPs"
        return f"N = {self.params:.3g}, D = {self.tokens:.3g} ({c})" if self.is_model else c

    def losses(self, fit: LawFit) -> np.ndarray:
        """Point loss of one arm at the target: (1,)."""
        return fit.predict(self.params, self.tokens) if self.is_model else fit.frontier(self.compute)

    def log_inputs(self, fit: LawFit) -> np.ndarray:
        """Where the arm's target loss is read, in its law's log inputs: (1, k). On the L(N, D)
        frontier, at the arm's compute-optimal (N, D): the optimum moves with the parameters, but
        the loss there does not move with it to first order (the envelope theorem), so a derivative
        by the parameters at that point is the frontier's."""
        n, d = self.params, self.tokens
        if fit.law.name == PARAMS_TOKENS.name and not self.is_model:
            n, d = optimal_split(fit.vector, self.compute)
        return fit.law.log_inputs(params=n, tokens=d, compute=self.compute)

    def loss_samples(self, fit: LawFit) -> np.ndarray:
        """The same under each bootstrap draw: (n_draws,)."""
        s = fit.predict_samples(self.params, self.tokens) if self.is_model else fit.frontier_samples(self.compute)
        return s[:, 0]


@dataclass(frozen=True)
class Forecast:
    """Both arms at one target, their difference, how often B wins, and B's compute multiplier."""

    compute: float
    params: float | None
    tokens: float | None
    loss_a: float
    interval_a: tuple[float, float]
    loss_b: float
    interval_b: tuple[float, float]
    delta: float
    """loss_b − loss_a (negative: B ahead)."""
    delta_interval: tuple[float, float]
    p_b_beats_a: float
    """P that a run of B beats a run of A at the target (NaN without draws)."""
    p_mean_b_beats_a: float
    """Share of paired draws with B's expected loss below A's."""
    noise: float
    """Relative run-to-run noise σ of one loss used for p_b_beats_a."""
    noise_dof: float
    """Degrees of freedom of that σ."""
    multiplier: float
    """Compute A needs to reach B's loss ÷ the target's compute (inf: A's floor is above it); at a
    target model, the tokens A needs at that N ÷ D."""
    multiplier_interval: tuple[float, float]
    decades_beyond_data: float
    n_draws: int

    @property
    def winner(self) -> str:
        return "b" if self.delta < 0 else "a"

    @property
    def target(self) -> Target:
        return Target(self.compute, self.params, self.tokens)

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def _bisect_log(loss_at, loss: np.ndarray, start: float) -> np.ndarray:
    """x with loss_at(exp x) = loss, for a loss_at falling in x, searched within ±_SEARCH_DECADES."""
    lo = np.full(np.shape(loss), np.log(start) - _SEARCH_DECADES * np.log(10))
    hi = np.full(np.shape(loss), np.log(start) + _SEARCH_DECADES * np.log(10))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = loss_at(np.exp(mid)) > loss
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.exp(0.5 * (lo + hi))


def _multiplier(fit: LawFit, params: np.ndarray, loss_b: np.ndarray, target: Target) -> np.ndarray:
    """Compute A (parameter rows `params`) needs to reach loss_b, over the target's compute.

    The loss falls towards a floor, E on the frontier and E + A/N^α at a fixed N: +inf where B's
    loss is at or below it (A never gets there).
    """
    law = fit.law
    if target.is_model:
        n = np.full(np.shape(loss_b), target.params)
        tokens = _bisect_log(lambda d: law.loss(params, np.stack(np.broadcast_arrays(np.log(n), np.log(d)), -1)),
                             loss_b, target.tokens)
        floor = law.loss(params, np.stack(np.broadcast_arrays(np.log(n), np.full(n.shape, 700.0)), -1))
        return np.where(loss_b <= floor, np.inf, tokens / target.tokens)
    reach = _bisect_log(lambda c: frontier_loss(law, params, c), loss_b, target.compute)
    return np.where(loss_b <= params[..., 0], np.inf, reach / target.compute)


def win_probability(loss_a: np.ndarray, loss_b: np.ndarray, noise: float, dof: float = np.inf) -> np.ndarray:
    """P(a run of B ends below a run of A), averaged over paired draws (axis 0)."""
    spread = np.sqrt(2.0) * noise * 0.5 * (loss_a + loss_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (loss_a - loss_b) / spread, np.sign(loss_a - loss_b) * np.inf)
    cdf = ndtr(z) if not np.isfinite(dof) or dof > 1000 else stdtr(max(dof, 1.0), z)
    return cdf.mean(axis=0)


def forecast(fit_a: LawFit, fit_b: LawFit, target: Target, level: float | None = None,
             noise: float = 0.0, noise_dof: float = np.inf) -> Forecast:
    """noise: relative σ of one run's loss (0: P for the expected losses only), with its dof."""
    level = fit_a.level if level is None else level
    la, lb = float(target.losses(fit_a)[0]), float(target.losses(fit_b)[0])
    mult = float(_multiplier(fit_a, fit_a.vector, np.array(lb), target))
    nan2 = (float("nan"), float("nan"))
    ia = ib = di = mi = nan2
    p = p_mean = float("nan")
    n = 0
    if fit_a.has_spread and fit_b.has_spread:
        sa, sb = target.loss_samples(fit_a), target.loss_samples(fit_b)
        n = min(len(sa), len(sb))
        # A draw whose frontier is undefined there (an exponent at 0) says nothing: leave it out.
        ok = np.isfinite(sa[:n]) & np.isfinite(sb[:n])
        sa, sb, params_a = sa[:n][ok], sb[:n][ok], fit_a.bootstrap.samples[:n][ok]
        n = len(sa)
        if n:
            ia, ib = percentile_interval(sa, level), percentile_interval(sb, level)
            di = percentile_interval(sb - sa, level)
            p_mean = float(np.mean(sb < sa))
            p = float(win_probability(sa, sb, noise, noise_dof))
            reach = _multiplier(fit_a, params_a, sb, target)
            # Percentiles of a sample holding +inf are still defined: np.quantile orders inf last.
            mi = tuple(float(v) for v in np.quantile(reach, [(1 - level) / 2, (1 + level) / 2], method="lower"))
    top = max(fit_a.data_range["compute"][1], fit_b.data_range["compute"][1])
    return Forecast(target.compute, target.params, target.tokens, la, ia, lb, ib, lb - la, di, p, p_mean, noise,
                    noise_dof, mult, mi, float(np.log10(target.compute / top)), n)
