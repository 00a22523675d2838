"""Drawing a training run's progress and summary in the terminal (rich, on stderr)."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from scalinglab.plan.budget import Budget
from scalinglab.train import MetricRow, RunResult


class RichReporter:
    """A progress bar per run: step, tokens, train loss, tokens/s, ETA; a line at each eval."""

    def __init__(self, console, label: str = "train"):
        self.console, self.label = console, label
        self.progress = Progress(
            # markup=False: the label and fields are data, not markup (see cli.app's consoles).
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            TextColumn("step {task.completed:>6.0f}/{task.total:.0f}", markup=False),
            TextColumn("{task.fields[tokens]}", markup=False),
            TextColumn("loss {task.fields[loss]}", markup=False),
            TextColumn("{task.fields[speed]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("ETA", markup=False),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def on_start(self, total_steps: int, start_step: int, budget: Budget) -> None:
        if start_step:
            self.console.print(f"resuming from step {start_step:,} of {total_steps:,}")
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=total_steps, completed=start_step,
                                           tokens=f"{start_step * budget.tokens_per_step:,} tok", loss="-", speed="")

    def on_log(self, row: MetricRow) -> None:
        self.progress.update(self.task, completed=row.step, tokens=f"{row.tokens:,} tok",
                             loss=f"{row.train_loss:.4f}", speed=f"{row.tokens_per_s:,.0f} tok/s")
        if row.eval_loss is not None:
            self.progress.console.print(f"  step {row.step:>6,}  eval loss {row.eval_loss:.4f} ± {row.eval_loss_se:.4f}")

    def on_end(self, result: RunResult) -> None:
        self.progress.stop()


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
