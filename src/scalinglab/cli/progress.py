"""Progress on stderr, for a terminal and for a log file alike: a run's, and a study's.

On a terminal, rich bars redraw in place. Anywhere else (output to a file, CI, a notebook's
captured stream) a bar cannot redraw and rich draws nothing until the end, so the same news goes
out as plain lines instead: one per finished run, and one per run in flight every PLAIN_EVERY_S
(run, step, tokens/s, ETA). Never silence.

Torch-free (the types are only named), so the CLI imports it without waiting for torch.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.cli.app import err_console, warning_line

if TYPE_CHECKING:
    from scalinglab.execute.driver import Finished
    from scalinglab.execute.worker import RunProgress
    from scalinglab.plan import Plan, PlannedRun
    from scalinglab.plan.budget import Budget
    from scalinglab.train import MetricRow, RunResult

PLAIN_EVERY_S = 30.0
"""Without a terminal: how often a line says where each run in flight is."""


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


class _Every:
    """True once every `seconds` (the first time after `seconds` from its start)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.last = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


class AnalysisProgress:
    """A long analysis's progress on stderr, one plain line at most every PERIOD seconds and only once it
    has taken that long (a comparison of a few hundred rows says nothing): what is being sampled,
    its share done, and the time left for it."""

    PERIOD = 5.0

    def __init__(self, command: str):
        self.command = command
        self.every = _Every(self.PERIOD)
        self.started: dict[str, float] = {}

    def __call__(self, what: str, done: float) -> None:
        start = self.started.setdefault(what, time.monotonic())
        if not self.every() or done <= 0:
            return
        took = time.monotonic() - start
        err_console.print(f"{self.command}: {what}: {done:.0%}, {duration(took)} so far, about "
                          f"{duration(took * (1 - done) / done)} left", markup=False, highlight=False, soft_wrap=True)


def _bar(console, *columns) -> Progress:
    # markup=False: labels and fields are data, not markup (see cli.app's consoles).
    return Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), *columns,
                    TimeElapsedColumn(), TextColumn("ETA", markup=False), TimeRemainingColumn(),
                    console=console, transient=False)


class RichReporter:
    """A train reporter: on a terminal a bar per run (step, tokens, train loss, tokens/s, ETA);
    elsewhere a line every PLAIN_EVERY_S; and a line at each eval either way."""

    def __init__(self, console, label: str = "train"):
        self.console, self.label = console, label
        self.live = console.is_terminal
        self.progress = _bar(console, TextColumn("step {task.completed:>6.0f}/{task.total:.0f}", markup=False),
                             TextColumn("{task.fields[tokens]}", markup=False),
                             TextColumn("loss {task.fields[loss]}", markup=False),
                             TextColumn("{task.fields[speed]}", markup=False))
        self.task = None
        self.steps = self.step = self.checkpoint = 0
        self.tokens_per_step = 0
        self.due = _Every(PLAIN_EVERY_S)

    def on_start(self, total_steps: int, start_step: int, budget: Budget) -> None:
        if start_step:
            self.console.print(f"resuming from step {start_step:,} of {total_steps:,}")
        self.steps, self.tokens_per_step = total_steps, budget.tokens_per_step
        self.step = self.checkpoint = start_step
        if self.live:
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total_steps, completed=start_step,
                                               tokens=f"{start_step * budget.tokens_per_step:,} tok", loss="-",
                                               speed="")

    def on_log(self, row: MetricRow) -> None:
        self.step = row.step
        if self.task is not None:
            self.progress.update(self.task, completed=row.step, tokens=f"{row.tokens:,} tok",
                                 loss=f"{row.train_loss:.4f}", speed=f"{row.tokens_per_s:,.0f} tok/s")
        elif self.due():
            left = (self.steps - row.step) * self.tokens_per_step / row.tokens_per_s if row.tokens_per_s else None
            self.console.print(f"  step {row.step:>6,}/{self.steps:,}  loss {row.train_loss:.4f}  "
                               f"{row.tokens_per_s:,.0f} tokens/s  ETA {duration(left)}", highlight=False)
        if row.eval_loss is not None:
            self.console.print(f"  step {row.step:>6,}  eval loss {row.eval_loss:.4f} ± {row.eval_loss_se:.4f}")

    def on_checkpoint(self, step: int) -> None:
        self.checkpoint = step

    def kept(self) -> str:
        """What an interruption leaves: the checkpoint the run resumes from."""
        if not self.checkpoint:
            return f"stopped at step {self.step:,} of {self.steps:,} before its first checkpoint (a rerun starts afresh)"
        return f"stopped at step {self.step:,} of {self.steps:,}; its checkpoint at step {self.checkpoint:,} is kept"

    def on_end(self, result: RunResult) -> None:
        self.stop()

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


class StudyProgress:
    """An execute.Observer (not a subclass: importing execute pulls in torch): on a terminal one
    bar for the study (runs done, FLOPs done, ETA); elsewhere a line per run in flight every
    PLAIN_EVERY_S; and a line per finished run either way."""

    def __init__(self):
        self.live = err_console.is_terminal
        self.progress = _bar(err_console, TextColumn("{task.fields[runs]} runs", markup=False),
                             TextColumn("{task.fields[flops]} FLOPs", markup=False))
        self.task = None
        self.done = self.total = 0
        self.flops_done = self.flops_total = self.in_flight = 0.0
        self.started = time.monotonic()
        self.due = _Every(PLAIN_EVERY_S)
        self.running: list[tuple[PlannedRun, RunProgress | None]] = []
        """The runs in flight and where they are, as the driver last said."""

    def on_start(self, plan: Plan, todo: list[PlannedRun], skipped: int) -> None:
        # A bar per call: `run --adaptive` starts a round of runs after each decision.
        self.done, self.total = 0, len(todo)
        # Runs that share a config train once (the others copy its result): their FLOPs count once.
        self.flops_done, self.flops_total = 0.0, sum({r.spec.digest: r.budget.flops for r in todo}.values())
        self.in_flight, self.started, self.due = 0.0, time.monotonic(), _Every(PLAIN_EVERY_S)
        err_console.print(f"{plan.study.name}: {len(plan.runs)} runs, {skipped} already done, {len(todo)} to train "
                          f"on {plan.workers} worker(s) × {plan.threads} thread(s)", highlight=False)
        if todo and self.live:
            self.progress.start()
            self.task = self.progress.add_task("study", total=self.flops_total or 1, runs=self._runs(),
                                               flops=self._flops())

    def _runs(self) -> str:
        return f"{self.done}/{self.total}"

    def _flops(self) -> str:
        from scalinglab.config.study import si

        return f"{si(self.flops_done + self.in_flight)}/{si(self.flops_total)}"

    def on_progress(self, in_flight_flops: float) -> None:
        self.in_flight = in_flight_flops
        if self.task is not None:
            self.progress.update(self.task, completed=self.flops_done + in_flight_flops, flops=self._flops())

    def on_running(self, running: list[tuple[PlannedRun, RunProgress | None]]) -> None:
        self.running = running
        if self.live or not self.due():
            return
        for run, p in running:
            where = "starting" if p is None else (
                f"step {p.step:,}/{p.steps:,} ({p.fraction:.0%})"
                + (f", {p.tokens_per_s:,.0f} tokens/s, ETA {duration(p.seconds_left)}" if p.tokens_per_s else ""))
            err_console.print(f"  {run.spec.run_id}: {where}", highlight=False, soft_wrap=True)
        err_console.print(f"  {self.done}/{self.total} runs done, {self._flops()} FLOPs, {self._eta()}",
                          highlight=False)

    def _eta(self) -> str:
        elapsed = time.monotonic() - self.started
        share = (self.flops_done + self.in_flight) / self.flops_total if self.flops_total else 0.0
        left = elapsed * (1 - share) / share if share > 0 else None
        return f"{duration(elapsed)} elapsed, ETA {duration(left)}"

    def on_finished(self, f: Finished) -> None:
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
        if not self.live:
            line.append(f"  [{self._runs()} runs]")
        for warning in f.warnings:
            self.progress.console.print(warning_line(f"{f.run.spec.run_id}: {warning}"), soft_wrap=True)
        self.progress.console.print(line, soft_wrap=True)
        if self.task is not None:
            self.progress.update(self.task, completed=self.flops_done, runs=self._runs(), flops=self._flops())

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


def summary_table(result: RunResult) -> Table:
    def fmt(x: float | None, digits: int = 4) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    table = Table(title=f"run {result.status}", show_header=False, title_justify="left")
    table.add_row("parameters", f"{result.params_non_embedding:,} non-embedding / {result.params_total:,} total")
    table.add_row("tokens", f"{result.tokens:,} in {result.steps:,} steps")
    table.add_row("FLOPs", f"{result.flops:.3e} (6·N·D: {result.flops_6nd:.3e})")
    table.add_row("final train loss", fmt(result.final_train_loss))
    table.add_row("final eval loss", f"{fmt(result.final_eval_loss)} ± {fmt(result.final_eval_loss_se)}"
                  f"  (start {fmt(result.initial_eval_loss)})")
    if result.final_unseen_train_loss is not None:
        table.add_row("unseen train rows", f"{fmt(result.final_unseen_train_loss)} ± "
                      f"{fmt(result.final_unseen_train_loss_se)}  (training text the run never took)")
    if result.diverged_step is not None:
        table.add_row("diverged", f"at step {result.diverged_step:,}")
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    table.add_row("throughput", f"{result.tokens_per_s:,.0f} tokens/s on {result.device}")
    return table
