"""`scalinglab plan | run | status | export`: a study file in, thin wrappers over execute and store."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from scalinglab.cli.app import app, err_console, fail, out_console, user_errors, warning_line
from scalinglab.cli.progress import StudyProgress, duration
from scalinglab.cli.study_options import (
    ORDER,
    OUT,
    RESULTS,
    STUDY,
    THREADS,
    WORKERS,
    check_target,
    load,
    saying_what_is_kept,
)
from scalinglab.config.numbers import check_numbers

if TYPE_CHECKING:  # the study's models (pydantic) are built when a command loads one, not for --help
    from scalinglab.config import Study



def _order(order: str) -> str:
    if order not in ("largest", "smallest", "listed"):
        fail(f"--order: unknown order '{order}' (use largest, smallest or listed)")
    return order


@app.command()
def plan(
    study_file: Path = STUDY,
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few training steps per model shape to estimate durations."),
    workers: Optional[int] = WORKERS,
    threads_per_worker: Optional[int] = THREADS,
    order: str = ORDER,
    results: Optional[Path] = RESULTS,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
) -> None:
    """Print every run of a study (size, tokens, FLOPs, estimated time) and the totals, without training."""
    show_plan(load(study_file), probe, workers, threads_per_worker, _order(order), results, as_json)


def show_plan(study: Study, probe: bool, workers: Optional[int], threads: Optional[int], order: str,
              results: Optional[Path], as_json: bool):
    """Print a study's plan: a table and totals (stdout), or JSON with `as_json`; returns the plan."""
    from scalinglab.config.study import si
    from scalinglab.execute import plan_study
    from scalinglab.plan.epochs import data_use, repetition_lines
    from scalinglab.store import FINAL, study_status

    if probe and not as_json:
        err_console.print("probing throughput (a few training steps per model shape) and sizing the train split "
                          "(a small local source is tokenized once, as `run` would)...")
    with user_errors():
        p = plan_study(study, workers=workers, threads=threads, order=order, probe=probe)
        status = study_status(study, results)
        uses = data_use(p.runs, build=probe)
    show_status = status.counts["pending"] < status.total  # a status column once anything has run
    remaining = [r for r in p.runs if status.by_run[r.spec.run_id] not in FINAL]
    left_s = replace(p, runs=tuple(remaining)).seconds
    if as_json:
        out = p.to_dict()
        for run in out["runs"]:
            use = uses[run["run_id"]]
            run.update(unique_tokens=use.unique_tokens, epochs=use.epochs, epochs_at_least=use.lower_bound,
                       status=status.by_run[run["run_id"]])
        out["notes"] = [{"kind": kind, "text": text} for kind, text in repetition_lines(p.runs, uses)]
        out["totals"].update(remaining_runs=len(remaining), remaining_seconds=left_s)
        print(json.dumps(out, indent=1))
        return p
    # The run's name says it all but is long; columns keep the table narrow (ids are in --json).
    axes = [a for a in study.runs[0].axes if a not in ("width", "depth")] if study.runs else []
    table = Table(title=f"study {study.name}: {len(p.runs)} runs, {order} first", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["arm", "width", "depth", *axes, "params N/total", "tokens", "epochs", "steps", "FLOPs", "est. time"]
    several = any(r.devices > 1 for r in p.runs)  # a column only where a run trains on several devices
    if several:
        columns.insert(columns.index("est. time"), "devices")
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
               f"{b.steps:,}", si(b.flops), *([str(r.devices)] if several else []),
               ("~" if r.scaled else "") + duration(r.seconds)]
        table.add_row(*row, *([status.by_run[r.spec.run_id]] if show_status else []))
    out_console.print(table)
    if study.description:
        out_console.print(study.description.strip(), highlight=False)
    shared = f" ({len(p.trainings)} trainings: runs that share a config train once)" if len(p.trainings) < len(p.runs) else ""
    out_console.print(
        f"total: {len(p.runs)} runs{shared}, {si(p.tokens)} tokens, {si(p.flops)}FLOPs = {p.flops / 1e15:.3g} PFLOPs "
        f"(6ND: {p.flops_6nd / 1e15:.3g}), on {p.workers} worker(s) × {p.threads} thread(s): "
        f"est. {_estimate(p) if probe else '- (--no-probe)'}", highlight=False, soft_wrap=True)
    _estimate_notes(p, probe)
    for kind, text in repetition_lines(p.runs, uses):
        out_console.print(warning_line(text) if kind == "warning" else text, soft_wrap=True)
    if len(remaining) != len(p.runs):
        out_console.print(f"to do: {len(remaining)} runs, est. {duration(left_s) if probe else '-'} "
                          f"({len(p.runs) - len(remaining)} already done)", highlight=False)
    return p


def _estimate(p) -> str:
    """'6m54s (6m12s–7m36s)': the estimate and its range (Plan.seconds_range)."""
    span = p.seconds_range
    return duration(p.seconds) + (f" ({duration(span[0])}–{duration(span[1])})" if span else "")


BUSY = 1.0
"""A load average per core from which the machine looks busy: every core already had work."""


def _estimate_notes(p, probe: bool) -> None:
    """Say how far the time estimates go: what was not measured here, and why, and a busy machine."""
    from scalinglab.execute.probe import PROBE_STEP_S
    from scalinglab.execute.resources import available_cpus

    if not probe:
        return
    if p.load is not None and p.load >= BUSY:
        out_console.print(f"the machine looks busy (load average {p.load * available_cpus():.1f} on "
                          f"{available_cpus()} cores while probing): the times assume it stays as busy; the range "
                          "is that of the probe's own timings", highlight=False, soft_wrap=True)
    scaled = {r.spec.width for r in p.runs if r.scaled}
    if scaled:
        out_console.print(f"~ widths {', '.join(map(str, sorted(scaled)))}: a training step takes over "
                          f"{PROBE_STEP_S:g} s here, too slow to probe; their times are the FLOP rate of the "
                          "largest shape probed, scaled by their FLOPs (measure on the target device)")
    if any(r.tokens_per_s is None for r in p.runs):
        out_console.print("no model of this study is small enough to probe on this machine: "
                          "time estimates need the target device")


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
    error_rate: Optional[float] = typer.Option(None, "--error-rate", show_default=False,
                                               help="With --adaptive: wrong decisions allowed over all its looks "
                                                    "(default 0.05)."),
    settle: Optional[float] = typer.Option(None, "--settle", hidden=True, help="Deprecated: the old --error-rate."),
) -> None:
    """Train every run of a study that has no result yet: resumes interrupted runs, retries failed ones."""
    study = load(study_file)  # before importing torch: bad input answers at once
    order = _order(order)
    from scalinglab.execute.driver import check_executor  # torch-free: bad input still answers at once
    from scalinglab.store import check_owner

    with user_errors():
        check_executor(executor, address)
        check_owner(study, out or study.default_out_dir())  # before an adaptive study records its first choice
    if adaptive != (budget is not None):
        fail("--adaptive and --budget: give both (an adaptive study stops when its budget is spent)")
    with user_errors():
        check_numbers(budget=budget, settle=settle, error_rate=error_rate)
        check_target(study, target_compute)
    if dry_run:
        show_plan(study, probe, workers, threads_per_worker, order, out, as_json=False)
        return
    if adaptive:
        from scalinglab.cli.advice import adaptive_study, error_rate_of

        adaptive_study(study, budget, a=a, b=b, target_compute=target_compute, workers=workers,
                       threads=threads_per_worker, executor=executor, address=address, out=out,
                       error_rate=error_rate_of(error_rate, settle))
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
    progress = StudyProgress()
    try:
        with user_errors(), saying_what_is_kept(study, out_dir):
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
    results: Optional[Path] = RESULTS,
    as_json: bool = typer.Option(False, "--json", help="Print the counts and errors as JSON on stdout."),
) -> None:
    """Count a study's runs: done, running, failed, diverged, interrupted (with a checkpoint: step / total),
    pending; show the failed runs' errors."""
    from scalinglab.execute.driver import resumable
    from scalinglab.store import study_status

    study = load(study_file)
    with user_errors():
        s = study_status(study, results)
        # Runs in flight have checkpoints too: only those of no live driver were interrupted.
        partial = {} if s.driver_running else resumable(study, results or study.default_out_dir())
    c = {**s.counts, "pending": s.counts["pending"] - len(partial), "interrupted": len(partial)}
    if as_json:
        print(json.dumps({"study": study.name, "total": s.total, **c, "driver_running": s.driver_running,
                          "failed_runs": [{"run_id": r, "error": e} for r, e in s.failed],
                          "interrupted_runs": [{"run_id": r, "checkpoint_step": p.checkpoint, "steps": p.steps}
                                               for r, p in partial.items()]}, indent=1))
        return
    out_console.print(
        f"{study.name}: {s.total} runs: {c['complete']} done, {c['running']} running, {c['failed']} failed, "
        f"{c['diverged']} diverged, {c['interrupted']} interrupted, {c['pending']} pending"
        + ("" if s.driver_running else "  (no `run` active)"), highlight=False)
    for run_id, p in partial.items():
        out_console.print(f"  interrupted {run_id}: checkpoint at step {p.checkpoint:,}/{p.steps:,} "
                          "(`run` resumes it there)", highlight=False, soft_wrap=True)
    for run_id, error in s.failed:
        out_console.print(Text.assemble("  ", ("failed", "red"), f" {run_id}: {error}"), soft_wrap=True)


@app.command()
def export(
    study_file: Path = STUDY,
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or jsonl."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: results.<format>, or "
                                       "metrics.<format>, in the study's results folder)."),
    metrics: bool = typer.Option(False, "--metrics", help="Export the step curves instead of one row per run."),
    results: Optional[Path] = RESULTS,
) -> None:
    """Write one row per run (spec fields and results) as CSV, Parquet or JSON lines: what analysis reads."""
    from scalinglab.store import export_table, load_metrics, write_table

    study = load(study_file)
    results_dir = results or study.default_out_dir()
    with user_errors():
        df = load_metrics(study, results_dir) if metrics else export_table(study, results_dir)
        path = write_table(df, out or results_dir / f"{'metrics' if metrics else 'results'}.{fmt}", fmt)
    err_console.print(f"wrote {len(df)} rows to {path}", highlight=False)
