"""`scalinglab report`: figures, index.html and summaries for a study's results (report.build_report)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from scalinglab.cli.analysis import AllowSlow, check_work
from scalinglab.cli.app import app, bootstrap_seed, err_console, out_console, user_errors
from scalinglab.cli.study_options import check_target
from scalinglab.config.numbers import check_numbers


@app.command()
def report(
    study_file: Path = typer.Argument(..., help="The study file (TOML).", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default: report/ in the study's results folder)."),
    target_compute: Optional[float] = typer.Option(
        None, "--target-compute", help="Forecast at this compute in FLOPs (default: 10x the largest run, as `compare`)."),
    results: Optional[Path] = typer.Option(
        None, "--results", help="The study's results folder, if `run --out` put it elsewhere."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the bands and intervals of "
                                  "the report's fits (its comparisons sample posteriors: analysis.posterior)."),
    seed: Optional[int] = typer.Option(None, "--bootstrap-seed", help="Seed of the bootstrap and posteriors "
                                       "(default 0)."),
    old_seed: Optional[int] = typer.Option(None, "--seed", help="Deprecated: the old name of --bootstrap-seed, kept "
                                           "for this release."),
    allow_slow: AllowSlow = False,
) -> None:
    """Write index.html (static, no server), the figures (PNG and SVG), summary.md and summary.json."""
    from scalinglab.config import load_study
    from scalinglab.report import write_report
    from scalinglab.report.build import report_folder
    from scalinglab.report.collect import read_study

    seed = bootstrap_seed(seed, old_seed)
    with user_errors():
        check_numbers(bootstrap=bootstrap, bootstrap_seed=seed)
        study = load_study(study_file)  # a broken study file is one line of error, before any progress
        check_target(study, target_compute)
        check_work(bootstrap, len(study.runs), allow_slow)
        out = report_folder(study, out, results)
        data = read_study(study, results or study.default_out_dir())  # no results yet: one line, before progress
        err_console.print(f"fitting and drawing {study_file} ...", soft_wrap=True)
        result = write_report(data, out, target_compute=target_compute, bootstrap=bootstrap, seed=seed)
    out_console.print(result.verdict, highlight=False, soft_wrap=True)
    out_console.print(f"report: {result.index_html}", highlight=False, soft_wrap=True)
