"""One meaning per flag: switches shown and refused as switches, --out writes, --results reads,
--bootstrap-seed is the analysis seed (--seed its deprecated name), one export flag."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.demo import write_demo_study
from tests.analysis.helpers import arm, crossing_a
from tests.study_files import write_study

runner = CliRunner()
COMMANDS = sorted(get_command(app).commands)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_shows_switches_without_a_value(command):
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output  # typer's default: `--json <bool>`, as if it took one
    assert "--help" in res.output


def test_a_switch_given_a_value_is_one_line(tmp_path):
    path = write_study(tmp_path / "s.toml")
    res = runner.invoke(app, ["status", str(path), "--json", "true"])
    assert res.exit_code == 2
    assert res.stderr.strip() == ("error: scalinglab status: --json is a switch and takes no value: write --json "
                                  "alone, not '--json true' (see --help)")
    res = runner.invoke(app, ["plan", str(path), "--no-probe", "no"])
    assert res.exit_code == 2 and "--no-probe is a switch" in res.stderr


def _options(command: str) -> set[str]:
    return {opt for p in get_command(app).commands[command].params for opt in getattr(p, "opts", ())}


def test_out_is_what_a_command_writes_and_results_what_it_reads():
    for reader in ("plan", "status", "next", "export", "report"):
        assert "--results" in _options(reader), reader
    for reader in ("plan", "status", "next"):  # they write nothing
        assert "--out" not in _options(reader), reader
    for writer in ("run", "demo", "train", "report", "export"):
        assert "--out" in _options(writer), writer
    assert "--output" not in _options("export")


def test_export_writes_where_out_says_and_reads_results_elsewhere(tmp_path):
    path = write_study(tmp_path / "s.toml")
    target = tmp_path / "elsewhere" / "table.csv"
    res = runner.invoke(app, ["export", str(path), "--results", str(tmp_path / "none-yet"), "--out", str(target)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(target)
    assert len(table) == 1 and table["status"].tolist() == ["pending"]


@pytest.fixture
def arms_csv(tmp_path) -> Path:
    path = tmp_path / "runs.csv"
    pd.concat([arm("const", 2.0, 60.0, 0.1, noise=5e-4, seed=1),
               arm("scaled", *crossing_a(1e14), noise=5e-4, seed=2)], ignore_index=True).to_csv(path, index=False)
    return path


def test_bootstrap_seed_is_the_analysis_seed_and_seed_its_deprecated_name(arms_csv):
    common = ["fit", str(arms_csv), "--bootstrap", "20", "--json"]
    new = runner.invoke(app, [*common, "--bootstrap-seed", "7"])
    old = runner.invoke(app, [*common, "--seed", "7"])
    other = runner.invoke(app, [*common, "--bootstrap-seed", "8"])
    assert new.exit_code == old.exit_code == other.exit_code == 0, new.output + old.output
    intervals = [json.loads(r.stdout)["fits"][0]["intervals"] for r in (new, old, other)]
    assert intervals[0] == intervals[1] != intervals[2]
    assert new.stderr == ""
    assert old.stderr.strip() == ("warning: --seed is deprecated here: use --bootstrap-seed (the seed of the "
                                  "bootstrap); --seed goes in the next release")
    both = runner.invoke(app, [*common, "--seed", "7", "--bootstrap-seed", "7"])
    assert both.exit_code == 2 and both.stderr.strip().startswith("error: --seed and --bootstrap-seed")


@pytest.mark.parametrize("command", ["fit", "compare", "backtest", "report"])
def test_every_analysis_command_takes_both_seed_names(command):
    assert {"--bootstrap-seed", "--seed"} <= _options(command)


def test_each_demo_describes_its_own_ladder(tmp_path):
    texts = {(quick, adaptive): write_demo_study(tmp_path, quick=quick, adaptive=adaptive).read_text()
             for quick in (False, True) for adaptive in (False, True)}
    assert 'name = "crossover-quick-adaptive"' in texts[True, True]
    assert "the advised widths of 32-64 only" in texts[True, True]  # it said 32-96: the full ladder's
    assert "the advised widths of 32-96 only" in texts[False, True]
    assert "widths 32-64" in texts[True, False]
    names = {t.split('name = "')[1].split('"')[0] for t in texts.values()}
    assert len(names) == 4  # four studies, four results folders
