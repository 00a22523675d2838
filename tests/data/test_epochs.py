"""max_train_tokens and epochs: the cap is the stream's first N tokens, and epochs count whole rows."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.config import DataConfig, RunConfig
from scalinglab.data import cached_train_tokens, load_tokens
from scalinglab.data.epochs import epochs, repeats_data, unique_train_tokens

from .helpers import DOCS, write_jsonl


def cfg(tmp_path, **kw) -> DataConfig:
    corpus = tmp_path / "docs.jsonl"
    if not corpus.exists():  # written once: a rewrite would be new data (the cache keys on mtimes)
        write_jsonl(corpus, DOCS)
    return DataConfig(**{"source": f"files:{corpus}", "tokenizer": "bytes", "eval_fraction": 0.3, "seq_len": 16, **kw})


def test_the_cap_keeps_the_first_tokens_of_the_train_stream_and_leaves_eval_alone(tmp_path):
    full = load_tokens(cfg(tmp_path))
    capped = load_tokens(cfg(tmp_path, max_train_tokens=300))
    assert len(full.train) > 300
    assert np.array_equal(capped.train, full.train[:300])
    assert np.array_equal(capped.eval, full.eval)
    assert capped.fingerprint == full.fingerprint  # one cache serves every cap
    bigger = load_tokens(cfg(tmp_path, max_train_tokens=10 * len(full.train)))
    assert np.array_equal(bigger.train, full.train)


def test_the_split_size_is_read_from_the_cache_without_building_it(tmp_path):
    data = cfg(tmp_path)
    assert cached_train_tokens(data) is None
    n = len(load_tokens(data.model_copy(update={"max_train_tokens": 300})).train)
    assert n == 300 and cached_train_tokens(data) > 300  # the whole split, not the cap


def test_unique_tokens_are_whole_rows_and_epochs_divide_by_them():
    # 300 tokens hold (300 − 1) // 16 = 18 rows of 16 targets.
    assert unique_train_tokens(1000, 16, 300) == 18 * 16
    assert unique_train_tokens(200, 16, 300) == 12 * 16  # a cap beyond the split changes nothing
    assert unique_train_tokens(1000, 16) == 62 * 16
    assert epochs(576, 288) == 2.0
    assert not repeats_data(1.0) and repeats_data(1.01) and not repeats_data(None)


def test_a_cap_below_one_batch_names_the_setting():
    ok = {"data": {"seq_len": 16, "max_train_tokens": 8 * 16 + 1}, "budget": {"batch_size": 8}}
    assert RunConfig.model_validate(ok).data.max_train_tokens == 129
    with pytest.raises(ValueError, match=r"data\.max_train_tokens: 128 is less than one batch.*8 × 16 \+ 1 = 129"):
        RunConfig.model_validate({**ok, "data": {"seq_len": 16, "max_train_tokens": 128}})
    with pytest.raises(ValueError, match="must be positive"):
        DataConfig(max_train_tokens=0)


def test_the_cap_changes_the_run_id_and_an_unset_cap_leaves_old_ids_alone():
    plain = RunConfig()
    assert "max_train_tokens" not in plain.model_dump_json()  # configs written before the setting read the same
    capped = RunConfig.model_validate({"data": {"max_train_tokens": 10**6}})
    assert capped.digest() != plain.digest()
    assert RunConfig.model_validate_json(capped.model_dump_json()) == capped


