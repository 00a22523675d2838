"""A damaged results file is one line naming it and the way back, for every command that reads it;
and the way back works: the study rebuilds its results from the runs' result.json files."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.store import Store, study_paths
from tests.study_files import write_study

from .test_store import _result


def _metrics(n: int):
    return [{"step": i, "tokens": i * 256, "train_loss": 3.0 + i * 1e-3, "eval_loss": None} for i in range(n)]


def _filled_study(tmp_path):
    """A study file and a results file of a few dozen KiB (so damage mid-file lands inside data)."""
    path = write_study(tmp_path / "s.toml", widths=[64, 128, 192], arms={"a": {"lr": 0.01}, "b": {"lr": 0.02}})
    study = load_study(path)
    db = study_paths(tmp_path / "s").db
    with Store.open_writer(db) as store:
        store.add_runs(study.runs)
        for i, spec in enumerate(study.runs):
            result = _result(3.0 + i / 10).model_copy(update={"metrics": [
                _result(3.0).metrics[0].model_copy(update={"step": s, "tokens": s}) for s in range(300)]})
            store.record_result(spec.run_id, result, host="h")
    return path, db


def _garbage_at_start(db):
    data = bytearray(db.read_bytes())
    data[:100] = bytes(range(100))
    db.write_bytes(bytes(data))


def _garbage_mid_file(db):
    data = bytearray(db.read_bytes())
    assert len(data) > 24 * 1024
    data[8192:16384] = b"\xa5" * 8192
    db.write_bytes(bytes(data))


def _a_folder(db):
    for p in db.parent.glob("results.sqlite*"):
        p.unlink()
    db.mkdir()


@pytest.mark.parametrize("damage", [_garbage_at_start, _garbage_mid_file, _a_folder])
@pytest.mark.parametrize("command", [["status"], ["export"], ["plan", "--no-probe"], ["run", "--no-probe"], ["report"]])
def test_every_command_says_the_file_is_damaged_in_one_line(tmp_path, damage, command):
    path, db = _filled_study(tmp_path)
    # Checkpoint the WAL into the file, so the damage is where readers look.
    with Store.open_writer(db):
        pass
    damage(db)
    if command[0] == "run":
        command = ["run"]
    result = CliRunner().invoke(app, [*command, str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("fitting and drawing")]
    assert len(lines) == 1, result.stderr
    if damage is _a_folder:
        assert lines[0] == f"error: {db}: is a folder, not a results database; move it aside"
    else:
        assert lines[0].startswith(f"error: {db}: damaged results database (")
        assert lines[0].endswith("aside and run the study again: finished runs are read back from "
                                 "runs/*/result.json without training")
    assert not (tmp_path / "s" / "runs").exists()


@pytest.mark.slow
def test_the_way_back_rebuilds_the_results_without_training(tmp_path, cache_dir):
    from scalinglab.execute import plan_study, run_study

    path = write_study(tmp_path / "s.toml", widths=[64], arms={"a": {"lr": 0.01}, "b": {"lr": 0.02}},
                       tokens=1024, cache_dir=cache_dir)
    study = load_study(path)
    out = tmp_path / "s"
    run_study(plan_study(study, workers=1, threads=1, probe=False), out)
    db = study_paths(out).db
    with Store.open_reader(db) as reader:
        before = {r["run_id"]: (r["final_eval_loss"], r["wall_time_s"]) for r in reader.runs()}
    _garbage_at_start(db)

    damaged = CliRunner().invoke(app, ["status", str(path)])
    assert damaged.exit_code == 2 and "damaged results database" in damaged.stderr
    aside = tmp_path / "aside"
    aside.mkdir()
    for p in out.glob("results.sqlite*"):
        shutil.move(p, aside / p.name)
    # One result edited by hand, still valid: it must not come back as the run's result, silently.
    a, b = (r.run_id for r in study.runs)
    edited = study_paths(out).runs / a / "result.json"
    edited.write_text(edited.read_text().replace(repr(before[a][0]), repr(round(before[a][0] - 1.4, 2))))
    rerun = CliRunner().invoke(app, ["run", str(path), "--workers", "1"])
    assert rerun.exit_code == 0, rerun.output
    # The unedited run is read back before the plan is said, so it is not announced as "to train"
    # (it was, and then nothing trained); the edited one is finished again from its checkpoint,
    # with one warning naming its file.
    assert "2 runs, 1 already done, 1 to train" in rerun.stderr
    warnings = [line for line in rerun.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{edited}: its content does not match its checksum" in warnings[0]
    assert (edited.parent / "result.edited.json").exists()
    with Store.open_reader(db) as reader:
        after = {r["run_id"]: (r["final_eval_loss"], r["wall_time_s"]) for r in reader.runs()}
    assert after[a][0] == before[a][0]  # the checkpoint's loss, not the edit's
    assert after[b] == before[b]  # the same wall time: read back from result.json, not trained again
    # Rebuilt once more, every result whole: nothing is announced to train.
    for p in out.glob("results.sqlite*"):
        p.unlink()
    again = CliRunner().invoke(app, ["run", str(path), "--workers", "1"])
    assert again.exit_code == 0 and "2 runs, 2 already done, 0 to train" in again.stderr, again.output


@pytest.mark.parametrize("command", [
    ["export", "-o", "{afile}/x.csv"], ["export", "-o", "{tmp}"], ["report", "--out", "{afile}/rep"],
    ["report", "--out", "{afile}"], ["run", "--out", "{afile}/out"], ["status", "--results", "{afile}/out"],
])
def test_an_output_path_through_a_file_is_one_line(tmp_path, command):
    path, _ = _filled_study(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("a file")
    args = [a.format(afile=afile, tmp=tmp_path) for a in command]
    # A reader of a WAL database may leave its -shm/-wal files: SQLite's, not an output.
    def files():
        return sorted(p.name for p in tmp_path.rglob("*") if not p.name.endswith(("-shm", "-wal")))

    before = files()
    result = CliRunner().invoke(app, [args[0], str(path), *args[1:]])
    assert result.exit_code in (0, 2), result.output
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("fitting and drawing")]
    if args[0] == "status":  # reads only: nothing there is no results yet
        assert result.exit_code == 0 and "6 pending" in result.stdout
        return
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and ("a file" in lines[0] or "is a folder" in lines[0]), lines[0]
    assert files() == before


def test_a_results_file_being_created_reads_as_no_results_not_as_damage(tmp_path):
    # What `status` beside a starting `run` sees: the file exists, in WAL mode, without tables yet.
    db = tmp_path / "results.sqlite"
    creating = sqlite3.connect(db)
    creating.execute("PRAGMA journal_mode=WAL")
    try:
        assert Store.open_reader(db) is None
    finally:
        creating.close()
