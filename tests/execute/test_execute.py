"""A tiny study end to end on the local executor (2 worker processes): statuses, reruns, growth, export."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.execute import Observer, plan_study, run_study
from scalinglab.store import (
    COLUMNS,
    Store,
    export_table,
    load_metrics,
    study_paths,
    study_status,
)
from tests.study_files import write_study

pytestmark = pytest.mark.slow

ARMS = {
    "ok": {"lr": 0.01},
    "diverge": {"lr": 1e3},  # Adam steps of ~1000 per weight: the loss explodes within a few steps
    "broken": {"data": {"source": "files:/nonexistent/*.txt"}},  # valid config, raises when run
}


class Events(Observer):
    def __init__(self):
        self.started, self.finished = None, []

    def on_start(self, plan, todo, skipped):
        self.started = (len(plan.runs), len(todo), skipped)

    def on_finished(self, finished):
        self.finished.append(finished)


@pytest.fixture(scope="module")
def ran(tmp_path_factory, cache_dir):
    """One run of a 3-arm study on 2 workers; the tests below read what it left."""
    path = write_study(tmp_path_factory.mktemp("study") / "s.toml", arms=ARMS, cache_dir=cache_dir)
    events = Events()
    summary = run_study(plan_study(load_study(path), workers=2, probe=False), path.parent / "s", observer=events)
    return path, summary, events


def _rows(path):
    with Store.open_reader(study_paths(path.parent / "s").db) as reader:
        return {r["arm"]: r for r in reader.runs()}


def test_each_outcome_is_recorded_and_the_study_goes_on(ran):
    path, summary, events = ran
    assert events.started == (3, 3, 0)
    assert dict(summary.counts) == {"complete": 1, "diverged": 1, "failed": 1}
    rows = _rows(path)
    assert rows["ok"]["status"] == "complete" and 0 < rows["ok"]["final_eval_loss"] < rows["ok"]["initial_eval_loss"]
    assert rows["diverge"]["status"] == "diverged"
    assert rows["diverge"]["diverged_step"] >= 1 and rows["diverge"]["final_eval_loss"] is None
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"].startswith("ConfigError: data.source:") and "no files match" in rows["broken"]["error"]
    assert (path.parent / "s" / "runs" / rows["broken"]["run_id"] / "error.log").exists()
    status = study_status(path)
    assert status.counts == {"pending": 0, "running": 0, "complete": 1, "diverged": 1, "failed": 1}
    assert status.failed == [(rows["broken"]["run_id"], rows["broken"]["error"])]


def test_export_table_has_the_columns_analysis_reads(ran):
    path, _, _ = ran
    df = export_table(path)
    assert list(df.columns) == COLUMNS
    ok = df.set_index("arm").loc["ok"]
    assert ok["loss"] == ok["final_eval_loss"] and ok["compute"] == pytest.approx(6 * ok["params"] * ok["tokens"])
    assert ok["flops"] > ok["compute"]  # attention and the output head on top of 6ND
    assert (ok["width"], ok["depth"], ok["lr"], ok["vocab_size"], ok["status"]) == (64, 1, 0.01, 258, "complete")
    curves = load_metrics(path)
    assert set(curves["arm"]) == {"ok", "diverge"} and curves["eval_loss"].notna().any()
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet),
                      ("jsonl", lambda p: pd.read_json(p, lines=True))):
        out = path.parent / f"table.{fmt}"
        result = CliRunner().invoke(app, ["export", str(path), "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        back = read(out)
        assert list(back.columns) == COLUMNS and len(back) == 3
        assert back.set_index("arm").loc["ok", "loss"] == pytest.approx(ok["loss"])


def test_rerun_and_growth_train_only_what_is_new(ran, cache_dir):
    path, _, _ = ran
    before = _rows(path)
    # Drop the broken arm and add a width: the two finished runs stay, only width 128 trains.
    grown = write_study(path, widths=[64, 128], arms={k: v for k, v in ARMS.items() if k != "broken"},
                        cache_dir=cache_dir)
    events = Events()
    summary = run_study(plan_study(load_study(grown), workers=2, probe=False), path.parent / "s", observer=events)
    assert events.started == (4, 2, 2)
    assert sorted(f.run.spec.width for f in events.finished) == [128, 128]
    assert summary.skipped == 2
    with Store.open_reader(study_paths(path.parent / "s").db) as reader:
        after = {r["run_id"]: r for r in reader.runs()}
    for arm in ("ok", "diverge"):
        assert after[before[arm]["run_id"]] == before[arm]  # untouched, byte for byte
    assert len(after) == 5  # the broken run's row stays in the store, but not in the study's tables
    assert len(export_table(grown)) == 4


def test_status_and_export_cli(ran, tmp_path):
    path, _, _ = ran
    runner = CliRunner()
    result = runner.invoke(app, ["status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    out = tmp_path / "export" / "runs.csv"
    result = runner.invoke(app, ["export", str(path), "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and len(table) == counts["total"] >= 3
    # status and export read one store: the same runs, in the same states (the file as it is now:
    # another test here grows the study).
    for state in ("complete", "diverged", "failed", "pending"):
        assert counts[state] == int((table["status"] == state).sum()), state
    assert {r["run_id"] for r in counts["failed_runs"]} == set(table.loc[table["status"] == "failed", "run_id"])
    assert table.loc[table["status"] == "complete", "loss"].notna().all()
    assert table.loc[table["status"] != "complete", "loss"].isna().all()


def test_a_long_arm_name_trains_into_a_folder_whose_name_fits(tmp_path, cache_dir):
    # A 300-character arm name made a 330-character folder name: the driver died on "File name too long".
    path = write_study(tmp_path / "s.toml", arms={"a" * 300: {"lr": 0.01}}, tokens=1024, cache_dir=cache_dir)
    study = load_study(path)
    summary = run_study(plan_study(study, workers=1, threads=1, probe=False), tmp_path / "s")
    assert summary.counts == {"complete": 1}
    (folder,) = (tmp_path / "s" / "runs").iterdir()
    assert folder.name == study.runs[0].run_id and len(folder.name) <= 107
