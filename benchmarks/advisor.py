"""Does an adaptive study decide right, with less compute, at its stated error rate? Replays of tables as
if each run were yet to be trained.

A replay starts from each arm's three smallest sizes, then repeats what `run --adaptive` does
(execute.adaptive): compare the arms at the target, decide at this look's level (the error rate
spent over the share of the grid's compute revealed: analysis.verdict.look_level), stop on a verdict
(B better, A better, equivalent) or when the rest of the grid would rarely decide it, else reveal
the run (or pair) that analysis.advice values most per FLOP. A run's cost is its FLOPs.

A decision is wrong when it names the arm that is not better at the target, or calls the arms
equivalent when they differ there by more than the margin it used (planted truths: by the truth;
published tables: a winner the full grid does not name). Printed per family of replays: the wrong
decisions with their 95% interval (Wilson) against the stated rate, how often a decision is made,
the compute it took, and — where the full grid decides — how often the replay reaches the grid's
decision with at most a third of its compute.

    python benchmarks/advisor.py --null 200 --crossing 200        # the error rate (hours on 2 cores)
    python benchmarks/advisor.py --shared                          # the published tables
    python benchmarks/advisor.py --perturb demo.csv --replays 20   # one ladder, its losses perturbed
    python benchmarks/advisor.py --null 3 --trace                  # each look's P and choice

--perturb replays one table (e.g. `scalinglab export` of the demo's study, both arms with their
second seeds) many times, every loss multiplied by exp(ε), ε ~ N(0, σ) with σ the seed-to-seed
noise its replicates measure: what the adaptive demo's saving looks like on another machine, whose
losses differ from these by a run's noise.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from scalinglab.analysis import Columns, compare_arms, load_table, select_runs
from scalinglab.analysis.advising.advice import Candidate, advise
from scalinglab.analysis.advising.stopping import look_level
from scalinglab.analysis.deciding.verdict import LEVEL
from scalinglab.analysis.evaluating.synthetic import planted
from scalinglab.analysis.reading.noise import seed_noise
from scalinglab.analysis.reading.table import filter_rows
from scalinglab.config import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"
START_SIZES = 3
STANDARD = Columns(group="group", run_id="run")
"""A checked table (select_runs) read back under its standard names."""


@dataclass
class Replay:
    name: str
    family: str
    full: str
    """The full grid's verdict at the plain level."""
    decision: str
    """The replay's: a, b, equivalent or uncertain."""
    truth: float | None
    """The planted E[L_b] − E[L_a] at the target (None: a published table)."""
    margin: float
    """The margin of the deciding look (nats)."""
    spent: float
    total: float
    looks: int
    seconds: float

    @property
    def share(self) -> float:
        return self.spent / self.total

    @property
    def wrong(self) -> bool:
        if self.decision == "uncertain":
            return False
        if self.truth is None:  # a published table: the full grid is the reference
            return self.decision != self.full
        if self.decision == "equivalent":
            return abs(self.truth) > self.margin
        return self.decision != ("b" if self.truth < 0 else "a")

    @property
    def as_the_grid(self) -> bool:
        """The full grid's decision, reached with at most a third of its compute."""
        return self.full != "uncertain" and self.decision == self.full and self.share <= 1 / 3


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its arm, size, last tokens and cost."""
    g = frame.groupby(["group", "run"], sort=False)
    return pd.DataFrame({"params": g["params"].first(), "tokens": g["tokens"].max(),
                         "cost": g["compute"].max()}).reset_index()


def candidates(runs: pd.DataFrame, hidden: set, a: str, b: str) -> list[Candidate]:
    """Every hidden run alone, and every hidden pair of one size and budget across the arms."""
    out = []
    side = {a: "a", b: "b"}
    rows = runs[[(g, r) in hidden for g, r in zip(runs["group"], runs["run"])]]
    for row in rows.itertuples():
        out.append(Candidate(f"{row.group}|{row.run}", (side[row.group],), row.params, row.tokens, row.cost,
                             run_ids=(row.run,)))
    key = rows.assign(n=rows["params"].round(-3), d=rows["tokens"].round(-3))
    for _, pair in key.groupby(["n", "d"]):
        if set(pair["group"]) == {a, b}:
            ra, rb = pair[pair["group"] == a].iloc[0], pair[pair["group"] == b].iloc[0]
            out.append(Candidate(f"pair|{ra.run}|{rb.run}", ("a", "b"), ra.params, ra.tokens, ra.cost + rb.cost,
                                 run_ids=(ra.run, rb.run)))
    return out


def shown_rows(frame: pd.DataFrame, shown: set) -> pd.DataFrame:
    sub = frame[[(g, r) in shown for g, r in zip(frame["group"], frame["run"])]]
    sub.attrs = frame.attrs
    return sub


def replay(job) -> Replay:
    """One adaptive path through a table (job: name, family, table, a, b, columns, target, truth, draws,
    error rate, trace)."""
    name, family, df, a, b, columns, target, truth, draws, error_rate, trace = job
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    frame = select_runs(df, columns, checkpoints="all").frame
    frame = frame[frame["group"].isin([a, b])]
    frame.attrs = {"source": name}
    runs = runs_of(frame)
    cost = {(g, r): c for g, r, c in zip(runs["group"], runs["run"], runs["cost"])}
    total = sum(cost.values())
    whole = compare_arms(frame, a, b, columns=STANDARD, target_compute=target, draws=draws, backtest=False)
    full = whole.verdict.kind
    shown = set()
    for arm in (a, b):
        sizes = sorted(runs.loc[runs["group"] == arm, "params"].unique())[:START_SIZES]
        shown |= {(g, r) for g, r, n in zip(runs["group"], runs["run"], runs["params"]) if g == arm and n in sizes}
    hidden = set(cost) - shown
    decision, looks, looked, margin = "uncertain", 0, 0.0, float("nan")
    while True:
        looks += 1
        spent = sum(cost[k] for k in shown)
        try:
            c = compare_arms(shown_rows(frame, shown), a, b, columns=STANDARD, target_compute=target, draws=draws,
                             backtest=False)
        except ConfigError:  # too few points yet: reveal each arm's cheapest hidden run
            chosen = {min((k for k in hidden if k[0] == arm), key=cost.get) for arm in (a, b)
                      if any(k[0] == arm for k in hidden)}
        else:
            menu = candidates(runs, hidden, a, b)
            level = look_level(spent, total, looked, 1 - error_rate)
            advice = advise(c, menu, level=level, sims=200, plan=[x for x in menu if len(x.arms) == 1])
            margin = c.forecast.margin
            if advice.can_settle:
                looked = spent
            if trace:
                top = advice.values[0] if advice.values else None
                print(f"  {name} look {looks}: P(b better) {advice.p:.3f} P(equivalent) {advice.p_equivalent:.3f} "
                      f"level {level:.4f} verdict {advice.verdict} weighed {advice.can_settle} spent {spent / total:.1%}"
                      f" next {top.candidate.label if top else '-'}", flush=True)
            if advice.settled:
                decision = advice.verdict
                break
            if advice.out_of_reach:
                break
            if advice.values and advice.values[0].gain > 0:
                pick = advice.values[0].candidate
                groups = {"a": a, "b": b}
                chosen = {(groups[side], run) for side, run in zip(pick.arms, pick.run_ids)}
            else:  # nothing valued yet: each arm's cheapest hidden run
                chosen = {min((k for k in hidden if k[0] == arm), key=cost.get) for arm in (a, b)
                          if any(k[0] == arm for k in hidden)}
        if not chosen:
            break
        shown |= chosen
        hidden -= chosen
    return Replay(name, family, full, decision, truth, margin, float(sum(cost[k] for k in shown)), float(total), looks,
                  time.perf_counter() - start)


def planted_cases(scenarios: tuple[str, ...], n: int, family: str, first: int = 0):
    for i in range(first, first + n):
        scenario = scenarios[i % len(scenarios)]
        df, truth = planted(scenario, i, sizes=6 + i % 3)  # 6–8 rungs: a path has runs left to choose from
        yield f"{scenario} #{i}", family, df, "a", "b", Columns(), truth.target, truth.delta


def shared_cases():
    gem = load_table(DATA / "gemstones-lr-ablation.csv")
    yield "gemstones main vs half", "shared", gem, "main_lr", "half_lr", Columns(), 10 * 1.2e21, None
    gadre = load_table(DATA / "gadre2024-overtraining.csv")
    for eval_set in ("c4_val", "paloma_c4_en"):
        sub = filter_rows(gadre, f"eval_set == '{eval_set}'")
        for a, b in (("c4_original", "rpj"), ("c4_original", "rw_original"), ("rpj", "rw_original")):
            yield f"gadre {eval_set} {a} vs {b}", "shared", sub, a, b, Columns(group="train_data"), 5.4e22, None


def perturbed_cases(path: Path, n: int, a: str | None, b: str | None, target: float | None):
    """The table's losses perturbed by its own seed noise, n times (the first replay as measured)."""
    df = load_table(path)
    arms = list(dict.fromkeys(df["arm"]))
    a, b = a or arms[0], b or arms[1]
    noise = seed_noise(select_runs(df, Columns()).frame)
    if not noise.measured:
        raise SystemExit(f"{path}: no replicated points to measure the seed noise by")
    target = target or 10 * float(df["compute"].max())
    for i in range(n):
        rng = np.random.default_rng(i)
        copy = df.copy()
        if i:
            copy["loss"] = copy["loss"] * np.exp(rng.normal(0, noise.sigma, len(copy)))
        yield f"{path.stem} #{i} (σ {noise.sigma:.4f})", "perturbed", copy, a, b, Columns(), target, None


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval of the proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def summary(results: list[Replay], error_rate: float) -> str:
    n = len(results)
    wrong = sum(r.wrong for r in results)
    lo, hi = wilson(wrong, n)
    decided = [r for r in results if r.decision != "uncertain"]
    kinds = ", ".join(f"{k} {sum(r.decision == k for r in results)}" for k in ("a", "b", "equivalent", "uncertain"))
    grid = [r for r in results if r.full != "uncertain"]
    shares = [r.share for r in decided]
    return (f"{n} replays: wrong decisions {wrong} ({wrong / max(n, 1):.1%}, 95% interval {lo:.1%}–{hi:.1%}; stated "
            f"{error_rate:.0%}); decisions: {kinds}; decided after a median {np.median(shares) if shares else np.nan:.0%} "
            f"of the grid's compute (quartiles {np.quantile(shares, 0.25) if shares else np.nan:.0%}–"
            f"{np.quantile(shares, 0.75) if shares else np.nan:.0%}); the full grid decides {len(grid)}, and the replay "
            f"reaches its decision with ≤ 1/3 of its compute in {sum(r.as_the_grid for r in grid)}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=0, help="Replays of planted identical arms.")
    parser.add_argument("--crossing", type=int, default=0, help="Replays of planted crossings (inside, beyond).")
    parser.add_argument("--never", type=int, default=0, help="Replays of planted arms that never cross.")
    parser.add_argument("--shared", action="store_true", help="Replays of the published tables.")
    parser.add_argument("--perturb", type=Path, help="A table to replay with its losses perturbed by its seed noise.")
    parser.add_argument("--replays", type=int, default=20, help="With --perturb: how many.")
    parser.add_argument("--a"), parser.add_argument("--b")
    parser.add_argument("--target-compute", type=float)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=1600)
    parser.add_argument("--error-rate", type=float, default=1 - LEVEL)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trace", action="store_true", help="Print each look (runs one at a time).")
    args = parser.parse_args()
    cases = []
    if args.null:
        cases += planted_cases(("identical",), args.null, "null (identical arms)", args.first_seed)
    if args.crossing:
        cases += planted_cases(("inside", "beyond"), args.crossing, "crossing", args.first_seed)
    if args.never:
        cases += planted_cases(("never",), args.never, "never crossing", args.first_seed)
    if args.shared:
        cases += shared_cases()
    if args.perturb:
        cases += perturbed_cases(args.perturb, args.replays, args.a, args.b, args.target_compute)
    jobs = [(*case, args.draws, args.error_rate, args.trace) for case in cases]
    start = time.perf_counter()
    if args.trace or args.workers == 1:
        results = [replay(job) for job in jobs]
    else:
        with Pool(args.workers) as pool:
            results = pool.map(replay, jobs, chunksize=1)
    for r in results:
        print(f"{r.name:44s} full {r.full:10s} replay {r.decision:10s} truth "
              f"{'–' if r.truth is None else f'{r.truth:+.4f}':8s} compute {r.share:5.1%} in {r.looks:2d} looks "
              f"{'WRONG' if r.wrong else ''}  {r.seconds:.0f} s")
    print()
    for family in dict.fromkeys(r.family for r in results):
        print(f"{family}: {summary([r for r in results if r.family == family], args.error_rate)}")
    print(f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
