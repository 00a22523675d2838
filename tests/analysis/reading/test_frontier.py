"""Frontier points: the isoFLOP minima recover a planted optimum; the envelope keeps only unbeaten runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import PARAMS_TOKENS, select_runs
from scalinglab.analysis.fitting.laws import frontier_loss, optimal_split
from scalinglab.analysis.reading.frontier import frontier_points, isoflop_minima
from tests.analysis.helpers import isoflop_arm, nd_law

TRUTH = (1.8, 400.0, 1500.0, 0.34, 0.28)
LAW = nd_law(*TRUTH)


def n_star(compute):
    return float(optimal_split(np.array(TRUTH), compute)[0])


def test_isoflop_minima_find_the_compute_optimal_size_and_loss():
    rows = select_runs(isoflop_arm("a", LAW, sizes_per_budget=9, center=n_star)).frame
    minima = isoflop_minima(rows, "a")
    assert [m.status for m in minima] == ["ok"] * 3
    for m in minima:
        # A parabola in log N through 9 sizes over a 36× range: N* within 25%, L* within 0.3%.
        assert m.params == pytest.approx(n_star(m.compute), rel=0.25)
        assert m.loss == pytest.approx(float(frontier_loss(PARAMS_TOKENS, np.array(TRUTH), m.compute)), rel=3e-3)
        assert np.isfinite(m.loss_se) and m.n_sizes == 9


def test_a_budget_whose_lowest_loss_is_at_an_edge_is_not_a_frontier_point():
    rows = select_runs(isoflop_arm("a", LAW, center=n_star)).frame
    big = rows["params"] > rows.groupby(rows["compute"].round(-15))["params"].transform("median")
    minima = isoflop_minima(rows[big], "a")  # only the sizes above each budget's optimum
    assert {m.status for m in minima} <= {"edge", "not_convex"}
    points, _ = frontier_points(rows[big], "isoflop")
    assert points.empty


def test_envelope_keeps_the_runs_no_cheaper_run_beats():
    rows = pd.DataFrame({"group": "a", "run": list("pqrstu"), "compute": [1, 2, 3, 4, 5, 6.0],
                         "loss": [5.0, 4.0, 4.5, 3.0, 3.2, 2.9]})
    points, _ = frontier_points(rows, "envelope")
    assert list(points["run"]) == ["p", "q", "s", "u"]
