"""Hyperparameter laws on synthetic U-curves in log LR with a diverged tail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import fit_hyper_law, fit_power_law
from scalinglab.config import ConfigError
from tests.analysis.helpers import lr_sweep

WIDTHS = (64, 128, 256, 512)


def test_optimum_largest_stable_and_power_law_are_recovered():
    law = fit_hyper_law(lr_sweep(WIDTHS), "lr", "width")["x"]
    assert [o.by_value for o in law.optima] == list(WIDTHS)
    for o in law.optima:
        truth = 0.5 / o.by_value
        assert o.status == "ok"
        assert o.optimum == pytest.approx(truth, rel=0.1)
        # Grid of powers of 2; runs above 4× the optimum diverge, so the edge is 4× the optimum.
        assert o.largest_stable == pytest.approx(4 * truth) and o.diverged_in_grid
        assert o.largest_stable > o.optimum
    pl = law.optimum_law
    assert pl.status == "ok" and pl.n_points == 4
    assert pl.exponent == pytest.approx(-1.0, abs=0.05)
    lo, hi = pl.intervals["exponent"]
    assert lo < -1.0 < hi
    assert law.predict(1024) == pytest.approx(0.5 / 1024, rel=0.1)
    band = pl.predict_interval([64, 4096])
    assert band[0][0] < pl.predict(64) < band[1][0]
    assert law.stable_law.exponent == pytest.approx(-1.0, abs=1e-9)  # the stable edge follows the grid exactly


def test_lr_sensitivity_follows_wortsman():
    # One width, three LRs: 3.5, 3.0 and a divergence; loss at init 10 (column).
    df = pd.DataFrame({"width": 64, "lr": [1e-3, 1e-2, 1e-1], "loss": [3.5, 3.0, np.nan],
                       "status": ["complete", "complete", "diverged"], "initial_loss": 10.0})
    o = fit_hyper_law(df)["all"].optima[0]
    # mean of [min(L, L_init) − best] = mean(0.5, 0, 10 − 3) — a diverged run counts as the loss at init
    assert o.sensitivity == pytest.approx((0.5 + 0.0 + 7.0) / 3)
    assert o.initial_loss_from == "column"
    assert o.status == "edge"  # the best is the largest stable LR: the optimum may lie beyond it
    assert o.largest_stable == 1e-2


def test_initial_loss_falls_back_to_ln_vocab_then_to_the_worst_loss():
    df = pd.DataFrame({"width": 64, "lr": [1e-3, 1e-2, 1e-1], "loss": [3.5, 3.0, 3.2]})
    o = fit_hyper_law(df.assign(vocab_size=256))["all"].optima[0]
    assert o.initial_loss == pytest.approx(np.log(256)) and o.initial_loss_from == "ln(vocab_size)"
    o = fit_hyper_law(df)["all"].optima[0]
    assert o.initial_loss == 3.5 and o.initial_loss_from == "max loss"
    assert not o.diverged_in_grid and o.status == "ok"


def test_seeds_are_averaged_and_a_diverged_seed_makes_the_value_unstable():
    df = lr_sweep((128,), noise=0.0)
    top = df[~df["loss"].isna()]["lr"].max()
    twin = df.copy()
    twin.loc[twin["lr"] == top, ["loss", "status"]] = [np.nan, "diverged"]
    o = fit_hyper_law(pd.concat([df, twin]), "lr")["x"].optima[0]
    assert o.largest_stable == top / 2


def test_batch_size_law_by_compute():
    rows = []
    for c in (1e15, 1e16, 1e17):
        opt = 1e-3 * c**0.3  # optimal batch grows with compute: 32, 63, 126
        for bs in 2.0 ** np.arange(4, 14):
            rows.append({"compute": c, "batch_size": bs, "loss": 3 + 0.05 * np.log(bs / opt) ** 2})
    law = fit_hyper_law(pd.DataFrame(rows), "batch_size", "compute")["all"]
    assert all(o.status == "ok" for o in law.optima)
    assert law.optimum_law.exponent == pytest.approx(0.3, abs=0.01)


def test_all_diverged_and_too_few_widths():
    df = lr_sweep((64,), stable_factor=1e-9)
    law = fit_hyper_law(df)["x"]
    assert law.optima[0].status == "all_diverged"
    assert law.optimum_law.status == "too_few"
    two = fit_power_law([64, 128], [1e-2, 5e-3])
    assert two.status == "exact" and two.exponent == pytest.approx(-1.0)


def test_missing_hparam_column_is_named():
    df = lr_sweep((64,)).drop(columns="lr")
    df.attrs["source"] = "sweep.csv"
    with pytest.raises(ConfigError, match=r"sweep.csv: column 'lr' not found"):
        fit_hyper_law(df)
