"""Comparing two arms on any table of runs: design, frontier, noise, joint models, forecast, verdict.

The steps, each in its own module:
1. reading.design: what the table holds (ladder, grid, isoFLOP grid, frontier points, checkpoints),
   and from it the frontier to compare on (the default follows the design; --frontier chooses);
2. reading.frontier / fitting.allocation: each arm's compute-optimal frontier L*(C), as points
   fitted with L(C), or from a fitted L(N, D) (Approach 3);
3. deciding.observed / reading.noise: the paired measurements, and the run-to-run noise measured
   from seeds, the table's standard errors or the pairs' local smoothness (never a law's misfit);
4. fitting.models / joint / posterior: the two arms fitted together under three sharings, weighed,
   each model's posterior sampled, averaged by weight;
5. deciding.forecast: at the target, Δ with its three sources of uncertainty, P(B better), a run's
   P and the compute multiplier; a target inside the data is read off the data near it;
6. deciding.crossover: where the frontiers cross; deciding.verdict: B better, A better, equivalent
   or uncertain;
7. deciding.holdout: the comparison's own check, redone without the largest size (deciding.compare
   runs it after this module's analyse).
The arms are always fitted in name order, so compare(a, b) and compare(b, a) use the same draws
and give complementary probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scalinglab.analysis.deciding.crossover import Crossing, find_crossing
from scalinglab.analysis.deciding.forecast import (
    Forecast,
    TargetDraws,
    data_draws,
    forecast,
    inside_data,
    target_draws,
)
from scalinglab.analysis.deciding.observed import Observed, observe
from scalinglab.analysis.deciding.scored import Backtest
from scalinglab.analysis.deciding.verdict import (
    LEVEL,
    Verdict,
    check_level,
    check_margin,
    decide,
    default_target,
    margin,
)
from scalinglab.analysis.fitting.bootstrap import group_seed
from scalinglab.analysis.fitting.fit import choose_checkpoints
from scalinglab.analysis.fitting.joint import SHARINGS, layout
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import COMPUTE, PARAMS_TOKENS, Law
from scalinglab.analysis.fitting.models import DEFAULT_DRAWS, JointFit, ModelChoice, Progress, fit_models
from scalinglab.analysis.fitting.posterior import NoiseData
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.reading.design import Design, check_frontier, default_frontier, detect_design
from scalinglab.analysis.reading.frontier import BudgetMinimum, frontier_points
from scalinglab.analysis.reading.table import Columns, Runs, select_runs, without_highest
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers

PREPARED = Columns(group="group", run_id="run")
"""A prepared table's own column names (analysis.table: standard names, the group and run renamed)."""


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
    draws: int
    """Posterior draws behind the probabilities and intervals (0: point fits only)."""
    seed: int
    level: float
    margin: float | None = None
    """The equivalence margin in nats (None: one run's noise at the target, analysis.verdict.margin)."""
    options: dict = field(default_factory=dict)
    """What the user chose (law, frontier, checkpoints, sharing, …), for redoing the comparison on part of
    the table's prepared rows (a backtest's folds): every choice left to the design is made again there."""

    def to_dict(self) -> dict:
        return jsonable({"design": self.design.kind, "design_description": self.design.describe(),
                         "frontier": self.frontier, "frontier_source": self.frontier_source,
                         "checkpoints": self.checkpoints, "law": self.law.name, "sharing": self.sharing,
                         "uncertainty": "posterior", "draws": self.draws, "seed": self.seed, "level": self.level,
                         "margin": self.margin})


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
    draws: TargetDraws | None = None
    """Both arms' losses at the target under each posterior draw (what the forecast summarises and the
    advisor updates)."""

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

    def __repr__(self) -> str:
        f, v = self.forecast, self.verdict
        lo, hi = f.delta_interval
        return (f"Comparison({self.b} against {self.a} at {f.compute:.3g} FLOPs: Δ = {f.delta:+.4g} "
                f"[{lo:+.4g}, {hi:+.4g}], P({self.b} better) = {f.p_b_better:.3g}, verdict {v.kind})")

    __str__ = __repr__

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
            frontier: str | None = None, checkpoints: str | None = None, share: str = "auto", drop_highest: int = 0,
            draws: int = DEFAULT_DRAWS, seed: int = 0, level: float = LEVEL,
            margin: float | None = None) -> tuple[Setup, Runs]:
    """Check the table and the options, find the design and the frontier: no fitting yet."""
    check_numbers(draws=draws, seed=seed, drop_highest=drop_highest, margin=margin)
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
    check_level(level)
    frame = runs.frame[runs.frame["group"].isin([a, b])]
    check_margin(margin, frame["loss"].to_numpy(float))
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
    if not fitted_law.is_frontier:
        for std in fitted_law.inputs:
            if std not in runs.frame:
                raise ConfigError(f"params-tokens needs a '{std}' column", option="frontier", where=source)
    options = {"columns": PREPARED, "law": law, "frontier": frontier, "checkpoints": checkpoints, "share": share,
               "draws": draws, "seed": seed, "level": level, "margin": margin}
    setup = Setup(a, b, source, design, frontier, "chosen" if chosen else "the default for this design",
                  used, fitted_law, share, draws, seed, level, margin, options)
    return setup, runs


def resolve_target(setup: Setup, frame: pd.DataFrame, compute, params, tokens) -> Target:
    if (params is None) != (tokens is None):
        raise ConfigError("a target model needs both its size and its tokens (target_tokens)", option="target_params")
    if params is not None:
        for option, v in (("target_params", params), ("target_tokens", tokens)):
            if not (np.isfinite(v) and v > 0):
                raise ConfigError(f"must be a positive number, got {v:g}", option=option)
        if setup.law.is_frontier:
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
    return Target.at(default_target(float(frame["compute"].max())))


def arm_points(frame: pd.DataFrame, setup: Setup) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Each arm's points for the law: every row for L(N, D), else its frontier points."""
    if setup.law.is_frontier:
        points, minima = frontier_points(frame, setup.frontier)
    else:
        points, minima = frame, []
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


def analyse(frame: pd.DataFrame, setup: Setup, target: Target, progress: Progress | None = None) -> Comparison:
    """Fit, forecast, cross and judge on an already prepared table (compare_arms without the backtest)."""
    rows_a, rows_b, minima = arm_points(frame, setup)
    # On an isoFLOP grid the arms' minima pair by budget where their runs share no (N, D).
    minima_a, minima_b = (rows_a, rows_b) if minima else (None, None)
    obs = observe(frame[frame["group"] == setup.a], frame[frame["group"] == setup.b], minima_a, minima_b)
    noise = obs.run_noise
    # Seeds and the table's standard errors measure the noise apart from the law: the posterior
    # takes them as data. A noise read from smoothness shares the law's residuals (analysis.posterior).
    independent = NoiseData(noise.sigma**2, min(noise.dof, 1e6)) if noise.source in ("seeds", "standard errors") \
        else None
    choice = _fit_in_name_order(rows_a, rows_b, setup, independent, progress)
    fit_a, fit_b = choice.averaged
    mix = choice.mixture
    seed = group_seed(setup.seed, "target")
    if mix is None:
        draws = None
    elif not target.is_model and inside_data(*_near_points(frame, setup, rows_a, rows_b), target.compute):
        draws = data_draws(*_near_points(frame, setup, rows_a, rows_b), target, mix.scatter, mix.noise, noise, seed)
    else:
        draws = target_draws(fit_a, fit_b, target, mix.scatter, mix.noise, noise, seed,
                             difference_misfit(choice.best, obs))
    point = float(np.mean([target.losses(fit_a)[0], target.losses(fit_b)[0]]))
    fc = forecast(fit_a, fit_b, target, draws, noise, margin(noise, point, setup.margin), setup.level)
    rival = choice.runner_up
    runner = forecast(_point(rival.fit_a), _point(rival.fit_b), target, None, noise, (fc.margin, fc.margin_source),
                      setup.level) if rival else None
    if runner is not None and runner.winner == fc.winner:
        runner = None
    verdict = decide(fc, choice, _ladder_step(rows_a, rows_b), setup.level)
    return Comparison(setup, {}, choice, obs, find_crossing(fit_a, fit_b, setup.level), fc, runner, verdict, None,
                      tuple(minima), draws)


def difference_misfit(model: JointFit, obs: Observed) -> float | None:
    """The law's relative misfit of the difference between the arms, τ_Δ: how far the measured log
    differences at the pairs stray from the model's beyond their noise, E[gap²] = (se/L)² + τ_Δ². A
    misfit both arms share cancels here, as it does in what the forecast is about. None where no
    pairs or no measured noise say it (the forecast then takes each arm's misfit as independent)."""
    if obs.key == "none" or not obs.run_noise.measured or len(obs.diff) < 2:
        return None
    law = model.law
    sizes, tokens = np.array(obs.sizes), np.array(obs.tokens)
    compute, ratio = np.array(obs.compute), np.array(obs.compute_ratio)
    c_a = 2 * compute / (1 + ratio)
    if not law.is_frontier and obs.key == "N and D":
        fitted = np.log(model.fit_b.predict(sizes, tokens)) - np.log(model.fit_a.predict(sizes, tokens))
    else:
        fitted = np.log(model.fit_b.frontier(c_a * ratio)) - np.log(model.fit_a.frontier(c_a))
    level = 0.5 * (np.array(obs.loss_a) + np.array(obs.loss_b))
    gap = np.log(np.array(obs.loss_b) / np.array(obs.loss_a)) - fitted
    ok = np.isfinite(gap)
    excess = np.mean(gap[ok] ** 2 - (np.array(obs.se)[ok] / level[ok]) ** 2) if ok.any() else 0.0
    return float(np.sqrt(max(excess, 0.0)))


def _near_points(frame: pd.DataFrame, setup: Setup, rows_a: pd.DataFrame, rows_b: pd.DataFrame):
    """Each arm's measured frontier points, for a target inside the data: the points the law was fitted
    to, or, for L(N, D) (fitted to every row), the lower envelope of its rows."""
    if setup.law.is_frontier:
        return rows_a, rows_b
    points, _ = frontier_points(frame, "envelope")
    return points[points["group"] == setup.a], points[points["group"] == setup.b]


def _point(fit: LawFit) -> LawFit:
    return replace(fit, draws=None)


def _fit_in_name_order(rows_a: pd.DataFrame, rows_b: pd.DataFrame, setup: Setup,
                       noise: NoiseData | None, progress: Progress | None = None) -> ModelChoice:
    swap = setup.b < setup.a
    first, second = (rows_b, rows_a) if swap else (rows_a, rows_b)
    names = (setup.b, setup.a) if swap else (setup.a, setup.b)
    choice = fit_models(first, second, setup.law, names, sharing=setup.sharing, draws=setup.draws, noise=noise,
                        seed=group_seed(setup.seed, "|".join(names)), level=setup.level, progress=progress)
    return choice.swapped() if swap else choice


def _ladder_step(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> float:
    """The typical compute ratio between consecutive rungs (median over both arms)."""
    ratios = []
    for rows in (rows_a, rows_b):
        c = np.unique(np.round(np.log(rows["compute"].to_numpy(float)), 3))
        ratios += list(np.exp(np.diff(c)))
    return float(np.median(ratios)) if ratios else float("nan")
