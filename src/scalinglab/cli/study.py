"""`scalinglab plan | run | status | export`: a study file in, thin wrappers over execute and store."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.cli.app import app, err_console, fail, out_console, user_errors, warning_line
from scalinglab.config import Study, load_study
from scalinglab.config.numbers import check_numbers, check_within_data
from scalinglab.config.study import si

STUDY = typer.Argument(..., help="The study file (TOML).", show_default=False)
OUT = typer.Option(None, "--out", help="Folder for results.sqlite and runs/ (default: beside the study file, named by its stem).")
WORKERS = typer.Option(None, "--workers", min=1, help="Runs trained at once (default: from the cores and model sizes).")
THREADS = typer.Option(None, "--threads-per-worker", min=1, help="Cores each worker reserves (default: the most threads a run uses). A run's torch threads are its loop.threads, part of its identity.")
ORDER = typer.Option("largest", "--order", help="Run order: largest (FLOPs) first, smallest first, or as listed.")


def _load(path: Path) -> Study:
    with user_errors():
        return load_study(path)


def check_target(study: Study, target_compute: Optional[float]) -> None:
    """--target-compute: a finite positive number of FLOPs, not below the study's smallest run."""
    from scalinglab.plan import make_plan

    check_numbers(target_compute=target_compute)
    if target_compute is not None:
        check_within_data(target_compute, (r.budget.flops_6nd for r in make_plan(study, order="listed").runs))


def _order(order: str) -> str:
    if order not in ("largest", "smallest", "listed"):
        fail(f"--order: unknown order '{order}' (use largest, smallest or listed)")
    return order


def duration(seconds: float | None) -> str:
    """'42 s', '3m05s', '2h10m', '3.1 days', '2.5 years'; '-' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds >= 2 * 365 * 86400:  # a paper-scale study planned on a laptop
        return f"{seconds / (365.25 * 86400):.3g} years"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} days"
    h, rem = divmod(seconds, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


@app.command()
def plan(
    study_file: Path = STUDY,
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few training steps per model shape to estimate durations."),
    workers: Optional[int] = WORKERS,
    threads_per_worker: Optional[int] = THREADS,
    order: str = ORDER,
    out: Optional[Path] = OUT,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
) -> None:
    """Print every run of a study (size, tokens, FLOPs, estimated time) and the totals, without training."""
    show_plan(_load(study_file), probe, workers, threads_per_worker, _order(order), out, as_json)


def show_plan(study: Study, probe: bool, workers: Optional[int], threads: Optional[int], order: str,
              out: Optional[Path], as_json: bool):
    """Print a study's plan: a table and totals (stdout), or JSON with `as_json`; returns the plan."""
    from scalinglab.execute import plan_study
    from scalinglab.plan.epochs import data_use, repetition_lines
    from scalinglab.store import FINAL, study_status

    if probe and not as_json:
        err_console.print("probing throughput (a few training steps per model shape) and sizing the train split "
                          "(a small local source is tokenized once, as `run` would)...")
    with user_errors():
        p = plan_study(study, workers=workers, threads=threads, order=order, probe=probe)
        status = study_status(study, out)
        uses = data_use(p.runs, build=probe)
    show_status = status.counts["pending"] < status.total  # a status column once anything has run
    remaining = [r for r in p.runs if status.by_run[r.spec.run_id] not in FINAL]
    left_s = replace(p, runs=tuple(remaining)).seconds
    if as_json:
        print(json.dumps({
            "study": study.name, "workers": p.workers, "threads_per_worker": p.threads, "runs": [
                {"run_id": r.spec.run_id, "arm": r.spec.arm, "width": r.spec.width, "depth": r.spec.depth,
                 "params": r.budget.params_non_embedding, "params_total": r.budget.params_total,
                 "tokens": r.budget.tokens, "steps": r.budget.steps, "flops": r.budget.flops,
                 "flops_6nd": r.budget.flops_6nd, "tokens_per_s": r.tokens_per_s, "seconds": r.seconds,
                 "estimate": None if r.tokens_per_s is None else "flops" if r.scaled else "probe",
                 "unique_tokens": uses[r.spec.run_id].unique_tokens, "epochs": uses[r.spec.run_id].epochs,
                 "epochs_at_least": uses[r.spec.run_id].lower_bound,
                 "status": status.by_run[r.spec.run_id]} for r in p.runs],
            "notes": [{"kind": kind, "text": text} for kind, text in repetition_lines(p.runs, uses)],
            "totals": {"runs": len(p.runs), "trainings": len(p.trainings), "tokens": p.tokens, "flops": p.flops, "flops_6nd": p.flops_6nd,
                       "seconds": p.seconds, "remaining_runs": len(remaining), "remaining_seconds": left_s},
        }, indent=1))
        return p
    # The run's name says it all but is long; columns keep the table narrow (ids are in --json).
    axes = [a for a in study.runs[0].axes if a not in ("width", "depth")] if study.runs else []
    table = Table(title=f"study {study.name}: {len(p.runs)} runs, {order} first", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["arm", "width", "depth", *axes, "params N/total", "tokens", "epochs", "steps", "FLOPs", "est. time"]
    if show_status:
        columns.append("status")
    for col in columns:
        table.add_column(col, justify="left" if col in ("arm", "status") else "right")
    for r in p.runs:
        b, cfg = r.budget, r.spec.config
        swept = {"lr": f"{cfg.optim.resolved_lr(r.spec.width):.3g}", "batch_size": str(cfg.budget.batch_size),
                 "weight_decay": f"{cfg.optim.weight_decay:g}", "l2": f"{cfg.optim.l2:g}", "seed": str(cfg.seed),
                 "tokens_per_param": f"{cfg.budget.tokens_per_param:g}"}
        row = [r.spec.arm, str(r.spec.width), str(r.spec.depth), *(swept[a] for a in axes),
               f"{si(b.params_non_embedding)}/{si(b.params_total)}", si(b.tokens), uses[r.spec.run_id].shown,
               f"{b.steps:,}", si(b.flops), ("~" if r.scaled else "") + duration(r.seconds)]
        table.add_row(*row, *([status.by_run[r.spec.run_id]] if show_status else []))
    out_console.print(table)
    if study.description:
        out_console.print(study.description.strip(), highlight=False)
    shared = f" ({len(p.trainings)} trainings: runs that share a config train once)" if len(p.trainings) < len(p.runs) else ""
    out_console.print(
        f"total: {len(p.runs)} runs{shared}, {si(p.tokens)} tokens, {si(p.flops)}FLOPs = {p.flops / 1e15:.3g} PFLOPs "
        f"(6ND: {p.flops_6nd / 1e15:.3g}), on {p.workers} worker(s) × {p.threads} thread(s): "
        f"est. {duration(p.seconds) if probe else '- (--no-probe)'}", highlight=False)
    _estimate_notes(p, probe)
    for kind, text in repetition_lines(p.runs, uses):
        out_console.print(warning_line(text) if kind == "warning" else text, soft_wrap=True)
    if len(remaining) != len(p.runs):
        out_console.print(f"to do: {len(remaining)} runs, est. {duration(left_s) if probe else '-'} "
                          f"({len(p.runs) - len(remaining)} already done)", highlight=False)
    return p


def _estimate_notes(p, probe: bool) -> None:
    """Say which time estimates were not measured here, and why."""
    from scalinglab.execute.probe import PROBE_STEP_S

    if not probe:
        return
    scaled = {r.spec.width for r in p.runs if r.scaled}
    if scaled:
        out_console.print(f"~ widths {', '.join(map(str, sorted(scaled)))}: a training step takes over "
                          f"{PROBE_STEP_S:g} s here, too slow to probe; their times are the FLOP rate of the "
                          "largest shape probed, scaled by their FLOPs (measure on the target device)")
    if any(r.tokens_per_s is None for r in p.runs):
        out_console.print("no model of this study is small enough to probe on this machine: "
                          "time estimates need the target device")


class _StudyProgress:
    """An execute.Observer: one overall bar (runs done, FLOPs done, ETA) and a line per finished run,
    on stderr. (Not a subclass: importing execute pulls in torch, which `--help` should not wait for.)"""

    def __init__(self):
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
            TextColumn("{task.fields[runs]} runs", markup=False), TextColumn("{task.fields[flops]} FLOPs", markup=False),
            TimeElapsedColumn(), TextColumn("ETA", markup=False), TimeRemainingColumn(),
            console=err_console, transient=False,
        )
        self.task = None
        self.done = self.total = 0
        self.flops_done = self.flops_total = 0.0

    def on_start(self, plan, todo, skipped: int) -> None:
        # A bar per call: `run --adaptive` starts a round of runs after each decision.
        self.done, self.total = 0, len(todo)
        # Runs that share a config train once (the others copy its result): their FLOPs count once.
        self.flops_done, self.flops_total = 0.0, sum({r.spec.digest: r.budget.flops for r in todo}.values())
        err_console.print(f"{plan.study.name}: {len(plan.runs)} runs, {skipped} already done, {len(todo)} to train "
                          f"on {plan.workers} worker(s) × {plan.threads} thread(s)", highlight=False)
        if todo:
            self.progress.start()
            self.task = self.progress.add_task("study", total=self.flops_total or 1, runs=self._runs(),
                                               flops=self._flops())

    def _runs(self) -> str:
        return f"{self.done}/{self.total}"

    def _flops(self, in_flight: float = 0.0) -> str:
        return f"{si(self.flops_done + in_flight)}/{si(self.flops_total)}"

    def on_progress(self, in_flight_flops: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.flops_done + in_flight_flops,
                                 flops=self._flops(in_flight_flops))

    def on_finished(self, f) -> None:
        self.done += 1
        self.flops_done += 0.0 if f.reused_from else f.run.budget.flops
        # The error is the run's own text (a path, a user's value): plain text, never markup.
        if f.status == "failed":
            line = Text.assemble((f"✗ {f.run.spec.run_id} failed:", "red"), " ", f.error or "")
        else:
            loss = "-" if f.final_eval_loss is None else f"{f.final_eval_loss:.4f}"
            mark, style = ("✓", "green") if f.status == "complete" else ("!", "yellow")
            how = f"same run as {f.reused_from}" if f.reused_from else duration(f.wall_time_s)
            line = Text.assemble((f"{mark} {f.run.spec.run_id} {f.status}", style), f"  eval loss {loss}  ({how})")
        for warning in f.warnings:
            self.progress.console.print(warning_line(f"{f.run.spec.run_id}: {warning}"), soft_wrap=True)
        self.progress.console.print(line, soft_wrap=True)
        if self.task is not None:
            self.progress.update(self.task, completed=self.flops_done, runs=self._runs(), flops=self._flops())

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()


@app.command()
def run(
    study_file: Path = STUDY,
    workers: Optional[int] = WORKERS,
    threads_per_worker: Optional[int] = THREADS,
    executor: str = typer.Option("local", "--executor", help="local (a process pool) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join ('auto': this machine's); default starts a local Ray."),
    order: str = ORDER,
    out: Optional[Path] = OUT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (as `scalinglab plan`) and train nothing."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="With --dry-run: probe throughput for time estimates."),
    adaptive: bool = typer.Option(False, "--adaptive", help="Train only the runs `next` advises, until the decision "
                                  "is settled or --budget is spent."),
    budget: Optional[float] = typer.Option(None, "--budget", help="With --adaptive: FLOPs the two arms' runs may "
                                           "spend in all."),
    a: Optional[str] = typer.Option(None, "--a", help="With --adaptive: arm A (default: the first arm)."),
    b: Optional[str] = typer.Option(None, "--b", help="With --adaptive: arm B (default: the second)."),
    target_compute: Optional[float] = typer.Option(None, "--target-compute", help="With --adaptive: decide at "
                                                   "this compute (default: 10× the largest planned run)."),
    settle: float = typer.Option(0.05, "--settle", help="With --adaptive: settled when P(B beats A) is below this "
                                 "or above 1 − this."),
) -> None:
    """Train every run of a study that has no result yet: resumes interrupted runs, retries failed ones."""
    study = _load(study_file)  # before importing torch: bad input answers at once
    order = _order(order)
    from scalinglab.execute.driver import check_executor  # torch-free: bad input still answers at once

    with user_errors():
        check_executor(executor, address)
    if adaptive != (budget is not None):
        fail("--adaptive and --budget: give both (an adaptive study stops when its budget is spent)")
    with user_errors():
        check_numbers(budget=budget, settle=settle)
        check_target(study, target_compute)
    if dry_run:
        show_plan(study, probe, workers, threads_per_worker, order, out, as_json=False)
        return
    if adaptive:
        from scalinglab.cli.advice import adaptive_study

        adaptive_study(study, budget, a=a, b=b, target_compute=target_compute, workers=workers,
                       threads=threads_per_worker, executor=executor, address=address, out=out, settle=settle)
        return
    summary = train_study(study, workers=workers, threads=threads_per_worker, executor=executor, address=address,
                          order=order, out=out)
    if summary.counts["failed"]:
        raise typer.Exit(1)


def train_study(study: Study, *, workers: Optional[int] = None, threads: Optional[int] = None,
                executor: str = "local", address: Optional[str] = None, order: str = "largest",
                out: Optional[Path] = None):
    """Train a study's missing runs with the progress bar and a closing summary line; returns execute.Summary."""
    from scalinglab.execute import plan_study, run_study

    out_dir = out or study.default_out_dir()
    progress = _StudyProgress()
    try:
        with user_errors():
            p = plan_study(study, workers=workers, threads=threads, order=order, probe=False)
            summary = run_study(p, out_dir, executor=executor, address=address, observer=progress)
    finally:
        progress.stop()
    c = summary.counts
    err_console.print(
        f"{study.name}: {sum(c.values())} runs finished ({c['complete']} complete, {c['diverged']} diverged, "
        f"{c['failed']} failed), {summary.skipped} were already done; {duration(summary.wall_time_s)}. "
        f"Results: {out_dir / 'results.sqlite'}", highlight=False, soft_wrap=True)
    return summary


@app.command()
def status(
    study_file: Path = STUDY,
    out: Optional[Path] = OUT,
    as_json: bool = typer.Option(False, "--json", help="Print the counts and errors as JSON on stdout."),
) -> None:
    """Count a study's runs: done, running, failed, diverged, pending; show the failed runs' errors."""
    from scalinglab.store import study_status

    study = _load(study_file)
    with user_errors():
        s = study_status(study, out)
    if as_json:
        print(json.dumps({"study": study.name, "total": s.total, **s.counts, "driver_running": s.driver_running,
                          "failed_runs": [{"run_id": r, "error": e} for r, e in s.failed]}, indent=1))
        return
    c = s.counts
    out_console.print(
        f"{study.name}: {s.total} runs: {c['complete']} done, {c['running']} running, {c['failed']} failed, "
        f"{c['diverged']} diverged, {c['pending']} pending" + ("" if s.driver_running else "  (no `run` active)"),
        highlight=False)
    for run_id, error in s.failed:
        out_console.print(Text.assemble("  ", ("failed", "red"), f" {run_id}: {error}"), soft_wrap=True)


@app.command()
def export(
    study_file: Path = STUDY,
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or jsonl."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: <out>/results.<format>)."),
    metrics: bool = typer.Option(False, "--metrics", help="Export the step curves instead of one row per run."),
    out: Optional[Path] = OUT,
) -> None:
    """Write one row per run (spec fields and results) as CSV, Parquet or JSON lines: what analysis reads."""
    from scalinglab.store import export_table, load_metrics, write_table

    study = _load(study_file)
    out_dir = out or study.default_out_dir()
    with user_errors():
        df = load_metrics(study, out_dir) if metrics else export_table(study, out_dir)
        path = write_table(df, output or out_dir / f"{'metrics' if metrics else 'results'}.{fmt}", fmt)
    err_console.print(f"wrote {len(df)} rows to {path}", highlight=False)
