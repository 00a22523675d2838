"""Comparing two arms: observed differences, fitted crossing, a forecast, and a backtest.

The forecast's probability that B beats A is the share of bootstrap pairs (one resample of each
arm's runs, drawn independently) in which B's predicted loss is lower. The backtest asks the
question a forecast must answer before anyone trusts it: refit without the largest size both
arms ran, predict that size, and check whether the named winner was right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, group_seed
from scalinglab.analysis.crossover import Crossing, Observed, find_crossing, observe
from scalinglab.analysis.fit import DEFAULT_DELTA, LawFit, fit_points
from scalinglab.analysis.laws import COMPUTE
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.table import Columns, select_runs, size_key
from scalinglab.config import ConfigError

DEFAULT_TARGET_FACTOR = 10.0
"""Without --target-compute the forecast is at 10× the largest compute either arm ran."""


@dataclass(frozen=True)
class Forecast:
    """Both arms' predicted loss at one compute, and how often B wins across bootstrap pairs."""

    compute: float
    loss_a: float
    interval_a: tuple[float, float]
    loss_b: float
    interval_b: tuple[float, float]
    p_b_beats_a: float
    decades_beyond_data: float

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Backtest:
    """Refit without the largest common size, forecast it, compare with what was observed.

    status: ok | too_few (an arm keeps fewer points than the law has parameters). Misses are
    predicted − observed loss; `correct` says whether the predicted winner is the observed one.
    """

    status: str
    held_out_size: float | None = None
    compute_a: float | None = None
    compute_b: float | None = None
    predicted_a: float | None = None
    predicted_b: float | None = None
    observed_a: float | None = None
    observed_b: float | None = None
    predicted_winner: str | None = None
    observed_winner: str | None = None
    correct: bool | None = None
    miss_a: float | None = None
    miss_b: float | None = None
    miss_diff: float | None = None
    """(predicted_b − predicted_a) − (observed_b − observed_a)."""
    p_b_beats_a: float | None = None

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything `scalinglab compare` reports about arms a and b."""

    a: str
    b: str
    source: str
    excluded: dict[str, int]
    fit_a: LawFit
    fit_b: LawFit
    observed: Observed
    crossing: Crossing
    forecast: Forecast
    backtest: Backtest

    def predict(self, compute) -> tuple[np.ndarray, np.ndarray]:
        """Fitted loss of arm a and arm b at `compute`."""
        return self.fit_a.predict(compute), self.fit_b.predict(compute)

    def to_dict(self) -> dict:
        return jsonable({
            "source": self.source, "a": self.a, "b": self.b, "excluded": self.excluded,
            "fits": {"a": self.fit_a.to_dict(), "b": self.fit_b.to_dict()},
            "observed": self.observed.to_dict(), "crossing": self.crossing.to_dict(),
            "forecast": self.forecast.to_dict(), "backtest": self.backtest.to_dict(),
        })


def _p_b_beats_a(fit_a: LawFit, fit_b: LawFit, compute_a: float, compute_b: float) -> float:
    if fit_a.bootstrap is None or fit_b.bootstrap is None:
        return float("nan")
    m = min(len(fit_a.bootstrap.samples), len(fit_b.bootstrap.samples))
    if m == 0:
        return float("nan")
    la = fit_a.predict_samples(compute_a)[:m, 0]
    lb = fit_b.predict_samples(compute_b)[:m, 0]
    return float(np.mean(lb < la))


def forecast(fit_a: LawFit, fit_b: LawFit, compute: float, level: float | None = None) -> Forecast:
    nan2 = (float("nan"), float("nan"))
    ia = tuple(float(v[0]) for v in fit_a.predict_interval(compute, level=level)) if fit_a.bootstrap else nan2
    ib = tuple(float(v[0]) for v in fit_b.predict_interval(compute, level=level)) if fit_b.bootstrap else nan2
    top = max(fit_a.data_range["compute"][1], fit_b.data_range["compute"][1])
    return Forecast(float(compute), float(fit_a.predict(compute)[0]), ia, float(fit_b.predict(compute)[0]), ib,
                    _p_b_beats_a(fit_a, fit_b, compute, compute), float(np.log10(compute / top)))


def _fit_arm(rows, arm: str, **kw) -> LawFit:
    return fit_points(COMPUTE, rows[["compute"]].to_numpy(), rows["loss"].to_numpy(), rows["run"].to_numpy(),
                      group=arm, **kw)


def backtest(rows_a, rows_b, observed: Observed, kw_a: dict, kw_b: dict) -> Backtest:
    """Hold out the largest size both arms ran (and anything larger) and forecast it.

    kw_a, kw_b: fit_points options per arm (bootstrap, seed, delta, level, method).
    """
    if len(observed.sizes) < 2:
        return Backtest("too_few")
    held = observed.sizes[-1]
    key = observed.key

    def split(rows):
        size = size_key(rows[key])
        return rows[size < held], rows[size == held]

    (train_a, test_a), (train_b, test_b) = split(rows_a), split(rows_b)
    if min(len(train_a), len(train_b)) < COMPUTE.n_params:
        return Backtest("too_few", held)
    fa, fb = _fit_arm(train_a, "a", **kw_a), _fit_arm(train_b, "b", **kw_b)
    ca, cb = float(test_a["compute"].mean()), float(test_b["compute"].mean())
    pa, pb = float(fa.predict(ca)[0]), float(fb.predict(cb)[0])
    oa, ob = float(test_a["loss"].mean()), float(test_b["loss"].mean())
    return Backtest("ok", held, ca, cb, pa, pb, oa, ob, _winner(pa, pb), _winner(oa, ob),
                    _winner(pa, pb) == _winner(oa, ob), pa - oa, pb - ob, (pb - pa) - (ob - oa),
                    _p_b_beats_a(fa, fb, ca, cb))


def _winner(loss_a: float, loss_b: float) -> str:
    return "b" if loss_b < loss_a else "a"


def compare_arms(df, a: str, b: str, *, columns: Columns | None = None, target_compute: float | None = None,
                 bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, delta: float = DEFAULT_DELTA,
                 level: float = DEFAULT_LEVEL, method: str = "grid") -> Comparison:
    """Compare arm b against arm a on a table of runs: L(C) per arm, crossing, forecast, backtest."""
    columns = columns or Columns()
    runs = select_runs(df, columns, need=("compute", "loss"))
    if "group" not in runs.names:
        raise ConfigError(f"{runs.source}: column '{columns.group or 'arm'}' not found: compare needs a group column")
    arms = runs.groups()
    for flag, arm in (("--a", a), ("--b", b)):
        if arm not in arms:
            raise ConfigError(f"{runs.source}: {flag}: arm '{arm}' not found (arms: {', '.join(arms)})")
    if a == b:
        raise ConfigError(f"{runs.source}: --a and --b name the same arm '{a}'")
    if target_compute is not None and not target_compute > 0:
        raise ConfigError(f"--target-compute: must be positive, got {target_compute:g}")
    frame = runs.frame
    rows_a, rows_b = frame[frame["group"] == a], frame[frame["group"] == b]
    kw_a = dict(bootstrap=bootstrap, seed=group_seed(seed, a), delta=delta, level=level, method=method)
    kw_b = kw_a | {"seed": group_seed(seed, b)}
    try:
        fit_a, fit_b = _fit_arm(rows_a, a, **kw_a), _fit_arm(rows_b, b, **kw_b)
    except ConfigError as e:
        raise ConfigError(f"{runs.source}: {e}") from None
    observed = observe(rows_a, rows_b)
    top = max(fit_a.data_range["compute"][1], fit_b.data_range["compute"][1])
    target = DEFAULT_TARGET_FACTOR * top if target_compute is None else float(target_compute)
    # The backtest's resamples get their own seeds: the same draws again would not be independent.
    bt = backtest(rows_a, rows_b, observed, kw_a | {"seed": group_seed(seed, a, 1)},
                  kw_b | {"seed": group_seed(seed, b, 1)})
    return Comparison(a, b, runs.source, runs.excluded, fit_a, fit_b, observed, find_crossing(fit_a, fit_b, level),
                      forecast(fit_a, fit_b, target, level), bt)
