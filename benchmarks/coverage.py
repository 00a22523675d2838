"""Do the comparison's numbers mean what they say? Planted truths, hundreds per scenario.

Each planted table (analysis.synthetic.planted) draws its own law, ladder (4–8 sizes per arm), noise
(0.3–1% per run) and scenario: identical arms, a crossing inside the ladder, a crossing beyond it,
never crossing; each with single seeds and with replicates (a second seed at each arm's two smallest
sizes). `compare_arms` then forecasts at 10× the largest run, and this prints, per scenario:
- the coverage of the 95% interval of Δ = E[L_B] − E[L_A] at the target (goal: 93–97%), with its
  binomial 95% interval (Wilson);
- the coverage of the crossing's 95% interval, where the truth crosses and the interval exists;
- the verdicts: a winner named (identical arms: a false winner; goal ≤ 5%, never with P(B better)
  beyond 0.01 / 0.99), right when named, "equivalent", "uncertain";
- how often P(B better) is beyond 0.01 / 0.99, and the seconds per comparison.

    python benchmarks/coverage.py                   # 200 tables per scenario and seeding (~1 h on 2 cores)
    python benchmarks/coverage.py --tables 50 --scenarios identical never --workers 2
    python benchmarks/coverage.py --json out.json   # every table's figures
    python benchmarks/coverage.py --tables 50 --scenarios identical --seeding three-seeds six-seeds   # equivalent?
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from multiprocessing import Pool

import numpy as np
from scipy.stats import binomtest

from scalinglab.analysis import compare_arms
from scalinglab.analysis.evaluating.synthetic import PLANTED, planted

SEEDINGS = {"single": {}, "replicates": {"replicates": True}, "three-seeds": {"sizes": 8, "seeds": 3},
            "six-seeds": {"sizes": 8, "seeds": 6}}
"""How each planted table is run: one seed per point; a second seed at each arm's two smallest sizes;
or a well-measured ladder, 8 sizes with 3 or 6 seeds each (where identical arms should read equivalent)."""


def one(job: tuple[str, int, str, int, str]) -> dict:
    scenario, seed, seeding, draws, share = job
    df, truth = planted(scenario, seed, **SEEDINGS[seeding])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = compare_arms(df, "a", "b", target_compute=truth.target, draws=draws, seed=seed, share=share,
                         backtest=False)
    f, x = c.forecast, c.crossing
    lo, hi = f.delta_interval
    cross_lo, cross_hi = x.interval
    return {"scenario": scenario, "seed": seed, "seeding": seeding, "sizes": int(df["compute"].nunique()),
            "noise": truth.noise, "truth": truth.delta, "delta": f.delta, "lo": lo, "hi": hi,
            "covered": bool(lo <= truth.delta <= hi), "p": f.p_b_better, "p_run": f.p_run, "verdict": c.verdict.kind,
            "right": c.verdict.winner is not None and scenario != "identical"
            and (c.verdict.winner == "b") == (truth.delta < 0),
            "crossing": truth.crossing, "cross_lo": cross_lo, "cross_hi": cross_hi,
            "cross_covered": None if truth.crossing is None or not np.isfinite(cross_lo)
            else bool(cross_lo <= truth.crossing <= cross_hi),
            "noise_source": f.uncertainty.noise_source, "seconds": time.perf_counter() - start}


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval of the proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def summary(rows: list[dict]) -> str:
    n = len(rows)
    covered = sum(r["covered"] for r in rows)
    lo, hi = wilson(covered, n)
    crossing = [r for r in rows if r["cross_covered"] is not None]
    named = [r for r in rows if r["verdict"] in ("a", "b")]
    extreme = sum(r["p"] < 0.01 or r["p"] > 0.99 for r in rows if np.isfinite(r["p"]))
    kinds = {k: sum(r["verdict"] == k for r in rows) / n for k in ("equivalent", "uncertain")}
    right = "–" if not named else f"{sum(r['right'] for r in named) / len(named):.2f}"
    cross = "–" if not crossing else f"{np.mean([r['cross_covered'] for r in crossing]):.2f} (n={len(crossing)})"
    return (f"Δ covered {covered / n:.3f} [{lo:.3f}, {hi:.3f}]  crossing covered {cross}  winner named "
            f"{len(named) / n:.3f} (right {right})  equivalent {kinds['equivalent']:.2f}  uncertain "
            f"{kinds['uncertain']:.2f}  P beyond 0.01/0.99 {extreme / n:.3f}  "
            f"{np.mean([r['seconds'] for r in rows]):.1f} s each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200, help="Planted tables per scenario and seeding.")
    parser.add_argument("--scenarios", nargs="+", default=list(PLANTED), choices=PLANTED)
    parser.add_argument("--seeding", nargs="+", default=["single", "replicates"], choices=list(SEEDINGS))
    parser.add_argument("--draws", type=int, default=3200, help="Posterior draws per comparison.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--share", default="auto", help="The joint model (auto: the weighed average; a method variant).")
    parser.add_argument("--first-seed", type=int, default=0, help="Seeds first-seed … first-seed + tables − 1.")
    parser.add_argument("--json", help="Write every table's figures here.")
    args = parser.parse_args()
    jobs = [(s, seed, seeding, args.draws, args.share) for seeding in args.seeding
            for s in args.scenarios for seed in range(args.first_seed, args.first_seed + args.tables)]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        rows = pool.map(one, jobs, chunksize=2)
    for seeding in args.seeding:
        for s in args.scenarios:
            part = [r for r in rows if r["scenario"] == s and r["seeding"] == seeding]
            print(f"{s:10s} {seeding:11s} n={len(part):4d}  {summary(part)}", flush=True)
    print(f"all: {summary(rows)}; {time.perf_counter() - start:.0f} s in all")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
