"""`scalinglab report`: figures, index.html and summaries for a study's results (report.build_report)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from scalinglab.cli.app import app, bootstrap_seed, err_console, fail, out_console, user_errors


@app.command()
def report(
    study_file: Path = typer.Argument(..., help="The study file (TOML).", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default: report/ in the study's results folder)."),
    target_compute: Optional[float] = typer.Option(
        None, "--target-compute", help="Forecast at this compute in FLOPs (default: 10x the largest run, as `compare`)."),
    results: Optional[Path] = typer.Option(
        None, "--results", help="The study's results folder, if `run --out` put it elsewhere."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for bands and intervals."),
    seed: Optional[int] = typer.Option(None, "--bootstrap-seed", help="Seed of the bootstrap (default 0)."),
    old_seed: Optional[int] = typer.Option(None, "--seed", help="Deprecated: the old name of --bootstrap-seed, kept "
                                           "for this release."),
) -> None:
    """Write index.html (static, no server), the figures (PNG and SVG), summary.md and summary.json."""
    from scalinglab.config import load_study
    from scalinglab.report import build_report

    seed = bootstrap_seed(seed, old_seed)
    if target_compute is not None and not (math.isfinite(target_compute) and target_compute > 0):
        fail("--target-compute: must be a positive number of FLOPs, e.g. 1e21")
    with user_errors():
        study = load_study(study_file)  # a broken study file is one line of error, before any progress
        err_console.print(f"fitting and drawing {study_file} ...", soft_wrap=True)
        result = build_report(study, out_dir=out, target_compute=target_compute, bootstrap=bootstrap,
                              seed=seed, results_dir=results)
    out_console.print(result.verdict, highlight=False, soft_wrap=True)
    out_console.print(f"report: {result.index_html}", highlight=False, soft_wrap=True)
