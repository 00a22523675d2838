"""`scalinglab fit`, `compare` and `backtest`: parse flags, call one scalinglab.analysis function, print.

Every text that comes from the user or the data is printed as text, never as console markup.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from scalinglab.cli.app import app, bootstrap_seed, err_console, fail, out_console, user_errors, warning_line
from scalinglab.config import ConfigError
from scalinglab.config.numbers import MAX_BOOTSTRAP_WORK, MAX_RESAMPLES, bootstrap_work, check_numbers

if TYPE_CHECKING:  # analysis (scipy, pandas) is imported by the commands, not for --help
    from scalinglab.analysis import Columns

Data = Annotated[Path, typer.Argument(help="Table of runs: .csv, .parquet, .jsonl or .json.", show_default=False)]
Group = Annotated[Optional[str], typer.Option(help="Column of the arm (default 'arm'; absent: one group).")]
Params = Annotated[Optional[str], typer.Option(help="Column of non-embedding parameters N (default 'params').")]
Tokens = Annotated[Optional[str], typer.Option(help="Column of training tokens D (default 'tokens'; else C/6N).")]
Compute = Annotated[Optional[str], typer.Option(help="Column of training FLOPs C (default 'compute'; else 6·N·D).")]
Loss = Annotated[Optional[str], typer.Option(help="Column of the final eval loss (default 'loss').")]
Width = Annotated[Optional[str], typer.Option(help="Column of the model width (default 'width').")]
Lr = Annotated[Optional[str], typer.Option(help="Column of the peak learning rate (default 'lr').")]
Batch = Annotated[Optional[str], typer.Option("--batch-size", help="Column of the batch size (default 'batch_size').")]
Step = Annotated[Optional[str], typer.Option(help="Column of the step of a checkpoint (default 'step').")]
Run = Annotated[Optional[str], typer.Option("--run", help="Column naming the run of each row (default 'run_id', else 'run').")]
SeedCol = Annotated[Optional[str], typer.Option("--seed-column", help="Column of the training seed (default 'seed').")]
LossSe = Annotated[Optional[str], typer.Option(
    "--loss-se", help="Column of the loss's standard error (default 'loss_se', else 'final_eval_loss_se').")]
Where = Annotated[Optional[str], typer.Option(
    help="Keep the rows meeting a condition on the table's columns, e.g. \"eval_set == 'c4_val'\": comparisons, "
         "in [...], and, or, not (nothing else runs).")]
Drop = Annotated[int, typer.Option("--drop-highest", help="Leave out each arm's K highest-loss rows (Epoch drops 5).")]
Checkpoints = Annotated[Optional[str], typer.Option(
    help="Rows of one run at several steps: all (default when present) or last.")]
Frontier = Annotated[Optional[str], typer.Option(
    help="params-tokens (Approach 3), isoflop (Approach 2), envelope (Approach 1) or points; default: by design.")]
Resample = Annotated[Optional[str], typer.Option(
    help="Bootstrap: residuals (by run) or runs (whole runs); default: runs with 20+ runs per arm.")]
Bootstrap = Annotated[int, typer.Option(help=f"Bootstrap resamples (0: none; at most {MAX_RESAMPLES:,}).")]
Seed = Annotated[Optional[int], typer.Option("--bootstrap-seed", help="Seed of the bootstrap or the posterior "
                                             "sampler (default 0).")]
OldSeed = Annotated[Optional[int], typer.Option("--seed", help="Deprecated: the old name of --bootstrap-seed, "
                                                "kept for this release.")]
Delta = Annotated[float, typer.Option(help="Huber δ on log loss (Hoffmann et al. 2022: 1e-3).")]
Method = Annotated[str, typer.Option(help="grid (multi-start L-BFGS) or varpro (variable projection).")]
Target = Annotated[Optional[float], typer.Option(help="Compute (FLOPs) to forecast at (default: 10× the largest run).")]
Draws = Annotated[Optional[int], typer.Option(
    "--draws", min=0, help="Posterior draws behind the probabilities and intervals (0: point fits only).",
    show_default=False)]
OldBootstrap = Annotated[Optional[int], typer.Option(
    "--bootstrap", hidden=True, help="Deprecated for compare and backtest: read as --draws.")]
Margin = Annotated[Optional[float], typer.Option(
    help="Equivalence margin in nats: a smaller difference at the target counts as none "
         "(default: one run's noise there, else 1% of the loss).", show_default=False)]
Level = Annotated[float, typer.Option(help="The decision's level: a winner when P(B better) is beyond "
                                           "(1 ± level)/2, equivalent when P(|Δ| < margin) reaches it.")]
Ignored = Annotated[Optional[str], typer.Option(hidden=True, help="Deprecated for compare and backtest: ignored.")]
POSTERIOR_REFITS = 3000
"""A comparison's posteriors, in bootstrap refits' worth of work on its rows (three joint models, 32
walkers × 1,500 steps each), for the up-front check of check_work."""
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
AllowSlow = Annotated[bool, typer.Option(
    "--allow-slow", help=f"Run a bootstrap beyond {MAX_BOOTSTRAP_WORK:.0e} (resamples + 1) × rows all the same.")]

LAWS = ("compute", "params-tokens", "data-constrained", "lr", "batch-size")


def say(text: str) -> None:
    out_console.print(text, markup=False, highlight=False, soft_wrap=True)


def _num(x) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def _with_interval(value, interval) -> str:
    lo, hi = interval if interval else (None, None)
    if lo is None or not math.isfinite(lo):
        return _num(value)
    return f"{_num(value)} [{_num(lo)}, {_num(hi)}]"


def _print_json(result) -> None:
    typer.echo(json.dumps(result.to_dict(), indent=2))


def _excluded_line(excluded: dict[str, int]) -> None:
    if excluded:
        say("left out: " + ", ".join(f"{n} rows ({why})" for why, n in excluded.items()))


def _table(title: str, columns: list[str], right: tuple[str, ...] = ()) -> Table:
    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left")
    return t


def _params_table(title: str, fits) -> Table:
    """One row per (group, parameter): wide rows of value-and-interval do not fit a terminal."""
    t = _table(title, ["group", "status", "points", "parameter", "value", f"{fits[0].level:.0%} interval"],
               right=("points", "value"))
    for f in fits:
        for i, n in enumerate(f.law.param_names):
            lo, hi = f.interval(n)
            first = i == 0
            shared = " (shared)" if n in f.shared else ""
            t.add_row(f.group if first else "", f.status if first else "", str(f.n_points) if first else "",
                      n + shared, _num(f.params[n]), "–" if not math.isfinite(lo) else f"{_num(lo)} – {_num(hi)}",
                      end_section=i == len(f.law.param_names) - 1)
    return t


def _table_of(data: Path, where: Optional[str], refits: int, allow_slow: bool, option: str = "bootstrap"):
    """The table, its rows filtered, once the work it asks for is known to be within reach."""
    from scalinglab.analysis import filter_rows, load_table  # scipy and pandas: not for --help

    df = filter_rows(load_table(data), where)
    check_work(refits, len(df), allow_slow, option)
    return df


def check_work(resamples: int, rows: int, allow_slow: bool, option: str = "bootstrap") -> None:
    """Refuse up front a bootstrap that would take hours (config.numbers.MAX_BOOTSTRAP_WORK), unless told to."""
    work = bootstrap_work(resamples, rows)
    if work > MAX_BOOTSTRAP_WORK and not allow_slow:
        what = (f"{resamples:,} resamples of {rows:,} rows" if option == "bootstrap" else
                f"the comparison's posteriors on {rows:,} rows (about {resamples:,} refits' worth)")
        raise ConfigError(f"{what}: {work:.2g} row refits, beyond the limit of {MAX_BOOTSTRAP_WORK:.0e} (hours of "
                          f"fitting); lower it, or pass --allow-slow", option=option)


@app.command()
def fit(
    data: Data,
    law: Annotated[str, typer.Option(help=f"Law to fit: {', '.join(LAWS)}.")] = "compute",
    group: Group = None, params: Params = None, tokens: Tokens = None, compute: Compute = None, loss: Loss = None,
    width: Width = None, lr: Lr = None, batch_size: Batch = None, step: Step = None, run: Run = None,
    where: Where = None, drop_highest: Drop = 0, checkpoints: Checkpoints = None, frontier: Frontier = None,
    resample: Resample = None,
    by: Annotated[str, typer.Option(help="For --law lr|batch-size: width, compute or params.")] = "width",
    method: Method = "grid", bootstrap: Bootstrap = 1000, seed: Seed = None, old_seed: OldSeed = None,
    delta: Delta = 1e-3, target_compute: Target = None, json_out: Json = False, allow_slow: AllowSlow = False,
    unique_tokens: Annotated[Optional[str], typer.Option(
        "--unique-tokens", help="For --law data-constrained: column of each run's unique training tokens "
                                "(default 'unique_tokens').")] = None,
) -> None:
    """Fit L(C) per arm (to its frontier), L(N, D), the data-constrained L(N, D, U), or an LR / batch-size law."""
    from scalinglab.analysis import Columns, fit_hyper_law, fit_law

    seed = bootstrap_seed(seed, old_seed)
    columns = Columns(group=group, params=params, tokens=tokens, compute=compute, loss=loss, width=width, lr=lr,
                      batch_size=batch_size, step=step, run_id=run)
    with user_errors():
        if law not in LAWS:
            raise ConfigError(f"unknown law '{law}' (choose from {', '.join(LAWS)})", option="law")
        check_numbers(bootstrap=bootstrap, bootstrap_seed=seed, delta=delta, target_compute=target_compute,
                      drop_highest=drop_highest)
        df = _table_of(data, where, bootstrap, allow_slow)
        if law == "data-constrained":
            return _fit_constrained(df, columns, unique_tokens, bootstrap, seed, delta, resample, json_out)
        if unique_tokens is not None:
            raise ConfigError("--unique-tokens: only for --law data-constrained")
        if law in ("lr", "batch-size"):
            report = fit_hyper_law(df, law.replace("-", "_"), by, columns=columns)
        else:
            report = fit_law(df, law, columns=columns, method=method, bootstrap=bootstrap, seed=seed, delta=delta,
                             target_compute=target_compute, frontier=frontier, checkpoints=checkpoints,
                             drop_highest=drop_highest, resample=resample)
    if json_out:
        return _print_json(report)
    if law in ("lr", "batch-size"):
        return _print_hyper(report)
    say(f"design: {report.design.describe()}")
    if report.frontier:
        from scalinglab.report.sentences import FRONTIERS

        say(f"fitted to: {FRONTIERS[report.frontier]} (--frontier {report.frontier})")
    out_console.print(_params_table(f"{report.source}: {report.law.formula}", list(report.fits.values())))
    d = report.to_dict()
    if "predictions" in d:
        t = _table(f"predicted loss at C = {_num(target_compute)}", ["group", "loss"])
        for g, p in d["predictions"].items():
            t.add_row(g, _with_interval(p["loss"], p["interval"]))
        out_console.print(t)
    for g, a in report.allocations.items():
        iv = a.intervals
        say(f"{g}: compute-optimal at C = {_num(a.compute)}: N* = {_with_interval(a.params, iv.get('params'))}, "
            f"D* = {_with_interval(a.tokens, iv.get('tokens'))}, D*/N* = "
            f"{_with_interval(a.tokens_per_param, iv.get('tokens_per_param'))}, loss {_with_interval(a.loss, iv.get('loss'))}")
    _excluded_line(report.excluded)


def _fit_constrained(df, columns: Columns, unique: Optional[str], bootstrap: int, seed: int, delta: float,
                     resample: Optional[str], json_out: bool) -> None:
    """`fit --law data-constrained`: Muennighoff et al. 2023's law per group (analysis.constrained)."""
    from dataclasses import replace

    from scalinglab.analysis.fitting.constrained import fit_table

    column = unique or "unique_tokens"
    if column not in df.columns:
        raise ConfigError(f"{df.attrs.get('source', 'table')}: --unique-tokens: column '{column}' not found; "
                          f"--law data-constrained needs each run's unique training tokens (columns: "
                          f"{', '.join(map(str, df.columns))})")
    report = fit_table(df, columns=replace(columns, unique_tokens=column), bootstrap=bootstrap, seed=seed, delta=delta,
                       resampling=resample)
    if json_out:
        return _print_json(report)
    out_console.print(_params_table(f"{report.source}: {report.law.formula}", list(report.fits.values())))
    for g, f in report.fits.items():
        p = f.params
        say(f"{g}: {report.repeated[g]} of {f.n_points} rows repeat data; the k-th repetition is worth exp(-k/{p['R_D_star']:.3g}) "
            f"of fresh data, so repeated data is worth at most {1 + p['R_D_star']:.3g} epochs of fresh data"
            + ("" if "R_N_star" not in f.unmeasured else f"; no row has more parameters than its unique data is worth, "
               f"so R_N* is not measured (Muennighoff et al.'s {p['R_N_star']:.3g} is used)"))
    _excluded_line(report.excluded)


def _print_hyper(report) -> None:
    for law in report.laws.values():
        t = _table(f"{report.source}: {law.hparam} by {law.by} ({law.group})",
                   [law.by, "status", "optimum", "best", "loss", "max stable", "sensitivity"],
                   right=(law.by, "optimum", "best", "loss", "max stable", "sensitivity"))
        for o in law.optima:
            stable = _num(o.largest_stable) + ("" if o.diverged_in_grid else " (≥, none diverged)")
            t.add_row(_num(o.by_value), o.status, _num(o.optimum), _num(o.best_grid), _num(o.best_loss), stable,
                      _num(o.sensitivity))
        out_console.print(t)
        for name, pl in (("optimal", law.optimum_law), ("largest stable", law.stable_law)):
            say(f"{name} {law.hparam} = c·{law.by}^k: c = {_with_interval(pl.coefficient, pl.intervals['coefficient'])}, "
                f"k = {_with_interval(pl.exponent, pl.intervals['exponent'])} ({pl.status}, {pl.n_points} points)")
    _excluded_line(report.excluded)


def _posterior_draws(draws: int | None, bootstrap: int | None, default: int, **ignored) -> int:
    """--draws, or --bootstrap (its name before the comparison sampled a posterior) with a notice; the
    bootstrap's own options are ignored with a notice."""
    for name, value in ignored.items():
        if value is not None:
            err_console.print(warning_line(f"--{name} is ignored: the comparison samples a posterior of least-squares "
                                           f"fits now (it stays for fit)"), soft_wrap=True)
    if bootstrap is None:
        return default if draws is None else draws
    if draws is not None:
        fail("--bootstrap and --draws: give --draws only (--bootstrap is its old name here)")
    check_numbers(bootstrap=bootstrap)
    err_console.print(warning_line("--bootstrap is read as --draws: the comparison samples a posterior now"),
                      soft_wrap=True)
    return bootstrap


def _pair_options(group, params, tokens, compute, loss, width, step, run, seed_column, loss_se) -> Columns:
    from scalinglab.analysis import Columns

    return Columns(group=group, params=params, tokens=tokens, compute=compute, loss=loss, width=width, step=step,
                   run_id=run, seed=seed_column, loss_se=loss_se)


@app.command()
def compare(
    data: Data,
    a: Annotated[str, typer.Option("--a", help="Arm A (the baseline).", show_default=False)],
    b: Annotated[str, typer.Option("--b", help="Arm B (the challenger).", show_default=False)],
    target_compute: Target = None,
    target_params: Annotated[Optional[float], typer.Option(help="Target model size N (with --target-tokens).")] = None,
    target_tokens: Annotated[Optional[float], typer.Option(help="Target tokens D (with --target-params).")] = None,
    law: Annotated[Optional[str], typer.Option(help="compute (L(C) on frontier points) or params-tokens (L(N, D)); "
                                                    "default: by design.")] = None,
    frontier: Frontier = None, checkpoints: Checkpoints = None,
    share: Annotated[str, typer.Option(help="Joint model: auto (average by BIC weight), none, E, E+exponents.")] = "auto",
    where: Where = None, drop_highest: Drop = 0,
    group: Group = None, params: Params = None, tokens: Tokens = None, compute: Compute = None, loss: Loss = None,
    width: Width = None, step: Step = None, run: Run = None, seed_column: SeedCol = None, loss_se: LossSe = None,
    draws: Draws = None, margin: Margin = None, level: Level = 0.95, seed: Seed = None, old_seed: OldSeed = None,
    bootstrap: OldBootstrap = None, resample: Ignored = None, delta: Ignored = None, json_out: Json = False,
    allow_slow: AllowSlow = False,
) -> None:
    """Compare two arms: design, frontiers, measured differences, forecast with its verdict, backtest."""
    from scalinglab.analysis import compare_arms
    from scalinglab.analysis.fitting.models import DEFAULT_DRAWS
    from scalinglab.cli.progress import AnalysisProgress
    from scalinglab.report import sentences as say_

    seed = bootstrap_seed(seed, old_seed)
    columns = _pair_options(group, params, tokens, compute, loss, width, step, run, seed_column, loss_se)
    with user_errors():
        draws = _posterior_draws(draws, bootstrap, DEFAULT_DRAWS, resample=resample, delta=delta)
        check_numbers(draws=draws, bootstrap_seed=seed, margin=margin, target_compute=target_compute,
                      target_params=target_params, target_tokens=target_tokens, drop_highest=drop_highest)
        result = compare_arms(_table_of(data, where, POSTERIOR_REFITS, allow_slow, "draws"), a, b, columns=columns,
                              target_compute=target_compute, target_params=target_params, target_tokens=target_tokens,
                              law=law, frontier=frontier, checkpoints=checkpoints, share=share,
                              drop_highest=drop_highest, draws=draws, seed=seed, margin=margin, level=level,
                              progress=AnalysisProgress("compare"))
    if json_out:
        return _print_json(result)
    r = result
    say(say_.setup_sentence(r))
    out_console.print(_params_table(f"{r.source}: {r.fit_a.law.formula} (model: {say_.SHARED[r.models.chosen]})",
                                    [r.fit_a, r.fit_b]))
    say(say_.models_sentence(r))
    o = r.observed
    if 0 < len(o.diff) <= 24:
        t = _table(f"measured at {o.key} (diff = {b} − {a})",
                   ["N" if o.key == "N and D" else o.key, "D", "compute", f"loss {a}", f"loss {b}", "diff", "± 2 se"],
                   right=("N", o.key, "D", "compute", f"loss {a}", f"loss {b}", "diff", "± 2 se"))
        for row in zip(o.sizes, o.tokens, o.compute, o.loss_a, o.loss_b, o.diff, o.se):
            t.add_row(*[_num(v) for v in row[:5]], f"{row[5]:+.4f}", f"{2 * row[6]:.4f}")
        out_console.print(t)
    say(say_.observed_sentence(r, a, b))
    say(say_.crossing_sentence(r, a, b))
    say(say_.forecast_sentence(r, a, b))
    rival = say_.runner_up_sentence(r, a, b)
    if rival:
        say(rival)
    say(say_.backtest_sentence(r.backtest, a, b))
    say("verdict: " + say_.verdict_sentence(r, a, b))
    _excluded_line(r.excluded)


@app.command()
def backtest(
    data: Data,
    a: Annotated[str, typer.Option("--a", help="Arm A (the baseline).", show_default=False)],
    b: Annotated[str, typer.Option("--b", help="Arm B (the challenger).", show_default=False)],
    law: Annotated[Optional[str], typer.Option(help="compute or params-tokens; default: by design.")] = None,
    frontier: Frontier = None, checkpoints: Checkpoints = None,
    share: Annotated[str, typer.Option(help="Joint model: auto, none, E, E+exponents.")] = "auto",
    where: Where = None, drop_highest: Drop = 0,
    group: Group = None, params: Params = None, tokens: Tokens = None, compute: Compute = None, loss: Loss = None,
    width: Width = None, step: Step = None, run: Run = None, seed_column: SeedCol = None, loss_se: LossSe = None,
    draws: Draws = None, margin: Margin = None, level: Level = 0.95, seed: Seed = None, old_seed: OldSeed = None,
    bootstrap: OldBootstrap = None, resample: Ignored = None, delta: Ignored = None, json_out: Json = False,
    allow_slow: AllowSlow = False,
) -> None:
    """Rolling-origin backtest: redo the comparison on the k smallest sizes, forecast every larger one; score."""
    from scalinglab.analysis import rolling_backtest
    from scalinglab.analysis.evaluating.calibration import DEFAULT_BACKTEST_DRAWS
    from scalinglab.report.sentences import calibration_lines

    seed = bootstrap_seed(seed, old_seed)
    columns = _pair_options(group, params, tokens, compute, loss, width, step, run, seed_column, loss_se)
    with user_errors():
        draws = _posterior_draws(draws, bootstrap, DEFAULT_BACKTEST_DRAWS, resample=resample, delta=delta)
        check_numbers(draws=draws, bootstrap_seed=seed, margin=margin, drop_highest=drop_highest)
        cal = rolling_backtest(_table_of(data, where, POSTERIOR_REFITS, allow_slow, "draws"), a, b, columns=columns,
                               law=law, frontier=frontier, checkpoints=checkpoints, share=share,
                               drop_highest=drop_highest, draws=draws, seed=seed, margin=margin, level=level)
    if json_out:
        return _print_json(cal)
    t = _table(f"reliability: forecasts binned by the named winner's probability ({cal.setup.source})",
               ["probability", "forecasts", "mean claimed", "hit rate"], right=("forecasts", "mean claimed", "hit rate"))
    for lo, hi, n, claimed, hit in cal.scores.reliability:
        t.add_row(f"{lo:.2f}–{hi:.2f}", str(n), f"{claimed:.3f}", f"{hit:.3f}")
    out_console.print(t)
    for line in calibration_lines(cal, a, b):
        say(line)
