"""Golden: Hoffmann et al. 2022 Approach 3 on Epoch's digitised points (Besiroglu et al. 2024).

240 points (the 5 highest-loss dropped, as they did); reference in design/REFERENCE.md.
"""

from __future__ import annotations

import pandas as pd
import pytest

from scalinglab.analysis import Columns, fit_law, load_table
from tests.analysis.helpers import CHINCHILLA

COLUMNS = Columns(params="Model Size", compute="Training FLOP")
REFERENCE = {"E": 1.8172, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672}
TOLERANCE = {"E": 1e-3, "A": 0.02, "B": 0.02, "alpha": 1e-3, "beta": 1e-3}
INTERVALS = {"E": (1.77, 1.87), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    df = load_table(CHINCHILLA)
    kept = df.sort_values("loss").iloc[:-5]
    kept.attrs = df.attrs
    assert len(kept) == 240
    return kept


@pytest.fixture(scope="module")
def fits(points):
    """Both methods (how long they take is benchmarks/fit_speed.py's question, not a test's)."""
    return {method: fit_law(points, "params-tokens", columns=COLUMNS, method=method, bootstrap=0)["all"]
            for method in ("grid", "varpro")}


@pytest.mark.parametrize("method", ["grid", "varpro"])
def test_params_tokens_fit_matches_reference(fits, method):
    fit = fits[method]
    assert fit.status == "ok" and fit.n_points == 240
    for name, value in REFERENCE.items():
        assert fit.params[name] == pytest.approx(value, rel=TOLERANCE[name]), name
    assert fit.objective == pytest.approx(0.0010183, rel=1e-4)


def test_grid_and_varpro_land_on_the_same_optimum(fits):
    grid, varpro = fits["grid"], fits["varpro"]
    for name in REFERENCE:
        assert varpro.params[name] == pytest.approx(grid.params[name], rel=1e-5), name


@pytest.mark.slow
def test_bootstrap_intervals_match_reference(points):
    """1,000 resamples of runs, warm-started: ~12 s here."""
    fit = fit_law(points, "params-tokens", columns=COLUMNS, bootstrap=1000, seed=0)["all"]
    assert fit.draws.n_failed == 0
    for name, (lo, hi) in INTERVALS.items():
        got_lo, got_hi = fit.interval(name)
        assert got_lo == pytest.approx(lo, abs=0.01), name
        assert got_hi == pytest.approx(hi, abs=0.01), name
    # The compute-optimal split at Chinchilla's budget: ~20 tokens per parameter, as Hoffmann found.
    alloc = fit_law(points, "params-tokens", columns=COLUMNS, bootstrap=0, target_compute=5.76e23).allocations["all"]
    assert 15 < alloc.tokens_per_param < 25
