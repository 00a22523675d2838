"""The value of a run: informative runs rank first, settled decisions gain nothing, and it is per FLOP."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis import compare_arms
from scalinglab.analysis.advice import SETTLED, Advice, Candidate, PlanForecast, advise, entropy, plan_futures
from scalinglab.analysis.forecast import win_probability
from scalinglab.analysis.synthetic import ladder, table


@pytest.fixture(scope="module")
def undecided():
    """Four rungs of the planted 'inside' crossing: B ahead at the top is likely but not settled."""
    df, _ = table("inside", seed=1)
    small = df[df["params"] <= 8e6 * 1.001]
    small.attrs = df.attrs
    return compare_arms(small, "a", "b", bootstrap=300, target_compute=float(df["compute"].max()))


def candidates(sizes=range(4, 8)):
    n, d, c = ladder()
    return [Candidate(f"{arms}@{i}", arms, n[i], d[i], c[i] * len(arms)) for i in sizes for arms in (("a",), ("b",),
                                                                                                      ("a", "b"))]


def test_entropy_is_one_bit_at_even_odds_and_zero_when_sure():
    assert entropy(0.5) == pytest.approx(1.0)
    assert entropy([0.0, 1.0]) == pytest.approx([0.0, 0.0], abs=1e-9)


def test_the_advice_starts_from_the_comparison_s_own_probability(undecided):
    advice = advise(undecided, candidates())
    assert advice.p == pytest.approx(undecided.forecast.p_b_beats_a, abs=1e-9)
    assert not advice.settled and advice.entropy > 0.1


def test_runs_of_both_arms_inform_more_than_either_and_every_gain_is_bounded(undecided):
    values = {v.candidate.label: v for v in advise(undecided, candidates(), seed=1).values}
    for i in range(4, 8):
        both, a, b = values[f"('a', 'b')@{i}"], values[f"('a',)@{i}"], values[f"('b',)@{i}"]
        assert both.gain > max(a.gain, b.gain) - 0.02
    assert all(-0.05 < v.gain <= entropy(undecided.forecast.p_b_beats_a) + 1e-9 for v in values.values())


def test_the_ranking_is_per_flop():
    # The same run at ten times the cost is worth a tenth as much per FLOP.
    df, _ = table("inside", seed=1)
    small = df[df["params"] <= 8e6 * 1.001]
    small.attrs = df.attrs
    c = compare_arms(small, "a", "b", bootstrap=200, target_compute=float(df["compute"].max()))
    n, d, comp = ladder()
    cheap = Candidate("cheap", ("a", "b"), n[5], d[5], comp[5])
    dear = Candidate("dear", ("a", "b"), n[5], d[5], 10 * comp[5])
    values = advise(c, [dear, cheap], seed=3).values
    assert [v.candidate.label for v in values] == ["cheap", "dear"]
    assert values[0].per_flop == pytest.approx(10 * values[1].per_flop)


def test_a_settled_decision_gains_little_from_any_run():
    df, _ = table("never", seed=0)
    c = compare_arms(df, "a", "b", bootstrap=200, target_compute=float(df["compute"].max()))
    advice = advise(c, candidates())
    assert advice.settled
    assert max(v.gain for v in advice.values) < 0.05
    assert all(np.isfinite(v.ess) for v in advice.values)


def test_reach_is_what_exact_curves_would_settle():
    # Planted-equal arms (a seed where P sits near 0.5): the draws' own P stay inside the band.
    df, _ = table("equal", seed=2)
    equal = advise(compare_arms(df, "a", "b", bootstrap=200, target_compute=float(df["compute"].max())), [])
    assert not equal.settled and equal.reach < 0.05 and equal.out_of_reach
    df, _ = table("never", seed=1)
    apart = advise(compare_arms(df, "a", "b", bootstrap=200, target_compute=float(df["compute"].max())), [])
    assert apart.settled and apart.reach > 0.95 and not apart.out_of_reach


def test_an_open_decision_the_runs_can_still_settle_is_not_out_of_reach(undecided):
    advice = advise(undecided, [])
    assert advice.reach > 0.5 and not advice.out_of_reach


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


def test_the_futures_of_a_plan_run_from_today_s_p_to_each_draw_s_own():
    rng = np.random.default_rng(0)
    la = np.full(400, 3.0)
    lb = la + 0.02 * rng.standard_normal(400) - 0.01
    now = float(win_probability(la, lb, 0.004, np.inf))  # averaged over the draws
    own = win_probability(la[None], lb[None], 0.004, np.inf)  # each draw's own
    assert plan_futures(la, lb, 1.0, 0.004, np.inf) == pytest.approx(np.full(400, now))
    assert plan_futures(la, lb, 0.0, 0.004, np.inf) == pytest.approx(own)
    between = plan_futures(la, lb, 0.5, 0.004, np.inf)
    assert np.std(own) > np.std(between) > 0


def test_a_plan_that_would_rarely_settle_it_puts_the_decision_out_of_reach():
    hopeless = PlanForecast(4, 0.6, np.r_[np.full(98, 0.5), np.full(2, 0.99)])
    hopeful = PlanForecast(4, 0.2, np.r_[np.full(80, 0.5), np.full(20, 0.99)])
    assert Advice(0.6, 0.97, SETTLED, (), plan=hopeless).out_of_reach
    assert not Advice(0.6, 0.97, SETTLED, (), plan=hopeful).out_of_reach
    assert not Advice(0.6, 0.97, SETTLED, ()).out_of_reach  # no plan: exact curves (reach 1) could settle it
    assert not Advice(0.97, 0.2, SETTLED, (), plan=hopeless).out_of_reach  # settled is not out of reach
    assert not Advice(0.6, 0.97, SETTLED, (), can_settle=False, plan=hopeless).out_of_reach
    assert "rest of the plan (4 runs)" in Advice(0.6, 0.97, SETTLED, (), plan=hopeless).reach_sentence()
