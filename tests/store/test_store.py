"""The results file: roundtrip, WAL, read-only readers beside a writer, atomic writes, one driver."""

from __future__ import annotations

import sqlite3

import pytest

from scalinglab.config import ConfigError, load_study
from scalinglab.store import Store, driver_alive, writer_lock
from scalinglab.store.db import _ADDED, SCHEMA_VERSION
from scalinglab.train.result import MetricRow, RunResult
from tests.study_files import write_study


def _result(loss: float, status: str = "complete") -> RunResult:
    return RunResult(
        status=status, steps=4, steps_planned=4, tokens=1024, params_non_embedding=100, params_total=200,
        flops=1e9, flops_6nd=6e8, vocab_size=258, lr=0.01, depth=1, final_train_loss=loss + 0.1,
        final_eval_loss=loss, final_eval_loss_se=0.01, initial_eval_loss=5.5, wall_time_s=1.0,
        tokens_per_s=1000.0, device="cpu",
        metrics=[MetricRow(step=0, tokens=0, eval_loss=5.5, eval_loss_se=0.1),
                 MetricRow(step=4, tokens=1024, train_loss=loss + 0.1, lr=0.01, grad_norm=1.0, eval_loss=loss)],
    )


@pytest.fixture
def specs(tmp_path):
    return load_study(write_study(tmp_path / "s.toml", widths=[64, 128])).runs


def test_roundtrip_and_wal(tmp_path, specs):
    db = tmp_path / "out" / "results.sqlite"
    with Store.open_writer(db) as store:
        assert store.add_runs(specs) == 2
        assert store.add_runs(specs) == 0  # known runs keep their rows
        store.mark_running([specs[0].run_id])
        store.record_result(specs[0].run_id, _result(3.2), host="h1")
        store.record_failure(specs[1].run_id, "ValueError: boom", host="h2")
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store.open_reader(db) as reader:
        rows = {r["run_id"]: r for r in reader.runs()}
        ok, bad = rows[specs[0].run_id], rows[specs[1].run_id]
        assert (ok["status"], ok["final_eval_loss"], ok["host"], ok["attempts"]) == ("complete", 3.2, "h1", 1)
        assert ok["digest"] == specs[0].digest and ok["spec"] == specs[0].model_dump_json()
        assert (bad["status"], bad["error"]) == ("failed", "ValueError: boom")
        curve = reader.metric_rows([specs[0].run_id])
        assert [(m["step"], m["eval_loss"]) for m in curve] == [(0, 5.5), (4, 3.2)]
        assert reader.final_by_digest() == {specs[0].digest: specs[0].run_id}


def test_copy_result_and_release_running(tmp_path, specs):
    with Store.open_writer(tmp_path / "r.sqlite") as store:
        store.add_runs(specs)
        store.record_result(specs[0].run_id, _result(3.0, "diverged"), host="h")
        store.copy_result(specs[0].run_id, specs[1].run_id)
        copied = store.runs([specs[1].run_id])[0]
        assert (copied["status"], copied["final_eval_loss"], copied["reused_from"]) == ("diverged", 3.0, specs[0].run_id)
        assert len(store.metric_rows([specs[1].run_id])) == 2
        store.mark_running([specs[1].run_id])
        assert store.release_running() == 1
        assert store.runs([specs[1].run_id])[0]["status"] == "pending"


def test_reader_sees_committed_state_while_writer_is_mid_transaction(tmp_path, specs):
    db = tmp_path / "r.sqlite"
    writer = Store.open_writer(db)
    writer.add_runs(specs)
    reader = Store.open_reader(db)
    # A writer holding an open transaction (e.g. killed mid-write) blocks no reader, and its
    # uncommitted rows are never seen.
    writer._conn.execute("BEGIN IMMEDIATE")
    writer._conn.execute("UPDATE runs SET status = 'complete'")
    assert {r["status"] for r in reader.runs()} == {"pending"}
    writer._conn.execute("ROLLBACK")
    writer.record_result(specs[0].run_id, _result(3.1), host="h")
    assert reader.runs([specs[0].run_id])[0]["status"] == "complete"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._conn.execute("DELETE FROM runs")
    reader.close()
    writer.close()


def test_reader_of_a_missing_file_creates_nothing(tmp_path):
    assert Store.open_reader(tmp_path / "none.sqlite") is None
    assert list(tmp_path.iterdir()) == []


def test_one_driver_per_results_file(tmp_path):
    db = tmp_path / "results.sqlite"
    assert not driver_alive(db)
    with writer_lock(db):
        assert driver_alive(db)
        with pytest.raises(ConfigError, match="another `scalinglab run`"):
            with writer_lock(db):
                pass
    assert not driver_alive(db)


def test_a_results_file_of_schema_1_gains_the_new_columns_and_keeps_its_rows(tmp_path, specs):
    db = tmp_path / "results.sqlite"
    with Store.open_writer(db) as store:
        store.add_runs(specs)
        store.record_result(specs[0].run_id, _result(3.2), host="h1")
    # Make it the file an earlier scalinglab wrote: without the columns later versions added, schema 1.
    conn = sqlite3.connect(db)
    later = [col.split()[0] for cols in _ADDED.values() for col in cols]
    conn.executescript("".join(f"ALTER TABLE runs DROP COLUMN {c};" for c in later) + "PRAGMA user_version = 1;")
    conn.close()
    with Store.open_reader(db) as reader:  # a reader of the old file works as it is
        assert "final_unseen_train_loss" not in dict(reader.runs()[0])
    with Store.open_writer(db) as store:
        store.record_result(specs[1].run_id, _result(3.0).model_copy(
            update={"final_unseen_train_loss": 2.9, "unique_tokens": 512, "epochs": 2.0}), host="h1")
        rows = {r["run_id"]: r for r in store.runs()}
    old_row, new_row = rows[specs[0].run_id], rows[specs[1].run_id]
    assert old_row["final_eval_loss"] == 3.2 and old_row["final_unseen_train_loss"] is None and old_row["epochs"] is None
    assert (new_row["final_unseen_train_loss"], new_row["unique_tokens"], new_row["epochs"]) == (2.9, 512, 2.0)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with Store.open_reader(db) as reader:  # and the decisions table of schema 3, empty
        assert reader.decisions() == []
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match=f"schema {SCHEMA_VERSION + 1}; this scalinglab reads up to {SCHEMA_VERSION}"):
        Store.open_writer(db)


def _decision(action: str = "train", runs: str = '["r1"]', spent: float = 1e12, p: float = 0.6) -> dict:
    return {"a": "x", "b": "y", "target_compute": 1e15, "p_b_beats_a": p, "delta": 0.01, "delta_lo": -0.02,
            "delta_hi": 0.04, "spent_flops": spent, "action": action, "runs": runs, "reason": "because"}


def test_a_decision_made_again_on_resuming_is_recorded_once(tmp_path):
    db = tmp_path / "results.sqlite"
    with Store.open_writer(db) as store:
        assert store.record_decision(_decision()) == 0
        # Killed while training its runs, the study resumes on the same results and decides the
        # same again (P refitted, to the last bits): the same decision, not a new row.
        assert store.record_decision(_decision(p=0.6000000000000001)) == 0
        assert store.record_decision(_decision(spent=2e12, runs='["r2"]')) == 1  # the next round
        assert store.record_decision(_decision("failed", "[]", spent=2e12)) == 2
        # Rerun after the failure: the same choice again after another decision is a new row (a retry).
        assert store.record_decision(_decision(spent=2e12, runs='["r2"]')) == 3
    with Store.open_reader(db) as reader:
        assert [d["step"] for d in reader.decisions()] == [0, 1, 2, 3]
