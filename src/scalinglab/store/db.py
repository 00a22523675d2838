"""The study's results in one SQLite file (WAL): all of scalinglab's SQL lives here.

Only the study driver writes (one writer, guarded by a lock file); `status` and `export` read
through read-only connections, which WAL lets run beside the writer without blocking it. Every
write is one transaction, so a driver killed at any instant leaves whole rows or none.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalinglab.config import ConfigError, RunSpec
from scalinglab.config.paths import make_folder, os_problem

if TYPE_CHECKING:  # the store reads and writes plain rows; importing train would pull in torch
    from scalinglab.train.result import RunResult

SCHEMA_VERSION = 4
_ADDED = {2: ("final_unseen_train_loss REAL", "final_unseen_train_loss_se REAL"),
          4: ("unique_tokens INTEGER", "epochs REAL")}
"""Columns each schema version added to `runs` (version 3 added the `decisions` table)."""
STATUSES = ("pending", "running", "complete", "diverged", "failed")
FINAL = ("complete", "diverged")
"""Statuses that are results: `run` never trains these again."""

# RunResult fields kept as columns of `runs` (the metrics list goes to `metrics`).
RESULT_COLUMNS = (
    "steps", "steps_planned", "tokens", "params_non_embedding", "params_total", "flops", "flops_6nd",
    "vocab_size", "lr", "depth", "final_train_loss", "final_eval_loss", "final_eval_loss_se",
    "final_unseen_train_loss", "final_unseen_train_loss_se", "initial_eval_loss", "diverged_step",
    "wall_time_s", "tokens_per_s", "device", "unique_tokens", "epochs",
)
STEP_COLUMNS = ("step", "tokens", "train_loss", "lr", "grad_norm", "tokens_per_s", "eval_loss", "eval_loss_se")
DECISION_COLUMNS = ("a", "b", "target_compute", "p_b_beats_a", "delta", "delta_lo", "delta_hi", "spent_flops",
                    "action", "runs", "reason")
DECISION_KEY = ("a", "b", "target_compute", "spent_flops", "action", "runs")
"""What makes two decisions one: the arms, the target, the compute of the results it was made on, and
the choice. (Not P or the reason's figures: a refit of the same results may differ in the last bits.)"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,            -- RunConfig.digest(): equal digests are the same training run
    name TEXT NOT NULL,
    arm TEXT NOT NULL,
    spec TEXT NOT NULL,              -- RunSpec JSON
    status TEXT NOT NULL CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
    error TEXT,
    steps INTEGER, steps_planned INTEGER, tokens INTEGER,
    params_non_embedding INTEGER, params_total INTEGER, flops REAL, flops_6nd REAL,
    vocab_size INTEGER, lr REAL, depth INTEGER,
    final_train_loss REAL, final_eval_loss REAL, final_eval_loss_se REAL, initial_eval_loss REAL,
    final_unseen_train_loss REAL, final_unseen_train_loss_se REAL,
    diverged_step INTEGER, wall_time_s REAL, tokens_per_s REAL, device TEXT,
    unique_tokens INTEGER, epochs REAL,  -- train tokens the run could draw; tokens / unique_tokens
    host TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reused_from TEXT,                -- run_id whose result this row copies (same digest)
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_digest ON runs (digest);
CREATE TABLE IF NOT EXISTS decisions (  -- what an adaptive study chose to train, and why (execute.adaptive)
    step INTEGER PRIMARY KEY,        -- 0, 1, 2, … in the order they were made
    made_at REAL NOT NULL,
    a TEXT NOT NULL, b TEXT NOT NULL,
    target_compute REAL NOT NULL,
    p_b_beats_a REAL,                -- P(B better) at the target when this choice was made
    delta REAL, delta_lo REAL, delta_hi REAL,
    spent_flops REAL NOT NULL,       -- compute of the two arms' finished runs at that moment
    action TEXT NOT NULL,            -- train | settled | out_of_reach | budget | exhausted | failed
    runs TEXT NOT NULL,              -- JSON list of the run_ids chosen
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    step INTEGER NOT NULL,
    tokens INTEGER, train_loss REAL, lr REAL, grad_norm REAL, tokens_per_s REAL,
    eval_loss REAL, eval_loss_se REAL,
    PRIMARY KEY (run_id, step)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""


def damaged(path: Path, error: Exception | str) -> ConfigError:
    """The one line for a results file SQLite cannot use, with the way back.

    Every finished run also left its result in runs/<run_id>/result.json, and `run` reads a run's
    result.json instead of training it again, so a fresh results file is rebuilt in seconds.
    """
    detail = " ".join(str(error).split())
    return ConfigError(
        f"{path}: damaged results database ({detail}); move it (and any {path.name}-wal, {path.name}-shm) "
        "aside and run the study again: finished runs are read back from runs/*/result.json without training")


@contextmanager
def sql_errors(path: Path) -> Iterator[None]:
    """SQLite's errors about the file itself as one line naming it (a busy database is not damage)."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise ConfigError(f"{path}: {e} (another process holds it; try again)") from None
        raise damaged(path, e) from None
    except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
        raise damaged(path, e) from None


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a results database; move it aside")


class Store:
    """A study's results file. `Store.open_writer(path)` for the driver, `Store.open_reader` for everyone else."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path

    @classmethod
    def open_writer(cls, path: str | Path) -> Store:
        """Open (or create) the results file for writing, after a full integrity check: damage found
        now is one line; found after a study has written to it, it would cost results."""
        path = Path(path)
        _check_file(path)
        make_folder(path.parent)
        with sql_errors(path):
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # transactions are explicit
            try:
                return cls._prepare(conn, path)
            except BaseException:
                conn.close()
                raise

    @classmethod
    def _prepare(cls, conn: sqlite3.Connection, path: Path) -> Store:
        conn.row_factory = sqlite3.Row
        # WAL: readers never block the writer nor see half a transaction. synchronous=NORMAL is
        # safe against a killed process (SQLite docs: only power loss may roll back the last commits).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _integrity(conn, path, "integrity_check")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"{path}: results file of schema {version}; this scalinglab reads up to {SCHEMA_VERSION}")
        if version:  # an older file: add what later versions added, in one transaction
            added = [col for v in range(version + 1, SCHEMA_VERSION + 1) for col in _ADDED.get(v, ())]
            conn.executescript("BEGIN;" + "".join(f"ALTER TABLE runs ADD COLUMN {c};" for c in added) + "COMMIT;")
        conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")  # one transaction: readers see all tables or none
        return cls(conn, path)

    @classmethod
    def open_reader(cls, path: str | Path) -> Store | None:
        """A read-only view, or None when no results are stored yet. A quick check (page structure,
        not index contents) keeps a damaged file from being read as a shorter list of results."""
        path = Path(path)
        if not path.exists():
            return None
        _check_file(path)
        with sql_errors(path):
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            try:
                conn.row_factory = sqlite3.Row
                _integrity(conn, path, "quick_check")
                # A writer that has just created the file has not made its tables yet: no results.
                started = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
            except BaseException:
                conn.close()
                raise
        if started is None:
            conn.close()
            return None
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with sql_errors(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, *args) -> list[sqlite3.Row]:
        with sql_errors(self.path):
            return self._conn.execute(sql, args).fetchall()

    # --- writing (the driver only) ---

    def add_runs(self, specs: Iterable[RunSpec]) -> int:
        """Insert new runs as pending; runs already known keep their row. Returns how many were new."""
        now = time.time()
        with self._transaction() as c:
            before = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            c.executemany(
                "INSERT OR IGNORE INTO runs (run_id, digest, name, arm, spec, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                [(s.run_id, s.digest, s.name, s.arm, s.model_dump_json(), now) for s in specs],
            )
            return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] - before

    def release_running(self) -> int:
        """Runs left 'running' by a driver that died go back to pending (call while holding the lock)."""
        with self._transaction() as c:
            return c.execute("UPDATE runs SET status = 'pending', updated_at = ? WHERE status = 'running'",
                             (time.time(),)).rowcount

    def mark_running(self, run_ids: Iterable[str]) -> None:
        now = time.time()
        with self._transaction() as c:
            c.executemany("UPDATE runs SET status = 'running', error = NULL, attempts = attempts + 1, "
                          "updated_at = ? WHERE run_id = ?", [(now, r) for r in run_ids])

    def record_result(self, run_id: str, result: RunResult, host: str | None) -> None:
        """A finished run (complete or diverged) and its curve, in one transaction (host None: not known,
        a result read back from its result.json)."""
        values = [getattr(result, k) for k in RESULT_COLUMNS]
        with self._transaction() as c:
            c.execute(
                f"UPDATE runs SET status = ?, error = NULL, host = ?, reused_from = NULL, updated_at = ?, "
                f"{', '.join(f'{k} = ?' for k in RESULT_COLUMNS)} WHERE run_id = ?",
                [result.status, host, time.time(), *values, run_id],
            )
            c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            c.executemany(
                f"INSERT OR REPLACE INTO metrics (run_id, {', '.join(STEP_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(STEP_COLUMNS))})",
                [(run_id, *(getattr(m, k) for k in STEP_COLUMNS)) for m in result.metrics],
            )

    def copy_result(self, source: str, run_id: str) -> None:
        """Give `run_id` the stored result and curve of `source`, a run of the same digest."""
        cols = ", ".join(("status", *RESULT_COLUMNS, "host"))
        with self._transaction() as c:
            c.execute(f"UPDATE runs SET ({cols}, error, reused_from, updated_at) = "
                      f"(SELECT {cols}, NULL, ?, ? FROM runs WHERE run_id = ?) WHERE run_id = ?",
                      (source, time.time(), source, run_id))
            c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            c.execute(f"INSERT INTO metrics (run_id, {', '.join(STEP_COLUMNS)}) "
                      f"SELECT ?, {', '.join(STEP_COLUMNS)} FROM metrics WHERE run_id = ?", (run_id, source))

    def record_failure(self, run_id: str, error: str, host: str | None) -> None:
        with self._transaction() as c:
            c.execute("UPDATE runs SET status = 'failed', error = ?, host = ?, updated_at = ? WHERE run_id = ?",
                      (error, host, time.time(), run_id))

    def record_decision(self, decision: dict[str, Any]) -> int:
        """Append one adaptive decision (the columns of `decisions` but step and made_at); returns its step.

        A decision the same as the last one recorded (DECISION_KEY: the same choice in the same state
        of the results) is that decision made again by a study resumed after a kill mid-round, and
        is not recorded twice: its step is returned. A choice repeated after another decision (a run
        retried after the study stopped on its failure) is a new row.
        """
        with self._transaction() as c:
            last = c.execute("SELECT * FROM decisions ORDER BY step DESC LIMIT 1").fetchone()
            if last is not None and all(last[k] == decision[k] for k in DECISION_KEY):
                return last["step"]
            step = c.execute("SELECT COALESCE(MAX(step) + 1, 0) FROM decisions").fetchone()[0]
            cols = ["step", "made_at", *DECISION_COLUMNS]
            c.execute(f"INSERT INTO decisions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                      [step, time.time(), *(decision[k] for k in DECISION_COLUMNS)])
            return step

    # --- reading ---

    def decisions(self) -> list[dict[str, Any]]:
        # A results file of schema 2, read without being opened for writing, has no such table yet.
        if not self._read("SELECT 1 FROM sqlite_master WHERE name = 'decisions'"):
            return []
        return [dict(r) for r in self._read("SELECT * FROM decisions ORDER BY step")]

    def runs(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows of `runs` as dicts (all of them, or those named)."""
        rows = self._read("SELECT * FROM runs ORDER BY run_id")
        wanted = None if run_ids is None else set(run_ids)
        return [dict(r) for r in rows if wanted is None or r["run_id"] in wanted]

    def studies(self) -> dict[str, int]:
        """Stored runs per study name: a results folder holds one study's runs."""
        rows = self._read("SELECT json_extract(spec, '$.study') AS study, COUNT(*) AS n FROM runs GROUP BY 1")
        return {r["study"]: r["n"] for r in rows}

    def digests(self) -> set[str]:
        return {r["digest"] for r in self._read("SELECT DISTINCT digest FROM runs")}

    def final_by_digest(self) -> dict[str, str]:
        """digest -> a run_id holding a final result (complete or diverged) for it, preferring originals."""
        rows = self._read("SELECT digest, run_id FROM runs WHERE status IN ('complete', 'diverged') "
                          "ORDER BY reused_from IS NULL, run_id DESC")
        return {r["digest"]: r["run_id"] for r in rows}  # later rows win: originals, then the first id

    def metric_rows(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT run_id, {', '.join(STEP_COLUMNS)} FROM metrics ORDER BY run_id, step")
        wanted = None if run_ids is None else set(run_ids)
        return [dict(r) for r in rows if wanted is None or r["run_id"] in wanted]


def _integrity(conn: sqlite3.Connection, path: Path, check: str) -> None:
    """PRAGMA integrity_check or quick_check: 'ok', or the first problem found."""
    problems = [row[0] for row in conn.execute(f"PRAGMA {check}(1)").fetchall()]
    if problems != ["ok"]:
        raise damaged(path, f"{check}: {problems[0] if problems else 'no answer'}")


@contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold `<results file>.lock` while driving a study: one driver per results file.

    An flock dies with its process, so a driver killed with SIGKILL never leaves a stale lock.
    """
    lock_path = Path(f"{path}.lock")
    make_folder(lock_path.parent)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise os_problem(lock_path, e, "open the study's lock file") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(f"{path}: another `scalinglab run` (pid {other}) is running this study") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def driver_alive(path: str | Path) -> bool:
    """Whether some process holds the study's writer lock now (so 'running' rows are live)."""
    lock_path = Path(f"{path}.lock")
    if not lock_path.is_file():
        return False
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:  # unreadable: no driver of ours made it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
