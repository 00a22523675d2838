"""A run id means one result: a run trains with its own thread count, not the process's."""

from __future__ import annotations

import pytest
import torch

from scalinglab.config import RunConfig
from scalinglab.config.run import default_threads
from scalinglab.train import train_run
from tests.conftest import tiny_settings


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_same_run_gives_the_same_losses_whatever_threads_the_process_had(tmp_path, restore_threads):
    # Settings where 1 and 2 threads round differently (train loss 2.3966553 vs 2.3966556 when the
    # process's count was used): width 64 with 16-wide heads, 73 steps of 16 x 128 bytes.
    settings = tiny_settings(model={"width": 64, "depth": 2, "head_dim": 16},
                             data={"tokenizer": "bytes", "seq_len": 128, "max_documents": 300},
                             budget={"tokens": 150_000, "batch_size": 16}, loop={"eval_tokens": 4096, "log_every": 10})
    cfg = RunConfig.model_validate(settings)
    assert cfg.loop.threads is None and cfg.resolved_threads() == default_threads(64) == 1
    results = []
    for process_threads in (2, 1):  # what a worker given 2 cores, then 1, would have had
        torch.set_num_threads(process_threads)
        results.append(train_run(cfg, tmp_path / f"t{process_threads}"))
    a, b = results
    assert a.threads == b.threads == 1
    assert (a.final_train_loss, a.final_eval_loss) == (b.final_train_loss, b.final_eval_loss)
    assert [m.train_loss for m in a.metrics] == [m.train_loss for m in b.metrics]


def test_default_threads_are_fixed_by_width():
    # Part of what a run id means: these numbers must not change.
    assert [default_threads(w) for w in (32, 256, 257, 1024, 1025, 4096)] == [1, 1, 2, 2, 4, 4]
