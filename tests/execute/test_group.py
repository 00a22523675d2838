"""A study's run on two devices: the local executor starts its process group (torchrun), a killed
rank fails the run without losing its checkpoint, a killed driver leaves no rank behind, and a
rerun finishes it; a run no machine here can hold is refused before anything trains."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.execute import available_cpus
from scalinglab.execute.resources import cuda_devices
from scalinglab.execute.worker import RunProgress, read_progress
from scalinglab.store import study_status
from scalinglab.train import train_run
from tests.execute.test_kill import kill_driver
from tests.study_files import write_study

SCALINGLAB = [sys.executable, "-m", "scalinglab"]


def _descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _ranks(pid: int) -> list[int]:
    """The rank processes under a driver: `python -m scalinglab.execute.group`, not torchrun itself."""
    out = []
    for p in _descendants(pid):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"scalinglab.execute.group" in cmd and b"launch" not in cmd:
            out.append(p)
    return out


def _wait_for(condition, what: str, driver: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.time() < deadline, f"no {what} in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_two_device_run_survives_a_killed_rank_and_a_killed_driver(tmp_path, cache_dir):
    path = write_study(tmp_path / "s.toml", widths=[64], tokens=16_384, checkpoint_seconds=0, cache_dir=cache_dir,
                       extra="devices = 2\n")
    spec = load_study(path).runs[0]
    folder = tmp_path / "s" / "runs" / spec.run_id
    checkpoint = folder / "checkpoint.pt"

    # A rank killed: the run fails (the study goes on), its checkpoint stays. Rank 0 tells the run's
    # progress file of each checkpoint, as a one-process run does (what `status` shows of it).
    driver = subprocess.Popen([*SCALINGLAB, "run", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(lambda: (read_progress(folder) or RunProgress(0, 0)).checkpoint > 0, "checkpoint", driver)
    assert checkpoint.exists()
    ranks = _ranks(driver.pid)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    assert driver.wait(timeout=60) == 1  # a run failed
    driver.stderr.close()
    assert study_status(path).failed[0][1].startswith("RankDied: a process of the run's 2 ended without a result")
    assert "Root Cause" in (folder / "error.log").read_text()  # torchrun's own account: the rank, its signal
    assert checkpoint.exists() and not (folder / "result.json").exists()

    # The driver killed: its worker, torchrun and the ranks die with it (none writes the folder on).
    driver = subprocess.Popen([*SCALINGLAB, "run", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    written = checkpoint.stat().st_mtime_ns
    _wait_for(lambda: len(_ranks(driver.pid)) == 2 and checkpoint.stat().st_mtime_ns != written, "new checkpoint",
              driver)
    kill_driver(driver, _descendants(driver.pid), timeout=15)
    assert not (folder / "result.json").exists()
    shown = CliRunner().invoke(app, ["status", str(path), "--json"])
    interrupted = json.loads(shown.stdout)["interrupted_runs"]
    assert [r["run_id"] for r in interrupted] == [spec.run_id] and interrupted[0]["checkpoint_step"] > 0

    rerun = subprocess.run([*SCALINGLAB, "run", str(path)], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "complete" and result["devices"] == 2
    # The study's run is the one-process run with the same global batch, to float rounding.
    one = train_run(spec.config.model_copy(update={"loop": spec.config.loop.model_copy(update={"devices": 1})}),
                    tmp_path / "one")
    assert result["steps"] == one.steps and result["tokens"] == one.tokens
    assert result["final_eval_loss"] == pytest.approx(one.final_eval_loss, abs=1e-3)


def _refused(path: Path) -> str:
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_run_on_more_processes_than_cores_is_refused_before_training(tmp_path):
    devices = 2 ** available_cpus().bit_length()  # a power of two above the core count
    path = write_study(tmp_path / "s.toml", widths=[64], extra=f"devices = {devices}\n")
    path.write_text(path.read_text().replace("batch_size = 8", f"batch_size = {devices}"))
    run_id = load_study(path).runs[0].run_id
    assert _refused(path) == (f"error: loop.devices: run {run_id} asks for {devices} processes × 1 thread(s) and "
                              f"this machine has {available_cpus()} cores")
    assert not (tmp_path / "s" / "runs").exists()


@pytest.mark.skipif(cuda_devices() > 0, reason="this machine has a GPU")
def test_cuda_on_a_machine_without_a_gpu_is_refused_before_training(tmp_path):
    path = write_study(tmp_path / "s.toml", widths=[64], extra="device = \"cuda\"\ndevices = 2\n")
    run_id = load_study(path).runs[0].run_id
    assert _refused(path) == f"error: loop.device: run {run_id} asks for 'cuda' and this machine has no GPU"
    assert not (tmp_path / "s" / "runs").exists()
