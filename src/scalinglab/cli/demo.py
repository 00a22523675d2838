"""`scalinglab demo`: the CPU crossover study end to end — plan, train, fit, compare, report."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.text import Text

from scalinglab.cli.app import app, err_console, out_console


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Three widths and small budgets: the whole pipeline in ~2 minutes."),
    out: Path = typer.Option(Path("scalinglab-demo"), "--out", help="Working folder (study file, results, report)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Runs trained at once (default: from the machine)."),
) -> None:
    """Run the CPU crossover study (constant LR vs LR ∝ 1/width) and print the report's verdict."""
    from scalinglab.cli.study import show_plan, train_study
    from scalinglab.config import load_study
    from scalinglab.demo import write_demo_study
    from scalinglab.report import build_report

    t0 = time.perf_counter()
    study = load_study(write_demo_study(out, quick=quick))
    err_console.rule(Text.assemble(("1/3 plan", "bold"), f": {study.path}"))
    show_plan(study, probe=True, workers=workers, threads=None, order="largest", out=None, as_json=False)
    err_console.rule(Text.assemble(("2/3 train", "bold"), " (rerunning the demo reuses finished runs)"))
    train_study(study, workers=workers)
    err_console.rule(Text("3/3 fit, compare, report", style="bold"))
    result = build_report(study)
    out_console.print(f"report: {result.index_html}", highlight=False, soft_wrap=True)
    out_console.print(f"verdict: {result.verdict}", highlight=False, soft_wrap=True)
    err_console.print(f"demo finished in {time.perf_counter() - t0:.0f} s", highlight=False)
