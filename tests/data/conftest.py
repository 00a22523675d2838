"""Shared fixtures: every test caches into its own tmp_path, never ~/.cache."""

from __future__ import annotations

import pytest

from .helpers import T5_MODEL


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def t5_model():
    return T5_MODEL
