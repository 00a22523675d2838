"""Does the advisor reach the right decision with less compute? Replays of tables as if each run were
yet to be trained.

A replay starts from each arm's three smallest sizes, then repeats: compare the arms at the target
(analysis.compare), stop if P(B beats A) is outside the settled band at this look and the one
before (execute.adaptive's rule), else reveal the run (or pair) that analysis.advice values most
per FLOP. A run's cost is its FLOPs (6·N·D at its last row: the
checkpoints of a run come with it). The full grid's own decision is the reference: the same
decision, and (for planted truths) the right one, with how much of the grid's compute.

    python benchmarks/advisor.py                  # planted truths, then the shared published tables
    python benchmarks/advisor.py --only synthetic --seeds 3
    python benchmarks/advisor.py --match "beyond #0" --trace   # one replay, P and the next run at each look

A look whose decision is out of reach (analysis.advice: almost no draw's own P leaves the band)
ends the replay as uncertain, as it ends `run --adaptive`; `--trace` prints that reach at every look.

Measured 2026-12-02 (defaults, 27 replays), with the run noise read from the fit honestly
(analysis.observed gives back the parameters the fit spent, 1.5–2.5× the noise it read before on
planted ladders, and reads checkpointed runs at their latest pair) and the residual bootstrap
scaled by each run's leverage: the full grid decides 10; the same winner with ≤ 1/3 of the compute
in 6 of them (60%; before, 7 of 10), median 13%; uncertain in 14 of the 17 it cannot, the planted
winner in 3; no wrong winner. The misses: planted-beyond #0 (P 0.98 after 25%, and the look to
confirm it needed the top pair), never #1 (P 0.024 after 16%, then 0.051, just inside the band),
gadre c4_val c4 vs rw (never settled) and paloma c4 vs rw (39%). `--no-pairs` (single runs only) named a wrong winner in planted-equal
#4 (before the noise change).

Goal (issue): the same, right decision as the full grid with ≤ 1/3 of its compute in ≥ 80% of replays;
where the full grid cannot decide, the advisor does not decide wrongly.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis import Columns, compare_arms, load_table, select_runs
from scalinglab.analysis.advice import SETTLED, Candidate, advise, settled_twice
from scalinglab.analysis.synthetic import SCENARIOS, table
from scalinglab.analysis.table import filter_rows
from scalinglab.config import ConfigError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
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
           bootstrap: int, max_steps: int = 30, trace: bool = False, pairs: bool = True) -> Replay:
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
    decision, steps, before = "uncertain", 0, None
    while steps < max_steps:
        steps += 1
        try:
            c = compare_arms(shown_rows(frame, shown), a, b, columns=STANDARD, target_compute=target, bootstrap=bootstrap)
        except ConfigError:  # too few points yet: reveal each arm's cheapest hidden run
            chosen = {min((k for k in hidden if k[0] == arm), key=cost.get) for arm in (a, b)
                      if any(k[0] == arm for k in hidden)}
        else:
            advice = advise(c, candidates(runs, hidden, a, b, pairs), sims=200)
            settled = settled_twice(advice.p, before, SETTLED, advice.settled)
            decision = decide(advice.p) if settled else "uncertain"
            if trace:
                top = advice.values[0] if advice.values else None
                print(f"  step {steps}: P {advice.p:.3f} reach {advice.reach:.2f} weighed {advice.can_settle} spent "
                      f"{sum(cost[k] for k in shown) / sum(cost.values()):.1%} next "
                      f"{top.candidate.label if top else '-'} gain {top.gain if top else 0:.3f} "
                      f"cost {top.candidate.cost if top else 0:.2e}"
                      f"{' settled' if settled else ' out of reach' if advice.out_of_reach else ''}", flush=True)
            before = advice.p
            if decision != "uncertain" or advice.out_of_reach:
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
                  time.perf_counter() - start)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["synthetic", "shared"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--match", default="", help="only the replays whose name contains this")
    parser.add_argument("--no-pairs", dest="pairs", action="store_false", help="offer single runs only")
    parser.add_argument("--trace", action="store_true", help="print P and the chosen run at every look")
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
            r = replay(name, df, a, b, columns, target, truth, args.bootstrap, trace=args.trace, pairs=args.pairs)
            results.append(r)
            verdict = "WRONG" if r.wrong else "ok" if r.success else "-"
            print(f"{r.name:48s} full {r.full:9s} advisor {r.decision:9s} truth {r.truth or '–':9s} compute "
                  f"{r.share:5.1%} in {r.steps:2d} steps  {verdict}  {r.seconds:.0f} s", flush=True)
    decides = [r for r in results if r.full != "uncertain"]
    ok = sum(r.success for r in decides)
    undecided = [r for r in results if r.full == "uncertain"]
    wrong = sum(r.wrong for r in results)
    shares = [r.share for r in decides if r.decision == r.full]
    print(f"\n{len(results)} replays. Where the full grid names a winner ({len(decides)}): the same, right winner "
          f"with ≤ 1/3 of its compute in {ok} ({ok / max(len(decides), 1):.0%}), median compute "
          f"{np.median(shares) if shares else float('nan'):.1%} of the grid. Where it cannot ({len(undecided)}): the "
          f"advisor says uncertain in {sum(r.decision == 'uncertain' for r in undecided)}, names the planted winner in "
          f"{sum(r.decision != 'uncertain' and not r.wrong for r in undecided)}. Wrong winners named: {wrong}.")


if __name__ == "__main__":
    main()
