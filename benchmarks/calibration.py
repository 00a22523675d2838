"""How trustworthy are the comparison's forecasts? Rolling-origin backtests on real and planted data.

For each comparison: fit on the k smallest sizes, forecast every larger pair, for every k
(analysis.calibration). Prints per comparison and pooled: forecasts, accuracy, Brier score, the
share of forecasts with P ≥ 0.9 that were right, and a reliability table; then the seconds each
shared dataset took (the goal: ≤ 5 min each on 2 cores).

    python benchmarks/calibration.py                        # everything (several minutes)
    python benchmarks/calibration.py --only gemstones --bootstrap 100
    python benchmarks/calibration.py --share none --resample runs    # a method variant

Data: ../shared/data (gemstones-lr-ablation.csv: main vs half LR, checkpoints of runs;
gadre2024-overtraining.csv: three training sets, each pair, on each of the 8 eval sets), and
synthetic ladders with a planted truth (analysis.synthetic: crossing inside, beyond, never, equal).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from scalinglab.analysis import Columns, load_table, rolling_backtest
from scalinglab.analysis.calibration import Scored, score
from scalinglab.analysis.synthetic import SCENARIOS, table
from scalinglab.analysis.table import filter_rows
from scalinglab.config import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"


def comparisons(only: str | None, seeds: int):
    """(dataset, label, table, columns, a, b) for every comparison backtested."""
    if only in (None, "gemstones"):
        df = load_table(DATA / "gemstones-lr-ablation.csv")
        yield "gemstones", "main_lr vs half_lr", df, Columns(), "main_lr", "half_lr"
    if only in (None, "gadre"):
        df = load_table(DATA / "gadre2024-overtraining.csv")
        for eval_set in sorted(df["eval_set"].unique()):
            sub = filter_rows(df, f"eval_set == '{eval_set}'")
            for a, b in itertools.combinations(["c4_original", "rpj", "rw_original"], 2):
                yield "gadre", f"{eval_set}: {a} vs {b}", sub, Columns(group="train_data"), a, b
    if only in (None, "synthetic"):
        for scenario in SCENARIOS:
            for seed in range(seeds):
                df, _ = table(scenario, seed)
                yield "synthetic", f"{scenario} #{seed}", df, Columns(), "a", "b"


def line(label: str, s, seconds: float | None = None) -> str:
    hit = "–" if s.confident_n == 0 else f"{s.confident_hit:.2f}"
    tail = "" if seconds is None else f"  {seconds:5.1f} s"
    return (f"{label:58s} n={s.n:4d}  acc {s.accuracy:.2f}  Brier {s.brier:.3f}  P≥0.9: {s.confident_n:4d} "
            f"right {hit}  beyond-noise acc {s.significant_accuracy:.2f} (n={s.significant_n}){tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["gemstones", "gadre", "synthetic"])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=6, help="Synthetic tables per scenario.")
    parser.add_argument("--share", default="auto")
    parser.add_argument("--resample", default=None)
    parser.add_argument("--frontier", default=None)
    parser.add_argument("--quiet", action="store_true", help="Pooled figures only.")
    args = parser.parse_args()
    pooled: dict[str, list[Scored]] = {}
    seconds: dict[str, float] = {}
    for dataset, label, df, columns, a, b in comparisons(args.only, args.seeds):
        start = time.perf_counter()
        try:
            cal = rolling_backtest(df, a, b, columns=columns, bootstrap=args.bootstrap, share=args.share,
                                   resample=args.resample, frontier=args.frontier)
        except ConfigError as e:
            print(f"{dataset}: {label}: skipped: {e}")
            continue
        took = time.perf_counter() - start
        seconds[dataset] = seconds.get(dataset, 0.0) + took
        pooled.setdefault(dataset, []).extend(cal.forecasts)
        if not args.quiet:
            print(line(f"{dataset}: {label}", cal.scores, took), flush=True)
    print()
    everything = [f for fs in pooled.values() for f in fs]
    for dataset, forecasts in pooled.items():
        print(line(f"pooled {dataset}", score(forecasts), seconds[dataset]))
    total = score(everything)
    print(line("pooled, all", total))
    print("\nreliability (named winner's probability: forecasts, mean claimed, hit rate):")
    for lo, hi, n, claimed, hit in total.reliability:
        print(f"  [{lo:.2f}, {hi:.2f}{']' if hi == 1.0 else ')'}  {n:5d}  {claimed:.3f}  {hit:.3f}")


if __name__ == "__main__":
    main()
