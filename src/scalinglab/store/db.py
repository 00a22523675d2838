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

if TYPE_CHECKING:  # the store reads and writes plain rows; importing train would pull in torch
    from scalinglab.train.result import RunResult

SCHEMA_VERSION = 2
_ADDED = {2: ("final_unseen_train_loss REAL", "final_unseen_train_loss_se REAL")}
"""Columns each schema version added to `runs`: an older results file gains them when opened for writing."""
STATUSES = ("pending", "running", "complete", "diverged", "failed")
FINAL = ("complete", "diverged")
"""Statuses that are results: `run` never trains these again."""

# RunResult fields kept as columns of `runs` (the metrics list goes to `metrics`).
RESULT_COLUMNS = (
    "steps", "steps_planned", "tokens", "params_non_embedding", "params_total", "flops", "flops_6nd",
    "vocab_size", "lr", "depth", "final_train_loss", "final_eval_loss", "final_eval_loss_se",
    "final_unseen_train_loss", "final_unseen_train_loss_se", "initial_eval_loss", "diverged_step",
    "wall_time_s", "tokens_per_s", "device",
)
METRIC_COLUMNS = ("step", "tokens", "train_loss", "lr", "grad_norm", "tokens_per_s", "eval_loss", "eval_loss_se")

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
    host TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reused_from TEXT,                -- run_id whose result this row copies (same digest)
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_digest ON runs (digest);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    step INTEGER NOT NULL,
    tokens INTEGER, train_loss REAL, lr REAL, grad_norm REAL, tokens_per_s REAL,
    eval_loss REAL, eval_loss_se REAL,
    PRIMARY KEY (run_id, step)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""


class Store:
    """A study's results file. `Store.open_writer(path)` for the driver, `Store.open_reader` for everyone else."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path

    @classmethod
    def open_writer(cls, path: str | Path) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # transactions are explicit
        conn.row_factory = sqlite3.Row
        # WAL: readers never block the writer nor see half a transaction. synchronous=NORMAL is
        # safe against a killed process (SQLite docs: only power loss may roll back the last commits).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"{path}: results file of schema {version}; this scalinglab reads up to {SCHEMA_VERSION}")
        if version:  # an older file: add what later versions added, in one transaction
            added = [col for v in range(version + 1, SCHEMA_VERSION + 1) for col in _ADDED.get(v, ())]
            conn.executescript("BEGIN;" + "".join(f"ALTER TABLE runs ADD COLUMN {c};" for c in added) + "COMMIT;")
        conn.executescript(_SCHEMA)
        return cls(conn, path)

    @classmethod
    def open_reader(cls, path: str | Path) -> Store | None:
        """A read-only view, or None when no results file exists yet."""
        path = Path(path)
        if not path.exists():
            return None
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

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

    def record_result(self, run_id: str, result: RunResult, host: str) -> None:
        """A finished run (complete or diverged) and its curve, in one transaction."""
        values = [getattr(result, k) for k in RESULT_COLUMNS]
        with self._transaction() as c:
            c.execute(
                f"UPDATE runs SET status = ?, error = NULL, host = ?, reused_from = NULL, updated_at = ?, "
                f"{', '.join(f'{k} = ?' for k in RESULT_COLUMNS)} WHERE run_id = ?",
                [result.status, host, time.time(), *values, run_id],
            )
            c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            c.executemany(
                f"INSERT OR REPLACE INTO metrics (run_id, {', '.join(METRIC_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(METRIC_COLUMNS))})",
                [(run_id, *(getattr(m, k) for k in METRIC_COLUMNS)) for m in result.metrics],
            )

    def copy_result(self, source: str, run_id: str) -> None:
        """Give `run_id` the stored result and curve of `source`, a run of the same digest."""
        cols = ", ".join(("status", *RESULT_COLUMNS, "host"))
        with self._transaction() as c:
            c.execute(f"UPDATE runs SET ({cols}, error, reused_from, updated_at) = "
                      f"(SELECT {cols}, NULL, ?, ? FROM runs WHERE run_id = ?) WHERE run_id = ?",
                      (source, time.time(), source, run_id))
            c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            c.execute(f"INSERT INTO metrics (run_id, {', '.join(METRIC_COLUMNS)}) "
                      f"SELECT ?, {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id = ?", (run_id, source))

    def record_failure(self, run_id: str, error: str, host: str | None) -> None:
        with self._transaction() as c:
            c.execute("UPDATE runs SET status = 'failed', error = ?, host = ?, updated_at = ? WHERE run_id = ?",
                      (error, host, time.time(), run_id))

    # --- reading ---

    def runs(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows of `runs` as dicts (all of them, or those named)."""
        rows = self._conn.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
        wanted = None if run_ids is None else set(run_ids)
        return [dict(r) for r in rows if wanted is None or r["run_id"] in wanted]

    def final_by_digest(self) -> dict[str, str]:
        """digest -> a run_id holding a final result (complete or diverged) for it, preferring originals."""
        rows = self._conn.execute(
            "SELECT digest, run_id FROM runs WHERE status IN ('complete', 'diverged') "
            "ORDER BY reused_from IS NULL, run_id DESC"
        ).fetchall()
        return {r["digest"]: r["run_id"] for r in rows}  # later rows win: originals, then the first id

    def metric_rows(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            f"SELECT run_id, {', '.join(METRIC_COLUMNS)} FROM metrics ORDER BY run_id, step").fetchall()
        wanted = None if run_ids is None else set(run_ids)
        return [dict(r) for r in rows if wanted is None or r["run_id"] in wanted]


@contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold `<results file>.lock` while driving a study: one driver per results file.

    An flock dies with its process, so a driver killed with SIGKILL never leaves a stale lock.
    """
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
