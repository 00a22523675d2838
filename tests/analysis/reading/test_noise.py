"""The three sources of uncertainty, each recovered where it was planted: run noise from seeds, run
noise from the local smoothness of paired differences, and a law's misfit kept apart from both."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.analysis.evaluating.synthetic import ladder
from scalinglab.analysis.reading.noise import seed_noise, smoothness_noise


def two_arms(noise: float, seed: int, sizes: int = 8, seeds: int = 1, bump: float = 0.0) -> pd.DataFrame:
    """Two arms on one ladder whose laws differ smoothly (b's reducible loss 5% above a's, shrinking);
    `bump` adds a misfit both arms share: a wave in log C that no power law follows."""
    n, d, c = ladder(sizes)
    rng = np.random.default_rng(seed)
    x = np.log(c / c[0]) / np.log(c[-1] / c[0])
    wave = np.exp(bump * np.sin(3 * np.pi * x))
    frames = []
    for arm, scale, alpha in (("a", 1.0, 0.12), ("b", 1.05, 0.125)):
        mean = (2.0 + 120 * scale * c**-alpha) * wave
        for s in range(seeds):
            frames.append(pd.DataFrame({"arm": arm, "run_id": [f"{arm}-{i}-{s}" for i in range(sizes)], "params": n,
                                        "tokens": d, "compute": c, "seed": s,
                                        "loss": mean * np.exp(rng.normal(0, noise, sizes))}))
    return pd.concat(frames, ignore_index=True)


def test_seeds_measure_the_noise_they_were_planted_with():
    df = two_arms(0.006, seed=0, seeds=4).rename(columns={"arm": "group"})
    n = seed_noise(df)
    assert n.source == "seeds" and n.dof == 2 * 8 * 3
    assert n.sigma == pytest.approx(0.006, rel=0.15)


def test_local_smoothness_reads_the_noise_without_bias_and_with_honest_dof():
    # Paired differences that curve (b's law is not a's shifted): what a line through each pair's two
    # neighbours leaves is noise. Over many ladders its mean square is σ², and its spread matches the
    # Satterthwaite degrees of freedom it states.
    x = np.log(ladder(7)[2])
    est, dofs = [], []
    rng = np.random.default_rng(1)
    for _ in range(3000):
        d = 0.05 * np.exp(-(x - x[0]) / 8) + rng.normal(0, 0.004 * np.sqrt(2), len(x))
        n = smoothness_noise([(x, d, np.full(len(x), 2.0))])
        est.append(n.sigma**2)
        dofs.append(n.dof)
    est = np.array(est)
    assert np.mean(est) == pytest.approx(0.004**2, rel=0.05)
    assert 2 * np.mean(est) ** 2 / np.var(est) == pytest.approx(dofs[0], rel=0.15)


def test_a_compare_without_seeds_reads_the_noise_from_smoothness_not_from_the_misfit():
    # A misfit both arms share (a 4% wave in log C) is five times the planted noise: read from the
    # law's residuals, the noise would swell with it; the paired differences cancel it.
    c = compare_arms(two_arms(0.004, seed=2, bump=0.04), "a", "b", draws=400, backtest=False)
    assert c.observed.run_noise.source == "smoothness"
    assert c.observed.run_noise.sigma == pytest.approx(0.004, rel=0.6)
    law_scatter = np.std(np.concatenate([c.fit_a.residuals, c.fit_b.residuals]))
    assert law_scatter > 4 * c.observed.run_noise.sigma


def test_with_seeds_the_posterior_puts_a_planted_misfit_in_the_misfit_and_none_where_the_law_is_right():
    right = compare_arms(two_arms(0.004, seed=3, seeds=2), "a", "b", draws=800, backtest=False)
    wrong = compare_arms(two_arms(0.004, seed=3, seeds=2, bump=0.03), "a", "b", draws=800, backtest=False)
    for c in (right, wrong):
        assert c.observed.run_noise.source == "seeds"
        assert np.median(c.models.mixture.noise) == pytest.approx(0.004, rel=0.35)
    u_right, u_wrong = right.forecast.uncertainty, wrong.forecast.uncertainty
    assert u_wrong.misfit > 3 * u_right.misfit
    misfit = np.sqrt(np.maximum(wrong.models.mixture.scatter**2 - wrong.models.mixture.noise**2, 0))
    assert np.median(misfit) > 2 * 0.004  # the wave (3%, as a relative error ~0.02) shows as misfit
    assert u_wrong.growth > 1  # beyond the data the misfit grows


def test_runs_that_end_a_hair_apart_are_compared_and_measure_the_noise_at_their_ends():
    # Checkpoints of runs: each arm's run stops at the checkpoint nearest its budget, b's 0.04% short
    # of a's (as in a published ablation). Their ends are one budget; read apart, the final losses
    # would go uncompared, nothing would measure the noise and the law's scatter would stand in for it.
    n, d, c = ladder(8)
    rng = np.random.default_rng(4)
    frames = []
    for arm, scale, end in (("a", 1.0, 1.0), ("b", 1.05, 0.9996)):
        for i in range(len(n)):
            tokens = d[i] * np.array([0.25, 0.5, 0.75, end])
            mean = 2.0 + 400 * scale * n[i] ** -0.3 + 400 * tokens**-0.3
            frames.append(pd.DataFrame({"arm": arm, "run_id": f"{arm}-{i}", "params": n[i], "tokens": tokens,
                                        "step": np.arange(4), "loss": mean * np.exp(rng.normal(0, 0.004))}))
    c = compare_arms(pd.concat(frames, ignore_index=True), "a", "b", draws=200, backtest=False)
    assert len(c.observed.diff) == 8 * 4  # every checkpoint paired, the ends too
    assert c.observed.run_noise.source == "smoothness"
    assert c.observed.run_noise.points == 8
    assert c.observed.run_noise.sigma == pytest.approx(0.004, rel=0.6)
