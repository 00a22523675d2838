"""Checkpoints are data, never code, and a damaged one costs a warning, not the run."""

from __future__ import annotations

import logging
import os
import pickle
import shutil

import pytest
import tomli_w
import torch
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import RunConfig
from scalinglab.train import train_run
from scalinglab.train.checkpoint import CHECKPOINT, PREVIOUS, RESULT, load_checkpoint, save_checkpoint
from scalinglab.train.result import read_result
from tests.conftest import tiny_settings

# 24 steps, a checkpoint at every log window (4 steps): a checkpoint.pt and a checkpoint.prev.pt.
SETTINGS = tiny_settings(budget={"tokens": 24 * 8 * 32, "batch_size": 8},
                         loop={"threads": 1, "eval_tokens": 1024, "log_every": 4, "checkpoint_seconds": 0})


class _RunsCode:
    """Pickles as a call of os.system: what a hostile checkpoint.pt holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run's folder and result; tests copy the folder and damage the copy."""
    cfg = RunConfig.model_validate(SETTINGS)
    out = tmp_path_factory.mktemp("finished") / "run"
    result = train_run(cfg, out)
    assert (out / CHECKPOINT).exists() and (out / PREVIOUS).exists()
    return cfg, out, result


def _copy(finished, tmp_path):
    cfg, out, result = finished
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    return cfg, copy, result


def test_a_checkpoint_that_runs_code_is_refused_without_running_it(tmp_path, caplog):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    evil.mkdir()
    torch.save({"config": "{}", "step": _RunsCode(marker)}, evil / CHECKPOINT)
    # The file really is hostile: an ordinary unpickling runs its code.
    torch.load(evil / CHECKPOINT, weights_only=False)
    assert marker.exists()
    marker.unlink()

    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(evil, lambda state: None) is None
    assert not marker.exists()
    assert f"{evil / CHECKPOINT}: damaged checkpoint (UnpicklingError" in caplog.text


def test_train_cli_resuming_from_a_hostile_checkpoint_runs_nothing(finished, tmp_path):
    cfg, out, result = _copy(finished, tmp_path)
    marker = tmp_path / "pwned"
    (out / RESULT).unlink()
    (out / PREVIOUS).unlink()
    with (out / CHECKPOINT).open("wb") as f:
        pickle.dump({"config": cfg.model_dump_json(), "step": _RunsCode(marker)}, f, protocol=2)
    config = tmp_path / "run.toml"
    config.write_text(tomli_w.dumps(SETTINGS))
    got = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(out), "--json"])
    assert got.exit_code == 0, got.output
    assert not marker.exists()
    assert f"warning: {out / CHECKPOINT}: damaged checkpoint (UnpicklingError" in got.stderr
    assert '"final_eval_loss": ' + repr(result.final_eval_loss) in got.stdout  # trained afresh, same result


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "overwritten": lambda data: os.urandom(len(data)),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(finished, tmp_path, caplog, how):
    cfg, out, result = _copy(finished, tmp_path)
    (out / RESULT).unlink()  # as if killed after the last checkpoint's write went wrong
    path = out / CHECKPOINT
    path.write_bytes(DAMAGE[how](path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        again = train_run(cfg, out)
    assert f"{path}: damaged checkpoint (" in caplog.text and f"resuming from {PREVIOUS}" in caplog.text
    # Resumed from the step before the end: the same losses, bit for bit.
    assert again.final_eval_loss == result.final_eval_loss
    assert again.final_train_loss == result.final_train_loss


def test_both_checkpoints_damaged_start_afresh(finished, tmp_path, caplog):
    cfg, out, result = _copy(finished, tmp_path)
    (out / RESULT).unlink()
    (out / CHECKPOINT).write_bytes(b"")
    (out / PREVIOUS).write_bytes(b"PK\x03\x04 not a zip")
    with caplog.at_level(logging.WARNING):
        again = train_run(cfg, out)
    assert f"{out / PREVIOUS}: damaged checkpoint" in caplog.text and "starting the run afresh" in caplog.text
    assert again.final_eval_loss == result.final_eval_loss


def test_a_truncated_result_is_finished_again_from_the_checkpoint(finished, tmp_path, caplog):
    cfg, out, result = _copy(finished, tmp_path)
    text = (out / RESULT).read_text()
    (out / RESULT).write_text(text[: len(text) // 3])
    with caplog.at_level(logging.WARNING):
        again = train_run(cfg, out)
    assert f"{out / RESULT}: damaged result (JSONDecodeError" in caplog.text
    assert "https://" not in caplog.text  # pydantic's error pages stay out of the line
    assert again.final_eval_loss == result.final_eval_loss
    assert read_result(out / RESULT) == again


def test_a_result_edited_by_hand_is_set_aside_with_one_warning_and_the_run_finished_again(finished, tmp_path, caplog):
    cfg, out, result = _copy(finished, tmp_path)
    text = (out / RESULT).read_text()
    assert '"checksum": "sha256:' in text
    edited = text.replace(f'"final_eval_loss": {result.final_eval_loss!r}', '"final_eval_loss": 0.52')
    assert edited != text
    (out / RESULT).write_text(edited)  # still valid JSON and a valid result: only the checksum tells
    with caplog.at_level(logging.WARNING):
        again = train_run(cfg, out)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].startswith(f"{out / RESULT}: its content does not match its checksum")
    assert again.final_eval_loss == result.final_eval_loss  # the checkpoint's, not the edit's
    assert (out / "result.edited.json").read_text() == edited  # kept, not lost
    assert read_result(out / RESULT) == again


def test_a_result_written_before_checksums_is_read_as_it_is(finished, tmp_path, caplog):
    cfg, out, result = _copy(finished, tmp_path)
    (out / RESULT).write_text(result.model_dump_json(indent=1))
    with caplog.at_level(logging.WARNING):
        assert train_run(cfg, out) == result
    assert not caplog.records


def test_a_missing_config_json_is_vouched_for_by_the_checkpoint(finished, tmp_path, caplog):
    cfg, out, result = _copy(finished, tmp_path)
    (out / "config.json").unlink()
    with caplog.at_level(logging.WARNING):
        again = train_run(cfg, out)
    assert "config.json: missing or unreadable" in caplog.text
    assert again.final_eval_loss == result.final_eval_loss
    assert (out / "config.json").read_text() == cfg.model_dump_json()


def test_a_checkpoint_is_replaced_only_once_the_new_one_is_whole(finished, tmp_path):
    cfg, out, _ = _copy(finished, tmp_path)
    before = (out / CHECKPOINT).read_bytes()
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError):
        save_checkpoint(out, {"step": Unpicklable()})
    assert (out / CHECKPOINT).read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temp file left
