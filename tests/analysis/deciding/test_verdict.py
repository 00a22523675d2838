"""The decision: four verdicts on planted tables, a decision level that is spent over a study's looks,
and one story told by the crossing, the forecast and the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.analysis.advising.stopping import look_level
from scalinglab.analysis.deciding.verdict import LEVEL, verdict_kind
from scalinglab.analysis.evaluating.synthetic import PLANTED, planted
from scalinglab.report.sentences import crossing_sentence, verdict_sentence
from tests.analysis.helpers import arm, crossing_a, ladder

BASE = (2.0, 60.0, 0.1)


def two(b_params, noise=3e-3, seeds=1, widths=None):
    """Arm a on BASE and arm b on b_params, `seeds` runs of each point."""
    kw = {} if widths is None else {"widths": widths}
    frames = [arm(name, *params, noise=noise, seed=10 * s + i, **kw).assign(seed=s,
                                                                           run_id=lambda d, s=s: d["run_id"] + f"-s{s}")
              for s in range(seeds) for i, (name, params) in enumerate((("a", BASE), ("b", b_params)))]
    return pd.concat(frames, ignore_index=True)


def test_the_rule_reads_both_probabilities_at_its_level():
    assert verdict_kind(0.99, 0.1) == "b" and verdict_kind(0.01, 0.1) == "a"
    assert verdict_kind(0.6, 0.97) == "equivalent" and verdict_kind(0.99, 0.97) == "equivalent"
    assert verdict_kind(0.9, 0.5) == "uncertain"
    assert verdict_kind(0.96, 0.5, level=0.9) == "b" and verdict_kind(0.96, 0.5) == "uncertain"


def test_b_better_a_better_and_uncertain_on_planted_tables():
    steeper = compare_arms(two(crossing_a(1e13)), "a", "b", draws=800, target_compute=1e18, backtest=False)
    assert steeper.verdict.kind == "b" and steeper.verdict.winner == "b"
    behind = compare_arms(two((2.0, 66.0, 0.1)), "a", "b", draws=800, target_compute=1e17, backtest=False)
    assert behind.verdict.kind == "a"
    # Four rungs of a crossing planted beyond them: the data cannot tell yet.
    few = compare_arms(two(crossing_a(3e16), widths=[64, 96, 128, 192]), "a", "b", draws=800, target_compute=1e18,
                       backtest=False)
    assert few.verdict.kind == "uncertain" and few.verdict.settle and few.verdict.reasons


def test_equivalent_within_a_margin_that_matters_and_not_within_one_too_small():
    # Identical recipes, three seeds of every rung: the difference at the target is a few thousandths
    # of a nat either way. Within 0.05 nats they are equivalent; within 0.001 that cannot be said.
    df = two(BASE, seeds=3)
    wide = compare_arms(df, "a", "b", draws=800, target_compute=1e17, margin=0.05, backtest=False)
    assert wide.verdict.kind == "equivalent" and wide.verdict.winner is None
    assert wide.forecast.p_equivalent >= LEVEL and wide.forecast.margin_source == "given with --margin"
    tight = compare_arms(df, "a", "b", draws=800, target_compute=1e17, margin=0.001, backtest=False)
    assert tight.verdict.kind == "uncertain"
    assert "equivalent within 0.05 nats" in verdict_sentence(wide, "a", "b")


def test_the_default_margin_is_one_run_s_noise_at_the_target():
    c = compare_arms(two(BASE, seeds=2), "a", "b", draws=400, target_compute=1e17, backtest=False)
    assert c.forecast.margin_source == "one run's noise at the target"
    assert c.forecast.margin == pytest.approx(c.observed.run_noise.sigma * np.mean([c.forecast.loss_a,
                                                                                   c.forecast.loss_b]), rel=0.01)


def test_a_sequential_study_decides_at_a_stricter_level_early_and_spends_no_more_than_its_error_rate():
    early, late = look_level(0.1, 1.0, 0.0), look_level(1.0, 1.0, 0.9)
    assert early > 0.999 and LEVEL < late < early
    spent = [look_level(t, 1.0, before) for before, t in zip([0, 0.2, 0.4, 0.6, 0.8], [0.2, 0.4, 0.6, 0.8, 1.0])]
    assert sum(1 - lvl for lvl in spent) == pytest.approx(1 - LEVEL, rel=1e-6)


def test_a_target_inside_the_data_is_read_off_the_data_near_it():
    # b ahead by a clear margin at the largest rung; asked there, the answer is the measured one.
    df = two((2.0, 54.0, 0.1), seeds=2)
    top = float(df["compute"].max())
    c = compare_arms(df, "a", "b", draws=800, target_compute=top, backtest=False)
    measured = c.observed.diff[-1]
    assert c.forecast.basis == "data" and c.forecast.delta == pytest.approx(measured, abs=0.005)
    assert c.verdict.kind == "b"


def frontier_table(seed: int = 0) -> pd.DataFrame:
    """Each recipe's compute-optimal points, one per budget: its own N* (jittered 15% around C^0.5),
    D* = C/(6N*); b's law has the larger exponent (it crosses a between the third and fourth budget)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, (e, a, alpha), scale in (("a", BASE, 0.12), ("b", crossing_a(2e16), 0.08)):
        for c in np.logspace(14, 18, 7):
            n = scale * np.sqrt(c) * np.exp(rng.normal(0, 0.15))
            loss = (e + a * c**-alpha) * np.exp(rng.normal(0, 0.002))
            rows.append({"arm": name, "run_id": f"{name}-{c:.0e}", "params": n, "tokens": c / (6 * n), "loss": loss})
    return pd.DataFrame(rows)


def test_a_table_of_frontier_points_is_read_as_l_of_c_and_paired_by_budget():
    c = compare_arms(frontier_table(), "a", "b", draws=800, target_compute=1e19, backtest=False)
    assert (c.setup.design.kind, c.setup.frontier, c.setup.law.name) == ("frontier", "points", "compute")
    assert c.observed.key == "compute" and len(c.observed.diff) == 7
    assert 1e16 < c.crossing.compute < 4e16 and c.crossing.winner_after == "b"
    assert c.verdict.kind == "b"


def leader_at(crossing, compute: float) -> str:
    """Who is ahead at `compute`, as the crossing sentence tells it: the first leader, swapped at every
    crossing below."""
    leader = crossing.leader_first
    for r in crossing.crossings:
        if r < compute:
            leader = "a" if leader == "b" else "b"
    return leader


@pytest.mark.parametrize("scenario", PLANTED)
def test_crossing_forecast_and_verdict_tell_one_story(scenario):
    # Over planted tables (and one whose arms truly differ in E, where a crossing driven by E was
    # once dismissed while the verdict rested on it): the arm the crossing says is ahead at the target
    # is the forecast's, and a named winner is that arm.
    tables = [planted(scenario, seed) for seed in range(3)]
    if scenario == "inside":
        n, d, comp = ladder()[1:]
        lo = (2.07, 60.0, 0.1)
        hi = (1.78, 40.0, 0.08)
        tables.append((pd.concat([arm("fast", *lo, noise=2e-3, seed=1), arm("steady", *hi, noise=2e-3, seed=2)],
                                 ignore_index=True).rename(columns={}), None))
    for df, truth in tables:
        arms = sorted(df["arm"].unique())
        target = truth.target if truth is not None else 10 * float(df["compute"].max())
        c = compare_arms(df, arms[0], arms[1], draws=800, target_compute=target, backtest=False)
        ahead = "b" if c.forecast.delta < 0 else "a"
        assert leader_at(c.crossing, target) == ahead
        if c.verdict.winner is not None:
            assert c.verdict.winner == ahead
            assert f"{arms[1] if ahead == 'b' else arms[0]} is better" in verdict_sentence(c, *arms)
        told = crossing_sentence(c, *arms)
        assert "ahead" in told
