"""How fast the Chinchilla L(N, D) fit and its bootstrap run (issue 4: < 5 s and < 60 s on 2 cores).

    python benchmarks/fit_speed.py [--resamples 1000]

Fits Hoffmann et al. 2022 Approach 3 to Epoch's 240 points (Besiroglu et al. 2024) by the
multi-start grid and by variable projection, then refits 1,000 resamples of runs warm-started
from the full fit, and prints the seconds and the fitted numbers next to the reference.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scalinglab.analysis import PARAMS_TOKENS, Columns, load_table, select_runs
from scalinglab.analysis.fitting.bootstrap import bootstrap_fit, percentile_interval
from scalinglab.analysis.fitting.optimize import fit_grid, fit_varpro

DATA = Path(__file__).resolve().parents[1] / "data" / "chinchilla-approach3-epoch.csv"
REFERENCE = {"E": 1.8172, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    df = load_table(args.data)
    kept = df.sort_values("loss").iloc[:-5]  # Besiroglu et al. drop the 5 highest-loss points
    kept.attrs = df.attrs
    runs = select_runs(kept, Columns(params="Model Size", compute="Training FLOP"), need=("params", "tokens", "loss"))
    log_x = np.log(runs.frame[["params", "tokens"]].to_numpy())
    y = np.log(runs.frame["loss"].to_numpy())
    law = PARAMS_TOKENS

    start = time.perf_counter()
    grid = fit_grid(law, log_x, y)
    t_grid = time.perf_counter() - start
    start = time.perf_counter()
    varpro = fit_varpro(law, log_x, y)
    t_varpro = time.perf_counter() - start
    start = time.perf_counter()
    boot = bootstrap_fit(law, grid.theta, log_x, y, np.arange(len(y)), n=args.resamples, seed=0)
    t_boot = time.perf_counter() - start

    print(f"points: {len(y)}")
    print(f"grid fit ({grid.n_starts} L-BFGS starts of {len(law.starts(log_x, y))}): {t_grid:.2f} s")
    print(f"varpro fit ({varpro.n_starts} exponent pairs + polish): {t_varpro:.2f} s")
    print(f"bootstrap ({args.resamples} resamples, {boot.n_failed} failed): {t_boot:.2f} s")
    print(f"{'':6} {'grid':>10} {'varpro':>10} {'reference':>10}   95% interval")
    for i, name in enumerate(law.param_names):
        lo, hi = percentile_interval(boot.samples[:, i])
        print(f"{name:6} {law.from_theta(grid.theta)[i]:10.5g} {law.from_theta(varpro.theta)[i]:10.5g} "
              f"{REFERENCE[name]:10.5g}   ({lo:.4g}, {hi:.4g})")
    print(f"Huber objective: grid {grid.objective:.7g}, varpro {varpro.objective:.7g} (reference 0.0010183)")


if __name__ == "__main__":
    main()
