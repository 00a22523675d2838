"""`scalinglab fit` and `scalinglab compare`: parse flags, call one scalinglab.analysis function, print."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalinglab.analysis import Columns, compare_arms, fit_hyper_law, fit_law, load_table
from scalinglab.cli.app import app, fail, out_console
from scalinglab.config import ConfigError

Data = Annotated[Path, typer.Argument(help="Table of runs: .csv, .parquet, .jsonl or .json.", show_default=False)]
Group = Annotated[Optional[str], typer.Option(help="Column of the arm (default 'arm'; absent: one group).")]
Params = Annotated[Optional[str], typer.Option(help="Column of non-embedding parameters N (default 'params').")]
Tokens = Annotated[Optional[str], typer.Option(help="Column of training tokens D (default 'tokens'; else C/6N).")]
Compute = Annotated[Optional[str], typer.Option(help="Column of training FLOPs C (default 'compute'; else 6·N·D).")]
Loss = Annotated[Optional[str], typer.Option(help="Column of the final eval loss (default 'loss').")]
Width = Annotated[Optional[str], typer.Option(help="Column of the model width (default 'width').")]
Lr = Annotated[Optional[str], typer.Option(help="Column of the peak learning rate (default 'lr').")]
Batch = Annotated[Optional[str], typer.Option("--batch-size", help="Column of the batch size (default 'batch_size').")]
Step = Annotated[Optional[str], typer.Option(help="Column of the step; only each run's last row is used.")]
Bootstrap = Annotated[int, typer.Option(help="Bootstrap resamples of runs (0: none).")]
Seed = Annotated[int, typer.Option(help="Seed of the bootstrap.")]
Delta = Annotated[float, typer.Option(help="Huber δ on log loss (Hoffmann et al. 2022: 1e-3).")]
Method = Annotated[str, typer.Option(help="grid (multi-start L-BFGS) or varpro (variable projection).")]
Target = Annotated[Optional[float], typer.Option(help="Compute (FLOPs) for predictions / allocation.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]

LAWS = ("compute", "params-tokens", "lr", "batch-size")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad input is one line and exit status 2, however the app is invoked."""
    try:
        yield
    except ConfigError as e:
        fail(str(e))


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
        out_console.print("left out: " + ", ".join(f"{n} rows ({why})" for why, n in excluded.items()), highlight=False)


def _params_table(title: str, fits) -> Table:
    """One row per (group, parameter): wide rows of value-and-interval do not fit a terminal."""
    t = Table(title=title)
    for col in ("group", "status", "points", "parameter", "value", f"{fits[0].level:.0%} interval"):
        t.add_column(col, justify="right" if col in ("points", "value") else "left")
    for f in fits:
        for i, n in enumerate(f.law.param_names):
            lo, hi = f.interval(n)
            first = i == 0
            t.add_row(f.group if first else "", f.status if first else "", str(f.n_points) if first else "", n,
                      _num(f.params[n]), "–" if not math.isfinite(lo) else f"{_num(lo)} – {_num(hi)}",
                      end_section=i == len(f.law.param_names) - 1)
    return t


@app.command()
def fit(
    data: Data,
    law: Annotated[str, typer.Option(help=f"Law to fit: {', '.join(LAWS)}.")] = "compute",
    group: Group = None, params: Params = None, tokens: Tokens = None, compute: Compute = None, loss: Loss = None,
    width: Width = None, lr: Lr = None, batch_size: Batch = None, step: Step = None,
    by: Annotated[str, typer.Option(help="For --law lr|batch-size: width, compute or params.")] = "width",
    method: Method = "grid", bootstrap: Bootstrap = 1000, seed: Seed = 0, delta: Delta = 1e-3,
    target_compute: Target = None, json_out: Json = False,
) -> None:
    """Fit L(C) per arm, L(N, D), or an LR / batch-size law (optimum vs width or compute)."""
    columns = Columns(group=group, params=params, tokens=tokens, compute=compute, loss=loss, width=width, lr=lr,
                      batch_size=batch_size, step=step)
    with _user_errors():
        if law not in LAWS:
            raise ConfigError(f"--law: unknown law '{law}' (choose from {', '.join(LAWS)})")
        df = load_table(data)
        if law in ("lr", "batch-size"):
            report = fit_hyper_law(df, law.replace("-", "_"), by, columns=columns)
        else:
            report = fit_law(df, law, columns=columns, method=method, bootstrap=bootstrap, seed=seed, delta=delta,
                             target_compute=target_compute)
    if json_out:
        return _print_json(report)
    if law in ("lr", "batch-size"):
        return _print_hyper(report)
    out_console.print(_params_table(f"{report.source}: {report.law.formula}", list(report.fits.values())))
    d = report.to_dict()
    if "predictions" in d:
        t = Table(title=f"predicted loss at C = {_num(target_compute)}")
        for col in ("group", "loss"):
            t.add_column(col)
        for g, p in d["predictions"].items():
            t.add_row(g, _with_interval(p["loss"], p["interval"]))
        out_console.print(t)
    for g, a in report.allocations.items():
        iv = a.intervals
        out_console.print(
            f"{g}: compute-optimal at C = {_num(a.compute)}: N* = {_with_interval(a.params, iv.get('params'))}, "
            f"D* = {_with_interval(a.tokens, iv.get('tokens'))}, D*/N* = "
            f"{_with_interval(a.tokens_per_param, iv.get('tokens_per_param'))}, loss {_with_interval(a.loss, iv.get('loss'))}",
            highlight=False)
    _excluded_line(report.excluded)


def _print_hyper(report) -> None:
    for law in report.laws.values():
        t = Table(title=f"{report.source}: {law.hparam} by {law.by} ({law.group})")
        for col in (law.by, "status", "optimum", "best", "loss", "max stable", "sensitivity"):
            t.add_column(col, justify="left" if col == "status" else "right")
        for o in law.optima:
            stable = _num(o.largest_stable) + ("" if o.diverged_in_grid else " (≥, none diverged)")
            t.add_row(_num(o.by_value), o.status, _num(o.optimum), _num(o.best_grid), _num(o.best_loss), stable,
                      _num(o.sensitivity))
        out_console.print(t)
        for name, pl in (("optimal", law.optimum_law), ("largest stable", law.stable_law)):
            out_console.print(
                f"{name} {law.hparam} = c·{law.by}^k: c = {_with_interval(pl.coefficient, pl.intervals['coefficient'])}, "
                f"k = {_with_interval(pl.exponent, pl.intervals['exponent'])} ({pl.status}, {pl.n_points} points)",
                highlight=False)
    _excluded_line(report.excluded)


@app.command()
def compare(
    data: Data,
    a: Annotated[str, typer.Option("--a", help="Arm A (the baseline).", show_default=False)],
    b: Annotated[str, typer.Option("--b", help="Arm B (the challenger).", show_default=False)],
    target_compute: Target = None,
    group: Group = None, params: Params = None, tokens: Tokens = None, compute: Compute = None, loss: Loss = None,
    width: Width = None, step: Step = None,
    method: Method = "grid", bootstrap: Bootstrap = 1000, seed: Seed = 0, delta: Delta = 1e-3, json_out: Json = False,
) -> None:
    """Compare two arms: observed differences, fitted crossover, forecast at a compute, backtest."""
    columns = Columns(group=group, params=params, tokens=tokens, compute=compute, loss=loss, width=width, step=step)
    with _user_errors():
        result = compare_arms(load_table(data), a, b, columns=columns, target_compute=target_compute,
                              bootstrap=bootstrap, seed=seed, delta=delta, method=method)
    if json_out:
        return _print_json(result)
    r = result
    out_console.print(_params_table(f"{r.source}: {r.fit_a.law.formula} per arm", [r.fit_a, r.fit_b]))

    o = r.observed
    t = Table(title=f"observed at the {o.key} values both arms ran (diff = B − A)")
    for col in (o.key, "compute", f"loss {r.a}", f"loss {r.b}", "diff"):
        t.add_column(col, justify="right")
    for row in zip(o.sizes, o.compute, o.loss_a, o.loss_b, o.diff):
        t.add_row(*[_num(v) for v in row[:4]], f"{row[4]:+.4f}")
    out_console.print(t)
    flips = "; ".join(f"between {_num(lo)} and {_num(hi)}" for lo, hi in o.sign_changes) or "none"
    out_console.print(f"observed sign changes: {flips}", highlight=False)

    c = r.crossing
    where = "–" if c.compute is None else f"C = {_with_interval(c.compute, c.interval)}"
    winner = "" if c.winner_after is None else f", {r.a if c.winner_after == 'a' else r.b} ahead beyond it"
    out_console.print(f"fitted crossover: {c.kind}: {where}{winner} (crossing in {_num(100 * c.p_cross)}% of "
                      f"bootstrap pairs)", highlight=False)
    if c.warning:
        out_console.print(f"[yellow]warning:[/] {c.warning}", highlight=False)

    f = r.forecast
    out_console.print(f"forecast at C = {_num(f.compute)} ({f.decades_beyond_data:+.1f} decades from the data): "
                      f"{r.a} {_with_interval(f.loss_a, f.interval_a)}, {r.b} {_with_interval(f.loss_b, f.interval_b)}, "
                      f"P({r.b} beats {r.a}) = {_num(f.p_b_beats_a)}", highlight=False)
    bt = r.backtest
    if bt.status != "ok":
        out_console.print(f"backtest: {bt.status} (needs two shared sizes and enough points without the largest)")
    else:
        name = {"a": r.a, "b": r.b}
        out_console.print(
            f"backtest at {o.key} {_num(bt.held_out_size)}: predicted winner {name[bt.predicted_winner]}, observed "
            f"{name[bt.observed_winner]} ({'right' if bt.correct else 'wrong'}); miss {r.a} {bt.miss_a:+.4f}, "
            f"{r.b} {bt.miss_b:+.4f}, difference {bt.miss_diff:+.4f}", highlight=False)
    _excluded_line(r.excluded)
