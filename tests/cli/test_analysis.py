"""`scalinglab fit` and `scalinglab compare`: tables, --json, and exit status 2 with one line on bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab.cli.analysis  # noqa: F401  (registers fit and compare)
from scalinglab.cli.app import app
from tests.analysis.helpers import CHINCHILLA, arm, crossing_a, lr_sweep

runner = CliRunner()


@pytest.fixture
def arms_csv(tmp_path):
    df = pd.concat([arm("const", 2.0, 60.0, 0.1, noise=5e-4, seed=1),
                    arm("scaled", *crossing_a(1e14), noise=5e-4, seed=2)], ignore_index=True)
    df.loc[len(df)] = ["const-big", "const", 1024.0, 1e9, 2e10, 1.2e20, np.nan, "diverged"]
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    return path


def test_fit_prints_a_table_per_arm_and_counts_left_out_rows(arms_csv):
    res = runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "20", "--target-compute", "1e17"])
    assert res.exit_code == 0, res.output
    assert "L(C) = E + A·C^-alpha" in res.output and "const" in res.output and "scaled" in res.output
    assert "predicted loss at C = 1e+17" in res.output
    assert "left out: 1 rows (status diverged)" in res.output


def test_fit_json_is_machine_readable(arms_csv):
    res = runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "10", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert [f["group"] for f in d["fits"]] == ["const", "scaled"]
    assert d["excluded"] == {"status diverged": 1}
    assert d["fits"][0]["params"]["alpha"] == pytest.approx(0.1, rel=0.05)


def test_fit_params_tokens_on_published_points_with_named_columns():
    res = runner.invoke(app, ["fit", str(CHINCHILLA), "--law", "params-tokens", "--params", "Model Size",
                              "--compute", "Training FLOP", "--bootstrap", "0", "--target-compute", "5.76e23", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["fits"][0]["n_points"] == 245 and d["fits"][0]["status"] == "ok"
    assert d["allocations"]["all"]["tokens_per_param"] > 1


def test_compare_reports_design_forecast_verdict_and_backtest(arms_csv):
    res = runner.invoke(app, ["compare", str(arms_csv), "--a", "const", "--b", "scaled", "--draws", "400",
                              "--target-compute", "1e18"])
    assert res.exit_code == 0, res.output
    for text in ("Design: ladder (one token budget per size)", "Frontier: the ladder's own points",
                 "Joint models of both arms, by weight (BIC, Schwarz)", "The leader changes between",
                 "the curves cross at", "P(scaled better) = above 0.99 (its expected loss below const's)",
                 "Uncertainty of Δ: parameters ±", "Compute multiplier: const needs",
                 "Backtest: refitted without the largest N",
                 "verdict: At 1e18 FLOPs, scaled is better than const", "left out: 1 rows (status diverged)"):
        assert text in res.output, text
    res = runner.invoke(app, ["compare", str(arms_csv), "--a", "const", "--b", "scaled", "--draws", "0", "--json"])
    d = json.loads(res.stdout)
    assert d["crossing"]["kind"] == "in_range" and d["backtest"]["forecasts"][0]["correct"] is True
    assert d["setup"]["design"] == "ladder" and d["models"]["criterion"] == "BIC"


def test_backtest_prints_scores_and_a_reliability_table(arms_csv):
    res = runner.invoke(app, ["backtest", str(arms_csv), "--a", "const", "--b", "scaled", "--draws", "200"])
    assert res.exit_code == 0, res.output
    assert "reliability" in res.output and "Rolling-origin backtest of scaled against const" in res.output
    assert "Brier score" in res.output and "Against persistence" in res.output
    d = json.loads(runner.invoke(app, ["backtest", str(arms_csv), "--a", "const", "--b", "scaled", "--draws",
                                       "100", "--json"]).stdout)
    assert d["scores"]["n"] == len(d["forecasts"]) > 0


def test_where_and_drop_highest_filter_the_table(arms_csv):
    d = json.loads(runner.invoke(app, ["fit", str(arms_csv), "--where", "arm == 'const'", "--drop-highest", "2",
                                       "--bootstrap", "0", "--json"]).stdout)
    assert [f["group"] for f in d["fits"]] == ["const"] and d["fits"][0]["n_points"] == 6
    assert d["excluded"]["the 2 highest losses of each group"] == 2


def test_fit_lr_law(tmp_path):
    path = tmp_path / "sweep.jsonl"
    lr_sweep((64, 128, 256)).to_json(path, orient="records", lines=True)
    res = runner.invoke(app, ["fit", str(path), "--law", "lr", "--by", "width"])
    assert res.exit_code == 0, res.output
    assert "optimal lr = c·width^k" in res.output and "largest stable" in res.output
    d = json.loads(runner.invoke(app, ["fit", str(path), "--law", "lr", "--json"]).stdout)
    assert d["laws"][0]["optimum_law"]["exponent"] == pytest.approx(-1.0, abs=0.1)


@pytest.mark.parametrize(("args", "message"), [
    (["--loss", "eval_loss"], "runs.csv: column 'eval_loss' not found (columns: run_id, arm, width,"),
    (["--law", "chinchilla"], "--law: unknown law 'chinchilla'"),
    (["--where", "arm == 'nope'"], "--where: no row matches \"arm == 'nope'\""),
    (["--where", "import os"], "--where: cannot apply 'import os'"),
    (["--frontier", "isoflop"], "runs.csv: --frontier: isoflop needs two or more compute budgets with 3+ sizes each; "
                                "the design found is ladder"),
    (["--checkpoints", "all", "--run", "nope"], "column 'nope' not found"),
    (["--law", "params-tokens"], "runs.csv: --law: params-tokens needs N and D that vary apart"),
    (["--bootstrap", "-1"], "--bootstrap: must be 0 or more, got -1"),
    (["--target-compute", "inf"], "--target-compute: must be a finite positive number, got inf"),
])
def test_bad_flags_exit_2_with_one_line(arms_csv, args, message):
    res = runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "0", *args])
    assert res.exit_code == 2
    assert message in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.assign(params=-d["params"]).drop(columns="compute"), "column 'params' must be positive (row 1:"),
    (lambda d: d.head(2), "group 'const': 2 distinct points, fewer than the 3 parameters of L(C)"),
    (lambda d: d.drop(columns=["compute", "tokens"]), "column 'compute' not found and cannot be derived"),
])
def test_bad_tables_exit_2_with_one_line(tmp_path, arms_csv, change, message):
    path = tmp_path / "bad.csv"
    change(pd.read_csv(arms_csv)).to_csv(path, index=False)
    res = runner.invoke(app, ["fit", str(path), "--bootstrap", "0"])
    assert res.exit_code == 2
    assert f"bad.csv: {message}" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_compare_unknown_arm_and_missing_file_exit_2(arms_csv, tmp_path):
    res = runner.invoke(app, ["compare", str(arms_csv), "--a", "const", "--b", "wide", "--draws", "0"])
    assert res.exit_code == 2 and "--b: arm 'wide' not found (arms: const, scaled)" in res.output
    res = runner.invoke(app, ["fit", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "nope.csv: file not found" in res.output


FIT_NUMBERS = [  # (flag, value, message) for every number fit takes
    ("--delta", "nan", "--delta: must be a finite number in [1e-06, 10], got nan"),
    ("--delta", "-1", "--delta: must be a finite number in [1e-06, 10], got -1.0"),
    ("--delta", "0", "--delta: must be a finite number in [1e-06, 10], got 0.0"),
    ("--delta", "inf", "--delta: must be a finite number in [1e-06, 10], got inf"),
    ("--delta", "1e-300", "--delta: must be a finite number in [1e-06, 10], got 1e-300"),
    ("--delta", "1e300", "--delta: must be a finite number in [1e-06, 10], got 1e+300"),
    ("--bootstrap", "-1", "--bootstrap: must be 0 or more, got -1"),
    ("--bootstrap", "100000000", "--bootstrap: must be at most 100000, got 100000000"),
]
COMMON = [
    ("--bootstrap-seed", "-1", "--bootstrap-seed: must be 0 or more, got -1"),
    ("--bootstrap-seed", "4294967296", "--bootstrap-seed: must be at most 4294967295, got 4294967296"),
    ("--drop-highest", "-1", "--drop-highest: must not be negative"),
]
COMPARE_NUMBERS = [  # and those compare and backtest take
    ("--draws", "100000000", "--draws: must be at most 100000, got 100000000"),
    ("--margin", "nan", "--margin: must be a finite number ≥ 0, got nan"),
    ("--margin", "-1", "--margin: must be a finite number ≥ 0, got -1.0"),
    ("--margin", "50", "--margin: 50 nats is not below the losses it would judge"),
    ("--level", "0.3", "--level: must be between 0.5 and 1, got 0.3"),
    ("--level", "nan", "--level: must be between 0.5 and 1, got nan"),
    ("--bootstrap", "-1", "--bootstrap: must be 0 or more, got -1"),
]
TARGETS = [
    ("--target-compute", "nan", "--target-compute: must be a finite positive number, got nan"),
    ("--target-compute", "0", "--target-compute: must be a finite positive number, got 0.0"),
    ("--target-compute", "1e300", "--target-compute: must be at most 1e+40, got 1e+300"),
    ("--target-compute", "1e-300", "--target-compute: a target of 1e-300 FLOPs is below the data, whose runs span "),
]
CASES = [("fit", *case) for case in FIT_NUMBERS + COMMON + TARGETS] + \
    [(command, *case) for command in ("compare", "backtest") for case in COMPARE_NUMBERS + COMMON + TARGETS
     if not (command == "backtest" and case[0] == "--target-compute")]


@pytest.mark.parametrize(("command", "flag", "value", "message"), CASES)
def test_every_number_is_checked_before_any_work(arms_csv, command, flag, value, message):
    arms = ["--a", "const", "--b", "scaled"] if command != "fit" else []
    quick = ["--bootstrap", "0"] if command == "fit" else (["--draws", "0"] if flag not in ("--draws", "--bootstrap")
                                                           else [])
    res = runner.invoke(app, [command, str(arms_csv), *arms, *quick, flag, value])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error: {message}") and len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize(("flag", "value"), [("--target-params", "-1"), ("--target-tokens", "nan")])
def test_a_target_model_is_checked_too(arms_csv, flag, value):
    res = runner.invoke(app, ["compare", str(arms_csv), "--a", "const", "--b", "scaled", "--draws", "0",
                              "--target-params", "1e9", "--target-tokens", "2e10", flag, value])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {flag}: must be a finite positive number"), res.stderr


def test_the_bootstrap_s_old_flags_on_compare_say_what_they_are_now(arms_csv):
    res = runner.invoke(app, ["compare", str(arms_csv), "--a", "const", "--b", "scaled", "--bootstrap", "0",
                              "--delta", "1e-3", "--json"])
    assert res.exit_code == 0, res.output
    assert "--bootstrap is read as --draws" in res.stderr and "--delta is ignored" in res.stderr
    assert json.loads(res.stdout)["setup"]["draws"] == 0


def test_a_bootstrap_beyond_the_work_limit_is_refused_unless_allowed(arms_csv, monkeypatch):
    import scalinglab.cli.analysis as cli

    # 17 rows: 99,999 resamples are 1.7e6 refits of a row; with the limit at 1e6 they are refused at once.
    monkeypatch.setattr(cli, "MAX_BOOTSTRAP_WORK", 1e6)
    res = runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "99999"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --bootstrap: 99,999 resamples of 17 rows: 1.7e+06 row refits, beyond the "
                                 "limit of 1e+06") and "pass --allow-slow" in res.stderr
    monkeypatch.setattr(cli, "MAX_BOOTSTRAP_WORK", 50.0)  # 3 × 17 rows: refused, unless allowed
    assert runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "2"]).exit_code == 2
    res = runner.invoke(app, ["fit", str(arms_csv), "--bootstrap", "2", "--allow-slow"])
    assert res.exit_code == 0, res.output
