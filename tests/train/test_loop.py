import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from scalinglab.config import ConfigError, RunConfig
from scalinglab.train import train_run
from tests.conftest import tiny_settings


def _write_toml(path: Path, settings: dict) -> Path:
    lines = []
    for section, values in settings.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        else:
            lines.insert(0, f"{section} = {json.dumps(values)}")
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())
    return path


def _cli(*args: str, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scalinglab", *args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=300, **kw)


def test_tiny_run_learns_and_reports(tiny_config, tmp_path):
    result = train_run(tiny_config, tmp_path / "run")
    assert result.status == "complete"
    assert result.steps == result.steps_planned == 157  # ceil(40,000 / (8·32))
    assert result.final_eval_loss < result.initial_eval_loss - 1.0
    assert result.final_eval_loss_se > 0
    # Held-out rows of the training text: scored, and learned as well as the eval split (same source).
    assert result.final_unseen_train_loss < result.initial_eval_loss - 1.0
    assert result.final_unseen_train_loss_se > 0
    assert [m.step for m in result.metrics if m.eval_loss is not None][0] == 0
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    stored = json.loads((tmp_path / "run" / "result.json").read_text())
    assert stored["final_eval_loss"] == result.final_eval_loss
    # A second call reuses the finished run instead of training again: the checkpoint stays as it was.
    written = (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns
    again = train_run(tiny_config, tmp_path / "run")
    assert again == result and (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns == written


def test_output_folder_of_another_config_is_refused(tiny_config, tmp_path):
    train_run(tiny_config.model_copy(update={"budget": tiny_config.budget.model_copy(update={"tokens": 2000})}),
              tmp_path / "run")
    with pytest.raises(ConfigError, match="different config"):
        train_run(tiny_config, tmp_path / "run")


def test_divergence_is_a_result_not_a_crash(tmp_path):
    cfg = RunConfig.model_validate(tiny_settings(optim={"lr": 50.0, "grad_clip": 0.0}, schedule={"warmup": 0}))
    result = train_run(cfg, tmp_path / "run")
    assert result.status == "diverged"
    assert 1 <= result.diverged_step < result.steps_planned
    assert result.final_eval_loss is None


def test_cli_json_summary_and_divergence_exit_zero(tmp_path):
    config = _write_toml(tmp_path / "run.toml", tiny_settings())
    done = _cli("train", "--config", str(config), "--set", "optim.lr=50", "--set", "optim.grad_clip=0",
                "--set", "schedule.warmup=0", "--out", str(tmp_path / "a"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "diverged" and summary["diverged_step"] >= 1


def test_killed_run_resumes_to_the_same_final_loss(tmp_path):
    settings = tiny_settings(budget={"tokens": 32_000, "batch_size": 8},
                             loop={"threads": 1, "eval_tokens": 4096, "log_every": 2, "checkpoint_seconds": 0})
    config = _write_toml(tmp_path / "run.toml", settings)
    whole = _cli("train", "--config", str(config), "--out", str(tmp_path / "whole"), "--json")
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "scalinglab", "train", "--config", str(config), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists(), "the run finished before it could be killed"

    resumed = _cli("train", "--config", str(config), "--out", str(out), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stderr
    a, b = json.loads(whole.stdout), json.loads(resumed.stdout)
    assert b["steps"] == a["steps"]
    assert b["final_train_loss"] == pytest.approx(a["final_train_loss"], abs=1e-6)
    assert b["final_eval_loss"] == pytest.approx(a["final_eval_loss"], abs=1e-6)
