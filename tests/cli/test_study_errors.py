"""Bad input: exit 2 with one line naming the problem; nothing trained, nothing stored touched."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.store import Store, study_paths
from tests.study_files import write_study


def _broken(tmp_path, case: str):
    good = write_study(tmp_path / "s.toml", widths=[64], arms={"a": {"lr": 0.01}})
    if case == "unknown arm key":
        return write_study(good, arms={"a": {"learning_rate": 0.01}}), "arms.a.learning_rate: unknown key"
    if case == "empty sweep":
        return write_study(good, widths=[]), "sweep.width: must list at least one value"
    if case == "bad width":
        return write_study(good, widths=[64, 96]), "sweep.width: 96 is not a multiple of head_dim 64"
    if case == "unreadable file":
        good.write_bytes(b"\x00\xff not toml")
        return good, "s.toml: not UTF-8 text (byte 1)"
    if case == "missing file":
        return tmp_path / "nope.toml", "nope.toml: file not found"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["unknown arm key", "empty sweep", "bad width", "unreadable file", "missing file"])
@pytest.mark.parametrize("command", ["plan", "run", "status", "export"])
def test_bad_study_exits_2_with_one_line(tmp_path, case, command):
    # A study that ran before: its results must survive a broken edit untouched.
    good = write_study(tmp_path / "s.toml", widths=[64], arms={"a": {"lr": 0.01}})
    db = study_paths(tmp_path / "s").db
    with Store.open_writer(db) as store:
        store.add_runs(load_study(good).runs)
    before = db.read_bytes()
    path, message = _broken(tmp_path, case)
    result = CliRunner().invoke(app, [command, str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["results.sqlite"]  # no runs/, no lock


def test_entry_point_exits_2_with_one_line(tmp_path):
    path = write_study(tmp_path / "s.toml", widths=[64], arms={"scaled": {"lr": "2/widht"}})
    result = subprocess.run([sys.executable, "-m", "scalinglab", "run", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {path}: arms.scaled.lr: cannot parse '2/widht': "
                                     "unknown name 'widht' (did you mean 'width'?)")
    assert not (tmp_path / "s").exists()
