"""How trustworthy are the comparison's forecasts? Rolling-origin backtests on real and planted data.

For each comparison: redo it on the k smallest sizes, forecast every larger pair, for every k
(analysis.calibration: each fold redoes the whole comparison on its own rows). Prints per dataset
(never pooled over datasets' rows): forecasts with and without a probability, accuracy, Brier
score, its skill over two no-model baselines — persistence (the arm ahead at the fold's largest
size stays ahead) and climatology (the fold's share of pairs B led) — with a cluster-robust 95%
interval (clusters: comparisons where a dataset has several, else held-out pairs), the forecasts'
worth in independent outcomes (n ÷ design effect), and a reliability table; then the seconds each
dataset took.

    python benchmarks/calibration.py                        # everything (tens of minutes on 2 cores)
    python benchmarks/calibration.py --only gemstones --draws 800
    python benchmarks/calibration.py --share none           # a method variant

Data: data/ (gemstones-lr-ablation.csv: main vs half LR, checkpoints of runs;
gadre2024-overtraining.csv: three training sets, each pair, on each of the 8 eval sets), and
planted truths (analysis.synthetic.planted: identical arms, crossing inside, beyond, never).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from scalinglab.analysis import Columns, load_table, rolling_backtest
from scalinglab.analysis.deciding.scored import Scored
from scalinglab.analysis.evaluating.calibration import Scores, score
from scalinglab.analysis.evaluating.synthetic import PLANTED, planted
from scalinglab.analysis.reading.table import filter_rows
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
    if only in (None, "planted"):
        for scenario in PLANTED:
            for seed in range(seeds):
                df, _ = planted(scenario, seed)
                yield "planted", f"{scenario} #{seed}", df, Columns(), "a", "b"


def line(label: str, s: Scores, seconds: float | None = None) -> str:
    hit = "–" if s.confident_n == 0 else f"{s.confident_hit:.2f}"
    tail = "" if seconds is None else f"  {seconds:5.1f} s"
    return (f"{label:50s} n={s.n:4d} ({s.n_with_p} with P)  acc {s.accuracy:.2f}  Brier {s.brier:.3f}  "
            f"P≥0.9: {s.confident_n:4d} right {hit}{tail}")


def skill_lines(s: Scores) -> list[str]:
    out = []
    for k in s.skills:
        lo, hi = k.interval
        out.append(f"    skill over {k.baseline:11s} (Brier {k.baseline_brier:.3f}): {k.skill:+.3f} "
                   f"[{lo:+.3f}, {hi:+.3f}] (95%, {k.clusters} {k.cluster_kind} as clusters)")
    out.append(f"    worth {s.effective_n:.0f} independent outcomes (n ÷ design effect)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["gemstones", "gadre", "planted"])
    parser.add_argument("--draws", type=int, default=1600)
    parser.add_argument("--seeds", type=int, default=6, help="Planted tables per scenario.")
    parser.add_argument("--share", default="auto")
    parser.add_argument("--frontier", default=None)
    parser.add_argument("--quiet", action="store_true", help="Per dataset figures only.")
    args = parser.parse_args()
    per: dict[str, list[Scored]] = {}
    seconds: dict[str, float] = {}
    for dataset, label, df, columns, a, b in comparisons(args.only, args.seeds):
        start = time.perf_counter()
        try:
            cal = rolling_backtest(df, a, b, columns=columns, draws=args.draws, share=args.share,
                                   frontier=args.frontier, label=label)
        except ConfigError as e:
            print(f"{dataset}: {label}: skipped: {e}")
            continue
        took = time.perf_counter() - start
        seconds[dataset] = seconds.get(dataset, 0.0) + took
        per.setdefault(dataset, []).extend(cal.forecasts)
        if not args.quiet:
            print(line(f"{dataset}: {label}", cal.scores, took), flush=True)
    print()
    for dataset, forecasts in per.items():
        s = score(forecasts)
        print(line(f"{dataset} (per dataset)", s, seconds[dataset]))
        for text in skill_lines(s):
            print(text)
        print("    reliability (named winner's probability: forecasts, mean claimed, hit rate): " + "; ".join(
            f"[{lo:.2f}, {hi:.2f}{']' if hi == 1.0 else ')'} {n} {claimed:.3f} {hit:.3f}"
            for lo, hi, n, claimed, hit in s.reliability))


if __name__ == "__main__":
    main()
