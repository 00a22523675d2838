"""Every result records the unique train tokens it could draw and the epochs its budget made over them."""

from __future__ import annotations

from scalinglab.config import RunConfig
from scalinglab.data import cached_train_tokens
from scalinglab.train import train_run
from tests.conftest import tiny_settings


def test_a_capped_run_repeats_its_slice_and_says_how_often(tmp_path):
    # 4,096 tokens in steps of 8 rows × 32; the cap leaves (257 − 1) // 32 = 8 rows: one batch.
    capped = RunConfig.model_validate(tiny_settings(budget={"tokens": 4096, "batch_size": 8},
                                                    data__max_train_tokens=8 * 32 + 1))
    result = train_run(capped, tmp_path / "capped")
    assert (result.unique_tokens, result.epochs) == (256, 16.0)
    # Sixteen passes over 256 tokens: the model has memorised them far below the held-out loss.
    assert result.final_train_loss < result.final_eval_loss - 0.5

    plain = RunConfig.model_validate(tiny_settings(budget={"tokens": 4096, "batch_size": 8}))
    result = train_run(plain, tmp_path / "plain")
    rows = (cached_train_tokens(plain.data) - 1) // 32
    assert result.unique_tokens == rows * 32 and result.epochs == 4096 / (rows * 32) < 1
