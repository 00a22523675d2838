"""How long `compare` and `backtest` take (goals: compare on 200 rows ≤ 20 s and on 1,000 rows ≤ 60 s,
a backtest of each shared dataset ≤ 5 min, on 2 cores).

    python benchmarks/compare_speed.py [--draws 3200] [--skip-backtests]

The tables: two arms × 10 (or 50) runs × 10 checkpoints of L(N, D) with 0.5% noise (Gemstones-like
designs), compared on the Approach 3 frontier with the command's default posterior draws; the
backtests use the command's defaults on the published tables in data/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis import Columns, compare_arms, load_table, rolling_backtest
from scalinglab.analysis.reading.table import filter_rows

DATA = Path(__file__).resolve().parents[1] / "data"


def checkpoint_table(runs_per_arm: int = 50, checkpoints: int = 10, noise: float = 0.005, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    laws = {"a": (1.8, 400.0, 1500.0, 0.34, 0.28), "b": (1.8, 350.0, 1800.0, 0.34, 0.29)}
    rows = []
    for arm, (e, a, b, alpha, beta) in laws.items():
        for r, n in enumerate(np.geomspace(3e7, 3e9, runs_per_arm)):
            for d in n * np.geomspace(2, 60, checkpoints):
                loss = (e + a / n**alpha + b / d**beta) * np.exp(rng.normal(0, noise))
                rows.append({"arm": arm, "run": f"{arm}{r}", "params": n, "tokens": d, "loss": loss})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3200)
    parser.add_argument("--skip-backtests", action="store_true")
    args = parser.parse_args()

    for runs, goal in ((10, 20), (50, 60)):
        df = checkpoint_table(runs_per_arm=runs)
        start = time.perf_counter()
        c = compare_arms(df, "a", "b", draws=args.draws, target_compute=1e23)
        took = time.perf_counter() - start
        print(f"compare: {len(df)} rows ({c.setup.design.describe()}), {args.draws} draws: {took:.1f} s "
              f"(goal ≤ {goal} s); verdict {c.verdict.kind}, P(b better) = {c.forecast.p_b_better:.3f}", flush=True)
    if args.skip_backtests:
        return
    cases = [("gemstones-lr-ablation.csv", None, Columns(), "main_lr", "half_lr"),
             ("gadre2024-overtraining.csv", "eval_set == 'c4_val'", Columns(group="train_data"), "c4_original", "rpj")]
    for name, where, columns, a, b in cases:
        table = filter_rows(load_table(DATA / name), where)
        start = time.perf_counter()
        cal = rolling_backtest(table, a, b, columns=columns)
        took = time.perf_counter() - start
        print(f"backtest {name}{f' ({where})' if where else ''}: {len(cal.forecasts)} forecasts in "
              f"{len(cal.folds)} folds: {took:.1f} s (goal ≤ 300 s); Brier {cal.scores.brier:.3f}")


if __name__ == "__main__":
    main()
