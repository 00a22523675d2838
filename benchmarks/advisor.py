"""Does the advisor reach the right decision with less compute? Replays of tables as if each run were
yet to be trained.

A replay starts from each arm's three smallest sizes, then repeats: compare the arms at the target
(analysis.compare), stop if P(B beats A) is outside the settled band at this look, every joint model
weighed (execute.adaptive's rule), else reveal the run (or pair) that analysis.advice values most
per FLOP. A run's cost is its FLOPs (6·N·D at its last row: the
checkpoints of a run come with it). The full grid's own decision is the reference: the same
decision, and (for planted truths) the right one, with how much of the grid's compute.

    python benchmarks/advisor.py                  # planted truths, then the shared published tables
    python benchmarks/advisor.py --only synthetic --seeds 3
    python benchmarks/advisor.py --match "beyond #0" --trace   # one replay, P and the next run at each look

A look whose decision is out of reach ends the replay as uncertain, as it ends `run --adaptive`:
almost no draw's own P leaves the band (exact curves), or the rest of the grid would leave P inside
it in almost every likely future (analysis.advice.forecast_plan). `--trace` prints both at every look.

    python benchmarks/advisor.py --no-stop --looks looks.csv   # every path to its end: rules compared

`--no-stop` follows each path to the end of the grid, then stops it afterwards by each rule for
naming a winner and for giving up (the path does not depend on when it stops), and checks the
plan's forecast that the whole grid settles the decision against whether it did.

Measured 2026-12-02 (defaults, 27 replays, --no-stop): the full grid decides 10; the same winner
with ≤ 1/3 of the compute in 9 of them (90%), median 4.1% of the grid's compute; where it cannot
(17), uncertain in 14, the planted winner in 3, after 36% of the grid's compute on average; no wrong
winner. That is after the joint models' weighing began to read a gain in fit at its small-sample
distribution (analysis.models). Before it, single looks at four or five sizes were overconfident:
3 of the 39 looks outside the band on the planted truths named the wrong winner (all under 2% of
the grid's compute), so a winner took two looks in a row, which made 6 of the 10 (median 10.9%).
After it, none of the 74 looks outside the band (planted and shared) names a wrong winner, and two
looks would make 5 of the 10. The one miss: planted-inside #3, whose P first leaves the band at 98%
of the grid. The plan's forecast over 252 weighed looks: forecast < 5%, the grid settled 0 of 31;
5-20%, 4 of 52; ≥ 95%, 41 of 45: hopeful at the top, which is why it only ever stops a study
without a winner. `--no-pairs` (single runs only) named a wrong winner in planted-equal #4 (before
the noise change of 2026-12-02).

Goal (issue): the same, right decision as the full grid with ≤ 1/3 of its compute in ≥ 80% of replays;
where the full grid cannot decide, the advisor does not decide wrongly.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis import Columns, compare_arms, load_table, select_runs
from scalinglab.analysis.advice import OUT_OF_REACH, SETTLED, Candidate, advise
from scalinglab.analysis.synthetic import SCENARIOS, table
from scalinglab.analysis.table import filter_rows
from scalinglab.config import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"
START_SIZES = 3


@dataclass
class Replay:
    name: str
    full: str
    """The full grid's decision: a, b or uncertain."""
    truth: str | None
    """The planted winner at the target (synthetic), else None."""
    decision: str
    spent: float
    total: float
    steps: int
    seconds: float
    looks: list[dict]
    """Every look's figures (P, the plan's forecast, the compute spent), for --looks."""

    @property
    def share(self) -> float:
        return self.spent / self.total

    @property
    def success(self) -> bool:
        right = self.truth is None or self.full in (self.truth, "uncertain")
        return self.decision == self.full and right and self.share <= 1 / 3

    @property
    def wrong(self) -> bool:
        """A wrong winner named (the worst failure): not the planted one, or, on published data, not the one
        the full grid names (naming one where the whole grid cannot is unsupported, so wrong too)."""
        if self.decision == "uncertain":
            return False
        return self.decision != (self.truth if self.truth is not None else self.full)


def decide(p: float, band=SETTLED) -> str:
    return "b" if p > band[1] else "a" if p < band[0] else "uncertain"


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its arm, size, last tokens and cost."""
    g = frame.groupby(["group", "run"], sort=False)
    return pd.DataFrame({"params": g["params"].first(), "tokens": g["tokens"].max(),
                         "cost": g["compute"].max()}).reset_index()


def candidates(runs: pd.DataFrame, hidden: set, a: str, b: str, pairs: bool = True) -> list[Candidate]:
    """Every hidden run alone, and every hidden pair of one size and budget across the arms."""
    out = []
    side = {a: "a", b: "b"}
    rows = runs[[(g, r) in hidden for g, r in zip(runs["group"], runs["run"])]]
    for row in rows.itertuples():
        out.append(Candidate(f"{row.group}|{row.run}", (side[row.group],), row.params, row.tokens, row.cost,
                             run_ids=(row.run,)))
    if not pairs:
        return out
    key = rows.assign(n=rows["params"].round(-3), d=rows["tokens"].round(-3))
    for (_, _), pair in key.groupby(["n", "d"]):
        if set(pair["group"]) == {a, b}:
            ra, rb = pair[pair["group"] == a].iloc[0], pair[pair["group"] == b].iloc[0]
            out.append(Candidate(f"pair|{ra.run}|{rb.run}", ("a", "b"), ra.params, ra.tokens, ra.cost + rb.cost,
                                 run_ids=(ra.run, rb.run)))
    return out


STANDARD = Columns(group="group", run_id="run")
"""A checked table (select_runs) read back under its standard names."""


def shown_rows(frame: pd.DataFrame, shown: set) -> pd.DataFrame:
    sub = frame[[(g, r) in shown for g, r in zip(frame["group"], frame["run"])]]
    sub.attrs = frame.attrs
    return sub


def replay(name: str, df: pd.DataFrame, a: str, b: str, columns: Columns, target: float, truth: str | None,
           bootstrap: int, max_steps: int = 30, trace: bool = False, pairs: bool = True, stop: bool = True) -> Replay:
    """stop=False: look until every run is shown, recording each look (to try stopping rules on)."""
    start = time.perf_counter()
    frame = select_runs(df, columns, checkpoints="all").frame
    frame = frame[frame["group"].isin([a, b])]
    frame.attrs = {"source": name}
    runs = runs_of(frame)
    cost = {(g, r): c for g, r, c in zip(runs["group"], runs["run"], runs["cost"])}
    whole = compare_arms(frame, a, b, columns=STANDARD, target_compute=target, bootstrap=bootstrap)
    full = decide(whole.forecast.p_b_beats_a) if advise(whole, []).settled else "uncertain"
    shown = set()
    for arm in (a, b):
        sizes = sorted(runs.loc[runs["group"] == arm, "params"].unique())[:START_SIZES]
        shown |= {(g, r) for g, r, n in zip(runs["group"], runs["run"], runs["params"]) if g == arm and n in sizes}
    hidden = set(cost) - shown
    decision, steps, before, looks = "uncertain", 0, None, []
    while steps < max_steps:
        steps += 1
        try:
            c = compare_arms(shown_rows(frame, shown), a, b, columns=STANDARD, target_compute=target, bootstrap=bootstrap)
        except ConfigError:  # too few points yet: reveal each arm's cheapest hidden run
            chosen = {min((k for k in hidden if k[0] == arm), key=cost.get) for arm in (a, b)
                      if any(k[0] == arm for k in hidden)}
        else:
            menu = candidates(runs, hidden, a, b, pairs)
            advice = advise(c, menu, sims=200, plan=[x for x in menu if len(x.arms) == 1])
            settled = advice.settled
            decision = decide(advice.p) if settled else "uncertain"
            plan = advice.plan
            looks.append({"replay": name, "step": steps, "share": sum(cost[k] for k in shown) / sum(cost.values()),
                          "p": advice.p, "settled": advice.settled, "can_settle": advice.can_settle,
                          "reach": advice.reach, "twice": twice(advice.p, before, settled),
                          "out_of_reach": advice.out_of_reach,
                          "plan_runs": plan.runs if plan else 0, "remaining": plan.remaining if plan else float("nan"),
                          "plan_settles": plan.settles(SETTLED) if plan else float("nan"),
                          "plan_confirms": plan.confirms(advice.p, SETTLED) if plan else float("nan"),
                          "full": full, "truth": truth})
            if trace:
                top = advice.values[0] if advice.values else None
                print(f"  step {steps}: P {advice.p:.3f} reach {advice.reach:.2f} weighed {advice.can_settle} spent "
                      f"{sum(cost[k] for k in shown) / sum(cost.values()):.1%} next "
                      f"{top.candidate.label if top else '-'} gain {top.gain if top else 0:.3f} "
                      f"cost {top.candidate.cost if top else 0:.2e}"
                      f"{' settled' if settled else ' out of reach' if advice.out_of_reach else ''}"
                      f"{f' plan t {plan.remaining:.2f} settles {plan.settles(SETTLED):.2f} confirms {plan.confirms(advice.p, SETTLED):.2f}' if plan else ''}",
                      flush=True)
            before = advice.p
            if stop and (decision != "uncertain" or advice.out_of_reach):
                break
            if advice.values:
                pick = advice.values[0].candidate
                groups = {"a": a, "b": b}
                chosen = {(groups[side], run) for side, run in zip(pick.arms, pick.run_ids)}
            else:  # no spread to value runs by: each arm's cheapest hidden run
                chosen = {min((k for k in hidden if k[0] == arm), key=cost.get) for arm in (a, b)
                          if any(k[0] == arm for k in hidden)}
        if not chosen:
            break
        shown |= chosen
        hidden -= chosen
    return Replay(name, full, truth, decision, float(sum(cost[k] for k in shown)), float(sum(cost.values())), steps,
                  time.perf_counter() - start, looks)


def synthetic_cases(seeds: int):
    for scenario in SCENARIOS:
        for seed in range(seeds):
            df, truth = table(scenario, seed)
            target = 10 * float(df["compute"].max())
            la, lb = truth.loss("a", target), truth.loss("b", target)
            winner = "uncertain" if scenario == "equal" else ("b" if lb < la else "a")
            yield f"synthetic {scenario} #{seed}", df, "a", "b", Columns(), target, winner


def shared_cases():
    gem = load_table(DATA / "gemstones-lr-ablation.csv")
    yield "gemstones main vs half", gem, "main_lr", "half_lr", Columns(), 10 * 1.2e21, None
    gadre = load_table(DATA / "gadre2024-overtraining.csv")
    for eval_set in ("c4_val", "paloma_c4_en"):
        sub = filter_rows(gadre, f"eval_set == '{eval_set}'")
        for a, b in (("c4_original", "rpj"), ("c4_original", "rw_original"), ("rpj", "rw_original")):
            yield f"gadre {eval_set} {a} vs {b}", sub, a, b, Columns(group="train_data"), 5.4e22, None


def summary(results: list[Replay]) -> str:
    decides = [r for r in results if r.full != "uncertain"]
    ok = sum(r.success for r in decides)
    undecided = [r for r in results if r.full == "uncertain"]
    shares = [r.share for r in decides if r.decision == r.full]
    return (f"Where the full grid names a winner ({len(decides)}): the same, right winner with ≤ 1/3 of its compute "
            f"in {ok} ({ok / max(len(decides), 1):.0%}), median compute "
            f"{np.median(shares) if shares else float('nan'):.1%} of the grid. Where it cannot ({len(undecided)}): the "
            f"advisor says uncertain in {sum(r.decision == 'uncertain' for r in undecided)}, names the planted winner "
            f"in {sum(r.decision != 'uncertain' and not r.wrong for r in undecided)}, after "
            f"{np.mean([r.share for r in undecided]) if undecided else float('nan'):.0%} of the compute on average. "
            f"Wrong winners named: {sum(r.wrong for r in results)}.")


def twice(p: float, before: float | None, settled: bool) -> bool:
    """The rule before 2026-12-02: settled at this look and outside the band, same side, at the one before."""
    lo, hi = SETTLED
    return settled and before is not None and not lo <= before <= hi and (p > hi) == (before > hi)


WINNERS = {
    "one look (as shipped)": lambda look: look["settled"],
    "two looks in a row (before the weighing's small-sample reading)": lambda look: look["twice"],
}
"""Rules for naming a winner, tried on the --no-stop paths."""

FUTILITY = {
    "exact curves only (Advice.reach < OUT_OF_REACH)": lambda look: look["reach"] < OUT_OF_REACH,
    "exact curves or the rest of the plan (as shipped)": lambda look: look["out_of_reach"],
    "never": lambda look: False,
}
"""Rules for giving up on a look that is weighed and not settled, tried on the --no-stop paths."""


def stopped(r: Replay, gives_up, settles=WINNERS["one look (as shipped)"]) -> Replay:
    """The replay as the rules would have ended it: the advisor's path does not depend on when it stops."""
    for look in r.looks:
        if settles(look):
            return replace(r, decision=decide(look["p"]), spent=look["share"] * r.total)
        if look["can_settle"] and not look["settled"] and gives_up(look):
            return replace(r, decision="uncertain", spent=look["share"] * r.total)
    return replace(r, decision="uncertain", spent=r.total)


def plan_reliability(looks: list[dict]) -> str:
    """How often the full grid settled, against the share of futures the plan forecast settling it
    (analysis.advice.forecast_plan), over the looks where every model is weighed."""
    df = pd.DataFrame(looks)
    df = df[(df["plan_runs"] > 0) & df["can_settle"]].assign(grid_settles=lambda d: d["full"] != "uncertain")
    df["bin"] = pd.cut(df["plan_settles"], [0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0001], right=False)
    table = df.groupby("bin", observed=True).agg(looks=("p", "size"), replays=("replay", "nunique"),
                                                 forecast=("plan_settles", "mean"), grid=("grid_settles", "mean"))
    brier = float(np.mean((df["plan_settles"] - df["grid_settles"]) ** 2))
    return (f"The plan's forecast that the whole grid settles it, against whether it did ({len(df)} weighed looks, "
            f"Brier {brier:.3f}):\n{table.round(3).to_string()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["synthetic", "shared"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--match", default="", help="only the replays whose name contains this")
    parser.add_argument("--no-pairs", dest="pairs", action="store_false", help="offer single runs only")
    parser.add_argument("--trace", action="store_true", help="print P and the chosen run at every look")
    parser.add_argument("--looks", type=Path, help="write every look's figures to this CSV")
    parser.add_argument("--no-stop", dest="stop", action="store_false",
                        help="look until every run is shown (with --looks: to try stopping rules)")
    args = parser.parse_args()
    cases = []
    if args.only in (None, "synthetic"):
        cases.append(synthetic_cases(args.seeds))
    if args.only in (None, "shared"):
        cases.append(shared_cases())
    results = []
    for source in cases:
        for name, df, a, b, columns, target, truth in source:
            if args.match not in name:
                continue
            r = replay(name, df, a, b, columns, target, truth, args.bootstrap, trace=args.trace, pairs=args.pairs,
                       stop=args.stop, max_steps=30 if args.stop else 80)
            results.append(r)
            verdict = "WRONG" if r.wrong else "ok" if r.success else "-"
            print(f"{r.name:48s} full {r.full:9s} advisor {r.decision:9s} truth {r.truth or '–':9s} compute "
                  f"{r.share:5.1%} in {r.steps:2d} steps  {verdict}  {r.seconds:.0f} s", flush=True)
    if args.looks:
        pd.DataFrame([look for r in results for look in r.looks]).to_csv(args.looks, index=False)
    print(f"\n{len(results)} replays. {summary(results)}")
    if not args.stop:
        print("\nThe same paths, stopped by each rule for naming a winner (giving up as shipped):")
        shipped = FUTILITY["exact curves or the rest of the plan (as shipped)"]
        for rule, settles in WINNERS.items():
            print(f"- {rule}: {summary([stopped(r, shipped, settles) for r in results])}")
        print("\n... and by each rule for giving up (a winner on one look):")
        for rule, gives_up in FUTILITY.items():
            print(f"- {rule}: {summary([stopped(r, gives_up) for r in results])}")
        print("\n" + plan_reliability([look for r in results for look in r.looks]))

if __name__ == "__main__":
    main()
