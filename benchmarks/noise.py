"""Is the run-to-run noise a comparison reads right? Planted noise against the estimate, on planted ladders.

A study of one run per width per arm has no seeds: the noise of one run's loss is read from the
local smoothness of the paired differences (analysis.noise). This script plants a known noise
(analysis.synthetic) and prints, per ladder length, the estimate ÷ the planted value (median and
quartiles over scenarios and seeds), the mean of its square (1 for an unbiased variance), and its
stated degrees of freedom.

    python benchmarks/noise.py                 # 4 scenarios × 10 seeds × 3 ladder lengths (~1 min)
    python benchmarks/noise.py --seeds 25 --sizes 5 8
"""

from __future__ import annotations

import argparse

import numpy as np

from scalinglab.analysis import compare_arms
from scalinglab.analysis.evaluating.synthetic import NOISE, SCENARIOS, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 6, 8])
    args = parser.parse_args()
    print(f"planted relative noise {NOISE}; ratio = estimate ÷ planted")
    for sizes in args.sizes:
        ratios, dofs = [], []
        for scenario in SCENARIOS:
            for seed in range(args.seeds):
                df, _ = table(scenario, seed, sizes=sizes)
                noise = compare_arms(df, "a", "b", draws=0, seed=seed, backtest=False).observed.run_noise
                ratios.append(noise.sigma / NOISE)
                dofs.append(noise.dof)
        q = np.quantile(ratios, [0.25, 0.5, 0.75])
        print(f"{sizes} sizes: ratio median {q[1]:.2f} (quartiles {q[0]:.2f}–{q[2]:.2f}), "
              f"mean of ratio² {np.mean(np.square(ratios)):.2f}, dof median {np.median(dofs):.1f}, n={len(ratios)}")


if __name__ == "__main__":
    main()
