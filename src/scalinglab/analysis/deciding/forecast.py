"""The question as people ask it: at the target, how much better is B, how sure, and what is it worth.

At a target compute C each arm's loss is its frontier L*(C); at a target (N, D) it is L(N, D)
itself. Over the model average's posterior draws (analysis.models: one draw gives both arms'
parameters) this gives Δ = L_B − L_A with its interval and two probabilities:
- P(B better) = P(E[L_B] < E[L_A]), the headline: is B's expected loss at the target below A's. It
  is what a researcher choosing a recipe bets on, and what the decision (analysis.verdict) reads;
- P(a run of B beats a run of A): each draw's Δ blurred by the run-to-run noise of two new runs
  (σ relative, so √2·σ·L in nats), P = mean Φ(−Δ_i/(√2σ_i L_i)) with σ_i the noise in that draw.
  A difference smaller than the noise keeps it near 0.5, however sure P(B better) is; it is the
  probability a backtest can check against single held-out runs.

Three sources of uncertainty are kept apart and said (`Uncertainty`):
- parameters: the spread of Δ over the posterior draws, the laws taken as right;
- misfit: where the law misses the points by more than the run noise (τ, analysis.posterior), its
  error at the target, which grows with the distance extrapolated: a random walk in log C whose
  variance over the decades the data span is τ², so at d decades beyond them it is τ²·(1 + d/w)
  (w the decades spanned); one per arm, so misfit the arms share is counted twice (conservative);
- noise: one run's σ at the target, which a single new run adds and no fit removes.
Δ's interval and P(B better) carry the first two; a single run's P carries all three.

A target inside the data is answered from the data near it, not from the law: each arm's frontier
points on either side of the target, interpolated linearly in log C, with their noise
(`interpolate`). The law still gives the compute multiplier k: the compute A needs on its own
frontier to reach B's loss at the target, ÷ the target's compute (k = 2: B is worth twice the
compute; k < 1: B is behind) — stated only where A's curve is trusted (up to TRUSTED_DECADES
beyond the data and the target), else as "more than" that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, stdtr

from scalinglab.analysis.fitting.bootstrap import group_seed, percentile_interval
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import frontier_loss
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.reading.noise import Noise
from scalinglab.analysis.serialize import jsonable

_SEARCH_DECADES = 30.0
"""The multiplier is looked for within this many decades either side of the target."""
TRUSTED_DECADES = 1.0
"""A's curve is trusted up to this many decades beyond the farther of its data and the target: a
multiplier that needs more is stated as 'more than' the trusted reach."""


@dataclass(frozen=True)
class Uncertainty:
    """The three sources of a forecast's uncertainty at the target, as standard deviations in nats."""

    parameters: float
    """Of Δ, over the fits' posterior draws (the laws taken as right)."""
    misfit: float
    """Of Δ, from the law's misfit at the target, grown by `growth` with the distance extrapolated."""
    growth: float
    """The misfit's variance at the target ÷ at a fitted point: 1 + decades beyond ÷ decades spanned."""
    noise: float
    """Of one run's loss at the target (a single new run adds it; no fit removes it)."""
    noise_source: str
    """What measured the noise (analysis.observed.describe), or 'the law's scatter' when nothing did."""
    noise_dof: float

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Forecast:
    """Both arms at one target, their difference, how sure, and B's compute multiplier."""

    compute: float
    params: float | None
    tokens: float | None
    loss_a: float
    interval_a: tuple[float, float]
    loss_b: float
    interval_b: tuple[float, float]
    delta: float
    """loss_b − loss_a (negative: B ahead), the draws' means of the laws' values (or of the data's)."""
    delta_interval: tuple[float, float]
    p_b_better: float
    """P(E[L_B] < E[L_A]): the share of draws with B's expected loss below A's (NaN without draws)."""
    p_run: float
    """P(a run of B beats a run of A) at the target, the run-to-run noise included."""
    p_equivalent: float
    """P(|Δ| < margin)."""
    margin: float
    """Nats: a difference smaller than this is practically none (analysis.verdict.margin)."""
    margin_source: str
    uncertainty: Uncertainty
    noise: float
    """Relative run-to-run noise σ of one loss (its point value) used for p_run."""
    noise_dof: float
    multiplier: float
    """Compute A needs to reach B's loss ÷ the target's compute (inf: A's floor is above it); at a
    target model, the tokens A needs at that N ÷ D."""
    multiplier_interval: tuple[float, float]
    trusted_multiplier: tuple[float, float]
    """The multipliers A's curve can be trusted to state (TRUSTED_DECADES): beyond them 'more than'."""
    decades_beyond_data: float
    n_draws: int
    basis: str = "law"
    """law: read off the fitted laws; data: the target is inside the data, read off its points."""

    @property
    def winner(self) -> str:
        return "b" if self.delta < 0 else "a"

    @property
    def target(self) -> Target:
        return Target(self.compute, self.params, self.tokens)

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"uncertainty": self.uncertainty.to_dict()})


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


def win_probability(loss_a: np.ndarray, loss_b: np.ndarray, noise, dof: float = np.inf) -> np.ndarray:
    """P(a run of B ends below a run of A), averaged over paired draws (axis 0); noise: the relative σ
    of one run, one value or one per draw."""
    spread = np.sqrt(2.0) * noise * 0.5 * (loss_a + loss_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (loss_a - loss_b) / spread, np.sign(loss_a - loss_b) * np.inf)
    cdf = ndtr(z) if not np.isfinite(dof) or dof > 1000 else stdtr(max(dof, 1.0), z)
    return cdf.mean(axis=0)


@dataclass(frozen=True)
class TargetDraws:
    """Each arm's expected loss at the target under each draw, the law's misfit included, and the
    run-to-run noise in that draw: what the forecast and the advisor read."""

    loss_a: np.ndarray
    loss_b: np.ndarray
    law_a: np.ndarray
    """The laws' own values (without the misfit): the parameters' part."""
    law_b: np.ndarray
    noise: np.ndarray
    """Relative σ of one run in each draw."""
    growth: float
    params_a: np.ndarray | None = None
    """Arm A's parameters in each draw (for the multiplier); None for draws read off the data."""
    rows: np.ndarray | None = None
    """Which of the fits' draws each one is (a draw without a loss at the target is left out)."""


def noise_draws(scatter: np.ndarray, noise: np.ndarray | None, measured: Noise,
                rng: np.random.Generator) -> np.ndarray:
    """One run's relative noise σ in each draw: the posterior's own where it knew the noise apart from
    the law (seeds); else a noise read from smoothness, drawn from its sampling distribution
    (σ̂·√(ν/χ²_ν)); else the scatter around the law itself, all of it taken as noise."""
    if noise is not None:
        return noise
    if measured.measured and np.isfinite(measured.dof):
        return measured.sigma * np.sqrt(measured.dof / rng.chisquare(measured.dof, len(scatter)))
    if measured.measured:
        return np.full(len(scatter), measured.sigma)
    return scatter


def misfit_draws(scatter: np.ndarray, noise: np.ndarray | None, measured: Noise) -> np.ndarray:
    """The law's relative misfit τ at a fitted point, in each draw: √(s² − σ²) where the posterior knew
    the noise σ apart from the law (seeds, the table's standard errors); with a noise read from
    smoothness, which shares the law's residuals, the typical scatter's excess over it,
    √(median(s)² − σ̂²), one value (its draws would read the smoothness estimate's own sampling spread
    as misfit); with no noise measured, 0: all scatter is taken as noise."""
    if noise is not None:
        return np.sqrt(np.maximum(scatter**2 - noise**2, 0.0))
    if measured.measured:
        return np.full(len(scatter), np.sqrt(max(float(np.median(scatter)) ** 2 - measured.sigma**2, 0.0)))
    return np.zeros(len(scatter))


def spans(fit_a: LawFit, fit_b: LawFit, compute: float) -> tuple[float, float]:
    """(decades beyond the data's largest compute, decades the data span), for the misfit's growth."""
    lo = min(fit_a.data_range["compute"][0], fit_b.data_range["compute"][0])
    hi = max(fit_a.data_range["compute"][1], fit_b.data_range["compute"][1])
    return float(np.log10(compute / hi)), max(float(np.log10(hi / lo)), 0.5)


def target_draws(fit_a: LawFit, fit_b: LawFit, target: Target, scatter: np.ndarray, noise: np.ndarray | None,
                 measured: Noise, seed: int | tuple = 0, gap_misfit: float | None = None) -> TargetDraws | None:
    """Draws at the target from the fits' paired draws (None without any that define a loss there).

    scatter: each draw's relative scatter of a point around its law; noise: its run-to-run noise
    where the posterior knows it apart from the law (seeds), else None and `measured` (a noise
    read from smoothness, drawn from its own χ² distribution) or the scatter itself stands in.
    gap_misfit: τ_Δ, the law's misfit of the difference between the arms where the pairs measured it
    (compare.difference_misfit): each arm's misfit at the target keeps its own size τ but the two
    share a part, so that their difference strays by τ_Δ (a misfit both arms share cancels in Δ);
    None takes the two as independent. The shared part and each arm's own are drawn from streams
    named by their arms, so comparing b with a gives the draws of a with b, exchanged.
    """
    if not (fit_a.has_spread and fit_b.has_spread):
        return None
    la, lb = target.loss_samples(fit_a), target.loss_samples(fit_b)
    n = min(len(la), len(lb), len(scatter))
    la, lb, scatter = la[:n], lb[:n], scatter[:n]
    sigma = noise_draws(scatter, None if noise is None else noise[:n], measured, np.random.default_rng(seed))
    tau = misfit_draws(scatter, None if noise is None else sigma, measured)
    beyond, width = spans(fit_a, fit_b, target.compute)
    growth = 1.0 + max(beyond, 0.0) / width
    own = np.array([np.random.default_rng(group_seed(0, fit.group, *np.atleast_1d(seed))).standard_normal(n)
                    for fit in (fit_a, fit_b)])
    shared = np.random.default_rng(group_seed(0, "shared misfit", *np.atleast_1d(seed))).standard_normal(n)
    if gap_misfit is None:
        eps = own * tau
    else:
        # eps_x = √ρ·τ·z_shared + √(1 − ρ)·τ·z_x has variance τ² and var(eps_b − eps_a) = 2τ²(1 − ρ) = τ_Δ².
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.clip(np.where(tau > 0, 1 - gap_misfit**2 / (2 * tau**2), 0.0), 0.0, 1.0)
        part = np.where(rho > 0, np.sqrt(1 - rho) * tau, gap_misfit / np.sqrt(2))
        eps = np.sqrt(rho) * tau * shared + part * own
    eps = eps * np.sqrt(growth)
    ok = np.isfinite(la) & np.isfinite(lb)  # a draw without a frontier there (an exponent at 0) says nothing
    return TargetDraws(la[ok] * np.exp(eps[0, ok]), lb[ok] * np.exp(eps[1, ok]), la[ok], lb[ok], sigma[ok], growth,
                       fit_a.draws.samples[:n][ok], np.flatnonzero(ok))


def inside_data(points_a, points_b, compute: float) -> bool:
    """Whether both arms ran points at and beyond `compute` and below it (within a budget's 1%)."""
    return all(p["compute"].min() <= compute * 1.01 and compute <= p["compute"].max() * 1.01
               for p in (points_a, points_b))


def data_draws(points_a, points_b, target: Target, scatter: np.ndarray, noise: np.ndarray | None,
               measured: Noise, seed: int | tuple = 0) -> TargetDraws:
    """Draws at a target inside the data from the points near it: each arm's frontier points on either
    side of the target (or at it), interpolated linearly in log C, with their noise (seeds are
    averaged: a point of m runs has σ²/m; an isoFLOP minimum carries its own standard error).
    The noise in each draw is as in target_draws."""
    n = len(scatter)
    sigma = noise_draws(scatter, noise, measured, np.random.default_rng(seed))
    out = []
    for points in (points_a, points_b):
        rng = np.random.default_rng(group_seed(0, str(points["group"].iloc[0]), *np.atleast_1d(seed)))
        at = points.assign(_x=np.log(points["compute"].to_numpy(float)), _y=np.log(points["loss"].to_numpy(float)))
        per = at.groupby("_x").agg(y=("_y", "mean"), m=("_y", "size"),
                                   se=("loss_se", "mean") if "loss_se" in at else ("_y", lambda v: np.nan),
                                   loss=("loss", "mean"))
        x = per.index.to_numpy(float)
        log_c = np.log(target.compute)
        j = int(np.clip(np.searchsorted(x, log_c), 1, len(x) - 1)) if len(x) > 1 else 0
        if len(x) == 1 or abs(x[j] - log_c) < np.log(1.01) or abs(x[j - 1] - log_c) < np.log(1.01):
            near = j if len(x) > 1 and abs(x[j] - log_c) < abs(x[j - 1] - log_c) else max(j - 1, 0)
            weights = {near: 1.0}
        else:
            t = (log_c - x[j - 1]) / (x[j] - x[j - 1])
            weights = {j - 1: 1 - t, j: t}
        mean = sum(w * per["y"].iloc[i] for i, w in weights.items())
        # Each point's variance per unit σ² (1/m for a mean of m seeds), or its own standard error.
        own = sum(w**2 * (per["se"].iloc[i] / per["loss"].iloc[i]) ** 2 for i, w in weights.items()
                  if np.isfinite(per["se"].iloc[i]))
        unit = sum(w**2 / per["m"].iloc[i] for i, w in weights.items() if not np.isfinite(per["se"].iloc[i]))
        out.append(np.exp(mean + np.sqrt(own + unit * sigma**2) * rng.standard_normal(n)))
    return TargetDraws(out[0], out[1], out[0], out[1], sigma, 1.0, None, np.arange(n))


def forecast(fit_a: LawFit, fit_b: LawFit, target: Target, draws: TargetDraws | None, measured: Noise,
             margin: tuple[float, str], level: float | None = None) -> Forecast:
    """The forecast at `target` from the fits (point values) and their draws (target_draws)."""
    level = fit_a.level if level is None else level
    la, lb = float(target.losses(fit_a)[0]), float(target.losses(fit_b)[0])
    nan2 = (float("nan"), float("nan"))
    beyond, _ = spans(fit_a, fit_b, target.compute)
    trusted = _trusted(fit_a, target)
    mult = float(_multiplier(fit_a, fit_a.vector, np.array(lb), target))
    noise_sigma = measured.sigma if measured.measured else float("nan")
    source = "the law's scatter (no seeds, standard errors or neighbouring pairs measured the noise)"
    if measured.measured:
        from scalinglab.analysis.deciding.observed import describe

        source = describe(measured)
    if draws is None or not len(draws.loss_a):
        parts = Uncertainty(float("nan"), float("nan"), float("nan"), noise_sigma * la, source, measured.dof)
        return Forecast(target.compute, target.params, target.tokens, la, nan2, lb, nan2, lb - la, nan2, float("nan"),
                        float("nan"), float("nan"), margin[0], margin[1], parts, noise_sigma, measured.dof, mult, nan2,
                        trusted, beyond, 0)
    sa, sb = draws.loss_a, draws.loss_b
    d = sb - sa
    reach = None if draws.params_a is None else _multiplier(fit_a, draws.params_a, sb, target)
    sigma = draws.noise
    law_part = np.var(draws.law_b - draws.law_a)
    parts = Uncertainty(float(np.sqrt(law_part)), float(np.sqrt(max(np.var(d) - law_part, 0.0))), draws.growth,
                        float(np.median(sigma)) * la, source, measured.dof)
    # Point values are the draws' means of the laws' own values: Δ is then exactly loss_b − loss_a, and
    # the crossing's central curve (crossover.central_gap) passes through it at the target.
    mean_a, mean_b = float(np.mean(draws.law_a)), float(np.mean(draws.law_b))
    return Forecast(target.compute, target.params, target.tokens, mean_a, percentile_interval(sa, level),
                    mean_b, percentile_interval(sb, level), mean_b - mean_a, percentile_interval(d, level),
                    share_of(d < 0), float(win_probability(sa, sb, sigma)),
                    share_of(np.abs(d) < margin[0]), margin[0], margin[1], parts, float(np.median(sigma)),
                    measured.dof if measured.measured else float("inf"),
                    mult if reach is None else float(np.quantile(reach, 0.5, method="lower")),
                    (float("nan"), float("nan")) if reach is None else _quantiles(reach, level), trusted, beyond,
                    len(d), "law" if reach is not None else "data")


def share_of(event: np.ndarray) -> float:
    """The posterior probability of an event from its draws, (k + ½)/(n + 1): never exactly 0 or 1, since
    n draws cannot tell a probability below about 1/n from none (a study's early look asks for less)."""
    return float((np.sum(event) + 0.5) / (len(event) + 1))


def _quantiles(reach: np.ndarray, level: float) -> tuple[float, float]:
    # Percentiles of a sample holding +inf are still defined: np.quantile orders inf last.
    return tuple(float(v) for v in np.quantile(reach, [(1 - level) / 2, (1 + level) / 2], method="lower"))


def _trusted(fit_a: LawFit, target: Target) -> tuple[float, float]:
    """The multipliers A's curve can state: from its smallest run to TRUSTED_DECADES beyond the
    farther of its largest run and the target, over the target's compute."""
    lo, hi = fit_a.data_range["compute"]
    top = max(hi, target.compute) * 10**TRUSTED_DECADES
    return lo / target.compute, top / target.compute
