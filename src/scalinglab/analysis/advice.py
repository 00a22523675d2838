"""The value of one more run: which run would most reduce the uncertainty of the decision, per FLOP.

The decision is "B beats A at the target" (compare.Comparison); its uncertainty is the entropy
H(P) of P(B beats A), in bits: 1 at P = 0.5, 0 when settled. A candidate run (an arm at a model
size and token budget, or both arms there) is valued by preposterior analysis: how much H is
expected to drop once its result is known, E[H(P now)] − E_y[H(P | y)], over the outcomes y it
may have. The entropy, not the width of the Δ interval, because what a user acts on is which arm
wins: a run that narrows the interval of a difference already far from 0 is worth nothing to that.

The outcomes and the updated P come from the comparison's own draws (the model average's bootstrap,
paired across arms): an outcome is simulated as one draw's prediction for the candidate times the
run-to-run noise; P given it reweights every draw by the likelihood of that outcome,
w_i ∝ φ((log y − log L_i(x)) / σ), and averages each draw's P(B beats A) with those weights. This
importance reweighting stands in for refitting the joint models to every simulated outcome (a
refit per outcome per candidate would take hours). benchmarks/preposterior.py measures it against
refits (2026-12-02): where every joint model is weighed and the sizes pin the fits down (planted
'beyond', 6 sizes) P after a run agrees with a refit's to a median 0.01 and the best run is the
same; with 3-4 sizes it overstates what a run will do (gadre c4_val: 0.33 bits expected where
refits give none; planted 'inside' at 4 sizes, before every model is weighed, refits flip P). So
the values rank runs roughly; what stops a study is always the refitted P of a look, never these.

The same draws say when no run is worth training: a decision is out of reach when almost no draw's
own P leaves the band (Advice.reach), i.e. the arms are within run-to-run noise of each other at
the target whatever the curves turn out to be, or when the rest of a fixed plan (the study's sweep)
would leave P inside the band in almost every future (forecast_plan). The plan's futures come from
the design, not from reweighting: how much of the difference's variance at the target the plan's
runs would remove (ModelChoice.remaining_variance, the fit linearised), applied to today's draws.
Measured on the replays of benchmarks/advisor.py --no-stop (2026-12-02, 252 weighed looks): where it
forecast that the whole grid settles in under 5% of futures, the grid settled in 0 of 31 looks
(under 20%: 4 of 83), so giving up on it ends undecidable studies sooner without losing a decision.
It runs hopeful at the top (forecast ≥ 0.95: the grid settled 41 of 45), so it is no ground to stop
early with a winner; a winner is named only by a look's own refitted P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.compare import Comparison
from scalinglab.analysis.forecast import win_probability
from scalinglab.analysis.laws import PARAMS_TOKENS
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.verdict import all_weighed
from scalinglab.model.accounting import chinchilla_flops

ENDINGS = {"settled": "settled", "budget": "stopped at its budget", "exhausted": "stopped: no run left to help",
           "out_of_reach": "stopped: out of reach (even exact curves would rarely settle it)",
           "failed": "stopped: a chosen run failed", "train": "still running (or interrupted)"}
"""How an adaptive study's last decision (its action) reads, in the terminal and in the report."""
SETTLED = (0.05, 0.95)
"""P(B beats A) outside this band settles the decision."""
OUT_OF_REACH = 0.05
"""A decision is out of reach when fewer than this share of the comparison's draws would settle it
even if their curves were known exactly (see Advice.reach)."""
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
    """Expected drop of H(P), in bits."""
    settle_chance: float
    """Share of simulated outcomes after which P is outside the SETTLED band."""
    p_after: tuple[float, float]
    """10th and 90th percentile of P over the simulated outcomes."""
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
    """(futures,): P(B beats A) once the plan is trained, in each possible future."""

    def settles(self, band: tuple[float, float]) -> float:
        """Share of futures in which the completed plan settles the decision, either way."""
        return float(np.mean((self.p_after < band[0]) | (self.p_after > band[1])))

    def confirms(self, p: float, band: tuple[float, float]) -> float:
        """Share of futures in which the completed plan settles it on the side of P now."""
        return float(np.mean(self.p_after > band[1])) if p > band[1] else float(np.mean(self.p_after < band[0]))

    def sentence(self, band: tuple[float, float]) -> str:
        """What it would do, as `next` and an adaptive study's decisions say it."""
        return (f"training the rest of the plan ({self.runs} runs) would take P outside {band[0]:g}–{band[1]:g} in "
                f"{self.settles(band):.0%} of its likely outcomes")

    def to_dict(self, p: float, band: tuple[float, float]) -> dict:
        return jsonable({"runs": self.runs, "remaining_variance": self.remaining, "settles": self.settles(band),
                         "confirms": self.confirms(p, band),
                         "p_after": [float(np.quantile(self.p_after, q)) for q in (0.1, 0.5, 0.9)]})


@dataclass(frozen=True)
class Advice:
    p: float
    """P(B beats A) at the target now."""
    entropy: float
    band: tuple[float, float]
    values: tuple[Value, ...]
    """Every candidate, most valuable per FLOP first."""
    can_settle: bool = True
    """False while some joint model cannot be weighed yet (verdict.all_weighed): its P cannot settle."""
    reach: float = 1.0
    """Share of the draws whose own P(B beats A) is outside the band: how often the decision would
    settle if more runs pinned both curves down exactly (each draw standing for one possible truth).
    Real runs pin them down less than that, so this is about the most they can be expected to do;
    below OUT_OF_REACH what keeps P inside the band is the run-to-run noise at the target itself,
    which no run of these arms removes."""
    plan: PlanForecast | None = None
    """What training the rest of the plan would do to P (None: no plan given, or nothing left in it)."""

    @property
    def settled(self) -> bool:
        return self.can_settle and not self.band[0] <= self.p <= self.band[1]

    @property
    def curves_cannot_settle(self) -> bool:
        """Even exact curves would leave P inside the band in all but OUT_OF_REACH of the draws."""
        return self.reach < OUT_OF_REACH

    @property
    def plan_cannot_settle(self) -> bool:
        """The rest of the plan would leave P inside the band in all but OUT_OF_REACH of its futures."""
        return self.plan is not None and self.plan.settles(self.band) < OUT_OF_REACH

    @property
    def out_of_reach(self) -> bool:
        """Not settled, and neither exact curves nor the rest of the plan are likely to settle it."""
        return self.can_settle and not self.settled and (self.curves_cannot_settle or self.plan_cannot_settle)

    def reach_sentence(self) -> str:
        """What the rest of the plan and exact curves could do to this decision, as `next` and an
        adaptive study say it."""
        band = f"{self.band[0]:g}–{self.band[1]:g}"
        plan = "" if self.plan is None else self.plan.sentence(self.band) + "; "
        return (f"{plan}were both curves known exactly, P would leave {band} in {self.reach:.0%} of the fits' draws; "
                "in the rest the arms differ at the target by less than run-to-run noise, which more runs of them "
                "do not remove")

    def to_dict(self) -> dict:
        return jsonable({"p_b_beats_a": self.p, "entropy_bits": self.entropy, "band": self.band,
                         "settled": self.settled, "can_settle": self.can_settle, "reach": self.reach,
                         "out_of_reach": self.out_of_reach,
                         "plan": None if self.plan is None else self.plan.to_dict(self.p, self.band),
                         "measure": "expected drop in H(P(B beats A)), bits per FLOP",
                         "candidates": [v.to_dict() for v in self.values]})


def entropy(p) -> np.ndarray:
    """Binary entropy in bits."""
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def _target_draws(c: Comparison) -> tuple[np.ndarray, np.ndarray]:
    """Each arm's loss at the target under each paired draw: two (n_draws,), NaN where a draw has
    no frontier there."""
    target = c.forecast.target
    la, lb = target.loss_samples(c.fit_a), target.loss_samples(c.fit_b)
    n = min(len(la), len(lb))
    return la[:n], lb[:n]


def decision_per_draw(c: Comparison, draws: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Each paired draw's P(a run of B beats a run of A) at the target: (n_draws,), NaN where a
    draw has no frontier there (as forecast.forecast leaves such draws out). draws: _target_draws(c),
    when the caller has them."""
    la, lb = _target_draws(c) if draws is None else draws
    ok = np.isfinite(la) & np.isfinite(lb)
    q = np.full(len(la), np.nan)
    # win_probability averages over its first axis: one draw per column keeps the draws apart.
    q[ok] = win_probability(la[None, ok], lb[None, ok], c.forecast.noise, c.forecast.noise_dof)
    return q


def plan_futures(la: np.ndarray, lb: np.ndarray, t: float, noise: float, dof: float) -> np.ndarray:
    """P(B beats A) in each future of a plan that leaves a share t of the difference's variance:
    (n_draws,), future j built on draw j (see forecast_plan); la, lb: paired draws at the target."""
    d = lb - la
    dev = d - d.mean()
    # (draws i, futures j): a run of A at draw i's loss, a run of B at the completed plan's difference.
    lb_after = la[:, None] + d.mean() + np.sqrt(1 - t) * dev[None, :] + np.sqrt(t) * dev[:, None]
    return win_probability(la[:, None], lb_after, noise, dof)


def forecast_plan(c: Comparison, plan: list[Candidate],
                  draws: tuple[np.ndarray, np.ndarray] | None = None) -> PlanForecast | None:
    """P(B beats A) once every run of `plan` (single-arm candidates: the runs a fixed plan would
    still train) is trained, in each possible future; None for an empty plan.

    The design says how much of the difference's variance at the target the plan leaves, t
    (ModelChoice.remaining_variance). In the Gaussian-linear picture the completed plan's estimate
    of the difference moves from today's by a deviation with (1 − t) of today's variance, and its
    own draws keep t of it (the two add up to today's). Future j takes draw j's deviation, scaled
    by √(1 − t), and P then averages every draw's deviation, scaled by √t, around it: the shape of
    today's draws (skew, the models' mixture) carries into both. At t = 0 future j's P is draw j's
    own (Advice.reach's exact curves); at t = 1 every future's P is today's. draws: _target_draws(c),
    when the caller has them.
    """
    if not plan:
        return None
    law = c.fit_a.law
    rows = []
    for side in ("a", "b"):
        n = np.array([x.params for x in plan if x.arms == (side,)])
        d = np.array([x.tokens for x in plan if x.arms == (side,)])
        rows.append(law.log_inputs(params=n, tokens=d, compute=chinchilla_flops(n, d)).reshape(-1, law.n_terms))
    t = c.models.remaining_variance(c.forecast.target, tuple(rows))
    la, lb = _target_draws(c) if draws is None else draws
    ok = np.isfinite(la) & np.isfinite(lb)
    if not ok.any():
        return None
    p_after = plan_futures(la[ok], lb[ok], t, c.forecast.noise, c.forecast.noise_dof)
    return PlanForecast(len(plan), t, p_after)


def _log_predictions(c: Comparison, cand: Candidate, n: int) -> np.ndarray:
    """log L of each arm the candidate runs, under each draw: (n_arms, n_draws)."""
    out = []
    for arm in cand.arms:
        fit = c.fit_a if arm == "a" else c.fit_b
        if fit.law is PARAMS_TOKENS:
            s = fit.predict_samples(cand.params, cand.tokens)[:n, 0]
        else:
            s = fit.frontier_samples(chinchilla_flops(cand.params, cand.tokens))[:n, 0]
        out.append(np.log(s))
    return np.array(out)


@dataclass(frozen=True)
class Outcomes:
    """Simulated results of one candidate and P(B beats A) after each, by reweighting the draws."""

    log_loss: np.ndarray
    """(n_arms, sims): the simulated log losses, one row per arm the candidate runs."""
    p_after: np.ndarray
    """(sims,)"""
    ess: np.ndarray
    """(sims,): effective number of draws behind each P."""
    p_now: float


def simulate(c: Comparison, cand: Candidate, q: np.ndarray, rng: np.random.Generator,
             sims: int = SIMULATIONS) -> Outcomes:
    """Outcomes of one candidate and the P each would leave; q: each draw's P(B beats A) at the target."""
    n = len(q)
    mu = _log_predictions(c, cand, n)  # (arms, draws)
    ok = np.all(np.isfinite(mu), axis=0) & np.isfinite(q)
    mu, q = mu[:, ok], q[ok]
    sigma = max(c.forecast.noise, 1e-6)
    truth = rng.integers(0, len(q), sims)
    y = mu[:, truth] + sigma * rng.standard_normal((len(cand.arms), sims))  # (arms, sims)
    # log-likelihood of each simulated outcome under each draw: (sims, draws)
    loglik = -0.5 * (((y[:, :, None] - mu[:, None, :]) / sigma) ** 2).sum(axis=0)
    loglik -= loglik.max(axis=1, keepdims=True)
    w = np.exp(loglik)
    w /= w.sum(axis=1, keepdims=True)
    return Outcomes(y, w @ q, 1.0 / np.sum(w**2, axis=1), float(q.mean()))


def value(c: Comparison, cand: Candidate, q: np.ndarray, rng: np.random.Generator,
          band: tuple[float, float] = SETTLED, sims: int = SIMULATIONS) -> Value:
    """Preposterior value of one candidate; q: each draw's P(B beats A) at the target."""
    o = simulate(c, cand, q, rng, sims)
    p_after = o.p_after
    return Value(cand, float(entropy(o.p_now)) - float(entropy(p_after).mean()),
                 float(np.mean((p_after < band[0]) | (p_after > band[1]))),
                 (float(np.quantile(p_after, 0.1)), float(np.quantile(p_after, 0.9))), float(np.median(o.ess)))


def advise(c: Comparison, candidates: list[Candidate], band: tuple[float, float] = SETTLED,
           sims: int = SIMULATIONS, seed: int = 0, plan: list[Candidate] | None = None) -> Advice:
    """Value every candidate against the comparison's decision at its target; best per FLOP first.

    plan: the single-arm runs a fixed plan would still train (forecast_plan).

    A comparison without spread (fits through as many runs as parameters) has nothing to update:
    no candidate is valued, and the caller trains more of the ladder first.
    """
    if not (c.fit_a.has_spread and c.fit_b.has_spread):
        p = c.forecast.p_b_beats_a
        return Advice(p, float(entropy(p)) if np.isfinite(p) else 1.0, band, (), False)
    draws = _target_draws(c)  # both the draws' own P and the plan's futures read them
    q = decision_per_draw(c, draws)
    rng = np.random.default_rng(seed)
    values = [value(c, cand, q, rng, band, sims) for cand in candidates]
    values.sort(key=lambda v: -v.per_flop)
    known = q[np.isfinite(q)]
    p = float(known.mean()) if known.size else float("nan")
    reach = float(np.mean((known < band[0]) | (known > band[1]))) if known.size else 1.0
    return Advice(p, float(entropy(p)), band, tuple(values), c.models.forced or all_weighed(c.models), reach,
                  forecast_plan(c, plan or [], draws))
