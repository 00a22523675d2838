"""SIGKILL `scalinglab run` mid-study: nothing finished is lost, and the next `run` finishes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalinglab.store import Store, study_paths, study_status
from tests.study_files import write_study

pytestmark = pytest.mark.slow

SCALINGLAB = [sys.executable, "-m", "scalinglab"]
ONE_WORKER = ["--workers", "1", "--threads-per-worker", "1"]


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: no psutil needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_driver(driver: subprocess.Popen, processes: list[int], timeout: float = 10.0) -> None:
    """SIGKILL a `scalinglab run` and see `processes` (its workers, their children) die with it."""
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    deadline = time.time() + timeout
    while any(_alive(p) for p in processes) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in processes)


def test_sigkill_mid_study_loses_nothing_and_rerun_finishes(tmp_path, cache_dir):
    # Four runs, one worker, checkpoints at every log step: the kill lands after the first run ends.
    path = write_study(tmp_path / "s.toml", widths=[64], sweep={"seed": [0, 1, 2, 3]}, tokens=8192,
                       checkpoint_seconds=0, cache_dir=cache_dir)
    driver = subprocess.Popen([*SCALINGLAB, "run", str(path), *ONE_WORKER],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    status = study_status(path)
    while status.counts["complete"] < 1:  # `status` reads beside the writing `run`
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.time() < deadline, "no run finished in time"
        time.sleep(0.1)
        status = study_status(path)
    # The worker dies with its driver (PR_SET_PDEATHSIG): no orphan keeps writing checkpoints.
    kill_driver(driver, _children(driver.pid))

    db = study_paths(tmp_path / "s").db
    with Store.open_reader(db) as reader:
        done_before = {r["run_id"]: r for r in reader.runs() if r["status"] == "complete"}
    assert 1 <= len(done_before) < 4
    status = study_status(path)  # the killed driver's 'running' row reads as pending: no driver holds the study
    assert status.counts["running"] == 0 and not status.driver_running
    assert status.counts["complete"] + status.counts["pending"] == 4

    rerun = subprocess.run([*SCALINGLAB, "run", str(path), *ONE_WORKER], capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} already done" in rerun.stderr
    with Store.open_reader(db) as reader:
        after = {r["run_id"]: r for r in reader.runs()}
    assert {r["status"] for r in after.values()} == {"complete"} and len(after) == 4
    for run_id, row in done_before.items():
        assert after[run_id] == row  # kept as it was, not retrained
