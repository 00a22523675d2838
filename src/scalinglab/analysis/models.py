"""The joint models of two arms, fitted to their points, weighed, and averaged.

Each model (joint.SHARINGS) is fitted at its point optimum and scored by AIC (`criteria`). The
forecast averages the models by their Akaike weights, w ∝ exp(−ΔAIC/2) (Burnham & Anderson 2002, §4):
its draws are each model's bootstrap draws in proportion to its weight, so P(B beats A) and every
interval carry the uncertainty of which model is right, not only of its parameters. Choosing one
model and trusting it would be overconfident exactly where it matters: few runs, where the most
restrictive model (parallel curves, no crossing possible) wins the criterion by default.

The likelihood ratio at its exact small-sample distribution. The models nest ("E+exponents" in "E"
in "none"), so each model's AIC is taken relative to the most restrictive one weighed: 2·Δk − G,
where G is its gain in fit, the drop in deviance. AIC's penalty of 2 per parameter assumes G
behaves as χ²(Δk) does when the extra parameters are not needed; with the noise scale fitted,
G = n·log(1 + Δk·F/ν) with F ~ F(Δk, ν) (n runs, ν of them beyond the larger model's parameters),
which on few degrees of freedom runs far beyond χ²: at n = 9, ν = 3, G > 2 in 45% of fits whose
extra parameter is useless, against 16% for χ²(1). A flexible model that happens to pass close to
its few points reads the small residuals as small noise, and AIC handed it the weight (measured on
the advisor's replays, 2026-12-02: a crossing planted beyond the ladder, 5 + 4 runs, "nothing
shared" took weight 0.99 at ΔAIC 9.7 where the F-test of the same fits gives p ≈ 0.07, and its
P(B beats A) = 0.035 named the wrong winner). So G is replaced by the χ²(Δk) value as far in its
tail as the F statistic is in its own (`calibrated_gain`): the same evidence, on the scale AIC's
penalty assumes. With many runs F·Δk tends to χ²(Δk) and this is AIC. Measured by
benchmarks/calibration.py (2026-12-02, AIC → this): planted truths, accuracy 0.75 → 0.77, Brier
0.151 → 0.137, forecasts at P ≥ 0.9 right 0.95 → 0.97; gadre 0.90 → 0.91, 0.068 → 0.067, 1.00 →
1.00 (605 such forecasts, 588 before); gemstones unchanged (0.95, 0.037, 1.00). Not AICc: its
small-sample term, 2k(k+1)/(n−k−1), stands for the extra error of a point prediction from poorly
determined parameters, which the bootstrap draws already carry into every interval, and at 9 runs
it refuses a 6-parameter model whatever the data say (measured on the planted crossings of
analysis.synthetic: the shrinking gap before a crossing was forecast as a lasting lead with
P ≥ 0.95). Not Bayes factors (Zellner–Siow prior, the scale integrated out), which read few degrees
of freedom alike but also charge each parameter ~log n: on gemstones' shapes under 2e8 parameters
they gave the parallel model 0.95 (AIC 0.84), and the interval of the difference at 2e9 shrank to
exclude the lead the published runs there show.

The chosen model, the one with the largest weight, gives the curves that are drawn and printed.
A model with fewer than three runs beyond its free parameters cannot be scored (joint.deviance) and
gets no weight; if no model can be scored, the one with the fewest parameters is used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import chi2
from scipy.stats import f as f_dist

from scalinglab.analysis.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, JointDraws, bootstrap_joint, run_leverage
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.forecast import Target
from scalinglab.analysis.joint import (SHARINGS, ArmData, Layout, deviance, fit_joint, joint_clusters, joint_jacobian,
                                       layout, seen_directions, separate_starts, unit_covariance)
from scalinglab.analysis.laws import Law
from scalinglab.analysis.optimize import huber
from scalinglab.analysis.serialize import jsonable

CLOSE_MODELS = 2.0
"""ΔAIC at or below which two models are not told apart (Burnham & Anderson 2002, §2.6)."""


@dataclass(frozen=True, eq=False)
class JointFit:
    """One joint model of arms a and b: a LawFit per arm (sharing some parameters) and its score."""

    sharing: str
    fit_a: LawFit
    fit_b: LawFit
    objective: float
    criterion: float
    """AIC relative to the most restrictive model weighed, its gain in fit calibrated (`criteria`);
    +inf where the model has too few runs beyond its free parameters to be weighed."""
    weight: float
    """Its share of the model average."""
    n_free: int
    status: str
    """ok | boundary | not_converged | exact (as many runs as free parameters: no spread)."""
    draws: JointDraws | None = None
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

    def difference_leverage(self, log_x_a: np.ndarray, log_x_b: np.ndarray) -> np.ndarray:
        """The variance of the fitted log L̂_b(x_b) − log L̂_a(x_a), row by row, per unit variance of
        one run's log loss: cᵀ·M·c with c = J_b − J_a. At points both arms were fitted on, the
        measured minus the fitted difference has variance (2 − this) × that of one run, as a
        residual has (1 − its leverage): cᵀMc is the pair's share of the parameters the fit spent."""
        if self.unit_covariance is None:  # an optimum without a finite derivative: nothing spent is known
            return np.zeros(len(log_x_a))
        c = self.difference_jacobian(log_x_a, log_x_b)
        return np.einsum("ni,ij,nj->n", c, self.unit_covariance, c)

    def to_dict(self) -> dict:
        return jsonable({"sharing": self.sharing, "criterion": self.criterion, "weight": self.weight,
                         "objective": self.objective,
                         "n_free": self.n_free, "status": self.status,
                         "params": {"a": self.fit_a.params, "b": self.fit_b.params},
                         "bootstrap": None if self.draws is None else {
                             "resamples": self.draws.n_resamples, "failed": self.draws.n_failed,
                             "resampling": self.draws.kind}})


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
                       runs=self.runs[::-1])

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
        return jsonable({"criterion": "AIC", "likelihood_ratio": "calibrated to F", "averaging": "Akaike weights",
                         "chosen": self.chosen, "forced": self.forced,
                         "models": [f.to_dict() for f in self.fits.values()]})


def criteria(deviances: dict[str, float], n_free: dict[str, int], n: int) -> dict[str, float]:
    """Each model's AIC relative to the most restrictive model weighed (every other nests it), from
    their deviances over n runs, its likelihood-ratio gain calibrated to the exact small-sample
    distribution (see the module docstring); +inf for a model that cannot be weighed."""
    finite = {s: d for s, d in deviances.items() if np.isfinite(d)}
    if not finite:
        return dict(deviances)
    base = min(finite, key=n_free.get)
    return {s: 2 * (n_free[s] - n_free[base]) - calibrated_gain(d - finite[base], n, n_free[s], n_free[base])
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
    """Akaike weights, exp(−ΔAIC/2) normalised; when no model can be weighed, all weight to the
    fewest parameters."""
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
               sharing: str = "auto", bootstrap: int = DEFAULT_RESAMPLES, resampling: str = "residuals",
               seed: int | tuple = 0, delta: float = 1e-3, level: float = DEFAULT_LEVEL) -> ModelChoice:
    """Fit the joint models (or the one named by `sharing`), weigh them, bootstrap and average."""
    data = (arm_data(rows_a, law), arm_data(rows_b, law))
    starts = separate_starts(law, data, delta)
    sharings = SHARINGS if sharing == "auto" else (sharing,)
    n_rows = sum(len(d.y) for d in data)
    n_clusters = sum(d.n_clusters for d in data)
    point, deviances = {}, {}
    for s in sharings:
        lay = layout(law, s)
        sol = fit_joint(lay, data, starts, delta)
        status = ("boundary" if sol.at_bound else "ok" if sol.converged else "not_converged")
        if n_clusters <= lay.n_free:
            status = "exact"
        point[s] = (lay, sol, status)
        deviances[s] = deviance(sol.objective, n_rows, n_clusters, lay.n_free, delta)
    n_free = {s: p[0].n_free for s, p in point.items()}
    scores = criteria(deviances, n_free, n_clusters)
    weights = model_weights(scores, n_free)
    order = sorted(point, key=lambda s: (-weights[s], scores[s], n_free[s]))
    fits = {}
    for i, s in enumerate(order):
        lay, sol, status = point[s]
        # The model linearised at its optimum: what the fit spent on each point, for the
        # bootstrap's residuals and for the noise read from the fit (JointFit.difference_leverage).
        jac = np.concatenate([joint_jacobian(lay, sol.theta, arm, d.log_x) for arm, d in enumerate(data)])
        covariance = unit_covariance(jac)
        draws = None
        share = int(round(bootstrap * weights[s]))
        if share > 0:
            # Each model draws its share of the average; one stream per model, so adding a model
            # leaves the others' draws alone.
            draws = bootstrap_joint(lay, sol.theta, data, resampling, share, (*np.atleast_1d(seed), i), delta,
                                    run_leverage(jac, joint_clusters(data), covariance))
        fits[s] = _joint_fit(lay, sol, status, scores[s], weights[s], data, (rows_a, rows_b), arms, draws, delta, level,
                             resampling, covariance)
    return ModelChoice(fits, order[0], sharing != "auto", _average(fits, bootstrap), tuple(map(latest_rows, data)))


def latest_rows(d: ArmData) -> np.ndarray:
    """Each run's row with the most compute (the largest Σ log x, for either law), in run order."""
    size = d.log_x.sum(axis=1)
    order = np.lexsort((size, d.clusters))  # by run, then by size: a run's last row is its latest
    last = np.r_[d.clusters[order][1:] != d.clusters[order][:-1], True]
    return d.log_x[order[last]]


def _average(fits: dict[str, JointFit], n: int) -> tuple[LawFit, LawFit]:
    """The chosen model's point fits, with every weighted model's draws (each drew its share)."""
    chosen = next(iter(fits.values()))
    parts = [f.draws.samples for f in fits.values() if f.draws is not None and len(f.draws.samples)]
    if not parts:
        return chosen.fit_a, chosen.fit_b
    samples = np.concatenate(parts)
    first = next(f.draws for f in fits.values() if f.draws is not None)
    failed = sum(f.draws.n_failed for f in fits.values() if f.draws is not None)
    mixed = JointDraws(samples, n, failed, first.kind, first.seed)
    return replace(chosen.fit_a, bootstrap=mixed.arm(0)), replace(chosen.fit_b, bootstrap=mixed.arm(1))


def _joint_fit(lay, sol, status, crit, weight, data, rows, arms, draws, delta, level, resampling,
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
        views.append(LawFit(law, arms[i], dict(zip(law.param_names, map(float, params[i]))),
                            float(np.sum(huber(residuals, delta))), status, "joint", delta, len(d.y),
                            d.n_clusters, data_range, residuals, None if draws is None else draws.arm(i), level,
                            lay.shared, resampling))
    return JointFit(lay.sharing, views[0], views[1], sol.objective, crit, weight, lay.n_free, status, draws,
                    covariance)
