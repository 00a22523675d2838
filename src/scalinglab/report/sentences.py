"""The analysis in words: the one place `scalinglab compare`, `next`, an adaptive study's log and the
report get them.

Sentences name arms by the labels they are given, compute in FLOPs, losses in nats per token, and
probabilities never as a certain-looking 1.00 or 0.00 from a finite bootstrap.
"""

from __future__ import annotations

import json
import math

import numpy as np

from scalinglab.analysis import Comparison
from scalinglab.analysis.deciding.scored import Backtest
from scalinglab.analysis.evaluating.calibration import Calibration

SHARED = {"none": "nothing shared", "E": "E shared", "E+exponents": "E and exponents shared"}
FRONTIERS = {
    "params-tokens": "L(N, D) fitted and minimised over N at C = 6ND (Approach 3)",
    "isoflop": "per-budget minima of loss against log N (Approach 2)",
    "envelope": "the lower envelope of loss against compute (Approach 1)",
    "points": "the ladder's own points",
}


def flops(x: float | None) -> str:
    """3.2e+15 -> '3.2e15' (the form people type on the command line)."""
    if x is None or not math.isfinite(x):
        return "?"
    mantissa, _, exp = f"{x:.2g}".partition("e")
    return f"{mantissa}e{int(exp)}" if exp else mantissa


def loss(x: float | None) -> str:
    return "?" if x is None or not math.isfinite(x) else f"{x:.3f}"


def probability(p: float) -> str:
    return "above 0.99" if p > 0.995 else "below 0.01" if p < 0.005 else f"{p:.2f}"


def interval(lo: float, hi: float, fmt=loss) -> str:
    return "" if not (math.isfinite(lo) and math.isfinite(hi)) else f"{fmt(lo)} to {fmt(hi)}"


def _signed(x: float) -> str:
    return f"{x:+.3f}" if abs(x) >= 5e-4 or x == 0 else f"{x:+.2g}"


def setup_sentence(c: Comparison) -> str:
    s = c.setup
    ck = f"; every checkpoint is a point (--checkpoints {s.checkpoints})" if s.design.kind == "checkpoints" or \
        s.checkpoints == "all" else ""
    margin = "one run's noise at the target" if s.margin is None else f"{s.margin:.3g} nats"
    return (f"Design: {s.design.describe()}. Frontier: {FRONTIERS[s.frontier]} ({s.frontier_source}){ck}. "
            f"Uncertainty: {s.draws} posterior draws of the joint models (stated priors; analysis.posterior). "
            f"Decision at {s.level:.0%}, equivalence margin {margin}.")


def models_sentence(c: Comparison) -> str:
    fits = c.models.fits
    if c.models.forced:
        return f"Joint model: {SHARED[c.models.chosen]} (chosen with --share)."
    weights = ", ".join(f"{SHARED[s]} {f.weight:.2f}" for s, f in fits.items())
    return (f"Joint models of both arms, by weight (BIC, Schwarz): {weights}. Curves are the heaviest model's; "
            f"probabilities and intervals average all of them.")


def observed_sentence(c: Comparison, a: str, b: str) -> str:
    """The measured evidence, before any fit."""
    o = c.observed
    if o.key == "none":
        return f"Measured: {a} and {b} never ran the same point (same N and D, compute or width), so nothing pairs."
    ahead_b, ahead_a, tied = o.leads
    noise = "" if not math.isfinite(o.noise) else f" (noise of one run {o.noise:.3g} nats, from {o.noise_source})"
    key = {"N and D": "the same N and D", "compute": "the same compute budget", "width": "the same width"}[o.key]
    if len(o.diff) <= 8:
        unit = {"N and D": "N", "compute": "C", "width": "width"}[o.key]
        diffs = "; ".join(f"{unit} {v:.3g} {_signed(d)}" for v, d in zip(o.sizes, o.diff))
        text = f"Measured, loss of {b} minus {a} at {key} (negative: {b} ahead): {diffs}."
    else:
        text = f"Measured at {len(o.diff)} pairs of runs at {key}."
    text += (f" Beyond twice their standard error{noise}: {b} ahead at {ahead_b}, {a} ahead at {ahead_a}; "
             f"{tied} within noise.")
    if len(o.diff) >= 2 and all(s > 0 for s in o.se[-2:]):
        ratios = " and ".join(f"{abs(d) / s:.1f}" for d, s in zip(o.diff[-2:], o.se[-2:]))
        text += f" At the two largest, the differences are {ratios} standard errors."
    if o.sign_changes:
        if o.sign_change_sizes:
            flips = "; ".join(f"at N {n:.3g} between D {lo:.3g} and {hi:.3g}"
                              for n, (lo, hi) in zip(o.sign_change_sizes, o.sign_changes))
        else:
            flips = "; ".join(f"between {lo:.3g} and {hi:.3g}" for lo, hi in o.sign_changes)
        text += f" The leader changes {flips}."
    else:
        text += " The leader never changes beyond noise."
    spread = _compute_ratio(o.compute_ratio)
    if o.key == "width" and spread:
        text += (f" At equal width {b} spends {spread} the compute of {a}: not a comparison at equal compute; the "
                 f"fitted frontiers are.")
    return text


def _compute_ratio(ratios) -> str:
    """'2×' or '1.8–2.8×' when the arms' computes differ by more than 5% at a pairing, else ''."""
    r = np.asarray(ratios, dtype=float)
    if not len(r) or (r.max() <= 1.05 and r.min() >= 1 / 1.05):
        return ""
    return f"{r.min():.2g}×" if r.max() < 1.05 * r.min() else f"{r.min():.2g}–{r.max():.2g}×"


def forecast_sentence(c: Comparison, a: str, b: str) -> str:
    """The forecast at the target: both losses, Δ, the two probabilities, the three sources of its
    uncertainty, and the compute multiplier."""
    f = c.forecast
    where = f"N = {f.params:.3g}, D = {f.tokens:.3g} ({flops(f.compute)} FLOPs)" if f.params else f"{flops(f.compute)} FLOPs"
    beyond = (" (inside the data: read off the measured points near it, not the law)" if f.basis == "data" else
              f" ({f.decades_beyond_data:+.1f} decades from the largest run)")
    parts = [f"At {where}{beyond}: {a} {loss(f.loss_a)}" + _iv(f.interval_a) + f", {b} {loss(f.loss_b)}"
             + _iv(f.interval_b) + f"; Δ = {_signed(f.delta)}" + _iv(f.delta_interval, _signed) + "."]
    if math.isfinite(f.p_b_better):
        parts.append(f"P({b} better) = {probability(f.p_b_better)} (its expected loss below {a}'s); a run of {b} "
                     f"beats a run of {a} with probability {probability(f.p_run)}.")
        parts.append(uncertainty_sentence(c))
    parts.append(multiplier_sentence(c, a, b))
    return " ".join(parts)


def uncertainty_sentence(c: Comparison) -> str:
    """The three sources of the forecast's uncertainty, kept apart."""
    u, f = c.forecast.uncertainty, c.forecast
    noise = (f"one run's noise ±{u.noise:.2g} nats (from {u.noise_source}"
             + (f", {u.noise_dof:.0f} dof)" if math.isfinite(u.noise_dof) and u.noise_dof > 0 else ")"))
    if f.basis == "data":
        return f"Uncertainty: the measured points' noise, Δ ±{u.parameters:.2g} nats; {noise}."
    grown = f", grown ×{math.sqrt(u.growth):.2g} for the distance extrapolated" if u.growth > 1.001 else ""
    return (f"Uncertainty of Δ: parameters ±{u.parameters:.2g} nats, the law's misfit ±{u.misfit:.2g}{grown}; "
            f"{noise}, which a single run adds.")


def multiplier_sentence(c: Comparison, a: str, b: str) -> str:
    """What B is worth in A's compute, stated only as far as A's curve is trusted."""
    f = c.forecast
    what = "the tokens at that N" if f.params else "the compute"
    lo_trust, hi_trust = f.trusted_multiplier

    def say(x: float) -> str:
        if math.isinf(x) and x > 0:
            return "never"
        if x > hi_trust:
            return f"more than ×{hi_trust:.3g}"
        if x < lo_trust:
            return f"less than ×{lo_trust:.3g}"
        return f"×{x:.3g}"

    lo, hi = f.multiplier_interval
    band = f" ({say(lo)} to {say(hi)})" if math.isfinite(lo) or math.isinf(hi) else ""
    text = (f"Compute multiplier: {a} needs {say(f.multiplier)}{band} {what} to match {b} there (above ×1: {b} is "
            f"ahead)")
    if f.multiplier > hi_trust or (math.isfinite(hi) and hi > hi_trust) or math.isinf(hi):
        text += f"; {a}'s curve is not trusted beyond ×{hi_trust:.3g} of the target, where its extrapolation error grows"
    return text + "."


def _iv(pair, fmt=loss) -> str:
    text = interval(*pair, fmt=fmt)
    return f" [{text}]" if text else ""


def runner_up_sentence(c: Comparison, a: str, b: str) -> str | None:
    r = c.runner_up
    if r is None:
        return None
    rival = c.models.runner_up
    return (f"The runner-up model ({SHARED[rival.sharing]}, weight {rival.weight:.2f}) names the other winner: "
            f"{a} {loss(r.loss_a)}, {b} {loss(r.loss_b)} there.")


def crossing_sentence(c: Comparison, a: str, b: str) -> str:
    """Where the central curves cross, who leads between crossings (the same curves the forecast's point
    reads at the target), and the crossing's interval over the draws."""
    x = c.crossing
    lo, hi = x.data_range
    name = {"a": a, "b": b}
    share = f"; crossing in {x.p_cross:.0%} of the posterior draws" if math.isfinite(x.p_cross) else ""
    iv = interval(*x.interval, fmt=flops)
    if not x.crossings:
        leader = name.get(x.leader_first or "", a)
        text = (f"The fitted frontiers (the draws' mean difference) do not cross between {flops(lo)} FLOPs and 6 "
                f"decades beyond the largest run: {leader} is ahead throughout")
        if x.kind == "ambiguous":
            return text + f"; but {x.p_cross:.0%} of the posterior draws cross, so whether they do is ambiguous."
        return text + f"{share}."
    leader = x.leader_first or ("a" if x.winner_after == "b" else "b")
    parts = [f"{name[leader]} is ahead at the smallest run"]
    for i, r in enumerate(x.crossings):
        leader = "a" if leader == "b" else "b"
        where = "inside the runs" if r <= hi * (1 + 1e-9) else f"{math.log10(r / hi):.1f} decades beyond the largest run"
        why = " (only because their asymptotes differ)" if r in x.e_only else ""
        band = f" (95% interval {iv}{share})" if i == 0 and iv else ""
        parts.append(f"the curves cross at {flops(r)} FLOPs{band}, {where}{why}, and {name[leader]} is ahead above it")
    text = "On the fitted frontiers (the draws' mean difference), " + "; ".join(parts) + "."
    if x.kind == "ambiguous":
        text += " Whether they trade places there is ambiguous: the draws disagree with the mean curves."
    if x.warning:
        text += f" Note: {x.warning}."
    return text


def verdict_sentence(c: Comparison, a: str, b: str) -> str:
    """One sentence: which arm is better at the target, or that they are equivalent, or why that is
    uncertain and what would settle it."""
    f, v = c.forecast, c.verdict
    where = f"N = {f.params:.3g}, D = {f.tokens:.3g}" if f.params else f"{flops(f.compute)} FLOPs"
    name = {"a": a, "b": b}
    delta = f"Δ = {_signed(f.delta)}" + _iv(f.delta_interval, _signed)
    if v.winner is not None:
        win, lose = name[v.winner], name["a" if v.winner == "b" else "b"]
        p = f.p_b_better if v.winner == "b" else 1 - f.p_b_better
        lw, ll = (f.loss_b, f.loss_a) if v.winner == "b" else (f.loss_a, f.loss_b)
        return (f"At {where}, {win} is better than {lose}: its expected loss is lower with probability "
                f"{probability(p)} ({loss(lw)} vs {loss(ll)}, {delta}).")
    if v.kind == "equivalent":
        lean = "" if v.ahead is None else f"; {name[v.ahead]} is ahead, by less than the margin"
        return (f"At {where}, {a} and {b} are equivalent within {f.margin:.2g} nats ({f.margin_source}): "
                f"P(|Δ| < {f.margin:.2g}) = {probability(f.p_equivalent)} ({delta}{lean}).")
    return (f"At {where}, {a} vs {b} is uncertain: {'; '.join(reason_words(r, b) for r in v.reasons)} (point "
            f"forecast: {a} {loss(f.loss_a)}, {b} {loss(f.loss_b)}). " + settle_words(v, f.compute))


def reason_words(reason: dict, b: str) -> str:
    """One reason an uncertain verdict gives (analysis.deciding.verdict.Verdict.reasons)."""
    code = reason["code"]
    if code == "no_spread":
        return "no spread: the fit passes through as many runs as it has parameters"
    if code == "unweighed":
        return (f"too few runs to weigh every joint model ({', '.join(reason['models'])} could not be): a model the "
                f"data cannot yet test might disagree")
    if code == "undecided":
        return f"P({b} better) = {reason['p']:.2f} is between {reason['tail']:.3g} and {1 - reason['tail']:.3g}"
    if code == "beyond_margin":
        return (f"the difference may exceed the margin of {reason['margin']:.3g} nats (P(|Δ| < margin) = "
                f"{reason['p_equivalent']:.2f})")
    return code


def settle_words(v, target: float) -> str:
    """The run that would settle an uncertain verdict."""
    if v.settle == "next_rung":
        return (f"Runs of both arms at about {v.settle_compute:.2g} FLOPs (the next rung, {v.step:.2g}× the largest "
                f"run) would narrow it.")
    if v.settle == "target":
        return f"Runs of both arms at the target ({target:.2g} FLOPs) would settle it."
    return ""


def backtest_sentence(bt: Backtest | None, a: str, b: str) -> str:
    if bt is None or bt.status != "ok":
        why = "" if bt is None else f": {bt.reason}"
        return f"Backtest not possible{why}."
    key = {"N and D": "N", "compute": "compute", "width": "width"}.get(bt.key, bt.key)
    unequal = _compute_ratio([f.compute_ratio for f in bt.forecasts]) if bt.key == "width" else ""
    key += f" (where {b} spends {unequal} the compute of {a})" if unequal else ""
    right = sum(f.correct for f in bt.forecasts)
    misses = np.array([f.miss for f in bt.forecasts])
    if len(bt.forecasts) == 1:
        (f,) = bt.forecasts
        name = {"a": a, "b": b}
        p = f.p_b_beats_a if f.predicted_winner == "b" else 1 - f.p_b_beats_a
        pt = f" (probability {probability(p)})" if math.isfinite(p) else ""
        return (f"Backtest: refitted without the largest {key} ({bt.held_out_size:.3g}), the forecast named "
                f"{name[f.predicted_winner]}{pt}; observed, {name[f.observed_winner]} won ({a} {loss(f.observed_a)}, "
                f"{b} {loss(f.observed_b)}): {'right' if f.correct else 'wrong'}. Miss of the difference "
                f"{_signed(f.miss)} nats.")
    return (f"Backtest: refitted without the largest {key} ({bt.held_out_size:.3g}), the forecast named the observed "
            f"winner at {right} of {len(bt.forecasts)} pairs there; the difference was missed by "
            f"{np.median(np.abs(misses)):.3f} nats (median).")


def calibration_lines(cal: Calibration, a: str, b: str) -> list[str]:
    s = cal.scores
    skipped = [f for f in cal.folds if f.skipped]
    lines = [f"Rolling-origin backtest of {b} against {a}: {len(cal.folds) - len(skipped)} folds (the comparison "
             f"redone on the smallest sizes up to each {cal.key}, forecasting every larger pair), {s.n} forecasts "
             f"({s.n_with_p} with a probability), {cal.seconds:.0f} s."]
    if skipped:
        lines.append(f"Skipped {len(skipped)} fold(s) too small to compare (the first: {skipped[0].skipped}).")
    conf = "none" if s.confident_n == 0 else f"{s.confident_hit:.2f} right of {s.confident_n}"
    lines.append(f"Accuracy {s.accuracy:.2f}; Brier score {s.brier:.3f} (0 perfect, 0.25 a coin); forecasts with "
                 f"P ≥ 0.9: {conf}; mean miss of the difference {s.mean_abs_miss:.3f} nats.")
    for k in s.skills:
        lo, hi = k.interval
        said = ("no skill can be claimed: it was never wrong" if k.baseline_brier == 0 else
                f"skill {k.skill:+.2f} (95% interval {lo:+.2f} to {hi:+.2f}, {k.clusters} {k.cluster_kind} as clusters)")
        lines.append(f"Against {k.baseline} (Brier {k.baseline_brier:.3f}): {said}.")
    if s.skills:
        lines.append(f"The forecasts share fits and outcomes: they are worth about {s.effective_n:.0f} independent ones.")
    if s.significant_n:
        lines.append(f"On the {s.significant_n} pairs whose measured difference exceeds its noise: accuracy "
                     f"{s.significant_accuracy:.2f}, Brier {s.significant_brier:.3f}.")
    return lines


# An adaptive study (execute.adaptive) and `next`: each decision is stored as its reason code and
# numbers (Decision.why); these are its words, in the terminal, the report and its summaries.

ENDINGS = {"settled": "settled", "budget": "stopped at its budget", "exhausted": "stopped: no run left to help",
           "out_of_reach": "stopped: out of reach (the rest of the sweep would rarely settle it)",
           "failed": "stopped: a chosen run failed", "train": "still running (or interrupted)"}
"""How an adaptive study's last decision (its action) reads."""
SETTLED = {"b": "{b} better", "a": "{a} better", "equivalent": "equivalent"}


def ending(action: str) -> str:
    return ENDINGS.get(action, action)


def level_words(level: float) -> str:
    """A look's level: 99.93%, not a rounded 100%."""
    return f"{level:.2%}" if level < 0.9999 else f"{level:.4%}"


def plan_sentence(runs: int | None, settles: float | None, level: float) -> str:
    """What training the rest of the plan would do to the decision (advising.advice.PlanForecast)."""
    if runs is None:
        return "no run of the plan is left to train"
    return (f"training the rest of the plan ({runs} runs) would reach a verdict at this look's level "
            f"({level_words(level)}) in {settles:.0%} of its likely outcomes")


def state_sentence(why: dict, a: str, b: str) -> str:
    return (f"P({b} better) = {why['p']:.3f}, P(equivalent) = {why['p_equivalent']:.3f} at this look's level "
            f"{level_words(why['level'])}")


def decision_reason(why: dict | str, a: str, b: str) -> str:
    """One adaptive decision's reason in words. `why` is its code and numbers (execute.adaptive.Decision)
    or, from a results file written before codes were stored, the reason as it was worded then."""
    if isinstance(why, str):
        try:
            why = json.loads(why)
        except ValueError:
            return why
    code = why["code"]
    plan = why.get("plan")
    reach = plan_sentence(plan["runs"], plan["settles"], why["level"]) if plan else None
    if code == "failed":
        text = f"{', '.join(why['runs'])} did not finish (`scalinglab status` says why); fix it and run again to resume"
    elif code == "first_round":
        text = f"each arm's {why['widths']} smallest widths first: no curve to compare yet"
    elif code == "settled":
        text = f"{SETTLED[why['verdict']].format(a=a, b=b)}: {state_sentence(why, a, b)}, every joint model weighed"
    elif code == "out_of_reach":
        text = f"{state_sentence(why, a, b)} (not settled); {reach or plan_sentence(None, None, why['level'])}"
    elif code == "no_spread":
        text = f"{why['pair']}: the fits have no spread yet (as many runs as parameters)"
    elif code in ("budget", "exhausted", "nothing_helps"):
        cause = {"budget": f"no run of the sweep that could help fits the {why.get('left', 0):.3g} FLOPs left of the "
                           "budget",
                 "nothing_helps": "no run left in the sweep is expected to move P",
                 "exhausted": "no run of the sweep is left to tell the arms apart"}[code]
        text = f"{cause}; {state_sentence(why, a, b)} (not settled)"
    elif code == "train":
        text = "; ".join(f"{c['label']}: expected drop {c['gain']:.3f} bits of uncertainty for {c['cost']:.3g} FLOPs "
                         f"(settles it in {c['settles']:.0%} of outcomes)" for c in why["chosen"])
        if reach:
            text += f"; {reach}"
    else:
        text = code
    return text + (f" (budget {why['budget']:.3g} FLOPs)" if "budget" in why else "")


def advice_sentences(result, study: str, level: float) -> list[str]:
    """What `next` says before its table (execute.adaptive.StudyAdvice): where the decision stands, and
    what the rest of the plan could do to it."""
    adv, f = result.advice, result.comparison.forecast
    out = [f"{study}: {result.b} against {result.a} at {f.compute:.3g} FLOPs; {result.spent:.3g} FLOPs spent on their "
           f"finished runs. P({result.b} better) = {adv.p:.3f}, P(equivalent within {f.margin:.2g} nats) = "
           f"{adv.p_equivalent:.3f} now."]
    plan = adv.plan
    reach = plan_sentence(None if plan is None else plan.runs, None if plan is None else plan.settles(adv.level),
                          adv.level)
    if adv.settled:
        said = {"b": f"{result.b} is better", "a": f"{result.a} is better", "equivalent": "they are equivalent"}
        out.append(f"settled at {level_words(level)}: {said[adv.verdict]}, so no run is needed for this decision.")
    elif not adv.can_settle:
        out.append("not every joint model can be weighed yet (each needs three runs per arm beyond its parameters), "
                   "so P may still swing as runs come in, and no verdict is taken before they can.")
    elif adv.out_of_reach:
        out.append(f"the sweep cannot settle it: {reach}. Only runs beyond the sweep (*) might; an adaptive study stops "
                   "here.")
    else:
        out.append(reach + ".")
    return out


def advice_legend(level: float) -> str:
    return ("bits: expected drop of the uncertainty (entropy) of the verdict at the target (B better, equivalent, A "
            "better) once the run is known; bits/PF: per 1e15 FLOPs; settles: share of its possible outcomes after "
            f"which the verdict is decided at {level_words(level)}; P after: 10th–90th percentile of P(B better) then.")


def closing_sentence(values, every, menu, budget: float | None) -> str:
    """`next`'s last line. values: the runs within the budget, best per FLOP first; every: all of them,
    to say what settling would cost; menu: the candidate runs by label (in_sweep)."""
    if not values:
        return "nothing left to train on this ladder (every run is done): the decision stays open."
    best = values[0]
    beyond = "" if menu[best.candidate.label].in_sweep else "; it is beyond the sweep: add its width to sweep.width"
    text = f"next: {best.candidate.label} ({best.candidate.cost:.3g} FLOPs){beyond}."
    if budget is not None and max(v.settle_chance for v in values) < 0.5:
        likely = sorted((v for v in every if v.settle_chance >= 0.5), key=lambda v: v.candidate.cost)
        need = (f"the cheapest run that settles it in half of its outcomes costs {likely[0].candidate.cost:.3g} FLOPs"
                if likely else "no single run on this ladder is likely to; widen the ladder (--extend) or add seeds")
        text += f" Cannot settle within the budget ({budget:.3g} FLOPs): {need}."
    return text
