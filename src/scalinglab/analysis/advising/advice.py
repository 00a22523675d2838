"""The value of one more run: which run would most reduce the uncertainty of the decision, per FLOP.

The decision (analysis.verdict) is where Δ = E[L_B] − E[L_A] at the target lies: below −margin
(B better), within ±margin (equivalent), above +margin (A better). Its uncertainty is the entropy
of those three shares over the comparison's posterior draws, in bits: log2 3 ≈ 1.58 at the most, 0
when settled. A candidate run (an arm at a model size and token budget, or both arms there) is
valued by preposterior analysis: how much that entropy is expected to drop once its result is
known, H(now) − E_y[H(after y)], over the outcomes y it may have. The entropy of the decision, not
the width of the Δ interval, because what a user acts on is which verdict holds: a run that
narrows the interval of a difference already far from 0 is worth nothing to that.

The outcomes and the updated shares come from the comparison's own draws: an outcome is simulated
as one draw's prediction for the candidate plus that draw's run-to-run noise; the shares given it
reweight every draw by the likelihood of that outcome, w_i ∝ φ((log y − log L_i(x)) / σ_i). This
importance reweighting stands in for refitting the joint models to every simulated outcome (a
refit per outcome per candidate would take hours); benchmarks/preposterior.py measures it against
refits: close once the sizes pin the fits down, hopeful with three or four sizes, so the values rank
runs; what stops a study is always a look's own refitted verdict, never these.

The same draws say when the rest of a fixed plan (the study's sweep) would leave the decision open
in almost every future (forecast_plan): its futures come from the design, not from reweighting —
how much of the difference's variance at the target the plan's runs would remove
(ModelChoice.remaining_variance, the fit linearised), applied to today's draws. A study stops
there without a verdict (out of reach): the plan's runs cannot settle it, only runs beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.deciding.comparison import Comparison
from scalinglab.analysis.deciding.verdict import LEVEL, all_weighed, verdict_kind
from scalinglab.analysis.serialize import jsonable
from scalinglab.model.accounting import chinchilla_flops

OUT_OF_REACH = 0.05
"""A decision is out of reach when the rest of the plan would settle it in fewer than this share of
its futures."""
SIMULATIONS = 400
"""Simulated outcomes per candidate: the expected entropy to about ±0.01 bits."""


@dataclass(frozen=True)
class Candidate:
    """A run to consider: one arm (or both) at a model size and token budget."""

    label: str
    arms: tuple[str, ...]
    """'a', 'b', or both: a run of each arm at the same size and budget."""
    params: float
    tokens: float
    cost: float
    """FLOPs of the candidate (every run it holds; a run the two arms share counts once)."""
    seconds: float | None = None
    """Estimated time on this machine, when the planner knows it."""
    run_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Value:
    candidate: Candidate
    gain: float
    """Expected drop of the decision's entropy, in bits."""
    settle_chance: float
    """Share of simulated outcomes after which the verdict would be decided (at the advice's level)."""
    p_after: tuple[float, float]
    """10th and 90th percentile of P(B better) over the simulated outcomes."""
    ess: float
    """Median effective number of draws after reweighting (low: the estimate is coarse)."""

    @property
    def per_flop(self) -> float:
        return self.gain / self.candidate.cost

    def to_dict(self) -> dict:
        c = self.candidate
        return jsonable({"label": c.label, "arms": c.arms, "params": c.params, "tokens": c.tokens, "cost": c.cost,
                         "seconds": c.seconds, "run_ids": c.run_ids, "gain_bits": self.gain,
                         "gain_per_flop": self.per_flop, "settle_chance": self.settle_chance,
                         "p_after": self.p_after, "ess": self.ess})


@dataclass(frozen=True)
class PlanForecast:
    """What the rest of a fixed plan is expected to do to the decision (forecast_plan)."""

    runs: int
    """Runs the plan still holds."""
    remaining: float
    """Share of the difference's variance at the target that the plan leaves (0: it pins it down)."""
    p_after: np.ndarray
    """(futures,): P(B better) once the plan is trained, in each possible future."""
    equivalent_after: np.ndarray
    """(futures,): P(|Δ| < margin) then."""

    def settles(self, level: float) -> float:
        """Share of futures in which the completed plan decides it, one way or another."""
        return float(np.mean([verdict_kind(p, e, level) != "uncertain"
                              for p, e in zip(self.p_after, self.equivalent_after)]))

    def to_dict(self, level: float) -> dict:
        return jsonable({"runs": self.runs, "remaining_variance": self.remaining, "settles": self.settles(level),
                         "p_after": [float(np.quantile(self.p_after, q)) for q in (0.1, 0.5, 0.9)]})


@dataclass(frozen=True)
class Advice:
    p: float
    """P(B better) at the target now."""
    p_equivalent: float
    entropy: float
    level: float
    values: tuple[Value, ...]
    """Every candidate, most valuable per FLOP first."""
    can_settle: bool = True
    """False while some joint model cannot be weighed yet (verdict.all_weighed): no verdict before."""
    verdict: str = "uncertain"
    """The comparison's verdict at this advice's level."""
    plan: PlanForecast | None = None
    """What training the rest of the plan would do (None: no plan given, or nothing left in it)."""

    @property
    def settled(self) -> bool:
        return self.can_settle and self.verdict != "uncertain"

    @property
    def out_of_reach(self) -> bool:
        """Not settled, and the rest of the plan would leave it open in all but OUT_OF_REACH of its futures."""
        return (self.can_settle and not self.settled and self.plan is not None
                and self.plan.settles(self.level) < OUT_OF_REACH)

    def to_dict(self) -> dict:
        return jsonable({"p_b_better": self.p, "p_equivalent": self.p_equivalent, "entropy_bits": self.entropy,
                         "level": self.level, "verdict": self.verdict, "settled": self.settled,
                         "can_settle": self.can_settle, "out_of_reach": self.out_of_reach,
                         "plan": None if self.plan is None else self.plan.to_dict(self.level),
                         "measure": "expected drop in the entropy of the verdict (B better by more than the margin, "
                                    "equivalent, A better by more than it), bits per FLOP",
                         "candidates": [v.to_dict() for v in self.values]})


def entropy(shares: np.ndarray) -> np.ndarray:
    """Entropy in bits of the last axis's shares."""
    p = np.clip(np.asarray(shares, dtype=float), 1e-12, 1.0)
    return -(p * np.log2(p)).sum(axis=-1)


def regions(delta: np.ndarray, margin: float) -> np.ndarray:
    """(…, 3) one-hot: Δ below −margin (B better), within it, above it (A better)."""
    return np.stack([delta < -margin, np.abs(delta) <= margin, delta > margin], axis=-1).astype(float)


def forecast_plan(c: Comparison, plan: list[Candidate]) -> PlanForecast | None:
    """P(B better) and P(equivalent) once every run of `plan` (single-arm candidates: the runs a fixed
    plan would still train) is trained, in each possible future; None for an empty plan.

    The design says how much of the difference's variance at the target the plan leaves, t
    (ModelChoice.remaining_variance). In the Gaussian-linear picture the completed plan's estimate
    of the difference moves from today's by a deviation with (1 − t) of today's variance, and its
    own draws keep t of it (the two add up to today's). Future j takes draw j's deviation, scaled
    by √(1 − t), and its shares then count every draw's deviation, scaled by √t, around it: the
    shape of today's draws (skew, the models' mixture) carries into both.
    """
    if not plan or c.draws is None or not len(c.draws.loss_a):
        return None
    law = c.fit_a.law
    rows = []
    for side in ("a", "b"):
        n = np.array([x.params for x in plan if x.arms == (side,)])
        d = np.array([x.tokens for x in plan if x.arms == (side,)])
        rows.append(law.log_inputs(params=n, tokens=d, compute=chinchilla_flops(n, d)).reshape(-1, len(law.inputs)))
    t = c.models.remaining_variance(c.forecast.target, tuple(rows))
    delta = c.draws.loss_b - c.draws.loss_a
    dev = delta - delta.mean()
    # (futures j, draws i): the completed plan's difference in future j, as draw i would leave it.
    after = delta.mean() + np.sqrt(1 - t) * dev[:, None] + np.sqrt(t) * dev[None, :]
    return PlanForecast(len(plan), t, np.mean(after < 0, axis=1),
                        np.mean(np.abs(after) < c.forecast.margin, axis=1))


def _log_predictions(c: Comparison, cand: Candidate, rows: np.ndarray) -> np.ndarray:
    """log L of each arm the candidate runs, under each draw (rows of the fits' draws): (n_arms, n)."""
    out = []
    for arm in cand.arms:
        fit = c.fit_a if arm == "a" else c.fit_b
        if not fit.law.is_frontier:
            s = fit.predict_samples(cand.params, cand.tokens)[:, 0]
        else:
            s = fit.frontier_samples(chinchilla_flops(cand.params, cand.tokens))[:, 0]
        out.append(np.log(s[rows]))
    return np.array(out)


@dataclass(frozen=True)
class Outcomes:
    """Simulated results of one candidate and the decision's shares after each, by reweighting the draws."""

    log_loss: np.ndarray
    """(n_arms, sims): the simulated log losses, one row per arm the candidate runs."""
    shares: np.ndarray
    """(sims, 3): the three regions' shares after each outcome (regions)."""
    p_after: np.ndarray
    """(sims,): P(B better) after each outcome."""
    ess: np.ndarray
    """(sims,): effective number of draws behind each."""


def simulate(c: Comparison, cand: Candidate, rng: np.random.Generator, sims: int = SIMULATIONS) -> Outcomes:
    """Outcomes of one candidate and the decision each would leave."""
    draws = c.draws
    mu = _log_predictions(c, cand, draws.rows)  # (arms, draws)
    delta = draws.loss_b - draws.loss_a
    ok = np.all(np.isfinite(mu), axis=0)
    mu, delta, sigma = mu[:, ok], delta[ok], np.maximum(draws.noise[ok], 1e-6)
    truth = rng.integers(0, len(delta), sims)
    y = mu[:, truth] + sigma[truth] * rng.standard_normal((len(cand.arms), sims))  # (arms, sims)
    # log-likelihood of each simulated outcome under each draw, with that draw's noise: (sims, draws)
    loglik = (-0.5 * (((y[:, :, None] - mu[:, None, :]) / sigma) ** 2).sum(axis=0)
              - len(cand.arms) * np.log(sigma)[None, :])
    loglik -= loglik.max(axis=1, keepdims=True)
    w = np.exp(loglik)
    w /= w.sum(axis=1, keepdims=True)
    return Outcomes(y, w @ regions(delta, c.forecast.margin), w @ (delta < 0).astype(float),
                    1.0 / np.sum(w**2, axis=1))


def value(c: Comparison, cand: Candidate, rng: np.random.Generator, level: float = LEVEL,
          sims: int = SIMULATIONS) -> Value:
    """Preposterior value of one candidate against the comparison's decision."""
    o = simulate(c, cand, rng, sims)
    now = regions(c.draws.loss_b - c.draws.loss_a, c.forecast.margin).mean(axis=0)
    decided = [verdict_kind(p, s[1], level) != "uncertain" for p, s in zip(o.p_after, o.shares)]
    return Value(cand, float(entropy(now)) - float(entropy(o.shares).mean()), float(np.mean(decided)),
                 (float(np.quantile(o.p_after, 0.1)), float(np.quantile(o.p_after, 0.9))), float(np.median(o.ess)))


def advise(c: Comparison, candidates: list[Candidate], level: float = LEVEL, sims: int = SIMULATIONS, seed: int = 0,
           plan: list[Candidate] | None = None) -> Advice:
    """Value every candidate against the comparison's decision at its target; best per FLOP first.

    level: the level the decision is taken at (a sequential study's look is stricter: verdict.look_level).
    plan: the single-arm runs a fixed plan would still train (forecast_plan).
    A comparison without spread (fits through as many runs as parameters) has nothing to update:
    no candidate is valued, and the caller trains more of the ladder first.
    """
    f = c.forecast
    can_settle = c.models.forced or all_weighed(c.models)
    if c.draws is None or not len(c.draws.loss_a):
        return Advice(f.p_b_better, f.p_equivalent, float(np.log2(3)), level, (), False)
    now = regions(c.draws.loss_b - c.draws.loss_a, f.margin).mean(axis=0)
    rng = np.random.default_rng(seed)
    values = sorted((value(c, cand, rng, level, sims) for cand in candidates), key=lambda v: -v.per_flop)
    return Advice(f.p_b_better, f.p_equivalent, float(entropy(now)), level, tuple(values), can_settle,
                  verdict_kind(f.p_b_better, f.p_equivalent, level), forecast_plan(c, plan or []))
