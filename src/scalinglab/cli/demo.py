"""`scalinglab demo`: the CPU crossover study end to end — plan, train, fit, compare, report."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import typer
from rich.text import Text

from scalinglab.cli.app import app, err_console, out_console, user_errors


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Three widths and small budgets: the whole pipeline in about a minute."),
    out: Path = typer.Option(Path("scalinglab-demo"), "--out", help="Working folder (study file, results, report)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Runs trained at once (default: from the machine)."),
    adaptive: bool = typer.Option(False, "--adaptive", help="Train only the runs the advisor asks for, until the "
                                  "verdict at twice the largest width's compute is settled."),
) -> None:
    """Run the CPU crossover study (constant LR vs LR ∝ 1/width) and print the report's verdict."""
    from scalinglab.cli.study import show_plan, train_study
    from scalinglab.config import load_study
    from scalinglab.demo import write_demo_study
    from scalinglab.report import build_report

    t0 = time.perf_counter()
    with user_errors():
        study = load_study(write_demo_study(out, quick=quick, adaptive=adaptive))
    err_console.rule(Text.assemble(("1/3 plan", "bold"), f": {study.path}"))
    plan = show_plan(study, probe=True, workers=workers, threads=None, order="largest", results=None, as_json=False)
    if adaptive:
        err_console.rule(Text.assemble(("2/3 train the advised runs", "bold"), " (rerunning resumes)"))
        saved = _adaptive(study, plan, workers)
    else:
        err_console.rule(Text.assemble(("2/3 train", "bold"), " (rerunning the demo reuses finished runs)"))
        train_study(study, workers=workers)
    err_console.rule(Text("3/3 fit, compare, report", style="bold"))
    result = build_report(study, target_compute=_demo_target(study))
    out_console.print(f"report: {result.index_html}", highlight=False, soft_wrap=True)
    out_console.print(f"verdict: {result.verdict}", highlight=False, soft_wrap=True)
    if adaptive:
        out_console.print(saved, highlight=False, soft_wrap=True)
    err_console.print(f"demo finished in {time.perf_counter() - t0:.0f} s", highlight=False)


ADAPTIVE_ERROR_RATE = 0.1
"""The adaptive demo allows 10% wrong decisions over its looks: on a laptop ladder the arms differ at
the top by two or three times the seed noise, and a 5% study would take nearly every run."""


def _demo_target(study) -> float:
    """Twice the compute of the largest run the ladder plans, for the fixed demo and the adaptive one
    alike, so their verdicts can be set side by side: a verdict a laptop ladder can reach (at the
    report's default, 10×, the crossover ladder's interval of the difference still includes 0)."""
    from scalinglab.plan import largest_planned

    return 2 * largest_planned(study, tuple(study.arms[:2]))


def _adaptive(study, plan, workers) -> str:
    """Run the advised runs until settled; say how much of the ladder's compute and time that took.

    Both times are the plan's estimates, so a resumed demo says what the whole path saved, not what
    its last call did: the advised rounds one after another (each waits for its slowest run), against
    every run of the ladder on the same workers."""
    from scalinglab.cli.advice import adaptive_study
    from scalinglab.store import load_decisions

    adaptive_study(study, plan.flops, a=None, b=None, target_compute=_demo_target(study), workers=workers,
                   threads=None, executor="local", address=None, out=None, error_rate=ADAPTIVE_ERROR_RATE)
    decisions = load_decisions(study)
    last = decisions.iloc[-1]
    # Ids the study no longer plans (a demo folder from before its arms changed) are not this path's.
    chosen = [set(json.loads(ids)) for ids in decisions["runs"]]
    rounds = [replace(plan, runs=tuple(r for r in plan.runs if r.spec.run_id in ids)) for ids in chosen]
    rounds = [r for r in rounds if r.runs]
    took, full = sum(r.seconds or 0 for r in rounds), plan.seconds
    saved = f"{(full - took) / 60:.1f} min saved" if full and full > took else "no time saved"
    estimate = (f"; by the plan's estimates {took / 60:.1f} min of training in {len(rounds)} rounds against "
                f"{full / 60:.1f} min for the whole ladder, {saved}") if full else ""
    return (f"adaptive: {last['action']} after {last['spent_flops']:.3g} of the ladder's {plan.flops:.3g} FLOPs "
            f"({last['spent_flops'] / plan.flops:.0%}){estimate}.")
