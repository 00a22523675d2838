"""Backtests and their scores, and the shared published tables as integration tests with documented answers."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis import Columns, compare_arms, load_table, rolling_backtest
from scalinglab.analysis.deciding.scored import Scored
from scalinglab.analysis.evaluating.calibration import score
from scalinglab.analysis.evaluating.synthetic import table
from scalinglab.analysis.reading.table import filter_rows
from tests.analysis.helpers import DATA

GEMSTONES = DATA / "gemstones-lr-ablation.csv"
GADRE = DATA / "gadre2024-overtraining.csv"


def scored(p, b_won, significant=True, size=2.0, **kw):
    ob = 1.0 if b_won else 2.0
    return Scored(1.0, size, 1.0, 1.0, 1.5, 1.5, 1.5 if b_won else 1.0, ob if b_won else 1.5, p, significant, **kw)


def test_scores_are_the_textbook_ones():
    forecasts = [scored(0.9, True), scored(0.8, False), scored(0.3, False), scored(0.97, True)]
    s = score(forecasts)
    assert s.n == 4 and s.accuracy == pytest.approx(0.75)
    assert s.brier == pytest.approx(np.mean([0.1**2, 0.8**2, 0.3**2, 0.03**2]))
    assert (s.confident_n, s.confident_hit) == (2, 1.0)
    bins = {(lo, hi): (n, hit) for lo, hi, n, _, hit in s.reliability}
    assert bins[(0.8, 0.9)] == (1, 0.0) and bins[(0.9, 0.95)] == (1, 1.0) and bins[(0.95, 1.0)] == (1, 1.0)


def test_rolling_backtest_fits_smaller_sizes_and_forecasts_every_larger_one():
    df, _ = table("never", seed=0, sizes=6)
    cal = rolling_backtest(df, "a", "b", draws=200)
    assert cal.key == "N and D" and len(cal.folds) == 5
    sizes = sorted(df["params"].unique())
    for fold in cal.folds:
        assert fold.forecasts == (0 if fold.skipped else sum(s > fold.cut for s in sizes))
    assert [fold.cut for fold in cal.folds if fold.skipped] == sizes[:2]  # 2 or 4 points: too few to fit 2 arms
    assert all(f.size > f.cut for f in cal.forecasts)
    assert cal.scores.accuracy == 1.0  # b is behind everywhere, by 6% of the reducible loss
    # Both counts are said, and the skill over the no-model forecasts comes with a clustered interval.
    s = cal.scores
    assert s.n == len(cal.forecasts) and s.n_with_p <= s.n
    persistence = s.skill("persistence")
    # The leader never changes here, so persistence is never wrong: no skill over it can be claimed.
    assert persistence.cluster_kind == "held-out pairs" and persistence.baseline_brier == 0
    assert np.isnan(persistence.skill)
    assert s.effective_n <= s.n


def test_every_fold_redoes_the_comparison_on_its_own_rows():
    # An isoFLOP grid whose smallest budgets alone hold too few sizes per budget to be one: a fold
    # that kept the full table's design would read minima it does not have.
    df, _ = table("inside", seed=0, sizes=7)
    setup_rows = []
    cal = rolling_backtest(df, "a", "b", draws=200)
    for fold in cal.folds:
        if not fold.skipped:
            setup_rows.append(fold.cut)
    assert setup_rows and all(f.comparison == "a vs b" for f in cal.forecasts)


def test_the_skill_and_its_clustered_interval():
    # Four comparisons' forecasts: the model's probabilities against persistence's 0/1, clustered.
    forecasts = []
    for k in range(6):
        for j, (p, won, persist) in enumerate([(0.9, True, 1.0), (0.2, False, 1.0), (0.7, True, 0.0)]):
            forecasts.append(scored(p, won, persistence=persist, climatology=0.5, comparison=f"c{k}", size=2.0 + j))
    s = score(forecasts)
    model = np.mean([(0.9 - 1) ** 2, 0.2**2, (0.7 - 1) ** 2])
    persist = np.mean([0.0, 1.0, 1.0])
    skill = s.skill("persistence")
    assert skill.skill == pytest.approx(1 - model / persist) and skill.cluster_kind == "comparisons"
    assert skill.clusters == 6 and skill.interval[0] <= skill.skill <= skill.interval[1]
    assert s.skill("climatology").baseline_brier == pytest.approx(0.25)


def test_gemstones_small_shapes_lean_to_the_main_lr_at_two_billion_parameters():
    """Documented answer: fitted to the 12 shapes under 200M parameters (every checkpoint), the forecast
    at N = 2e9, D = 1e11 puts the main LR ahead (P(half LR beats it) ≈ 0.37): right, since the published
    runs there have it ahead by 0.017–0.031. A 2.4× range of sizes cannot make that sure, and the
    verdict does not pretend: it names no winner, and its interval reaches the observed lead."""
    small = filter_rows(load_table(GEMSTONES), "params < 2e8")
    r = compare_arms(small, "main_lr", "half_lr", draws=800, target_params=2e9, target_tokens=1e11, backtest=False)
    f = r.forecast
    assert r.setup.design.kind == "checkpoints" and r.setup.checkpoints == "all"
    assert f.delta > 0 and f.p_b_better < 0.5  # main LR ahead
    assert r.verdict.winner is None and f.delta_interval[1] > 0.017


def test_gadre_c4_training_data_wins_on_c4_from_the_smaller_shapes():
    """Documented answer: on the c4_val eval set, fitted to the three shapes under 200M parameters (all
    eight token multipliers), the forecast at d=1024 (N = 3.6e8) at 20 tokens per parameter puts C4
    training data ahead of RedPajama, P(RedPajama better) about 0.02 with the law's misfit of the
    difference carried to the target; the published runs agree (3.042 vs 3.150)."""
    df = filter_rows(load_table(GADRE), "eval_set == 'c4_val' and params < 2e8")
    r = compare_arms(df, "c4_original", "rpj", columns=Columns(group="train_data"), draws=800,
                     target_params=359973888, target_tokens=20 * 359973888, backtest=False)
    assert r.setup.design.kind == "grid"
    assert r.forecast.p_b_better < 0.05 and r.verdict.winner != "b"
    assert r.forecast.delta_interval[0] < 0.108 < r.forecast.delta_interval[1]
