"""`scalinglab next` and `scalinglab run --adaptive`: the run worth most to the decision, per FLOP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from scalinglab.cli.analysis import POSTERIOR_REFITS, AllowSlow, check_work
from scalinglab.cli.app import app, err_console, fail, out_console, user_errors
from scalinglab.cli.progress import duration
from scalinglab.cli.study_options import RESULTS, STUDY, check_target, saying_what_is_kept
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers

if TYPE_CHECKING:
    from scalinglab.config import Study

ERROR_RATE = typer.Option(None, "--error-rate", show_default=False,
                          help="Wrong decisions allowed (default 0.05): the verdict is taken at 1 − this "
                               "(an adaptive study spends it over its looks).")
SETTLE = typer.Option(None, "--settle", hidden=True, help="Deprecated: the old name of --error-rate.")
DRAWS = typer.Option(None, "--draws", min=50, show_default=False,
                     help="Posterior draws behind the probabilities (default 3200).")
OLD_BOOTSTRAP = typer.Option(None, "--bootstrap", hidden=True, help="Deprecated: read as --draws.")


def _say(text: str) -> None:
    out_console.print(text, markup=False, highlight=False, soft_wrap=True)


def error_rate_of(error_rate: float | None, settle: float | None) -> float:
    """--error-rate (or --settle, its old name, with a notice), checked: between 0 and 0.5."""
    from scalinglab.cli.app import warning_line

    if settle is not None:
        if error_rate is not None:
            fail("--settle and --error-rate: give --error-rate only (--settle is its old name)")
        err_console.print(warning_line("--settle is read as --error-rate: the decision is a verdict at 1 − this level "
                                       "now"), soft_wrap=True)
        error_rate = settle
    error_rate = 0.05 if error_rate is None else error_rate
    with user_errors():
        check_numbers(**{"settle" if settle is not None else "error_rate": error_rate})
    return error_rate


def draws_of(draws: int | None, bootstrap: int | None) -> int:
    from scalinglab.analysis.fitting.models import DEFAULT_DRAWS
    from scalinglab.cli.app import warning_line

    if bootstrap is None:
        return DEFAULT_DRAWS if draws is None else draws
    if draws is not None:
        fail("--bootstrap and --draws: give --draws only (--bootstrap is its old name here)")
    err_console.print(warning_line("--bootstrap is read as --draws: the comparison samples a posterior now"),
                      soft_wrap=True)
    return max(bootstrap, 50)


@app.command("next")
def next_run(
    study_file: Path = STUDY,
    a: Optional[str] = typer.Option(None, "--a", help="Arm A (default: the study's first arm)."),
    b: Optional[str] = typer.Option(None, "--b", help="Arm B (default: its second)."),
    target_compute: Optional[float] = typer.Option(
        None, "--target-compute", help="Decide at this compute in FLOPs (default: 10× the largest planned run)."),
    budget: Optional[float] = typer.Option(None, "--budget", help="FLOPs you can spend; runs above it are left out."),
    top: int = typer.Option(5, "-n", "--top", min=1, help="How many runs to list."),
    extend: int = typer.Option(2, "--extend", min=0, max=6, help="Rungs beyond the sweep's largest width to weigh."),
    error_rate: Optional[float] = ERROR_RATE,
    settle: Optional[float] = SETTLE,
    draws: Optional[int] = DRAWS,
    bootstrap: Optional[int] = OLD_BOOTSTRAP,
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few steps per shape for time estimates."),
    results: Optional[Path] = RESULTS,
    as_json: bool = typer.Option(False, "--json", help="Print the advice as JSON on stdout."),
    allow_slow: AllowSlow = False,
) -> None:
    """Rank the runs a study could train next by how much they would settle which arm wins, per FLOP."""
    from scalinglab.config import load_study
    from scalinglab.execute.adaptive import advise_study
    from scalinglab.report.sentences import advice_legend, advice_sentences, closing_sentence

    level = 1 - error_rate_of(error_rate, settle)
    draws = draws_of(draws, bootstrap)
    with user_errors():
        check_numbers(budget=budget, draws=draws)
        study = load_study(study_file)
        check_target(study, target_compute)
        check_work(POSTERIOR_REFITS, len(study.runs), allow_slow, "draws")
        speeds = _speeds(study, extend) if probe else None
        result = advise_study(study, results or study.default_out_dir(), a=a, b=b, target_compute=target_compute,
                              extend=extend, draws=draws, level=level, tokens_per_s=speeds)
        values = list(result.advice.values)
        if budget is not None and result.menu:  # the menu, not the values: a fit without spread values nothing
            cheapest = min(c.flops for c in result.menu.values())
            if budget < cheapest:
                raise ConfigError(f"{budget:.3g} FLOPs is below the cheapest run to train ({cheapest:.3g} FLOPs)",
                                  option="budget")
            values = [v for v in values if v.candidate.cost <= budget]
    if as_json:
        typer.echo(json.dumps(result.advice.to_dict() | {"a": result.a, "b": result.b, "spent_flops": result.spent,
                                                         "target_compute": result.comparison.forecast.compute},
                              indent=1))
        return
    adv = result.advice
    for line in advice_sentences(result, study.name, level):
        _say(line)
    if adv.settled:
        return
    t = Table(title=f"runs worth most per FLOP (uncertainty now {adv.entropy:.2f} bits; * beyond the sweep)")
    for col in ("run(s)", "FLOPs", "time", "bits", "bits/PF", "settles", "P after"):
        # Numbers stay whole in a narrow terminal (an 80-column one cut "P after" to "0.45–…"); labels wrap.
        t.add_column(col, justify="left" if col == "run(s)" else "right", no_wrap=col != "run(s)")
    for v in values[:top]:
        c = v.candidate
        star = "" if result.menu[c.label].in_sweep else " *"
        t.add_row(c.label + star, f"{c.cost:.2g}", duration(c.seconds), f"{v.gain:.3f}", f"{1e15 * v.per_flop:.3g}",
                  f"{v.settle_chance:.0%}", f"{v.p_after[0]:.2f}–{v.p_after[1]:.2f}")
    out_console.print(t)
    _say(advice_legend(level))
    _say(closing_sentence(values, result.advice.values, result.menu, budget))


def _speeds(study: Study, extend: int) -> dict[str, float] | None:
    """Probed tokens/s per model shape, the ladder's extension included (as `plan` does)."""
    from scalinglab.config import load_study
    from scalinglab.execute import plan_study
    from scalinglab.plan import shape_key
    from scalinglab.plan.candidates import extend_widths

    widths = sorted({r.width for r in study.runs})
    wide = load_study(study.path, widths=extend_widths(widths, study.runs[0].config.model.head_dim, extend))
    speeds = {shape_key(r.spec.config): r.tokens_per_s for r in plan_study(wide, probe=True).runs if r.tokens_per_s}
    return speeds or None


def adaptive_study(study: Study, budget: float, *, a: str | None, b: str | None, target_compute: float | None,
                   workers: int | None, threads: int | None, executor: str, address: str | None, out: Path | None,
                   error_rate: float) -> None:
    """`run --adaptive`: train the advised runs until settled or out of budget, saying each choice."""
    from scalinglab.cli.progress import StudyProgress
    from scalinglab.execute.adaptive import run_adaptive
    from scalinglab.report.sentences import decision_reason, ending

    progress = StudyProgress()
    out_dir = out or study.default_out_dir()

    def said(d) -> None:
        progress.progress.console.print(f"decision {d.step}: {d.action}: {decision_reason(d.why, *d.arms)}", markup=False,
                                        highlight=False, soft_wrap=True)

    try:
        with user_errors(), saying_what_is_kept(study, out_dir):
            last = run_adaptive(study, out_dir, budget, a=a, b=b, target_compute=target_compute,
                                workers=workers, threads=threads, executor=executor, address=address,
                                error_rate=error_rate, observer=progress, on_decision=said)
    finally:
        progress.stop()
    err_console.print(f"{study.name}: {ending(last.action)} after {last.spent:.3g} FLOPs; P(B better) = {last.p:.3f}",
                      markup=False, highlight=False, soft_wrap=True)
