"""Decide with less compute: advise the next run from a study's results, and train until settled.

`advise_study` reads the study's results, compares two arms at the target compute
(analysis.compare) and values every run the study could train next (plan.candidates, valued by
analysis.advice). `run_adaptive` repeats: advise, record the decision in the store, train the best
runs per FLOP (one per worker) through the ordinary driver, until the verdict is decided (B better,
A better, or equivalent within the margin: analysis.verdict), the compute budget is spent, or the
rest of the sweep would rarely decide it. A killed adaptive study resumes from what finished: every
decision is recomputed from the stored results, and the log of decisions only grows.

The target compute is fixed by the study, not by what has finished: 10× the compute of the
largest run of the two arms that the study file plans, so it does not move as runs complete.

Every round is another look at the data, and a study that decides at the first look whose verdict
reads decided at the plain level would decide on chance more often than that level says: each look
is another chance to be fooled. So each look
decides at a stricter level (analysis.advising.stopping): an O'Brien–Fleming-type spending of the
error rate (`error_rate`, 5% by default) over the share of the sweep's compute spent, strict while
the fits rest on the smallest runs, near the plain level by the end of the sweep. benchmarks/advisor.py
measures the wrong decisions over hundreds of null and crossing replays.
A decision out of reach ends the study at once: the rest of the sweep would leave it open in almost
every likely outcome (analysis.advice.forecast_plan). It names no winner, so stopping on it early
risks only a decision that the rest of the sweep might still have made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scalinglab.analysis import Comparison, compare_arms
from scalinglab.analysis.advising.advice import Advice, Candidate, advise
from scalinglab.analysis.advising.stopping import look_level
from scalinglab.analysis.deciding.verdict import LEVEL, default_target
from scalinglab.analysis.fitting.models import DEFAULT_DRAWS
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError, Study
from scalinglab.config.numbers import check_numbers
from scalinglab.execute.driver import ExecutorKind, Observer, plan_study, run_study
from scalinglab.plan import largest_planned, make_plan
from scalinglab.plan.candidates import CandidateRuns, candidate_runs
from scalinglab.store import FINAL, Store, export_table, study_paths, writer_lock

SEED_WIDTHS = 3
"""An arm with fewer finished widths than this starts with its smallest widths: no advice is
possible before each arm has a curve."""


@dataclass(frozen=True)
class StudyAdvice:
    comparison: Comparison
    advice: Advice
    menu: dict[str, CandidateRuns]
    """Candidate label → the runs it would train."""
    spent: float
    """FLOPs of the two arms' finished runs."""

    @property
    def a(self) -> str:
        return self.comparison.a

    @property
    def b(self) -> str:
        return self.comparison.b


def arms_of(study: Study, a: str | None, b: str | None) -> tuple[str, str]:
    if len(study.arms) < 2:
        raise ConfigError(f"{study.path}: one arm ({study.arms[0]}): the advisor weighs runs for a comparison of two")
    a, b = a or study.arms[0], b or next(x for x in study.arms if x != (a or study.arms[0]))
    for option, arm in (("a", a), ("b", b)):
        if arm not in study.arms:
            raise ConfigError(f"arm '{arm}' not found (arms: {', '.join(study.arms)})", option=option,
                              where=str(study.path))
    if a == b:
        raise ConfigError(f"arm '{a}' is also a; compare it with another", option="b", where=str(study.path))
    return a, b


def planned_target(study: Study, arms: tuple[str, str]) -> float:
    return default_target(largest_planned(study, arms))


def _finished(table, arms) -> tuple[set[str], float]:
    rows = table[table["arm"].isin(arms) & table["status"].isin(FINAL)]
    return set(rows["digest"]), float(rows.drop_duplicates("digest")["flops"].sum())


def _twins_without_result(study: Study, table, arms) -> list:
    """Runs of the two arms that read pending although a run of the same config finished under another
    arm's id (a config both arms share, e.g. the pivot of a crossover): each arm needs it as its own point."""
    final = table["status"].isin(FINAL)
    done, ids = set(table.loc[final, "digest"]), set(table.loc[final, "run_id"])
    return [r for r in study.runs if r.arm in arms and r.digest in done and r.run_id not in ids]


def advise_study(study: Study, out_dir: Path, *, a: str | None = None, b: str | None = None,
                 target_compute: float | None = None, extend: int = 2, draws: int = DEFAULT_DRAWS, seed: int = 0,
                 level: float = LEVEL, tokens_per_s: dict[str, float] | None = None,
                 table: pd.DataFrame | None = None) -> StudyAdvice:
    """The study's comparison at the target and the value of every run it could train next.

    level: the level this look decides at; table: the study's results (export_table), when the
    caller has just read them."""
    arms = arms_of(study, a, b)
    check_numbers(target_compute=target_compute)
    table = export_table(study, out_dir) if table is None else table
    for arm in arms:
        finished = table[(table["arm"] == arm) & (table["status"] == "complete") & table["loss"].notna()]
        if finished.empty:
            raise ConfigError(f"arm '{arm}' has no finished run yet; train its smallest widths first (an adaptive "
                              f"run starts with them)", where=str(study.path))
    done, spent = _finished(table, arms)
    target = target_compute or planned_target(study, arms)
    comparison = compare_arms(table, *arms, target_compute=target, draws=draws, seed=seed, backtest=False)
    menu = {c.label: c for c in candidate_runs(study, arms, done, extend=extend, tokens_per_s=tokens_per_s)}
    names = {arms[0]: "a", arms[1]: "b"}
    options = [Candidate(label, tuple(names[x] for x in c.arms), c.params, c.tokens, c.flops, c.seconds,
                         tuple(r.spec.run_id for r in c.runs)) for label, c in menu.items()]
    plan = [o for o in options if len(o.arms) == 1 and menu[o.label].in_sweep]  # what the fixed sweep still trains
    return StudyAdvice(comparison, advise(comparison, options, level=level, seed=seed, plan=plan), menu, spent)


def seed_runs(study: Study, arms: tuple[str, str], done: set[str]) -> list:
    """Each arm's smallest widths, up to SEED_WIDTHS finished ones: the runs every comparison needs.

    With them come the study's replicates at those widths (`[replicates]`): the second seeds measure
    the run-to-run noise every comparison is judged by, as they do for the fixed ladder, and at the
    smallest widths they cost little. Replicates at larger widths are never advised: a second seed
    tells the noise, not the curves, and the advisor values runs by what they tell about the curves."""
    chosen = []
    for arm in arms:
        runs = [r for r in study.runs if r.arm == arm]
        widths = sorted({r.width for r in runs if "seed" not in r.axes})[:SEED_WIDTHS]
        chosen += sorted((r for r in runs if r.width in widths and r.digest not in done), key=lambda r: r.width)
    return list({r.digest: r for r in chosen}.values())


@dataclass(frozen=True)
class Decision:
    step: int
    arms: tuple[str, str]
    action: str
    """train | settled | out_of_reach | budget | exhausted | failed (a chosen run did not finish)."""
    p: float
    spent: float
    runs: tuple[str, ...]
    why: dict
    """Its reason: a code and the numbers behind it (report.sentences.decision_reason words it)."""


@dataclass(frozen=True)
class Look:
    """What one decision is made on: the arms, the target, the advice (None before any comparison),
    the compute of the arms' finished runs, and the study's budget."""

    arms: tuple[str, str]
    target: float
    advice: StudyAdvice | None
    spent: float
    budget: float


def run_adaptive(study: Study, out_dir: Path, budget: float, *, a: str | None = None, b: str | None = None,
                 target_compute: float | None = None, workers: int | None = None, threads: int | None = None,
                 executor: ExecutorKind = "local", address: str | None = None, draws: int = DEFAULT_DRAWS,
                 error_rate: float = 1 - LEVEL, observer: Observer | None = None,
                 on_decision: Callable[[Decision], None] | None = None) -> Decision:
    """Train the advised runs until the decision is settled or `budget` FLOPs are spent; the last decision.

    error_rate: the wrong decisions allowed over all the study's looks together (look_level)."""
    check_numbers(budget=budget, error_rate=error_rate, target_compute=target_compute)
    arms = arms_of(study, a, b)
    target = target_compute or planned_target(study, arms)
    plan = plan_study(study, workers=workers, threads=threads, probe=False)
    slots = plan.workers
    cost = {r.spec.digest: r.budget.flops for r in plan.runs}
    # The sweep's compute for the two arms (a config they share counts once): what the looks spend over.
    sweep = sum({r.spec.digest: r.budget.flops for r in plan.runs if r.spec.arm in arms}.values())
    trained: list = []  # the last round's runs
    while True:
        table = export_table(study, out_dir)  # once per round: every check below reads it
        done, spent = _finished(table, arms)
        failed = [r.run_id for r in trained if r.digest not in done]
        if failed:  # it would be chosen again every round: stop, and let the user look
            decision = _record(out_dir, Look(arms, target, None, spent, budget), "failed", [],
                               {"code": "failed", "runs": failed})
            if on_decision:
                on_decision(decision)
            return decision
        twins = _twins_without_result(study, table, arms)
        if twins:  # a store from before twins were trained together: copy their results, train nothing
            run_study(make_plan(study, workers=plan.workers, threads=plan.threads, runs=twins), out_dir,
                      executor=executor, address=address, observer=observer)
            table = export_table(study, out_dir)
            done, spent = _finished(table, arms)
        first = seed_runs(study, arms, done)
        if first:
            need = spent + sum(cost[r.digest] for r in first)
            if need > budget:  # refused before anything is stored: no round fits, and this one every comparison needs
                raise ConfigError(f"{budget:.3g} FLOPs is below what the first round needs ({need:.3g} FLOPs: each "
                                  f"arm's {SEED_WIDTHS} smallest widths and the study's second seeds there, which every "
                                  "comparison needs)", option="budget")
            decision = _record(out_dir, Look(arms, target, None, spent, budget), "train", first,
                               {"code": "first_round", "widths": SEED_WIDTHS})
        else:
            level = look_level(spent, sweep, _last_look(out_dir), 1 - error_rate)
            advice = advise_study(study, out_dir, a=arms[0], b=arms[1], target_compute=target, extend=0,
                                  draws=draws, level=level, table=table)
            decision = _decide(out_dir, Look(arms, target, advice, spent, budget), slots)
        if on_decision:
            on_decision(decision)
        if decision.action != "train":
            return decision
        chosen = {r.digest for r in study.runs if r.run_id in decision.runs}
        # Every run of a chosen config, twins included: the driver trains it once and stores it under each id.
        trained = [r for r in study.runs if r.digest in chosen and r.arm in arms]
        run_study(make_plan(study, workers=plan.workers, threads=plan.threads, runs=trained), out_dir,
                  executor=executor, address=address, observer=observer)


def _last_look(out_dir: Path) -> float:
    """FLOPs spent at the study's last look that weighed the arms (0 before any): where this look's
    share of the error rate starts (advising.stopping)."""
    reader = Store.open_reader(study_paths(out_dir).db)
    if reader is None:
        return 0.0
    with reader:
        looks = [d["spent_flops"] for d in reader.decisions() if d.get("p_b_beats_a") is not None]
    return float(looks[-1]) if looks else 0.0


def _state(adv: Advice) -> dict:
    return {"p": adv.p, "p_equivalent": adv.p_equivalent, "level": adv.level,
            "plan": None if adv.plan is None else {"runs": adv.plan.runs, "settles": adv.plan.settles(adv.level)}}


def _decide(out_dir: Path, look: Look, slots: int) -> Decision:
    advice = look.advice
    adv = advice.advice
    if adv.settled:
        return _record(out_dir, look, "settled", [], {"code": "settled", "verdict": adv.verdict} | _state(adv))
    if adv.out_of_reach:
        return _record(out_dir, look, "out_of_reach", [], {"code": "out_of_reach"} | _state(adv))
    left = look.budget - look.spent
    if not adv.values:  # no spread to value runs by yet: the next width of each arm, smallest first
        nxt = sorted(advice.menu.values(), key=lambda c: c.flops)
        pair = next((c for c in nxt if len(c.arms) == 2 and c.in_sweep and c.flops <= left), None)
        if pair is not None:
            return _record(out_dir, look, "train", [r.spec for r in pair.runs], {"code": "no_spread", "pair": pair.label})
    chosen, cost, runs = [], 0.0, {}
    # Best per FLOP first, within the budget, until every worker has a run: a pair of runs fills two.
    # No more than that, since each round ends in a look, and a look after the cheaper rung can stop
    # the study before the dearer one is trained.
    for v in adv.values:
        c = advice.menu[v.candidate.label]
        if not c.in_sweep or v.gain <= 0 or cost + c.flops > left:
            continue
        if any(r.spec.digest in runs for r in c.runs):
            continue
        chosen.append(v)
        cost += c.flops
        runs.update({r.spec.digest: r.spec for r in c.runs})
        if len(runs) >= slots:
            break
    if not chosen:
        untrained = [c for c in advice.menu.values() if c.in_sweep]
        action = "budget" if any(c.flops > left for c in untrained) else "exhausted"
        code = action if action == "budget" or not untrained else "nothing_helps"
        return _record(out_dir, look, action, [], {"code": code, "left": left} | _state(adv))
    return _record(out_dir, look, "train", list(runs.values()),
                   {"code": "train", "chosen": [{"label": v.candidate.label, "gain": v.gain, "cost": v.candidate.cost,
                                                 "settles": v.settle_chance} for v in chosen]} | _state(adv))


def _record(out_dir: Path, look: Look, action: str, specs: list, why: dict) -> Decision:
    f = look.advice.comparison.forecast if look.advice else None
    why = why | {"budget": look.budget}
    row = {"a": look.arms[0], "b": look.arms[1], "target_compute": look.target,
           "p_b_beats_a": None if f is None else f.p_b_better, "delta": None if f is None else f.delta,
           "delta_lo": None if f is None else f.delta_interval[0], "delta_hi": None if f is None else f.delta_interval[1],
           "spent_flops": look.spent, "action": action, "runs": json.dumps([s.run_id for s in specs]),
           "reason": json.dumps(jsonable(why))}
    db = study_paths(out_dir).db
    with writer_lock(db), Store.open_writer(db) as store:
        step = store.record_decision(row)
    p = float("nan") if f is None else f.p_b_better
    return Decision(step, look.arms, action, p, look.spent, tuple(s.run_id for s in specs), why)
