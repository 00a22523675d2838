"""What every command on a study shares: its arguments, loading it, checking a target, and saying what
is kept when Ctrl-C stops it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.text import Text

from scalinglab.cli.app import err_console, resume_command, user_errors
from scalinglab.config.numbers import check_numbers, check_within_data

if TYPE_CHECKING:  # the study's models (pydantic) are built when a command loads one, not for --help
    from scalinglab.config import Study

STUDY = typer.Argument(..., help="The study file (TOML).", show_default=False)
# --out is always the folder (or file) a command writes; --results the study's results read from elsewhere.
OUT = typer.Option(None, "--out", help="Folder to write results.sqlite and runs/ into (default: beside the study "
                   "file, named by its stem).")
RESULTS = typer.Option(None, "--results", help="The study's results folder, if `run --out` put it elsewhere "
                       "(default: beside the study file, named by its stem).")
WORKERS = typer.Option(None, "--workers", min=1, help="Runs trained at once (default: from the cores and model sizes).")
THREADS = typer.Option(None, "--threads-per-worker", min=1, help="Cores each worker reserves (default: the most threads a run uses). A run's torch threads are its loop.threads, part of its identity.")
ORDER = typer.Option("largest", "--order", help="Run order: largest (FLOPs) first, smallest first, or as listed.")


def load(path: Path) -> Study:
    from scalinglab.config import load_study

    with user_errors():
        return load_study(path)


def check_target(study: Study, target_compute: Optional[float]) -> None:
    """--target-compute: a finite positive number of FLOPs, not below the study's smallest run."""
    from scalinglab.plan import make_plan

    check_numbers(target_compute=target_compute)
    if target_compute is not None:
        check_within_data(target_compute, (r.budget.flops_6nd for r in make_plan(study, order="listed").runs))


@contextmanager
def saying_what_is_kept(study: Study, out_dir: Path) -> Iterator[None]:
    """Ctrl-C while a study trains: one line saying what is kept and the command that goes on, and
    exit 130 (the shell's code for it). The driver has stopped its workers by then (execute.driver)."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(Text.assemble(("interrupted:", "yellow"), " ", _kept(study, out_dir)), soft_wrap=True)
        raise typer.Exit(130) from None


def _kept(study: Study, out_dir: Path) -> str:
    from scalinglab.config import ConfigError
    from scalinglab.execute.driver import resumable
    from scalinglab.store import FINAL, study_paths, study_status

    go_on = f"to go on, run the same command: {resume_command()}"
    try:
        s = study_status(study, out_dir)
        partial = resumable(study, out_dir)
    except ConfigError:  # a results file in no state to be read: the command says so when rerun
        return go_on
    kept = [f"{sum(s.counts[k] for k in FINAL)} of {s.total} runs have their results in {study_paths(out_dir).db}"]
    if partial:
        steps = ", ".join(f"{p.checkpoint:,}/{p.steps:,}" for p in partial.values())
        kept.append(f"{len(partial)} more resume from their checkpoints (step {steps})")
    return "; ".join(kept) + f"; {go_on}"
