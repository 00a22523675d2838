"""The joint models of two arms, fitted to their points, weighed, and averaged.

Each model (joint.SHARINGS) is fitted by least squares on log loss (the likelihood its posterior
uses, analysis.posterior) and scored by BIC (`criteria`). The forecast averages the models by their
weights, w ∝ exp(−ΔBIC/2), Schwarz's (1978) approximation of each model's posterior probability: its
draws are each model's posterior draws in proportion to its weight, so P(B better) and every interval
carry the uncertainty of which model is right, not only of its parameters. Choosing one model and
trusting it would be overconfident exactly where it matters: few runs, where the most restrictive
model (parallel curves, no crossing possible) wins by default.

Why BIC's log n per parameter and not AIC's 2: AIC's weights never settle. However many runs show
two recipes to be the same curve, a model with a useless extra parameter keeps e^−1 of the weight of
the one without it, so the average always holds the loosest model's spread, and two identical
recipes could never be called equivalent; the Schwarz weights concentrate on the simplest model the
data support, as posterior model probabilities do (both, measured: benchmarks/RESULTS.md).

The likelihood ratio at its exact small-sample distribution. The models nest ("E+exponents" in "E"
in "none"), so each model's criterion is taken relative to the most restrictive one weighed:
log n·Δk − G, where G = n·log(RSS_small / RSS_large) is its gain in fit over n runs, the noise scale
fitted. A penalty per parameter assumes G behaves as χ²(Δk) does when the extra parameters are not
needed; in fact G = n·log(1 + Δk·F/ν) with F ~ F(Δk, ν) (ν runs beyond the larger model's
parameters), which on few degrees of freedom runs far beyond χ²: at n = 9, ν = 3, G > 2 in 45% of
fits whose extra parameter is useless, against 16% for χ²(1). A flexible model that happens to pass
close to its few points reads the small residuals as small noise and takes the weight. So G is
replaced by the χ²(Δk) value as far in its tail as the F statistic is in its own
(`calibrated_gain`): the same evidence, on the scale the penalty assumes, and exact for these
Gaussian fits.

The chosen model, the one with the largest weight, gives the curves that are drawn and printed.
A model with fewer than three runs beyond its free parameters cannot be scored (joint.deviance) and
gets no weight; if no model can be scored, the one with the fewest parameters is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import chi2
from scipy.stats import f as f_dist

from scalinglab.analysis.fitting.bootstrap import DEFAULT_LEVEL, Draws
from scalinglab.analysis.fitting.joint import (
    LEAST_SQUARES,
    SHARINGS,
    ArmData,
    Layout,
    deviance,
    fit_joint,
    joint_jacobian,
    layout,
    seen_directions,
    separate_starts,
    unit_covariance,
)
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import Law
from scalinglab.analysis.fitting.posterior import NoiseData, Posterior, PosteriorFailed, sample
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.serialize import jsonable

CLOSE_MODELS = 2.0
"""ΔBIC at or below which two models are not told apart (Kass & Raftery 1995: "not worth more than a
bare mention")."""
Progress = Callable[[str, float], None]
"""Told what is being sampled and the share of it done (for a command's progress line)."""
DEFAULT_DRAWS = 3200
"""Posterior draws behind a comparison (one emcee chain of 32 walkers: analysis.posterior)."""


@dataclass(frozen=True, eq=False)
class JointFit:
    """One joint model of arms a and b: a LawFit per arm (sharing some parameters) and its score."""

    sharing: str
    fit_a: LawFit
    fit_b: LawFit
    objective: float
    criterion: float
    """BIC relative to the most restrictive model weighed, its gain in fit calibrated (`criteria`);
    +inf where the model has too few runs beyond its free parameters to be weighed."""
    weight: float
    """Its share of the model average."""
    n_free: int
    status: str
    """ok | boundary | not_converged | exact (as many runs as free parameters: no spread) |
    no_posterior (its posterior could not be sampled: its share of the draws goes to the others)."""
    draws: Posterior | None = None
    """This model's posterior draws (its share of the average's)."""
    unit_covariance: np.ndarray | None = None
    """(JᵀJ)⁺ over the fitted rows (joint.unit_covariance)."""

    @property
    def law(self) -> Law:
        return self.fit_a.law

    @property
    def layout(self) -> Layout:
        return layout(self.law, self.sharing)

    @property
    def theta(self) -> np.ndarray:
        """The joint vector at the optimum, from the arms' parameters (a shared entry is equal in both)."""
        return self.layout.join(self.law.to_theta(self.fit_a.vector), self.law.to_theta(self.fit_b.vector))

    def swapped(self) -> JointFit:
        """The same model with the arms' roles exchanged: b becomes a, in every part of it."""
        lay = self.layout
        # θ' = join(θ_b, θ_a): the slot of arm i's parameter j now holds arm (1 − i)'s.
        order = np.empty(lay.n_free, dtype=int)
        order[lay.index] = lay.index[::-1]
        draws = None if self.draws is None else replace(self.draws, samples=self.draws.samples[:, ::-1, :])
        covariance = None if self.unit_covariance is None else self.unit_covariance[np.ix_(order, order)]
        return replace(self, fit_a=self.fit_b, fit_b=self.fit_a, draws=draws, unit_covariance=covariance)

    def jacobian(self, rows: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """∂ log L̂ / ∂θ at each arm's input rows (log), arm a's first: (n_a + n_b, n_free)."""
        lay, theta = self.layout, self.theta
        return np.concatenate([joint_jacobian(lay, theta, arm, x) for arm, x in enumerate(rows)])

    def difference_jacobian(self, log_x_a: np.ndarray, log_x_b: np.ndarray) -> np.ndarray:
        """∂(log L̂_b(x_b) − log L̂_a(x_a)) / ∂θ, row by row: (n, n_free)."""
        lay, theta = self.layout, self.theta
        return joint_jacobian(lay, theta, 1, log_x_b) - joint_jacobian(lay, theta, 0, log_x_a)

    def to_dict(self) -> dict:
        return jsonable({"sharing": self.sharing, "criterion": self.criterion, "weight": self.weight,
                         "objective": self.objective,
                         "n_free": self.n_free, "status": self.status,
                         "params": {"a": self.fit_a.params, "b": self.fit_b.params},
                         "posterior": None if self.draws is None else {
                             "draws": len(self.draws.samples), "acceptance": self.draws.acceptance}})


@dataclass(frozen=True, eq=False)
class ModelChoice:
    fits: dict[str, JointFit]
    """Every joint model fitted, by sharing, heaviest first."""
    chosen: str
    forced: bool
    """True when the user fixed the model (no averaging)."""
    averaged: tuple[LawFit, LawFit]
    """Each arm as the forecast sees it: the chosen model's point fit, the model average's draws."""
    runs: tuple[np.ndarray, np.ndarray]
    """Each arm's runs in the law's log inputs, one row per run (its latest): the design the fits stand on."""
    mixture: Mixture | None = None
    """The model average's posterior draws (None without draws)."""

    @property
    def best(self) -> JointFit:
        return self.fits[self.chosen]

    @property
    def runner_up(self) -> JointFit | None:
        rest = [f for s, f in self.fits.items() if s != self.chosen and f.weight > 0]
        return rest[0] if rest else None

    def swapped(self) -> ModelChoice:
        """The same choice with the arms' roles exchanged (JointFit.swapped)."""
        return replace(self, fits={s: f.swapped() for s, f in self.fits.items()}, averaged=self.averaged[::-1],
                       runs=self.runs[::-1], mixture=None if self.mixture is None else self.mixture.swapped())

    def remaining_variance(self, target: Target, plan: tuple[np.ndarray, np.ndarray]) -> float:
        """The share of the variance of the fitted difference at the target, log L̂_b − log L̂_a, that
        would remain once the runs of `plan` (each arm's log inputs, a row per run) are fitted too.

        gᵀM₊g / gᵀMg, M = (JᵀJ)⁺ over one row per run (a run's checkpoints are one run's worth of
        information) and M₊ the same with the plan's rows, g = ∂(log L̂_b − log L̂_a)/∂θ at the target;
        each weighed model linearised at its optimum, the variances averaged by the models' weights
        (σ² cancels). Both are taken in the directions the fitted runs see (joint.seen_directions): one
        they do not (an E at zero) does not move the fit, and the plan is not credited with pinning it.
        The design alone decides it, not the outcomes: 1 when the plan adds nothing, 0 when it pins
        the difference down. Where it cannot be computed, 0, the most a plan could move P.
        """
        now = full = 0.0
        for fit in self.fits.values():
            if fit.weight <= 0:
                continue
            g = fit.difference_jacobian(target.log_inputs(fit.fit_a), target.log_inputs(fit.fit_b))[0]
            design, extra = fit.jacobian(self.runs), fit.jacobian(plan)
            if not all(np.all(np.isfinite(x)) for x in (design, g, extra)):
                return 0.0
            seen = seen_directions(design)
            g_seen = g @ seen
            m_now, m_full = unit_covariance(design @ seen), unit_covariance(np.concatenate([design, extra]) @ seen)
            now += fit.weight * float(g_seen @ m_now @ g_seen)
            full += fit.weight * float(g_seen @ m_full @ g_seen)
        return float(np.clip(full / now, 0.0, 1.0)) if now > 0 else 0.0

    def to_dict(self) -> dict:
        return jsonable({"criterion": "BIC", "likelihood_ratio": "calibrated to F", "averaging": "Schwarz weights",
                         "uncertainty": "posterior (emcee)",
                         "chosen": self.chosen, "forced": self.forced,
                         "models": [f.to_dict() for f in self.fits.values()]})


def criteria(deviances: dict[str, float], n_free: dict[str, int], n: int) -> dict[str, float]:
    """Each model's BIC relative to the most restrictive model weighed (every other nests it), from
    their deviances over n runs, its likelihood-ratio gain calibrated to the exact small-sample
    distribution (see the module docstring); +inf for a model that cannot be weighed."""
    finite = {s: d for s, d in deviances.items() if np.isfinite(d)}
    if not finite:
        return dict(deviances)
    base = min(finite, key=n_free.get)
    return {s: np.log(n) * (n_free[s] - n_free[base]) - calibrated_gain(d - finite[base], n, n_free[s], n_free[base])
            if np.isfinite(d) else float("inf") for s, d in deviances.items()}


def calibrated_gain(drop: float, n: int, k: int, k0: int) -> float:
    """The χ²(k − k0) value as far in its tail as the F-test of the same fits: a model with k free
    parameters against one with k0 nested in it, −drop its deviance gain over n runs.

    For Gaussian fits exp(drop / n) is the ratio of the residual sums of squares, and
    F = (1/ratio − 1)·(n − k)/(k − k0) ~ F(k − k0, n − k) when the smaller model is right.
    """
    extra = k - k0
    if extra <= 0:
        return 0.0
    ratio = float(np.exp(drop / n))
    f_stat = max((1 / ratio - 1) * (n - k) / extra, 0.0)
    tail = float(f_dist.sf(f_stat, extra, n - k))
    # Beyond double precision's tail the evidence is overwhelming either way: the asymptotic value.
    return float(chi2.isf(tail, extra)) if tail > 1e-300 else -drop


def model_weights(scores: dict[str, float], n_free: dict[str, int]) -> dict[str, float]:
    """exp(−Δcriterion/2) normalised; when no model can be weighed, all weight to the fewest parameters."""
    finite = {s: c for s, c in scores.items() if np.isfinite(c)}
    if not finite:
        return {s: float(s == min(scores, key=n_free.get)) for s in scores}
    best = min(finite.values())
    raw = {s: float(np.exp(-(c - best) / 2)) for s, c in finite.items()}
    total = sum(raw.values())
    return {s: raw.get(s, 0.0) / total for s in scores}


def arm_data(rows: pd.DataFrame, law: Law) -> ArmData:
    clusters = pd.factorize(rows["run"])[0]
    return ArmData(np.log(rows[list(law.inputs)].to_numpy(float)), np.log(rows["loss"].to_numpy(float)), clusters)


def fit_models(rows_a: pd.DataFrame, rows_b: pd.DataFrame, law: Law, arms: tuple[str, str], *,
               sharing: str = "auto", draws: int = DEFAULT_DRAWS, noise: NoiseData | None = None,
               seed: int | tuple = 0, level: float = DEFAULT_LEVEL, progress: Progress | None = None) -> ModelChoice:
    """Fit the joint models (or the one named by `sharing`), weigh them, sample and average.

    noise: the run-to-run noise measured apart from the law (seeds, the table's standard errors),
    which the posteriors take as data; None where the table has no such measurement.
    progress(what, share done): called as each model's posterior is sampled."""
    data = (arm_data(rows_a, law), arm_data(rows_b, law))
    starts = separate_starts(law, data, LEAST_SQUARES)
    sharings = SHARINGS if sharing == "auto" else (sharing,)
    n_runs = sum(d.n_clusters for d in data)
    point, deviances = {}, {}
    for s in sharings:
        lay = layout(law, s)
        sol = fit_joint(lay, data, starts, LEAST_SQUARES)
        status = ("boundary" if sol.at_bound else "ok" if sol.converged else "not_converged")
        if n_runs <= lay.n_free:
            status = "exact"
        point[s] = (lay, sol, status)
        deviances[s] = deviance(_weighted_rss(lay, sol.theta, data), n_runs, lay.n_free)
    n_free = {s: p[0].n_free for s, p in point.items()}
    scores = criteria(deviances, n_free, n_runs)
    weights = model_weights(scores, n_free)
    order = sorted(point, key=lambda s: (-weights[s], scores[s], n_free[s]))
    fits = {}
    for i, s in enumerate(order):
        lay, sol, status = point[s]
        # The model linearised at its optimum: the design's information, for the advisor's forecast
        # of what further runs would pin down (ModelChoice.remaining_variance).
        jac = np.concatenate([joint_jacobian(lay, sol.theta, arm, d.log_x) for arm, d in enumerate(data)])
        post = None
        share = int(round(draws * weights[s]))
        if share > 0 and status != "exact":
            # One chain per model, seeded apart, thinned to its share of the average.
            said = None if progress is None else (lambda done, s=s, i=i: progress(
                f"posterior of model {i + 1} of {len(order)} ({s} shared)" if s != "none" else
                f"posterior of model {i + 1} of {len(order)} (nothing shared)", done))
            try:
                chain = sample(lay, sol.theta, data, noise, seed=(*np.atleast_1d(seed), i), progress=said)
            except PosteriorFailed:
                status = "no_posterior"
            else:
                keep = np.linspace(0, len(chain.samples) - 1, min(share, len(chain.samples))).round().astype(int)
                post = chain.take(keep)
        fits[s] = _joint_fit(lay, sol, status, scores[s], weights[s], data, (rows_a, rows_b), arms, post, level,
                             unit_covariance(jac))
    mixture = _mixture(fits)
    chosen = fits[order[0]]
    averaged = (chosen.fit_a, chosen.fit_b) if mixture is None else (
        replace(chosen.fit_a, draws=Draws(mixture.samples[:, 0], len(mixture.samples), 0, seed)),
        replace(chosen.fit_b, draws=Draws(mixture.samples[:, 1], len(mixture.samples), 0, seed)))
    return ModelChoice(fits, order[0], sharing != "auto", averaged, tuple(map(latest_rows, data)), mixture)


def _weighted_rss(lay: Layout, theta: np.ndarray, data: tuple[ArmData, ArmData]) -> float:
    """Σ of squared log residuals, each row weighted 1/m of its run's m rows (a run counts once)."""
    params = lay.split(theta)
    total = 0.0
    for i, d in enumerate(data):
        resid = np.log(lay.law.predict(params[i], d.log_x)) - d.y
        total += float(np.sum(resid**2 / np.bincount(d.clusters)[d.clusters]))
    return total


def latest_rows(d: ArmData) -> np.ndarray:
    """Each run's row with the most compute (the largest Σ log x, for either law), in run order."""
    size = d.log_x.sum(axis=1)
    order = np.lexsort((size, d.clusters))  # by run, then by size: a run's last row is its latest
    last = np.r_[d.clusters[order][1:] != d.clusters[order][:-1], True]
    return d.log_x[order[last]]


@dataclass(frozen=True, eq=False)
class Mixture:
    """The model average's draws: every weighed model's posterior draws, in proportion to its weight."""

    samples: np.ndarray
    """(n, 2, p): each arm's natural parameters."""
    scatter: np.ndarray
    """(n,): the relative scatter of a point around its model's law."""
    noise: np.ndarray | None
    """(n,): the run-to-run noise, where the table measured it apart from the law."""
    model: np.ndarray
    """(n,): which model each draw came from (its sharing)."""

    def swapped(self) -> Mixture:
        return replace(self, samples=self.samples[:, ::-1, :])


def _mixture(fits: dict[str, JointFit]) -> Mixture | None:
    parts = [(s, f.draws) for s, f in fits.items() if f.draws is not None and len(f.draws.samples)]
    if not parts:
        return None
    noise = None if any(p.noise is None for _, p in parts) else np.concatenate([p.noise for _, p in parts])
    return Mixture(np.concatenate([p.samples for _, p in parts]), np.concatenate([p.scatter for _, p in parts]), noise,
                   np.concatenate([np.full(len(p.samples), s, dtype=object) for s, p in parts]))


def _joint_fit(lay, sol, status, crit, weight, data, rows, arms, draws: Posterior | None, level,
               covariance) -> JointFit:
    params = lay.split(sol.theta)
    law = lay.law
    views = []
    for i, (d, r) in enumerate(zip(data, rows)):
        residuals = np.log(law.predict(params[i], d.log_x)) - d.y
        x = np.exp(d.log_x)
        data_range = {name: (float(x[:, j].min()), float(x[:, j].max())) for j, name in enumerate(law.inputs)}
        if "compute" not in data_range:
            data_range["compute"] = (float(r["compute"].min()), float(r["compute"].max()))
        arm_draws = None if draws is None else Draws(draws.samples[:, i], len(draws.samples), 0, 0)
        views.append(LawFit(law, arms[i], dict(zip(law.param_names, map(float, params[i]))),
                            float(np.sum(residuals**2)), status, "joint", LEAST_SQUARES, len(d.y), d.n_clusters,
                            data_range, residuals, arm_draws, level, lay.shared, "posterior"))
    return JointFit(lay.sharing, views[0], views[1], sol.objective, crit, weight, lay.n_free, status, draws,
                    covariance)
