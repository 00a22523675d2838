"""What a run recovers from reaches the study's user: the worker returns it, the driver's observer prints it."""

from __future__ import annotations

from scalinglab.cli.progress import StudyProgress
from scalinglab.config import RunConfig, load_study
from scalinglab.execute.driver import Finished
from scalinglab.execute.group import train_job
from scalinglab.execute.worker import Job
from scalinglab.plan import make_plan
from tests.conftest import tiny_settings
from tests.study_files import write_study


def test_a_damaged_checkpoint_comes_back_as_a_warning(tmp_path, capsys):
    cfg = RunConfig.model_validate(tiny_settings(budget={"tokens": 8 * 32 * 8, "batch_size": 8}))
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"")
    outcome = train_job(Job("r1", cfg.model_dump_json(), str(out)))
    assert outcome.error is None, outcome.detail
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith(f"{out / 'checkpoint.pt'}: damaged checkpoint (EOFError")
    assert outcome.warnings[0].endswith("; starting the run afresh")

    run = make_plan(load_study(write_study(tmp_path / "s.toml"))).runs[0]
    StudyProgress().on_finished(Finished(run, "complete", 3.0, 1.0, warnings=outcome.warnings))
    assert f"warning: {run.spec.run_id}: {out / 'checkpoint.pt'}: damaged checkpoint" in capsys.readouterr().err
