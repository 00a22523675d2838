"""Crossover kinds, forecast probabilities and the backtest on synthetic arms with known curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.config import ConfigError
from tests.analysis.helpers import arm, crossing_a, ladder

BASE = (2.0, 60.0, 0.1)  # arm a: L = 2 + 60·C^-0.1 over C ≈ 1e12 … 1e16
BOOT = 40


def compare(b_params, noise=5e-4, **kw):
    df = pd.concat([arm("a", *BASE, noise=noise, seed=1), arm("b", *b_params, noise=noise, seed=2)], ignore_index=True)
    return compare_arms(df, "a", "b", bootstrap=kw.pop("bootstrap", BOOT), **kw)


@pytest.fixture(scope="module")
def crossed():
    """Arm b crosses a at C = 1e14, inside the data; forecast two decades beyond the largest run."""
    return compare(crossing_a(1e14), target_compute=1e18)


def test_crossing_inside_the_data_is_in_range_with_an_interval_around_it(crossed):
    x = crossed.crossing
    assert x.kind == "in_range" and x.n_crossings == 1 and x.winner_after == "b"
    assert x.compute == pytest.approx(1e14, rel=0.2)
    assert x.interval[0] < 1e14 < x.interval[1]
    assert x.p_cross > 0.9 and x.warning is None
    # Observed: b is behind at small sizes and ahead at large ones; the flip brackets the crossing.
    (lo, hi), = crossed.observed.sign_changes
    sizes = dict(zip(crossed.observed.sizes, crossed.observed.compute))
    assert sizes[lo] < 1e14 < sizes[hi]
    la, lb = crossed.predict([1e13, 1e15])
    assert lb[0] > la[0] and lb[1] < la[1]


def test_crossing_beyond_the_data_from_exponents_is_extrapolated_without_warning():
    c_cross = 1e18  # two decades beyond the largest run
    r = compare(crossing_a(c_cross, alpha_b=0.12))
    assert r.crossing.kind == "extrapolated"
    assert r.crossing.compute == pytest.approx(c_cross, rel=0.5)
    assert r.crossing.warning is None


def test_crossing_only_from_different_e_far_beyond_the_data_warns():
    # Same exponent; b has the larger A but the lower E: the curves meet only near their asymptotes.
    r = compare((1.9, 70.0, 0.1), noise=1e-5)
    assert r.crossing.kind == "extrapolated"
    assert r.crossing.compute > 10 * r.crossing.data_range[1]
    assert "only because E differs" in r.crossing.warning


def test_parallel_arms_do_not_cross():
    r = compare((2.1, 60.0, 0.1))
    assert r.crossing.kind == "none" and r.crossing.compute is None
    assert r.crossing.p_cross < 0.5
    assert r.observed.sign_changes == ()


def test_two_crossings_are_ambiguous():
    # b: steeper and with the higher E, so it is behind, then ahead, then behind again.
    r = compare(crossing_a(1e13, e_b=2.3, alpha_b=0.14), noise=0.0, bootstrap=0)
    assert r.crossing.n_crossings == 2
    assert r.crossing.kind == "ambiguous"
    first, second = r.crossing.crossings
    assert first < second and r.crossing.compute == first


def test_forecast_probability_is_the_share_of_bootstrap_pairs(crossed):
    f = crossed.forecast
    assert f.p_b_beats_a > 0.95 and f.loss_b < f.loss_a
    assert f.interval_a[0] < f.loss_a < f.interval_a[1]
    assert f.decades_beyond_data == pytest.approx(np.log10(1e18 / ladder()[3].max()))


def test_swapping_arms_gives_the_complementary_probability():
    # Each arm's draws are seeded by its name, so swapping reuses them: the probabilities add to 1.
    df = pd.concat([arm("a", *BASE, noise=3e-3, seed=1), arm("b", *BASE, noise=3e-3, seed=2)])
    ab = compare_arms(df, "a", "b", bootstrap=25, target_compute=1e17).forecast.p_b_beats_a
    ba = compare_arms(df, "b", "a", bootstrap=25, target_compute=1e17).forecast.p_b_beats_a
    assert ab + ba == pytest.approx(1.0)
    assert 0.05 < ab < 0.95  # the same law, different noise: no confident winner


def test_backtest_names_the_winner_and_reports_the_miss(crossed):
    bt = crossed.backtest
    assert bt.status == "ok" and bt.held_out_size == crossed.observed.sizes[-1]
    assert bt.predicted_winner == bt.observed_winner == "b" and bt.correct
    assert abs(bt.miss_a) < 0.01 and abs(bt.miss_b) < 0.01


def test_backtest_catches_a_forecast_that_the_largest_size_contradicts():
    a = arm("a", *BASE, noise=5e-4, seed=1)
    b = arm("b", *crossing_a(1e14), noise=5e-4, seed=2)
    b.loc[b.index[-1], "loss"] += 0.3  # b's largest run went badly
    r = compare_arms(pd.concat([a, b]), "a", "b", bootstrap=50)
    bt = r.backtest
    assert (bt.predicted_winner, bt.observed_winner, bt.correct) == ("b", "a", False)
    assert bt.miss_b == pytest.approx(-0.3, abs=0.02)
    assert bt.p_b_beats_a > 0.9


def test_compare_input_errors():
    df = pd.concat([arm("a", *BASE), arm("b", 2.1, 60.0, 0.1)])
    df.attrs["source"] = "runs.csv"
    with pytest.raises(ConfigError, match=r"runs.csv: --b: arm 'c' not found \(arms: a, b\)"):
        compare_arms(df, "a", "c", bootstrap=0)
    with pytest.raises(ConfigError, match="column 'arm' not found"):
        compare_arms(df.drop(columns="arm"), "a", "b", bootstrap=0)
