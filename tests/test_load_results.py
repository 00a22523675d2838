"""`scalinglab.load_results`: a study's results, or a published table, as a DataFrame in one call."""

from __future__ import annotations

import pandas as pd
import pytest

import scalinglab
from scalinglab.config import ConfigError, load_study
from scalinglab.store import COLUMNS, Store, study_paths
from tests.analysis.helpers import DATA
from tests.study_files import write_study


def test_a_study_file_gives_one_row_per_run_with_what_is_stored(tmp_path):
    path = write_study(tmp_path / "s.toml", widths=(64, 128))
    study = load_study(path)
    with Store.open_writer(study_paths(tmp_path / "elsewhere").db) as store:
        store.add_runs(study.runs)
        store.record_failure(study.runs[0].run_id, "ValueError: boom", "host")
    fresh = scalinglab.load_results(path)
    assert list(fresh.columns) == COLUMNS and fresh["status"].tolist() == ["pending", "pending"]
    moved = scalinglab.load_results(str(path), results=tmp_path / "elsewhere")
    assert sorted(moved["status"]) == ["failed", "pending"]
    assert scalinglab.load_results(study, results=tmp_path / "elsewhere").equals(moved)


def test_a_published_table_is_read_as_it_is():
    runs = scalinglab.load_results(DATA / "gemstones-lr-ablation.csv")
    assert isinstance(runs, pd.DataFrame) and set(runs["arm"]) == {"main_lr", "half_lr"} and len(runs) > 400
    with pytest.raises(ConfigError, match="`results` is the results folder of a study"):
        scalinglab.load_results(DATA / "gemstones-lr-ablation.csv", results="somewhere")
