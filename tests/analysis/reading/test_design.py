"""Designs are recognised and named, each gets its frontier, and a frontier the design cannot give is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import Columns, detect_design, load_table, select_runs
from scalinglab.analysis.reading.design import check_frontier, default_frontier
from scalinglab.analysis.reading.table import filter_rows
from scalinglab.config import ConfigError
from tests.analysis.helpers import CHINCHILLA, DATA, arm, grid_arm, isoflop_arm, nd_law

LAW = nd_law(1.8, 400.0, 1500.0, 0.34, 0.28)
GADRE = DATA / "gadre2024-overtraining.csv"
GEMSTONES = DATA / "gemstones-lr-ablation.csv"


def design_of(df, columns=None):
    return detect_design(select_runs(df, columns, checkpoints="all").frame)


def test_a_tokens_per_parameter_ladder_is_a_ladder_whose_points_are_the_frontier():
    d = design_of(arm("a", 2.0, 60.0, 0.1))
    assert (d.kind, d.rows_per_run, d.budgets_per_size) == ("ladder", 1, 1)
    assert default_frontier(d) == "points"
    assert "ladder (one token budget per size)" in d.describe()


def test_several_budgets_per_size_is_a_grid_fitted_by_approach_3():
    d = design_of(grid_arm("a", LAW))
    assert d.kind == "grid" and d.budgets_per_size == 5
    assert default_frontier(d) == "params-tokens"
    assert default_frontier(d, "compute") == "envelope"  # `fit --law compute` fits points


def test_several_sizes_per_budget_is_an_isoflop_grid():
    d = design_of(isoflop_arm("a", LAW))
    assert d.kind == "isoflop" and d.isoflop_budgets == 3
    assert default_frontier(d) == "isoflop"


def test_rows_of_one_run_at_several_steps_are_checkpoints():
    base = grid_arm("a", LAW, multipliers=(10, 20, 40))
    base["run_id"] = [f"run-{n:.0f}" for n in base["params"]]  # each size's budgets are one run's checkpoints
    d = design_of(base)
    assert (d.kind, d.rows_per_run, d.n_runs) == ("checkpoints", 3, 5)
    assert default_frontier(d) == "params-tokens"


def test_published_tables():
    chinchilla = design_of(load_table(CHINCHILLA), Columns(params="Model Size", compute="Training FLOP"))
    assert chinchilla.kind == "grid" and chinchilla.budgets_per_size > 1  # 64 sizes at up to 11 budgets each
    gemstones = design_of(load_table(GEMSTONES))
    assert (gemstones.kind, gemstones.rows_per_run, gemstones.n_runs) == ("checkpoints", 10, 42)
    gadre = load_table(GADRE)
    with pytest.raises(ConfigError, match="where: run .* has several rows at the same point of training"):
        design_of(gadre, Columns(group="train_data"))
    one_eval = design_of(filter_rows(gadre, "eval_set == 'c4_val'"), Columns(group="train_data"))
    assert one_eval.kind == "grid" and one_eval.budgets_per_size == 8


@pytest.mark.parametrize(("frontier", "table", "message"), [
    ("isoflop", lambda: arm("a", 2.0, 60.0, 0.1), "isoflop needs two or more compute budgets with 3+ sizes each; the "
                                                   "design found is ladder"),
    ("params-tokens", lambda: arm("a", 2.0, 60.0, 0.1), "params-tokens needs N and D that vary apart"),
    ("points", lambda: grid_arm("a", LAW), "points fits every row, which is a frontier only on a ladder"),
    ("nearest", lambda: grid_arm("a", LAW), "unknown frontier 'nearest'"),
])
def test_a_frontier_the_design_cannot_give_is_one_line_naming_option_and_design(frontier, table, message):
    with pytest.raises(ConfigError) as err:
        check_frontier(design_of(table()), frontier, "runs.csv")
    assert err.value.option == "frontier" and err.value.text.startswith(message) and "\n" not in str(err.value)


def test_budget_groups_join_computes_within_one_percent():
    from scalinglab.analysis.reading.design import budget_groups

    labels = budget_groups(pd.Series([1e18, 1.004e18, 0.997e18, 3e18, 3.01e18, 1e19]))
    assert len(set(labels[:3])) == 1 and len(set(labels[3:5])) == 1 and len(set(labels)) == 3
    assert list(np.unique(labels)) == [0, 1, 2]
