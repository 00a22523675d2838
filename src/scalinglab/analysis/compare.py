"""Comparing two arms on any table of runs: design, frontier, joint models, forecast, verdict, backtest.

The steps, each in its own module:
1. design.py: what the table holds (ladder, grid, isoFLOP grid, checkpoints), and from it the
   frontier to compare on (the default follows the design; --frontier chooses);
2. frontier.py / allocation.py: each arm's compute-optimal frontier L*(C), as points fitted with
   L(C), or from a fitted L(N, D) (Approach 3);
3. models.py / joint.py: the two arms fitted together under three sharings, averaged by AIC weight;
4. forecast.py: at the target, Δ, P(B beats A) and the compute multiplier;
5. crossover.py: where the frontiers cross; observed.py: the paired measurements and their noise;
6. verdict.py: a winner, or "uncertain" with what would settle it;
7. calibration.py: the backtest, refitted without the largest size.
The arms are always fitted in name order, so compare(a, b) and compare(b, a) use the same draws
and give complementary probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scalinglab.analysis.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, RESAMPLINGS, group_seed
from scalinglab.analysis.crossover import Crossing, find_crossing
from scalinglab.analysis.design import Design, check_frontier, default_frontier, detect_design
from scalinglab.analysis.fit import DEFAULT_DELTA, LawFit, choose_checkpoints, default_resampling
from scalinglab.analysis.forecast import Forecast, Target, forecast
from scalinglab.analysis.frontier import BudgetMinimum, frontier_points
from scalinglab.analysis.joint import SHARINGS, layout
from scalinglab.analysis.laws import COMPUTE, PARAMS_TOKENS, Law
from scalinglab.analysis.models import JointFit, ModelChoice, fit_models
from scalinglab.analysis.observed import FittedDifference, Observed, observe
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.table import Columns, Runs, select_runs, without_highest
from scalinglab.analysis.verdict import Verdict, decide
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers, check_within_data

if TYPE_CHECKING:
    from scalinglab.analysis.calibration import Backtest

DEFAULT_TARGET_FACTOR = 10.0
"""Without a target the forecast is at 10× the largest compute either arm ran."""


@dataclass(frozen=True)
class Setup:
    """Everything decided about a comparison before any fit, said back to the user."""

    a: str
    b: str
    source: str
    design: Design
    frontier: str
    frontier_source: str
    """'the default for this design' or 'chosen'."""
    checkpoints: str
    law: Law
    sharing: str
    resampling: str
    bootstrap: int
    seed: int
    delta: float
    level: float

    def to_dict(self) -> dict:
        return jsonable({"design": self.design.kind, "design_description": self.design.describe(),
                         "frontier": self.frontier, "frontier_source": self.frontier_source,
                         "checkpoints": self.checkpoints, "law": self.law.name, "sharing": self.sharing,
                         "resampling": self.resampling, "bootstrap": self.bootstrap, "seed": self.seed})


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything `scalinglab compare` reports about arms a and b."""

    setup: Setup
    excluded: dict[str, int]
    models: ModelChoice
    observed: Observed
    crossing: Crossing
    forecast: Forecast
    runner_up: Forecast | None
    """The runner-up model's point forecast, kept when it names the other winner."""
    verdict: Verdict
    backtest: Backtest | None
    """Refitted without the largest size, forecast it (None until compare_arms runs it)."""
    minima: tuple[BudgetMinimum, ...] = ()
    """The isoFLOP minima (frontier isoflop)."""

    @property
    def a(self) -> str:
        return self.setup.a

    @property
    def b(self) -> str:
        return self.setup.b

    @property
    def source(self) -> str:
        return self.setup.source

    @property
    def fit_a(self) -> LawFit:
        """Arm a: the chosen model's curve, with the model average's draws (models.ModelChoice)."""
        return self.models.averaged[0]

    @property
    def fit_b(self) -> LawFit:
        return self.models.averaged[1]

    def predict(self, compute) -> tuple[np.ndarray, np.ndarray]:
        """Each arm's frontier L*(C) under the chosen model."""
        return self.fit_a.frontier(compute), self.fit_b.frontier(compute)

    def to_dict(self) -> dict:
        return jsonable({
            "source": self.source, "a": self.a, "b": self.b, "excluded": self.excluded,
            "setup": self.setup.to_dict(), "models": self.models.to_dict(),
            "fits": {"a": self.fit_a.to_dict(), "b": self.fit_b.to_dict()},
            "observed": self.observed.to_dict(), "crossing": self.crossing.to_dict(),
            "forecast": self.forecast.to_dict(), "verdict": self.verdict.to_dict(),
            "runner_up": None if self.runner_up is None else self.runner_up.to_dict(),
            "backtest": None if self.backtest is None else self.backtest.to_dict(), "minima": [m.to_dict() for m in self.minima],
        })


def prepare(df, a: str, b: str, *, columns: Columns | None = None, law: str | None = None,
            frontier: str | None = None, checkpoints: str | None = None, share: str = "auto",
            resample: str | None = None, drop_highest: int = 0, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0,
            delta: float = DEFAULT_DELTA, level: float = DEFAULT_LEVEL) -> tuple[Setup, Runs]:
    """Check the table and the options, find the design and the frontier: no fitting yet."""
    check_numbers(bootstrap=bootstrap, seed=seed, delta=delta, level=level, drop_highest=drop_highest)
    columns = columns or Columns()
    runs = select_runs(df, columns, need=("compute", "loss"), checkpoints="all")
    source = runs.source
    if "group" not in runs.names:
        raise ConfigError(f"column '{columns.group or 'arm'}' not found: compare needs a group column", where=source)
    arms = runs.groups()
    for option, arm in (("a", a), ("b", b)):
        if arm not in arms:
            raise ConfigError(f"arm '{arm}' not found (arms: {', '.join(arms)})", option=option, where=source)
    if a == b:
        raise ConfigError(f"arm '{a}' is also a; compare it with another", option="b", where=source)
    if share != "auto" and share not in SHARINGS:
        raise ConfigError(f"unknown model '{share}' (choose from auto, {', '.join(SHARINGS)})", option="share")
    if resample is not None and resample not in RESAMPLINGS:
        raise ConfigError(f"unknown choice '{resample}' (choose from {', '.join(RESAMPLINGS)})", option="resample")
    if bootstrap < 0:
        raise ConfigError(f"must be 0 or more, got {bootstrap}", option="bootstrap")
    if not 0 < level < 1:
        raise ConfigError(f"must be between 0 and 1, got {level:g}", option="level")
    frame = runs.frame[runs.frame["group"].isin([a, b])]
    runs = runs.with_frame(frame)
    design = detect_design(frame, source)
    used = "all" if checkpoints in (None, "all") and design.kind == "checkpoints" else "last"
    runs, design = choose_checkpoints(runs, design, checkpoints, columns)
    runs = without_highest(runs, drop_highest)
    if law not in (None, "auto", COMPUTE.name, PARAMS_TOKENS.name):
        raise ConfigError(f"unknown law '{law}' (choose from auto, {COMPUTE.name}, {PARAMS_TOKENS.name})", option="law")
    if law == PARAMS_TOKENS.name and frontier not in (None, "params-tokens"):
        raise ConfigError(f"'{frontier}' disagrees with law params-tokens, which gives its own frontier",
                          option="frontier")
    if law == COMPUTE.name and frontier == "params-tokens":
        raise ConfigError("'params-tokens' is L(N, D)'s frontier, not one for law compute", option="frontier")
    chosen = frontier is not None or law not in (None, "auto")
    if frontier is None:
        frontier = "params-tokens" if law == PARAMS_TOKENS.name else default_frontier(
            design, COMPUTE.name if law == COMPUTE.name else None)
    check_frontier(design, frontier, source)
    fitted_law = PARAMS_TOKENS if frontier == "params-tokens" else COMPUTE
    if fitted_law is PARAMS_TOKENS:
        for std in ("params", "tokens"):
            if std not in runs.frame:
                raise ConfigError(f"params-tokens needs a '{std}' column", option="frontier", where=source)
    resample = resample or default_resampling(runs.frame.groupby("group")["run"].nunique())
    setup = Setup(a, b, source, design, frontier, "chosen" if chosen else "the default for this design",
                  used, fitted_law, share, resample, bootstrap, seed, delta, level)
    return setup, runs


def compare_arms(df, a: str, b: str, *, columns: Columns | None = None, target_compute: float | None = None,
                 target_params: float | None = None, target_tokens: float | None = None, law: str | None = None,
                 frontier: str | None = None, checkpoints: str | None = None, share: str = "auto",
                 resample: str | None = None, drop_highest: int = 0, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0,
                 delta: float = DEFAULT_DELTA, level: float = DEFAULT_LEVEL) -> Comparison:
    """Compare arm b against arm a (the baseline) on a table of runs; see the module docstring."""
    setup, runs = prepare(df, a, b, columns=columns, law=law, frontier=frontier, checkpoints=checkpoints, share=share,
                          resample=resample, drop_highest=drop_highest, bootstrap=bootstrap, seed=seed, delta=delta,
                          level=level)
    target = _target(setup, runs.frame, target_compute, target_params, target_tokens)
    check_within_data(target.compute, runs.frame["compute"], "target_params" if target.is_model else "target_compute")
    comparison = analyse(runs.frame, setup, target)
    # Imported here: calibration refits through analyse(), so it imports this module.
    from scalinglab.analysis.calibration import holdout_backtest

    return replace(comparison, excluded=runs.excluded, backtest=holdout_backtest(runs.frame, setup, comparison.observed))


def _target(setup: Setup, frame: pd.DataFrame, compute, params, tokens) -> Target:
    if (params is None) != (tokens is None):
        raise ConfigError("a target model needs both its size and its tokens (target_tokens)", option="target_params")
    if params is not None:
        for option, v in (("target_params", params), ("target_tokens", tokens)):
            if not (np.isfinite(v) and v > 0):
                raise ConfigError(f"must be a positive number, got {v:g}", option=option)
        if setup.law is not PARAMS_TOKENS:
            raise ConfigError(f"a target model (N, D) needs law params-tokens; the frontier is '{setup.frontier}' "
                              f"({setup.design.describe()})", option="target_params", where=setup.source)
        if compute is not None:
            raise ConfigError("give a compute or a model (target_params, target_tokens), not both",
                              option="target_compute")
        return Target.at(params=params, tokens=tokens)
    if compute is not None:
        if not (np.isfinite(compute) and compute > 0):
            raise ConfigError(f"must be a positive, finite number of FLOPs, got {compute:g}", option="target_compute")
        return Target.at(compute)
    return Target.at(DEFAULT_TARGET_FACTOR * float(frame["compute"].max()))


def arm_points(frame: pd.DataFrame, setup: Setup) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Each arm's points for the law: every row for L(N, D), else its frontier points."""
    if setup.law is PARAMS_TOKENS:
        points, minima = frame, []
    else:
        points, minima = frontier_points(frame, setup.frontier)
    rows_a, rows_b = points[points["group"] == setup.a], points[points["group"] == setup.b]
    need = layout(setup.law, "E+exponents").n_free + 1
    for arm, rows in ((setup.a, rows_a), (setup.b, rows_b)):
        if rows["compute"].nunique() < 2:
            raise ConfigError(f"arm '{arm}' has {rows['compute'].nunique()} distinct point(s) on its {setup.frontier} "
                              f"frontier; a fit of {setup.law.formula} needs 2 or more per arm", where=setup.source)
    if len(rows_a) + len(rows_b) < need:
        raise ConfigError(f"{len(rows_a) + len(rows_b)} frontier points in all; fitting {setup.law.formula} to two "
                          f"arms needs at least {need}", where=setup.source)
    return rows_a, rows_b, minima


def analyse(frame: pd.DataFrame, setup: Setup, target: Target) -> Comparison:
    """Fit, forecast, cross and judge on an already prepared table (compare_arms without the backtest)."""
    rows_a, rows_b, minima = arm_points(frame, setup)
    choice = _fit_in_name_order(rows_a, rows_b, setup)
    fit_a, fit_b = choice.averaged
    # On an isoFLOP grid the arms' minima pair by budget where their runs share no (N, D).
    minima_a, minima_b = (rows_a, rows_b) if minima else (None, None)
    obs = observe(frame[frame["group"] == setup.a], frame[frame["group"] == setup.b], _fitted_difference(choice.best),
                  minima_a, minima_b)
    fc = forecast(fit_a, fit_b, target, setup.level, *run_noise(obs, fit_a, fit_b))
    rival = choice.runner_up
    runner = forecast(_point(rival.fit_a), _point(rival.fit_b), target, setup.level) if rival else None
    if runner is not None and runner.winner == fc.winner:
        runner = None
    verdict = decide(fc, choice, runner, _ladder_step(rows_a, rows_b), (setup.a, setup.b))
    return Comparison(setup, {}, choice, obs, find_crossing(fit_a, fit_b, setup.level), fc, runner, verdict, None,
                      tuple(minima))


def run_noise(observed: Observed, fit_a: LawFit, fit_b: LawFit) -> tuple[float, float]:
    """Relative σ of one run's loss and its degrees of freedom: the paired measurements' noise, else
    the fits' residual spread."""
    if np.isfinite(observed.noise) and observed.noise > 0 and observed.loss_a:
        return float(observed.noise / np.median(np.concatenate([observed.loss_a, observed.loss_b]))), observed.noise_dof
    residuals = np.concatenate([fit_a.residuals, fit_b.residuals])
    # s² = RSS / (n − p): the residuals are smaller than the noise by the parameters spent on them.
    dof = len(residuals) - (2 * fit_a.law.n_params - len(fit_a.shared))
    if dof < 1:
        return 0.0, float("inf")
    return float(np.sqrt(np.sum(residuals**2) / dof)), float(dof)


def _fitted_difference(joint: JointFit) -> FittedDifference:
    """(N, D, C_a, C_b) → the chosen model's log L̂_b − log L̂_a and its leverage: at the model itself
    for L(N, D) (on its frontier, a minimum over N, without a leverage), at the compute for L(C)."""
    fit_a, fit_b, law = joint.fit_a, joint.fit_b, joint.law

    def at(n, d, c_a, c_b):
        if law is PARAMS_TOKENS and n is None:
            return np.log(fit_b.frontier(c_b)) - np.log(fit_a.frontier(c_a)), np.zeros(len(c_a))
        log_x_a = law.log_inputs(params=n, tokens=d, compute=c_a)
        log_x_b = law.log_inputs(params=n, tokens=d, compute=c_b)
        fitted = np.log(law.predict(fit_b.vector, log_x_b)) - np.log(law.predict(fit_a.vector, log_x_a))
        return fitted, joint.difference_leverage(log_x_a, log_x_b)
    return at


def _point(fit: LawFit) -> LawFit:
    return replace(fit, bootstrap=None)


def _fit_in_name_order(rows_a: pd.DataFrame, rows_b: pd.DataFrame, setup: Setup) -> ModelChoice:
    swap = setup.b < setup.a
    first, second = (rows_b, rows_a) if swap else (rows_a, rows_b)
    names = (setup.b, setup.a) if swap else (setup.a, setup.b)
    choice = fit_models(first, second, setup.law, names, sharing=setup.sharing, bootstrap=setup.bootstrap,
                        resampling=setup.resampling, seed=group_seed(setup.seed, "|".join(names)),
                        delta=setup.delta, level=setup.level)
    return choice.swapped() if swap else choice


def _ladder_step(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> float:
    """The typical compute ratio between consecutive rungs (median over both arms)."""
    ratios = []
    for rows in (rows_a, rows_b):
        c = np.unique(np.round(np.log(rows["compute"].to_numpy(float)), 3))
        ratios += list(np.exp(np.diff(c)))
    return float(np.median(ratios)) if ratios else float("nan")
