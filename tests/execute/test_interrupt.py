"""Interrupted and unattended studies: Ctrl-C says what is kept and how to go on, `status` shows the
checkpointed runs, output to a file still reports progress, and another study's folder is refused."""

from __future__ import annotations

import json
import re
import time

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.store import Store, check_owner, study_paths
from tests import terminal
from tests.conftest import tiny_settings
from tests.study_files import write_study

runner = CliRunner()


@pytest.mark.slow
def test_ctrl_c_says_what_is_kept_and_status_shows_the_checkpoints(tmp_path, cache_dir):
    path = write_study(tmp_path / "s.toml", sweep={"seed": [0, 1, 2]}, tokens=400_000, checkpoint_seconds=0,
                       cache_dir=cache_dir)
    runs = study_paths(tmp_path / "s").runs
    command = ["run", str(path), "--workers", "2", "--threads-per-worker", "1"]
    proc = terminal.start(command)
    deadline = time.time() + 120
    while sum(_checkpoint(p) > 0 for p in runs.glob("*/progress.json")) < 2:  # both workers have saved one
        assert proc.poll() is None and time.time() < deadline, "no checkpoints in time"
        time.sleep(0.2)
    err = terminal.ctrl_c(proc, timeout=30)
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(rf"interrupted: 0 of 3 runs have their results in {re.escape(str(runs.parent))}/results.sqlite; "
                        r"2 more resume from their checkpoints \(step [\d,]+/1,563, [\d,]+/1,563\); to go on, run the "
                        rf"same command: scalinglab {re.escape(' '.join(command))}", last), last
    assert "Traceback" not in err

    shown = runner.invoke(app, ["status", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "0 done, 0 running, 0 failed, 0 diverged, 2 interrupted, 1 pending" in " ".join(shown.stdout.split())
    assert len(re.findall(r"interrupted w64-L1-base-s\d-400ktok-\w+: checkpoint at step [\d,]+/1,563", shown.stdout)) == 2
    counts = json.loads(runner.invoke(app, ["status", str(path), "--json"]).stdout)
    assert (counts["interrupted"], counts["pending"]) == (2, 1)
    assert all(0 < r["checkpoint_step"] < r["steps"] == 1563 for r in counts["interrupted_runs"])


def _checkpoint(progress_file) -> int:
    try:
        return json.loads(progress_file.read_text()).get("checkpoint", 0)
    except (OSError, ValueError):  # being replaced right now
        return 0


def test_run_into_another_studys_results_is_one_line_and_writes_nothing(tmp_path):
    path = write_study(tmp_path / "mine.toml", sweep={"seed": [0, 1]})
    mine = load_study(_written(path, path.read_text().replace('name = "tiny"', 'name = "mine"')))
    db = study_paths(tmp_path / "mine").db
    with Store.open_writer(db) as store:
        store.add_runs(mine.runs)
    other = write_study(tmp_path / "other.toml", tokens=4096)
    before = db.read_bytes()
    for extra in ([], ["--adaptive", "--budget", "1e15"]):
        res = runner.invoke(app, ["run", str(other), "--out", str(tmp_path / "mine"), *extra])
        assert res.exit_code == 2
        assert res.stderr.strip() == (f"error: {tmp_path / 'mine'}: holds the results of study 'mine' (2 runs), not of "
                                      "'tiny'; give this study a folder of its own (--out)")
    assert db.read_bytes() == before
    # A study renamed keeps its folder: its runs are known by their configs.
    renamed = path.read_text().replace('name = "mine"', 'name = "renamed"')
    check_owner(load_study(_written(tmp_path / "renamed.toml", renamed)), tmp_path / "mine")


def _written(path, text):
    path.write_text(text)
    return path


@pytest.mark.slow
def test_without_a_terminal_a_study_reports_each_run_in_flight(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr("scalinglab.cli.progress.PLAIN_EVERY_S", 0.0)  # a line at every look, not every 30 s
    path = write_study(tmp_path / "s.toml", sweep={"seed": [0, 1]}, tokens=60_000, cache_dir=cache_dir)
    res = runner.invoke(app, ["run", str(path), "--workers", "1", "--threads-per-worker", "1"])  # not a terminal
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    in_flight = [line for line in lines if re.fullmatch(r"  w64-L1-base-s\d-60ktok-\w+: step [\d,]+/235 \(\d+%\), "
                                                       r"[\d,]+ tokens/s, ETA \d+ s", line)]
    assert in_flight, res.stderr
    assert any(re.fullmatch(r"  \d/2 runs done, .* FLOPs, \d+ s elapsed, ETA .+", line) for line in lines)
    assert sum("complete  eval loss" in line and line.endswith("runs]") for line in lines) == 2
    assert not any("━" in line for line in lines)  # no bar drawn into the log


@pytest.mark.slow
def test_without_a_terminal_train_reports_its_steps(tmp_path, monkeypatch):
    monkeypatch.setattr("scalinglab.cli.progress.PLAIN_EVERY_S", 0.0)
    config = tmp_path / "run.toml"
    settings = tiny_settings()
    config.write_text("\n".join(f"[{section}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
                                for section, values in settings.items()))
    res = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    steps = [line for line in res.stderr.splitlines()
             if re.fullmatch(r"  step +[\d,]+/157  loss [\d.]+  [\d,]+ tokens/s  ETA \d+ s", line)]
    assert len(steps) >= 10, res.stderr
