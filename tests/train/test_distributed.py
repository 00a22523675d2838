"""A run on two CPU processes (torchrun, gloo) is the one-process run with the same global batch:
the same rows at every step, the same losses within float rounding, a divergence at the same step
on every rank; it keeps its world size. (A killed rank and a killed driver: tests/execute/test_group.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import ConfigError, RunConfig, apply_overrides
from scalinglab.data import row_indices, tokenizer_vocab_size
from scalinglab.train import train_run
from scalinglab.train.checkpoint import load_state
from scalinglab.train.distributed import World
from scalinglab.train.loop import build_model
from scalinglab.train.optim import build_optimizer
from tests.conftest import tiny_settings
from tests.train.test_loop import _write_toml

SETTINGS = tiny_settings(budget={"tokens": 16_384, "batch_size": 8},
                         loop={"threads": 1, "eval_tokens": 2048, "log_every": 1, "checkpoint_seconds": 0})
"""64 steps of 8 rows of 32 tokens, every one's loss logged."""


def _torchrun(config: Path, out: Path, *sets: str, **kw) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               "-m", "scalinglab", "train", "--config", str(config), "--out", str(out), "--json",
               *(arg for item in sets for arg in ("--set", item))]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, cache_dir):
    """The tiny run trained by torchrun on 2 processes, uninterrupted: (its config file, folder, summary)."""
    tmp = tmp_path_factory.mktemp("ddp")
    config = _write_toml(tmp / "run.toml", SETTINGS)
    done = _torchrun(config, tmp / "two", env=os.environ | {"SCALINGLAB_CACHE": str(cache_dir)})
    assert done.returncode == 0, done.stderr
    return config, tmp / "two", json.loads(done.stdout)


def test_the_ranks_share_out_exactly_the_global_batch():
    rows = row_indices(1000, 7, 8, 0)
    parts = [World(rank=r, size=4, launched=True).share(rows) for r in range(4)]
    assert [len(p) for p in parts] == [2, 2, 2, 2]
    assert np.array_equal(np.concatenate(parts), rows)


@pytest.mark.slow
def test_two_processes_train_the_one_process_run(two_ranks, tmp_path):
    _, folder, two = two_ranks
    one = train_run(RunConfig.model_validate(SETTINGS), tmp_path / "one")
    assert two["devices"] == 2 and one.devices == 1
    assert (two["steps"], two["tokens"]) == (one.steps, one.tokens) == (64, 64 * 8 * 32)
    curve = json.loads((folder / "result.json").read_text())["metrics"]
    train_two = [m["train_loss"] for m in curve if m["train_loss"] is not None]
    train_one = [m.train_loss for m in one.metrics if m.train_loss is not None]
    # Step 1's loss is the initial model's on that step's rows: the same rows, to float rounding
    # (other rows would differ by ~1e-2); after it, the two runs' rounding grows, as one run's
    # does with its thread count.
    assert train_two[0] == pytest.approx(train_one[0], abs=1e-6)
    assert np.max(np.abs(np.array(train_two) - np.array(train_one))) < 1e-3
    assert two["final_eval_loss"] == pytest.approx(one.final_eval_loss, abs=1e-3)
    assert two["final_unseen_train_loss"] == pytest.approx(one.final_unseen_train_loss, abs=1e-3)
    assert two["final_eval_loss"] < two["initial_eval_loss"] - 0.5  # it learned


@pytest.mark.slow
def test_another_world_size_is_refused_in_one_line(two_ranks):
    config, folder, _ = two_ranks
    done = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(folder)])
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {folder}: holds a run on 2 device(s) (loop.devices) and this one is on 1: a run keeps its world "
        "size, which is part of what it computes; start it on 2, or choose another output folder")


@pytest.mark.slow
def test_a_divergence_stops_every_rank_at_the_one_process_step(tmp_path):
    unstable = ("optim.lr=50", "optim.grad_clip=0", "schedule.warmup=0")
    config = _write_toml(tmp_path / "run.toml", SETTINGS)
    # A rank that stopped alone would leave the other waiting in its next gradient average: torchrun
    # exits only if both stop, at the same step.
    done = _torchrun(config, tmp_path / "two", *unstable)
    assert done.returncode == 0, done.stderr
    two = json.loads(done.stdout)
    one = train_run(RunConfig.model_validate(apply_overrides(SETTINGS, list(unstable))), tmp_path / "one")
    assert two["status"] == one.status == "diverged"
    assert two["diverged_step"] == one.diverged_step


def test_a_checkpoint_of_another_world_size_is_refused(tmp_path):
    one = RunConfig.model_validate(tiny_settings(budget={"tokens": 2048, "batch_size": 8}))
    train_run(one, tmp_path / "run")
    two = one.model_copy(update={"loop": one.loop.model_copy(update={"devices": 2})})

    def build():
        model = build_model(two, tokenizer_vocab_size(two.data.tokenizer), "cpu")
        return model, build_optimizer(model, two.optim, 0.01)

    with pytest.raises(ConfigError, match=r"holds a run on 1 device\(s\) \(loop.devices\) and this one is on 2"):
        load_state(tmp_path / "run", two, build)
