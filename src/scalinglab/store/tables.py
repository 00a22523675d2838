"""A study's results as tables: one row per run (what analysis reads), and the step curves.

Rows follow the study file as it is now: every run it defines, with its planned budget, and its
stored result when there is one (status pending otherwise). Runs the file no longer defines stay
in the store but are left out. Reading uses a read-only connection, so it is safe while `run` writes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from scalinglab.config import ConfigError, Study, load_study
from scalinglab.config.paths import make_folder, os_problem
from scalinglab.plan.plan import make_plan, vocab_size
from scalinglab.store.db import DECISION_COLUMNS, STATUSES, STEP_COLUMNS, Store, driver_alive

Format = Literal["csv", "parquet", "jsonl"]

# The export table's columns, in order. analysis reads these names: keep them stable.
COLUMNS = [
    "run_id", "name", "study", "arm", "status", "width", "depth", "lr", "batch_size", "weight_decay", "l2",
    "decay_mode", "seed", "params", "params_total", "tokens", "compute", "flops", "loss", "final_train_loss",
    "final_eval_loss", "final_eval_loss_se", "initial_loss", "final_unseen_train_loss", "vocab_size", "steps",
    "diverged_step", "wall_time_s", "tokens_per_s", "error",
    # Recipe and setup fields the paper's arms vary, for grouping:
    "qk_norm", "mlp", "mlp_ratio", "grad_normalize", "z_loss", "seq_len", "tokens_per_param", "tokenizer",
    "device", "host", "digest", "reused_from",
    "threads",  # torch threads the run trains with: fixed by its spec, part of its identity
    "devices",  # processes it trains on, data-parallel: its spec's loop.devices, part of its identity too
    # Repeated data: the cap on unique train tokens, the unique tokens the run could draw, and the
    # passes its budget made over them (above 1: data repeated; data.epochs).
    "max_train_tokens", "unique_tokens", "epochs",
]
METRIC_COLUMNS = ["run_id", "arm", "width", *STEP_COLUMNS]
"""load_metrics' columns: the stored step curve (store.db) with each run's arm and width."""


@dataclass(frozen=True)
class StudyPaths:
    root: Path
    db: Path
    """results.sqlite"""
    runs: Path
    """runs/<run_id>/: checkpoint.pt, result.json, error.log"""


def study_paths(out_dir: str | Path) -> StudyPaths:
    root = Path(out_dir)
    return StudyPaths(root=root, db=root / "results.sqlite", runs=root / "runs")


def _study(study: Study | str | Path) -> Study:
    return study if isinstance(study, Study) else load_study(study)


def export_table(study: Study | str | Path, out_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per run of the study (pending ones included) with spec fields and results."""
    study = _study(study)
    stored, live = _stored_rows(study, out_dir)
    rows = []
    for planned in make_plan(study, order="listed").runs:
        spec, budget, cfg = planned.spec, planned.budget, planned.spec.config
        got = stored.get(spec.run_id, {})
        result = functools.partial(_stored_or_planned, got)
        status = _current_status(got, live)
        rows.append({
            "run_id": spec.run_id, "name": spec.name, "study": spec.study, "arm": spec.arm,
            "status": status,
            "width": spec.width, "depth": spec.depth,
            "lr": cfg.optim.resolved_lr(spec.width), "batch_size": cfg.budget.batch_size,
            "weight_decay": cfg.optim.weight_decay, "l2": cfg.optim.l2, "decay_mode": cfg.optim.decay_mode,
            "seed": cfg.seed, "params": budget.params_non_embedding, "params_total": budget.params_total,
            "tokens": result("tokens", budget.tokens), "compute": result("flops_6nd", budget.flops_6nd),
            "flops": result("flops", budget.flops), "loss": got.get("final_eval_loss"),
            "final_train_loss": got.get("final_train_loss"), "final_eval_loss": got.get("final_eval_loss"),
            "final_eval_loss_se": got.get("final_eval_loss_se"), "initial_loss": got.get("initial_eval_loss"),
            "final_unseen_train_loss": got.get("final_unseen_train_loss"),
            "vocab_size": result("vocab_size", vocab_size(cfg.data.tokenizer)),
            "steps": result("steps", budget.steps), "diverged_step": got.get("diverged_step"),
            "wall_time_s": got.get("wall_time_s"), "tokens_per_s": got.get("tokens_per_s"),
            "error": got.get("error"),
            "qk_norm": cfg.model.qk_norm, "mlp": cfg.model.mlp, "mlp_ratio": cfg.model.mlp_ratio,
            "grad_normalize": cfg.optim.grad_normalize, "z_loss": cfg.model.z_loss, "seq_len": cfg.data.seq_len,
            "tokens_per_param": None if cfg.budget.tokens is not None else cfg.budget.tokens_per_param,
            "tokenizer": cfg.data.tokenizer, "device": got.get("device"), "host": got.get("host"),
            "digest": spec.digest, "reused_from": got.get("reused_from"), "threads": cfg.resolved_threads(),
            "devices": cfg.resolved_devices(),
            "max_train_tokens": cfg.data.max_train_tokens, "unique_tokens": got.get("unique_tokens"),
            "epochs": got.get("epochs"),
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    # Whole numbers stay whole even where some runs have no result yet (pandas' nullable ints).
    for col in ("steps", "diverged_step", "tokens", "vocab_size", "max_train_tokens", "unique_tokens"):
        df[col] = df[col].astype("Int64")
    for col in ("loss", "final_train_loss", "final_eval_loss", "final_eval_loss_se", "initial_loss",
                "final_unseen_train_loss", "wall_time_s", "tokens_per_s", "compute", "flops", "tokens_per_param",
                "epochs"):
        df[col] = df[col].astype("float64")
    return df


@dataclass(frozen=True)
class StudyStatus:
    counts: dict[str, int]
    """Runs of the study per status: pending, running, complete, diverged, failed."""
    failed: list[tuple[str, str]]
    """(run_id, error) of the failed runs."""
    by_run: dict[str, str]
    """run_id -> status, for every run of the study."""
    driver_running: bool
    """Whether a `scalinglab run` holds this study now. If not, 'running' rows were interrupted
    and are counted as pending (the next `run` resumes them)."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def study_status(study: Study | str | Path, out_dir: str | Path | None = None) -> StudyStatus:
    """Count the study's runs by status from a read-only view of its results (no torch, no budgets)."""
    study = _study(study)
    stored, live = _stored_rows(study, out_dir)
    counts = dict.fromkeys(STATUSES, 0)
    failed, by_run = [], {}
    for spec in study.runs:
        row = stored.get(spec.run_id)
        status = _current_status(row or {}, live)
        counts[status] += 1
        by_run[spec.run_id] = status
        if status == "failed":
            failed.append((spec.run_id, row["error"] or ""))
    return StudyStatus(counts=counts, failed=failed, by_run=by_run, driver_running=live)


def check_owner(study: Study, out_dir: str | Path) -> None:
    """Refuse a results folder that holds another study's runs, before anything is written there:
    `run --out` pointed at the wrong folder would train this study beside them. A renamed study
    keeps its folder: its runs are recognised by their configs (digests)."""
    reader = Store.open_reader(study_paths(out_dir).db)
    if reader is None:
        return
    with reader:
        names = reader.studies()
        if not names or study.name in names or reader.digests() & {s.digest for s in study.runs}:
            return
    other, n = max(names.items(), key=lambda item: item[1])
    raise ConfigError(f"{out_dir}: holds the results of study '{other}' ({n} runs), not of '{study.name}'; "
                      "give this study a folder of its own (--out)")


def _stored_rows(study: Study, out_dir: str | Path | None) -> tuple[dict[str, dict], bool]:
    """The study's stored rows by run_id (read-only, so a concurrent `run` is undisturbed), and
    whether a driver holds the study now."""
    paths = study_paths(out_dir or study.default_out_dir())
    reader = Store.open_reader(paths.db)
    stored = {}
    if reader is not None:
        with reader:
            stored = {row["run_id"]: row for row in reader.runs([s.run_id for s in study.runs])}
    return stored, driver_alive(paths.db)


def _current_status(row: dict, live: bool) -> str:
    """A 'running' row with no driver alive was interrupted: it is pending (the next `run` resumes it)."""
    status = row.get("status", "pending") if row else "pending"
    return "pending" if status == "running" and not live else status


def _stored_or_planned(got: dict, key: str, planned):
    """The stored result where there is one (a diverged run's actual tokens), else the plan's value."""
    value = got.get(key)
    return planned if value is None else value


def load_metrics(study: Study | str | Path, out_dir: str | Path | None = None) -> pd.DataFrame:
    """Step curves of the study's runs: one row per logged step (train loss, lr, eval loss, ...)."""
    study = _study(study)
    paths = study_paths(out_dir or study.default_out_dir())
    reader = Store.open_reader(paths.db)
    if reader is None:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    specs = {s.run_id: s for s in study.runs}
    with reader:
        rows = reader.metric_rows(specs)
    df = pd.DataFrame(rows, columns=[c for c in METRIC_COLUMNS if c not in ("arm", "width")])
    df.insert(1, "arm", [specs[r].arm for r in df["run_id"]])
    df.insert(2, "width", [specs[r].width for r in df["run_id"]])
    return df


def load_decisions(study: Study | str | Path, out_dir: str | Path | None = None) -> pd.DataFrame:
    """An adaptive study's decisions in order (empty when it never ran adaptively)."""
    study = _study(study)
    reader = Store.open_reader(study_paths(out_dir or study.default_out_dir()).db)
    columns = ["step", "made_at", *DECISION_COLUMNS]
    if reader is None:
        return pd.DataFrame(columns=columns)
    with reader:
        return pd.DataFrame(reader.decisions(), columns=columns)


def write_table(df: pd.DataFrame, path: str | Path, fmt: Format) -> Path:
    """Write a table as csv, parquet or jsonl (one JSON object per line)."""
    path = Path(path)
    if fmt not in ("csv", "parquet", "jsonl"):
        raise ConfigError(f"unknown format '{fmt}' (use csv, parquet or jsonl)", option="fmt")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the file to write")
    make_folder(path.parent)
    try:
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_json(path, orient="records", lines=True)
    except OSError as e:
        raise os_problem(path, e, "write") from None
    return path
