"""Text from users and from errors prints as itself: `[/x]` neither raises MarkupError nor vanishes."""

from __future__ import annotations

from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.cli.progress import StudyProgress
from scalinglab.config import load_study
from scalinglab.execute.driver import Finished
from scalinglab.plan import make_plan
from scalinglab.store import Store, study_paths
from tests.study_files import write_study

BRACKETS = "[/x] [bold]b[/bold] [lr=2/64]"


def _one_error_line(result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_set_key_with_brackets_is_named_as_written(tmp_path):
    result = CliRunner().invoke(app, ["train", "--set", "model.widht[/x]=3", "--out", str(tmp_path / "r")])
    _one_error_line(result, "model.widht[/x]: unknown key")
    assert not (tmp_path / "r").exists()


def test_missing_file_name_with_brackets(tmp_path):
    missing = tmp_path / "nope[/i].toml"
    _one_error_line(CliRunner().invoke(app, ["plan", "--no-probe", str(missing)]), "nope[/i].toml: file not found")


def test_description_prints_verbatim(tmp_path):
    path = write_study(tmp_path / "s.toml")
    path.write_text(path.read_text().replace('name = "tiny"', f'name = "tiny"\ndescription = "{BRACKETS}"', 1))
    result = CliRunner().invoke(app, ["plan", "--no-probe", str(path)])
    assert result.exit_code == 0, result.output
    assert BRACKETS in result.stdout


def test_status_prints_a_stored_error_with_brackets(tmp_path):
    path = write_study(tmp_path / "s.toml")
    study = load_study(path)
    with Store.open_writer(study_paths(tmp_path / "s").db) as store:
        store.add_runs(study.runs)
        store.record_failure(study.runs[0].run_id, f"ConfigError: {BRACKETS}", "host")
    result = CliRunner().invoke(app, ["status", str(path)])
    assert result.exit_code == 0, result.output
    assert f"failed {study.runs[0].run_id}: ConfigError: {BRACKETS}" in result.stdout


def test_study_progress_prints_a_failed_run_with_brackets(tmp_path, capsys):
    # The driver's observer: one failing run's error once crashed the driver (and its good runs).
    study = load_study(write_study(tmp_path / "s.toml"))
    run = make_plan(study).runs[0]
    StudyProgress().on_finished(Finished(run, "failed", error=f"ConfigError: data.source: '{BRACKETS}'"))
    assert f"{run.spec.run_id} failed: ConfigError: data.source: '{BRACKETS}'" in capsys.readouterr().err


def test_each_adaptive_round_counts_its_own_runs(tmp_path):
    # `run --adaptive` starts the bar again after each decision: "9/2 runs" was the old count.
    plan = make_plan(load_study(write_study(tmp_path / "s.toml", widths=(64, 128))))
    progress = StudyProgress()
    for todo in (plan.runs, plan.runs[:1]):
        progress.on_start(plan, list(todo), skipped=0)
        for run in todo:
            progress.on_finished(Finished(run, "complete", 3.0, 1.0))
        assert progress._runs() == f"{len(todo)}/{len(todo)}"
        assert progress.flops_done == progress.flops_total == sum(r.budget.flops for r in todo)
    progress.stop()
