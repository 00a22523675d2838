"""`--where` is a grammar of our own: conditions on columns select rows; anything else is one line, never code."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest

from scalinglab.analysis import load_table
from scalinglab.analysis.reading.table import filter_rows
from scalinglab.config import ConfigError
from tests.analysis.helpers import DATA


@pytest.fixture
def table() -> pd.DataFrame:
    df = pd.DataFrame({
        "arm": ["a", "a", "b", "b", "c"], "params": [1e6, 1e7, 1e6, 1e7, 1e8], "loss": [3.1, 2.9, 3.2, 2.8, 2.5],
        "eval set": ["c4", "c4", "c4", "rw", "rw"], "qk_norm": [True, False, True, True, False],
    })
    df.attrs["source"] = "runs.csv"
    return df


# What pandas' DataFrame.query ran, wrote or hung on: each one line now, and nothing done.
ATTACKS = [
    "loss.to_frame().query('@com.builtins.__import__(\"os\").system(\"touch pwned.txt\")', engine='python')",
    "loss.to_pickle('x.pkl')",
    "loss ** 9**9**9 > 0",
    "__import__('os').system('touch pwned.txt')",
    "arm.str.contains('a')",
    "@pd.read_csv('x') == 1",
    "[c for c in ()]",
    "(lambda: 1)() == 1",
    "loss[0] > 1",
]


@pytest.mark.parametrize("condition", ATTACKS)
def test_code_never_runs_and_nothing_is_written(table, tmp_path, monkeypatch, condition):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^runs.csv: where: cannot apply .*: .+") as err:
        filter_rows(table, condition)
    assert time.perf_counter() - start < 0.5
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("condition", "arms"), [
    ("arm == 'a'", "aa"),
    ("arm != 'a' and loss < 3", "bc"),
    ("arm in ['a', 'c'] or loss > 3.15", "aabc"),
    ("arm not in ('a',)", "bbc"),
    ("1e6 < params <= 1e7", "ab"),
    ("not (params > 1e6)", "ab"),
    ("loss > -1 and params >= +1e7", "abc"),
    ("`eval set` == 'rw'", "bc"),
    ("qk_norm", "abb"),
    ("not qk_norm and arm == 'c'", "c"),
    ("qk_norm == True", "abb"),
    ("loss < params", "aabbc"),
])
def test_the_grammar_selects_the_rows_pandas_would(table, condition, arms):
    kept = filter_rows(table, condition)
    assert "".join(kept["arm"]) == arms
    assert kept.attrs["source"] == "runs.csv"
    if "`" not in condition:  # the same rows as the query it replaces (backticks aside)
        assert kept.equals(table.query(condition))


def test_the_documented_filter_keeps_what_it_kept():
    df = load_table(DATA / "gadre2024-overtraining.csv")
    kept = filter_rows(df, "eval_set == 'c4_val'")
    assert kept.equals(df[df["eval_set"] == "c4_val"]) and 0 < len(kept) < len(df)


@pytest.mark.parametrize(("condition", "message"), [
    ("lss < 3", "no column 'lss' (did you mean 'loss'?)"),
    ("arm < 3", "cannot compare column 'arm' (text) with 3"),
    ("arm is 'a'", "'is' is not allowed; use == or !="),
    ("arm", "column 'arm' is not true/false"),
    ("1 < 2", "1 < 2 compares no column"),
    ("arm in arm", "'in' needs a list of values on its right"),
    ("'a' in ['a']", "'in' needs a column on its left"),
    ("loss >", "invalid syntax at its end"),
    ("import os", "invalid syntax at character 1"),
    ("loss * 2 > 3", "arithmetic is not allowed"),
    ("arm in [arm]", "'arm' is not allowed"),
    ("x" * 2001, "longer than 2000 characters"),
    ("not " * 150 + "qk_norm", "nested deeper than 100 levels"),
    ("arm == 'a\nb'", "cannot apply \"arm == 'a\\nb'\""),
])
def test_what_is_not_a_condition_is_one_line_saying_why(table, condition, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        filter_rows(table, condition)
    assert "\n" not in str(err.value)


def test_a_condition_no_row_meets_is_refused(table):
    with pytest.raises(ConfigError, match="runs.csv: where: no row matches \"arm == 'z'\""):
        filter_rows(table, "arm == 'z'")
