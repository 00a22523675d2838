"""Fitting a law to a table: one frozen LawFit per group (arm), with bootstrap intervals.

`fit_points` works on arrays (the crossover's backtest refits subsets with it); `fit_law` reads a
table, checks it, and fits every group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalinglab.analysis.fitting.allocation import Allocation, compute_optimal
from scalinglab.analysis.fitting.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    bootstrap_fit,
    check_resampling,
    group_seed,
)
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import COMPUTE, Law, get_law
from scalinglab.analysis.fitting.optimize import fit_grid, fit_varpro
from scalinglab.analysis.reading.design import MIN_SIZES_FOR_ND, Design, check_frontier, default_frontier, detect_design
from scalinglab.analysis.reading.frontier import BudgetMinimum, frontier_points
from scalinglab.analysis.reading.table import Columns, Runs, last_rows, select_runs, without_highest
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers, check_within_data

METHODS = ("grid", "varpro")
DEFAULT_DELTA = 1e-3  # Hoffmann et al. 2022: Huber δ = 1e-3 on log loss


def fit_points(law: Law | str, x: np.ndarray, loss: np.ndarray, runs: np.ndarray | None = None, *, group: str = "all",
               method: str = "grid", bootstrap: int = DEFAULT_RESAMPLES, seed: int | tuple = 0,
               delta: float = DEFAULT_DELTA, level: float = DEFAULT_LEVEL, resampling: str = "runs") -> LawFit:
    """Fit `law` to points x (n, k) (columns as law.inputs) and loss (n,); `runs` labels rows by run.

    status: ok | boundary | not_converged | exact (as many distinct points as parameters: the curve
    passes through them and there is nothing to resample).
    """
    law = get_law(law)
    x = np.asarray(x, dtype=float).reshape(len(loss), len(law.inputs))
    loss = np.asarray(loss, dtype=float)
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}' (choose from {', '.join(METHODS)})", option="method")
    if method == "varpro" and law.effective is not None:
        raise ConfigError(f"varpro needs a law linear in E and A_k at fixed exponents, which {law.formula} is not",
                          option="method")
    check_resampling(resampling)
    if not (np.isfinite(delta) and delta > 0):
        raise ConfigError(f"must be a positive number, got {delta:g}", option="delta")
    distinct = len(np.unique(np.round(np.log(x), 9), axis=0))
    if distinct < law.n_params:
        same = "" if distinct == len(loss) else f" ({len(loss)} rows)"
        raise ConfigError(f"group '{group}': {distinct} distinct point{'s' if distinct != 1 else ''}{same}, fewer than "
                          f"the {law.n_params} parameters of {law.formula}")
    run_codes = np.unique(np.arange(len(loss)) if runs is None else np.asarray(runs), return_inverse=True)[1]
    log_x, y = np.log(x), np.log(loss)
    sol = fit_grid(law, log_x, y, delta=delta) if method == "grid" else fit_varpro(law, log_x, y, delta=delta)
    exact = distinct == law.n_params
    boot = None
    if bootstrap > 0 and not exact:
        boot = bootstrap_fit(law, sol.theta, log_x, y, run_codes, bootstrap, seed, delta, resampling)
    params = law.from_theta(sol.theta)
    status = "exact" if exact else "boundary" if sol.at_bound else ("ok" if sol.converged else "not_converged")
    residuals = np.log(law.predict(params, log_x)) - y
    data_range = {name: (float(x[:, i].min()), float(x[:, i].max())) for i, name in enumerate(law.inputs)}
    return LawFit(law, group, dict(zip(law.param_names, map(float, params))), sol.objective, status, method, delta,
                  len(loss), int(run_codes.max()) + 1, data_range, residuals, boot, level, resampling=resampling)


@dataclass(frozen=True, eq=False)
class FitReport:
    """Fits of one law to every group of a table, and what was left out."""

    law: Law
    source: str
    fits: dict[str, LawFit]
    excluded: dict[str, int]
    target_compute: float | None = None
    allocations: dict[str, Allocation] = field(default_factory=dict)
    """Compute-optimal N*, D* per group at target_compute (L(N, D) only)."""
    design: Design | None = None
    frontier: str | None = None
    """For L(C): which frontier points were fitted (design.FRONTIERS)."""
    minima: tuple[BudgetMinimum, ...] = ()

    def __getitem__(self, group: str) -> LawFit:
        return self.fits[group]

    def __repr__(self) -> str:
        return f"<FitReport {self.law.formula} on {self.source}: {', '.join(map(repr, self.fits))}>"

    def __str__(self) -> str:
        return "\n".join(map(str, self.fits.values()))

    def to_dict(self) -> dict:
        out = {"source": self.source, "law": self.law.name, "formula": self.law.formula, "excluded": self.excluded,
               "design": None if self.design is None else self.design.kind,
               "design_description": None if self.design is None else self.design.describe(),
               "frontier": self.frontier, "minima": [m.to_dict() for m in self.minima],
               "fits": [f.to_dict() for f in self.fits.values()], "target_compute": self.target_compute}
        if self.target_compute is not None and self.law.is_frontier:
            out["predictions"] = {g: _prediction(f, self.target_compute) for g, f in self.fits.items()}
        if self.allocations:
            out["allocations"] = {g: a.to_dict() for g, a in self.allocations.items()}
        return jsonable(out)


def _prediction(fit: LawFit, compute: float) -> dict:
    interval = [float(v[0]) for v in fit.predict_interval(compute)] if fit.has_spread else [None, None]
    return {"compute": compute, "loss": float(fit.predict(compute)[0]), "interval": interval}


MIN_RUNS_TO_RESAMPLE = 20
"""Resample whole runs (the case bootstrap) only when a group has this many runs; with fewer,
resamples repeat a few runs and drop sizes, and fits degenerate: resample residuals instead."""


def default_resampling(runs_per_group) -> str:
    return "runs" if min(runs_per_group) >= MIN_RUNS_TO_RESAMPLE else "residuals"


def fit_law(df, law: Law | str = COMPUTE, *, columns: Columns | None = None, method: str = "grid",
            bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, delta: float = DEFAULT_DELTA,
            level: float = DEFAULT_LEVEL, target_compute: float | None = None, frontier: str | None = None,
            checkpoints: str | None = None, drop_highest: int = 0, resample: str | None = None) -> FitReport:
    """Fit L(C) (law="compute") or L(N, D) (law="params-tokens") to each group of a table.

    L(C) is fitted to each group's frontier points (design.default_frontier, or `frontier`);
    L(N, D) to every row (every checkpoint, unless checkpoints="last"). Rows whose status is not
    complete are left out and counted; the bootstrap is seeded per group so that adding an arm
    leaves the others unchanged.
    """
    law = get_law(law)
    check_numbers(bootstrap=bootstrap, seed=seed, delta=delta, level=level, target_compute=target_compute)
    if resample is not None:
        check_resampling(resample)
    runs = select_runs(df, columns, need=(*law.inputs, "loss"), checkpoints="all")
    check_within_data(target_compute, runs.frame["compute"])
    design = detect_design(runs.frame, runs.source)
    runs, design = choose_checkpoints(runs, design, checkpoints, columns)
    runs = without_highest(runs, drop_highest)
    minima: list[BudgetMinimum] = []
    points = runs.frame
    if law.is_frontier:
        frontier = frontier or default_frontier(design, "compute")
        check_frontier(design, frontier, runs.source)
        if frontier != "points":
            if "params" not in points:
                raise ConfigError(f"{frontier} needs a 'params' column", option="frontier", where=runs.source)
            points, minima = frontier_points(points, frontier)
    elif not design.independent_n_and_d:
        raise ConfigError(f"params-tokens needs N and D that vary apart (several token budgets per size, over "
                          f"{MIN_SIZES_FOR_ND}+ sizes); the design found is {design.describe()}", option="law",
                          where=runs.source)
    resampling = resample or default_resampling(points.groupby("group")["run"].nunique())
    fits = {}
    for group, rows in points.groupby("group", sort=False):
        try:
            fits[group] = fit_points(law, rows[list(law.inputs)].to_numpy(), rows["loss"].to_numpy(),
                                     rows["run"].to_numpy(), group=group, method=method, bootstrap=bootstrap,
                                     seed=group_seed(seed, group), delta=delta, level=level, resampling=resampling)
        except ConfigError as e:
            raise e.at(runs.source) from None
    allocations = {}
    if target_compute is not None and not law.is_frontier:
        allocations = {g: compute_optimal(f, target_compute) for g, f in fits.items()}
    return FitReport(law, runs.source, fits, runs.excluded, target_compute, allocations, design,
                     frontier if law.is_frontier else None, tuple(minima))


def choose_checkpoints(runs: Runs, design: Design, checkpoints: str | None,
                       columns: Columns | None) -> tuple[Runs, Design]:
    """Every checkpoint (the default when runs have several rows) or each run's last row."""
    if checkpoints not in (None, "all", "last"):
        raise ConfigError(f"unknown choice '{checkpoints}' (choose all or last)", option="checkpoints")
    if checkpoints == "all" and "run_id" not in runs.names:
        raise ConfigError(f"'all' needs a run column to tell runs apart (none of "
                          f"{(columns.run_id if columns else None) or 'run_id, run'} found); the design found is "
                          f"{design.describe()}", option="checkpoints", where=runs.source)
    if checkpoints == "last" and design.kind == "checkpoints":
        kept = last_rows(runs.frame)
        runs = runs.with_frame(kept, {"earlier checkpoints of each run": len(runs.frame) - len(kept)})
        design = detect_design(runs.frame, runs.source)
    return runs, design
