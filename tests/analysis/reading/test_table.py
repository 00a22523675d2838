"""Input tables: formats, column names by flag, derived columns, rows left out, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import Columns, load_table, select_runs
from scalinglab.config import ConfigError
from tests.analysis.helpers import CHINCHILLA, arm


@pytest.fixture
def runs_frame():
    df = arm("a", 2.0, 60.0, 0.1).head(4).copy()
    df.loc[len(df)] = ["a-x", "a", 1024.0, 1e9, 2e10, 1.2e20, np.nan, "diverged"]
    df.loc[len(df)] = ["a-y", "a", 1024.0, 1e9, 2e10, 1.2e20, np.nan, "failed"]
    return df


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".json"])
def test_every_format_loads_the_same_table(tmp_path, runs_frame, suffix):
    path = tmp_path / f"runs{suffix}"
    {".csv": lambda p: runs_frame.to_csv(p, index=False),
     ".parquet": lambda p: runs_frame.to_parquet(p),
     ".jsonl": lambda p: runs_frame.to_json(p, orient="records", lines=True),
     ".json": lambda p: runs_frame.to_json(p, orient="records")}[suffix](path)
    df = load_table(path)
    assert df.attrs["source"] == path.name
    runs = select_runs(df)
    assert len(runs.frame) == 4
    np.testing.assert_allclose(runs.frame["loss"], runs_frame["loss"].head(4))


def test_non_complete_rows_are_left_out_and_counted(runs_frame):
    runs = select_runs(runs_frame)
    assert runs.excluded == {"status diverged": 1, "status failed": 1}
    assert runs.n_excluded == 2
    kept = select_runs(runs_frame, keep_status=("complete", "diverged"), need=("width", "loss"))
    assert len(kept.frame) == 5  # hyperparameter laws keep diverged runs: they mark the stable edge


def test_compute_is_derived_as_6nd_and_tokens_as_c_over_6n():
    df = pd.DataFrame({"params": [1e6, 2e6, 4e6], "tokens": [2e7, 4e7, 8e7], "loss": [4.0, 3.5, 3.2]})
    np.testing.assert_allclose(select_runs(df).frame["compute"], 6 * df["params"] * df["tokens"])
    chin = pd.read_csv(CHINCHILLA)
    runs = select_runs(chin, Columns(params="Model Size", compute="Training FLOP"), need=("params", "tokens", "loss"))
    np.testing.assert_allclose(runs.frame["tokens"], chin["Training FLOP"] / (6 * chin["Model Size"]))
    assert runs.groups() == ["all"]  # no arm column: one group


def test_last_step_of_each_run_is_its_final_loss():
    df = pd.DataFrame({"run_id": ["r1"] * 3 + ["r2"] * 2, "step": [10, 30, 20, 5, 9], "compute": [1e15] * 3 + [2e15] * 2,
                       "loss": [5.0, 3.0, 4.0, 4.5, 3.9]})
    frame = select_runs(df).frame
    assert dict(zip(frame["run"], frame["loss"])) == {"r1": 3.0, "r2": 3.9}


@pytest.mark.parametrize(("columns", "change", "message"), [
    (Columns(loss="final_loss"), None, "runs.csv: column 'final_loss' not found (columns: run_id, arm,"),
    (Columns(), lambda d: d.drop(columns=["compute", "tokens"]),
     "runs.csv: column 'compute' not found and cannot be derived as 6·N·D"),
    (Columns(), lambda d: d.assign(params=-d["params"]).drop(columns=["compute"]),
     "runs.csv: column 'params' must be positive (row 1: -"),
    (Columns(), lambda d: d.assign(compute=d["compute"].astype(object).where(d.index != 2, "big")),
     "runs.csv: column 'compute' is not numeric (row 3: 'big')"),
])
def test_bad_input_is_one_line_naming_file_and_column(runs_frame, columns, change, message):
    df = runs_frame if change is None else change(runs_frame)
    df.attrs["source"] = "runs.csv"
    with pytest.raises(ConfigError) as err:
        select_runs(df, columns)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_table(tmp_path / "missing.csv")
    (tmp_path / "runs.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"runs.xlsx: unknown table format '.xlsx'"):
        load_table(tmp_path / "runs.xlsx")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="empty.csv: no rows"):
        load_table(tmp_path / "empty.csv")


def test_exact_copies_of_a_row_are_merged_and_counted(runs_frame):
    doubled = pd.concat([runs_frame, runs_frame.head(3)], ignore_index=True)
    doubled.attrs["source"] = "runs.csv"
    runs = select_runs(doubled)
    assert len(runs.frame) == 4  # the 4 complete runs, each once: copies add no information
    assert runs.excluded == {"exact copies of another row": 3, "status diverged": 1, "status failed": 1}
    # Equal in every column but one (another seed, another checkpoint) is another row.
    other = runs_frame.head(1).assign(run_id="a-0-seed1")
    assert len(select_runs(pd.concat([runs_frame, other], ignore_index=True)).frame) == 5


def test_a_row_of_no_arm_is_left_out_and_counted(runs_frame):
    df = runs_frame.copy()
    df.loc[0, "arm"] = None
    df.loc[1, "arm"] = "  "
    runs = select_runs(df)
    assert set(runs.frame["group"]) == {"a"} and len(runs.frame) == 2
    assert runs.excluded["empty arm"] == 2


def test_replicates_must_have_the_shape_of_runs():
    base = {"arm": "a", "params": 1e7, "tokens": 2e8, "loss": 3.0}
    one_run_two_seeds = pd.DataFrame([base | {"run_id": "r1", "seed": 0, "step": 1},
                                      base | {"run_id": "r1", "seed": 1, "step": 2, "loss": 2.9}])
    one_run_two_seeds.attrs["source"] = "t.csv"
    with pytest.raises(ConfigError, match=r"^t.csv: column 'seed': run 'r1' of 'a' holds rows of 2 seeds; each seed "
                                          r"is a run of its own \(give it its own run_id\)"):
        select_runs(one_run_two_seeds, checkpoints="all")
    part_seeded = pd.DataFrame([base | {"run_id": "r1", "seed": 0}, base | {"run_id": "r2", "seed": np.nan,
                                                                           "loss": 3.1}])
    part_seeded.attrs["source"] = "t.csv"
    with pytest.raises(ConfigError, match=r"^t.csv: column 'seed' has a missing value \(row 2\) at a point whose "):
        select_runs(part_seeded)
    fine = pd.DataFrame([base | {"run_id": "r1", "seed": 0}, base | {"run_id": "r2", "seed": 1, "loss": 3.1}])
    assert len(select_runs(fine).frame) == 2
