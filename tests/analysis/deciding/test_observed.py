"""Measured differences pair like with like, carry a standard error, and count leader changes only beyond noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import compare_arms, select_runs
from scalinglab.analysis.deciding.observed import observe
from scalinglab.analysis.evaluating.synthetic import NOISE, table


def frame(rows):
    return select_runs(pd.DataFrame(rows), checkpoints="all").frame


def arms(rows):
    f = frame(rows)
    return f[f["group"] == "a"], f[f["group"] == "b"]


def test_budgets_of_one_size_stay_apart_never_averaged():
    # At N = 1e8, b is ahead with few tokens and behind with many: two pairs, not one average.
    rows = [{"arm": arm, "run_id": f"{arm}{i}", "params": 1e8, "tokens": d, "loss": loss}
            for i, (d, la, lb) in enumerate([(1e9, 4.0, 3.8), (1e10, 3.0, 3.2)])
            for arm, loss in (("a", la), ("b", lb))]
    o = observe(*arms(rows))
    assert o.key == "N and D" and len(o.diff) == 2
    assert o.diff == pytest.approx((-0.2, 0.2))


def test_checkpoints_a_hair_apart_pair_once_each_and_never_merge_within_a_run():
    # b's run stopped 0.04% short of a's last checkpoint: one pair. a also logged a checkpoint 0.3%
    # before its last, with no partner in b: it stays a's own point, not averaged into the pair.
    rows = [{"arm": "a", "run_id": "a", "params": 1e8, "tokens": d, "step": i, "loss": loss}
            for i, (d, loss) in enumerate([(1e9, 4.0), (9.97e9, 3.21), (1e10, 3.2)])]
    rows += [{"arm": "b", "run_id": "b", "params": 1e8, "tokens": d, "step": i, "loss": loss}
             for i, (d, loss) in enumerate([(1e9, 3.9), (0.9996e10, 3.1)])]
    o = observe(*arms(rows))
    assert o.key == "N and D" and len(o.diff) == 2
    assert o.diff == pytest.approx((-0.1, -0.1))


def test_arms_of_different_sizes_pair_by_compute_budget():
    # Per-budget optimal points: each arm's best model at each budget, of different sizes.
    rows = []
    for c, (na, la), (nb, lb) in [(1e18, (1e8, 3.5), (2e8, 3.4)), (1e19, (3e8, 3.0), (5e8, 2.95)),
                                  (1e20, (1e9, 2.7), (1.5e9, 2.68))]:
        rows += [{"arm": "a", "run_id": f"a{c:.0e}", "params": na, "compute": c, "loss": la},
                 {"arm": "b", "run_id": f"b{c:.0e}", "params": nb, "compute": c * 1.003, "loss": lb}]
    o = observe(*arms(rows))
    assert o.key == "compute" and len(o.diff) == 3
    assert o.diff == pytest.approx((-0.1, -0.05, -0.02))


def test_seeds_give_the_noise_and_a_flip_within_it_is_not_a_flip():
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate([1e7, 2e7, 4e7, 8e7]):
        base = 4.0 - 0.3 * i
        for seed in range(3):  # three seeds of each point, noise 0.01
            rows.append({"arm": "a", "run_id": f"a{i}s{seed}", "seed": seed, "params": n, "tokens": 20 * n,
                         "loss": base + rng.normal(0, 0.01)})
        # b: 0.003 apart from a, alternating in sign: inside the noise everywhere.
        rows.append({"arm": "b", "run_id": f"b{i}", "params": n, "tokens": 20 * n, "loss": base + 0.003 * (-1) ** i})
    o = observe(*arms(rows))
    assert o.noise_source.startswith("seeds (4 replicated points)")
    assert o.noise == pytest.approx(0.01, rel=0.5)
    assert o.sign_changes == () and o.leads == (0, 0, 4)


def test_the_table_s_standard_errors_are_used_when_there_are_no_seeds():
    rows = [{"arm": arm, "run_id": f"{arm}{i}", "params": n, "tokens": 20 * n, "loss": loss, "final_eval_loss_se": 0.002}
            for i, n in enumerate([1e7, 2e7, 4e7])
            for arm, loss in (("a", 4.0 - 0.3 * i), ("b", 4.05 - 0.3 * i - 0.05 * i))]
    o = observe(*arms(rows))
    assert o.noise_source == "standard errors in the table"
    np.testing.assert_allclose(o.se, np.sqrt(2) * 0.002)
    assert o.leads == (1, 1, 1) and o.sign_changes == ((1e7, 4e7),)


def test_without_seeds_the_noise_is_read_from_the_pairs_local_smoothness_and_is_unbiased():
    # One run per size, no seeds: the noise comes from what a line through each pair's neighbours
    # leaves of its difference (analysis.noise), never from the law's residuals. Averaged over
    # planted ladders, the squared estimate is the planted variance.
    ratios = []
    for seed in range(12):
        df, _ = table("never", seed, sizes=6)
        o = compare_arms(df, "a", "b", draws=0, seed=seed, backtest=False).observed
        assert o.noise_source.startswith("local smoothness")
        ratios.append(o.run_noise.sigma / NOISE)
    assert 0.6 < np.mean(np.square(ratios)) < 1.6


def test_with_checkpoints_the_noise_is_read_from_each_run_s_latest_pair():
    # Arm b trails by 0.05 mid-schedule and ends within 0.002 of a: a forecast is of final losses,
    # so the noise of one run is read from the runs' latest pairs, not from the schedule's gap.
    rows = []
    for i, n in enumerate([1e7, 2e7, 4e7, 8e7]):
        for d in (5 * n, 10 * n, 20 * n):
            loss_a = 4.0 - 0.3 * i - 0.05 * np.log(d / n)
            gap = 0.05 if d < 20 * n else 0.002 * (-1) ** i
            rows += [{"arm": "a", "run_id": f"a{i}", "params": n, "tokens": d, "loss": loss_a},
                     {"arm": "b", "run_id": f"b{i}", "params": n, "tokens": d, "loss": loss_a + gap}]
    o = observe(*arms(rows))
    assert o.noise_source.startswith("local smoothness") and len(o.diff) == 12
    assert o.noise < 0.005  # the alternating ±0.002 of the final pairs, not the 0.05 mid-schedule
