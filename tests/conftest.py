"""Shared fixtures: tiny configs derived from the real defaults, and a tokenized-data cache per session."""

from __future__ import annotations

import pytest

from scalinglab.config import RunConfig


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("token-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(cache_dir, monkeypatch):
    # Nothing a test builds lands in the user's real cache.
    monkeypatch.setenv("SCALINGLAB_CACHE", str(cache_dir))


def tiny_settings(**overrides) -> dict:
    """A run that trains in a few seconds on 1 CPU thread: the defaults, shrunk."""
    settings = {
        "model": {"width": 64, "depth": 1},
        "data": {"tokenizer": "bytes", "seq_len": 32, "max_documents": 200},
        "optim": {"lr": 0.01},
        "budget": {"tokens": 40_000, "batch_size": 8},
        "loop": {"threads": 1, "eval_tokens": 4096, "log_every": 5},
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            settings.setdefault(section, {})[field] = value
        else:
            settings[section] = value
    return settings


@pytest.fixture
def tiny_config() -> RunConfig:
    return RunConfig.model_validate(tiny_settings())
