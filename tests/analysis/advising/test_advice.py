"""The value of a run: informative runs rank first, settled decisions gain nothing, and it is per FLOP;
the rest of a plan is forecast from its design."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.analysis.advising.advice import Advice, Candidate, PlanForecast, advise, entropy, forecast_plan, regions
from scalinglab.analysis.evaluating.synthetic import ladder, table


@pytest.fixture(scope="module")
def undecided():
    """Four rungs of the planted 'inside' crossing: B ahead at the top is likely but not settled."""
    df, _ = table("inside", seed=1)
    small = df[df["params"] <= 8e6 * 1.001]
    small.attrs = df.attrs
    return compare_arms(small, "a", "b", draws=800, target_compute=float(df["compute"].max()), backtest=False)


def candidates(sizes=range(4, 8)):
    n, d, c = ladder()
    return [Candidate(f"{arms}@{i}", arms, n[i], d[i], c[i] * len(arms)) for i in sizes for arms in (("a",), ("b",),
                                                                                                      ("a", "b"))]


def test_the_decision_s_entropy_is_over_its_three_regions():
    assert entropy([0.5, 0.0, 0.5]) == pytest.approx(1.0)
    assert entropy([1 / 3] * 3) == pytest.approx(np.log2(3))
    assert entropy([[0.0, 1.0, 0.0]]) == pytest.approx([0.0], abs=1e-9)
    np.testing.assert_array_equal(regions(np.array([-0.3, 0.05, 0.2]), 0.1), [[1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_the_advice_starts_from_the_comparison_s_own_probability(undecided):
    advice = advise(undecided, candidates())
    assert advice.p == pytest.approx(undecided.forecast.p_b_better, abs=1e-9)
    assert not advice.settled and advice.entropy > 0.1


def test_runs_of_both_arms_inform_more_than_either_and_every_gain_is_bounded(undecided):
    values = {v.candidate.label: v for v in advise(undecided, candidates(), seed=1).values}
    for i in range(4, 8):
        both, a, b = values[f"('a', 'b')@{i}"], values[f"('a',)@{i}"], values[f"('b',)@{i}"]
        assert both.gain > max(a.gain, b.gain) - 0.02
    assert all(-0.05 < v.gain <= np.log2(3) for v in values.values())


def test_the_ranking_is_per_flop():
    # The same run at ten times the cost is worth a tenth as much per FLOP.
    df, _ = table("inside", seed=1)
    small = df[df["params"] <= 8e6 * 1.001]
    small.attrs = df.attrs
    c = compare_arms(small, "a", "b", draws=400, target_compute=float(df["compute"].max()), backtest=False)
    n, d, comp = ladder()
    cheap = Candidate("cheap", ("a", "b"), n[5], d[5], comp[5])
    dear = Candidate("dear", ("a", "b"), n[5], d[5], 10 * comp[5])
    values = advise(c, [dear, cheap], seed=3).values
    assert [v.candidate.label for v in values] == ["cheap", "dear"]
    assert values[0].per_flop == pytest.approx(10 * values[1].per_flop)


def test_a_settled_decision_gains_little_from_any_run():
    df, _ = table("never", seed=1)
    c = compare_arms(df, "a", "b", draws=800, target_compute=3 * float(df["compute"].max()), backtest=False)
    advice = advise(c, candidates())
    assert advice.settled and advice.verdict == c.verdict.kind == "a"
    assert max(v.gain for v in advice.values) < 0.05
    assert all(np.isfinite(v.ess) for v in advice.values)


def test_a_plan_that_repeats_every_fitted_run_leaves_half_the_variance(undecided):
    choice, target = undecided.models, undecided.forecast.target
    none = tuple(np.empty((0, r.shape[1])) for r in choice.runs)
    assert choice.remaining_variance(target, none) == pytest.approx(1.0)
    assert choice.remaining_variance(target, choice.runs) == pytest.approx(0.5, abs=1e-6)
    # The same question with the arms' roles exchanged.
    assert choice.swapped().remaining_variance(target, choice.runs[::-1]) == pytest.approx(0.5, abs=1e-6)


def test_runs_nearer_the_target_leave_less_of_the_variance(undecided):
    choice, target = undecided.models, undecided.forecast.target
    n, d, _ = ladder()
    top, bottom = np.log([[n[7], d[7]]]), np.log([[n[0], d[0]]])
    if choice.best.law.n_terms == 1:
        top, bottom = top.sum(axis=1, keepdims=True) + np.log(6), bottom.sum(axis=1, keepdims=True) + np.log(6)
    assert choice.remaining_variance(target, (top, top)) < choice.remaining_variance(target, (bottom, bottom)) < 1


def test_the_futures_of_a_plan_run_from_today_s_shares_to_each_draw_s_own(undecided):
    # A plan that pins nothing down (t = 1) leaves every future at today's P; one that pins the
    # difference down (t = 0) leaves each future at its draw's own verdict (P 0 or 1).
    whole = [Candidate(f"a@{i}", ("a",), n, d, 1.0) for i, (n, d, _) in enumerate(zip(*ladder()))]
    plan = forecast_plan(undecided, whole)
    assert 0 <= plan.remaining < 1 and plan.runs == len(whole)
    assert np.std(plan.p_after) > 0 and plan.p_after.mean() == pytest.approx(undecided.forecast.p_b_better, abs=0.05)
    assert forecast_plan(undecided, []) is None


def test_a_plan_that_would_rarely_settle_it_puts_the_decision_out_of_reach():
    undecided_p = np.full(100, 0.6)
    hopeless = PlanForecast(4, 0.6, np.r_[np.full(98, 0.6), np.full(2, 0.99)], np.zeros(100))
    hopeful = PlanForecast(4, 0.2, np.r_[np.full(80, 0.6), np.full(20, 0.99)], np.zeros(100))
    equivalent = PlanForecast(4, 0.2, undecided_p, np.r_[np.full(80, 0.5), np.full(20, 0.99)])
    assert Advice(0.6, 0.1, 1.0, 0.95, (), plan=hopeless).out_of_reach
    assert not Advice(0.6, 0.1, 1.0, 0.95, (), plan=hopeful).out_of_reach
    assert not Advice(0.6, 0.1, 1.0, 0.95, (), plan=equivalent).out_of_reach  # equivalence settles it too
    assert not Advice(0.6, 0.1, 1.0, 0.95, ()).out_of_reach  # no plan: nothing says runs cannot settle it
    assert not Advice(0.99, 0.0, 0.1, 0.95, (), verdict="b", plan=hopeless).out_of_reach  # settled
    assert not Advice(0.6, 0.1, 1.0, 0.95, (), can_settle=False, plan=hopeless).out_of_reach
