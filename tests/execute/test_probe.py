"""`plan` probes only what is quick to probe, scales the rest by FLOPs, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.execute import Resources
from scalinglab.execute.local import children_ignore_sigint
from scalinglab.execute.probe import _representatives, probe_throughputs
from scalinglab.plan import shape_key
from tests import terminal
from tests.study_files import write_study

pytestmark = pytest.mark.slow


def test_a_model_too_slow_to_probe_is_scaled_by_flops(tmp_path, cache_dir):
    # Width 2048: a step of 8 x 32 tokens is ~8e10 FLOPs, seconds on a CPU core; width 64 is instant.
    path = write_study(tmp_path / "s.toml", widths=[64, 2048], cache_dir=cache_dir)
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["plan", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - t0 < 60
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith(" base")}
    assert "~" in rows["2048"] and "~" not in rows["64"]
    assert "~ widths 2048: a training step takes over 1 s here, too slow to probe" in result.stdout
    assert "est. -" not in result.stdout


def test_each_shape_is_probed_with_its_smallest_lr(tmp_path):
    # The sweep's largest LRs diverge in a few steps, and NaN steps are slower: they would misprice it.
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128], sweep={"lr": [0.001, 4.0, 0.01]}))
    chosen = _representatives([r.config for r in study.runs])
    assert sorted(c.model.width for c in chosen.values()) == [64, 128]
    assert {c.optim.lr for c in chosen.values()} == {0.001}


def test_nothing_is_probed_when_one_row_is_already_too_slow(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=[8192]))
    cfg = study.runs[0].config
    big = cfg.model_copy(update={"model": cfg.model.model_copy(update={"depth": 512})})
    t0 = time.perf_counter()
    got = probe_throughputs([big], Resources(1, 1))
    assert got.tokens_per_s == {} and time.perf_counter() - t0 < 1  # no process was even started
    assert shape_key(big) not in got.scaled


def test_ctrl_c_while_probing_stops_at_once_without_leaks(tmp_path, cache_dir):
    path = write_study(tmp_path / "s.toml", widths=[64, 128, 192], cache_dir=cache_dir)
    proc = terminal.start(["plan", str(path), "--workers", "2"])
    line = proc.stderr.readline()
    assert "probing throughput" in line
    time.sleep(1.5)  # the workers are starting: importing torch, or probing
    err = terminal.ctrl_c(proc, timeout=15)
    assert proc.returncode != 0
    assert "leaked semaphore" not in err and "Traceback" not in err, err


def test_a_ctrl_c_while_workers_start_is_held_for_the_driver_and_ignored_by_them():
    # The window in which a pool spawns its workers: a Ctrl-C then used to vanish, and a probe ran on.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever CI gave
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt):
            with children_ignore_sigint():
                child = subprocess.run([sys.executable, "-c", "import signal; "
                                        "print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))"],
                                       capture_output=True, text=True, timeout=60)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                finished = True  # the window is not cut short: the Ctrl-C comes after it
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished
    assert child.stdout.strip() == "True"  # held from its first instruction, until init_worker ignores it


def test_the_smallest_shape_is_timed_whatever_its_step_is_predicted_to_cost(tmp_path, monkeypatch):
    # A busy machine slows the one-row step most (its fixed costs), and its rate then priced every
    # shape as too slow to probe: all scaled from it, the quick demo at 42 min for 8. Now the
    # smallest shape is timed at its own batch, and the others scaled from that.
    monkeypatch.setattr("scalinglab.execute.probe.PROBE_STEP_S", 1e-9)  # every step "too slow"
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128]))
    got = probe_throughputs([r.config for r in study.runs], Resources(1, 1))
    by_width = {r.width: shape_key(r.config) for r in study.runs}
    assert set(got.measured) == {by_width[64]} and set(got.scaled) == {by_width[128]}
    assert got.scaled[by_width[128]] < got.measured[by_width[64]]
    lo, hi = got.spread
    assert 0 < lo <= 1 <= hi and got.load is not None and got.load >= 0


def test_the_plan_gives_its_estimate_as_a_range_and_says_when_the_machine_is_busy(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr("scalinglab.cli.study.BUSY", 0.0)  # whatever the load now, it reads as busy
    path = write_study(tmp_path / "s.toml", widths=[64], cache_dir=cache_dir)
    result = CliRunner().invoke(app, ["plan", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    total = next(line for line in result.stdout.splitlines() if line.startswith("total:"))
    assert re.search(r"est\. (.+) \((.+)–(.+)\)$", total), total
    assert re.search(r"the machine looks busy \(load average [\d.]+ on \d+ cores while probing\)", result.stdout)
