"""Hyperparameter laws: the optimal and the largest stable LR (or batch size) per width or compute.

For each value of `by` (a width, or a compute budget) the runs form a curve of final loss over a
grid of the hyperparameter h:
- optimum: the vertex of a parabola in log h through the best grid point and its two neighbours
  (loss is close to quadratic in log LR near its minimum, as the sweeps of Wortsman et al. 2023
  show), so the optimum is not forced onto a grid that steps by factors of 2 or 3;
- largest stable: the largest h whose runs did not diverge (status "diverged" or a non-finite
  loss) — only a lower bound when nothing in the grid diverged;
- sensitivity (Wortsman et al. 2023): mean over the grid of
  min(final loss at h, loss at init) − best final loss, so a diverged run counts as the loss at init.
Then optimum(by) = c·by^k is fitted by least squares in log-log space (DeepSeek LLM 2024; Step
Law 2025). Its intervals are t-intervals of that regression, not a bootstrap: a sweep has one run
per (by, h) cell, so resampling runs would delete grid points rather than mimic noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from scalinglab.analysis.fitting.bootstrap import DEFAULT_LEVEL
from scalinglab.analysis.reading.table import Columns, select_runs, size_key
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError

HPARAMS = ("lr", "batch_size")
BY = ("width", "compute", "params")


@dataclass(frozen=True)
class Optimum:
    """What one loss-vs-h curve (one width or one compute) says.

    status: ok | edge (best grid point at the end of the stable grid: the optimum may lie beyond)
    | not_convex (the three points around the best bend the wrong way) | all_diverged.
    """

    by_value: float
    status: str
    optimum: float
    best_grid: float
    best_loss: float
    largest_stable: float
    diverged_in_grid: bool
    """False: nothing diverged, so largest_stable is only a lower bound on the stable range."""
    sensitivity: float
    initial_loss: float
    initial_loss_from: str
    """Where the loss at init came from: column | ln(vocab_size) | max loss (worst finite loss of the curve)."""
    grid: tuple[float, ...]
    loss: tuple[float, ...]
    """Mean final loss per grid value over runs that did not diverge (NaN where all diverged)."""
    diverged: tuple[bool, ...]

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class PowerLaw:
    """y = coefficient · x^exponent, least squares in log-log. status: ok | exact (2 points) | too_few."""

    coefficient: float
    exponent: float
    intervals: dict[str, tuple[float, float]]
    n_points: int
    status: str
    level: float
    residual_sd: float = float("nan")
    """Standard deviation of the log residuals (n − 2 degrees of freedom)."""
    x: tuple[float, ...] = ()
    """The x values fitted (for the band's leverage)."""

    def predict(self, x) -> np.ndarray:
        return self.coefficient * np.asarray(x, dtype=float) ** self.exponent

    def predict_interval(self, x, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Confidence band of the fitted line: t-interval of the mean of log y at log x."""
        level = self.level if level is None else level
        lx = np.log(np.asarray(x, dtype=float))
        if self.status != "ok":
            return np.full_like(lx, np.nan), np.full_like(lx, np.nan)
        xs = np.log(np.array(self.x))
        n = len(xs)
        se = self.residual_sd * np.sqrt(1 / n + (lx - xs.mean()) ** 2 / ((xs - xs.mean()) ** 2).sum())
        t = stats.t.ppf((1 + level) / 2, n - 2)
        mid = np.log(self.coefficient) + self.exponent * lx
        return np.exp(mid - t * se), np.exp(mid + t * se)

    def to_dict(self) -> dict:
        keys = ("coefficient", "exponent", "intervals", "n_points", "status", "level")
        return jsonable({k: getattr(self, k) for k in keys})


def fit_power_law(x, y, level: float = DEFAULT_LEVEL) -> PowerLaw:
    """Fit y = c·x^k to positive points by least squares on log y."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    nan2 = (float("nan"), float("nan"))
    if n < 2 or len(np.unique(x)) < 2:
        return PowerLaw(float("nan"), float("nan"), {"coefficient": nan2, "exponent": nan2}, n, "too_few", level)
    res = stats.linregress(np.log(x), np.log(y))
    c, k = float(np.exp(res.intercept)), float(res.slope)
    if n == 2:
        return PowerLaw(c, k, {"coefficient": nan2, "exponent": nan2}, n, "exact", level, x=tuple(map(float, x)))
    t = float(stats.t.ppf((1 + level) / 2, n - 2))
    sd = float(np.sqrt(np.sum((np.log(y) - res.intercept - k * np.log(x)) ** 2) / (n - 2)))
    lo, hi = res.intercept - t * res.intercept_stderr, res.intercept + t * res.intercept_stderr
    intervals = {"coefficient": (float(np.exp(lo)), float(np.exp(hi))),
                 "exponent": (float(k - t * res.stderr), float(k + t * res.stderr))}
    return PowerLaw(c, k, intervals, n, "ok", level, sd, tuple(map(float, x)))


def _parabola_vertex(u: np.ndarray, loss: np.ndarray) -> float | None:
    """Vertex of the parabola through three points (u = log h), None if it opens downward."""
    a, b, _ = np.polyfit(u, loss, 2)
    return None if a <= 0 else float(-b / (2 * a))


def _initial_loss(rows: pd.DataFrame) -> tuple[float, str]:
    if "initial_loss" in rows and np.isfinite(rows["initial_loss"]).any():
        return float(np.nanmean(rows["initial_loss"].where(np.isfinite(rows["initial_loss"])))), "column"
    if "vocab_size" in rows and np.isfinite(rows["vocab_size"]).any():
        # A model at init predicts about uniformly over the vocabulary: loss ≈ ln V.
        return float(np.log(rows["vocab_size"][np.isfinite(rows["vocab_size"])].iloc[0])), "ln(vocab_size)"
    finite = rows["loss"][np.isfinite(rows["loss"])]
    return (float(finite.max()) if len(finite) else float("nan")), "max loss"


def analyse_curve(rows: pd.DataFrame, hparam: str, by_value: float) -> Optimum:
    """Optimum, largest stable value and sensitivity of one loss-vs-h curve (rows of one `by`)."""
    bad = ~np.isfinite(rows["loss"].to_numpy())
    if "status" in rows:
        bad |= (rows["status"] == "diverged").to_numpy()
    rows = rows.assign(_bad=bad, _loss=rows["loss"].where(~bad))
    # Seeds of one grid value: the value is unstable if any seed diverged.
    cells = rows.groupby(hparam).agg(loss=("_loss", "mean"), diverged=("_bad", "any")).sort_index()
    grid = cells.index.to_numpy(dtype=float)
    loss = cells["loss"].to_numpy(dtype=float)
    div = cells["diverged"].to_numpy(dtype=bool)
    init, init_from = _initial_loss(rows)
    stable = np.flatnonzero(~div)
    nan = float("nan")
    if len(stable) == 0:
        return Optimum(by_value, "all_diverged", nan, nan, nan, nan, True, nan, init, init_from,
                       tuple(grid), tuple(loss), tuple(div))
    usable = np.where(div, np.inf, loss)
    best = int(np.argmin(usable))
    best_loss = float(usable[best])
    # Wortsman et al. 2023: diverged (inf) and worse-than-init points both count as the loss at init.
    sensitivity = float(np.mean(np.minimum(usable, init) - best_loss))
    pos = int(np.searchsorted(stable, best))
    status, optimum = "edge", float(grid[best])
    if 0 < pos < len(stable) - 1:
        three = stable[pos - 1 : pos + 2]
        vertex = _parabola_vertex(np.log(grid[three]), loss[three])
        status, optimum = ("not_convex", optimum) if vertex is None else ("ok", float(np.exp(vertex)))
    return Optimum(by_value, status, optimum, float(grid[best]), best_loss, float(grid[stable[-1]]), bool(div.any()),
                   sensitivity, init, init_from, tuple(grid), tuple(loss), tuple(div))


@dataclass(frozen=True, eq=False)
class HyperLaw:
    """Optima of one group (arm) across `by`, and power laws of the optimum and the largest stable h."""

    group: str
    hparam: str
    by: str
    optima: tuple[Optimum, ...]
    optimum_law: PowerLaw
    """Fitted to the curves whose optimum is interior (status ok)."""
    stable_law: PowerLaw
    """Fitted to the curves where something diverged (largest stable is then a real edge)."""

    def predict(self, by_value) -> np.ndarray:
        """Optimal h at a width (or compute) from the power law."""
        return self.optimum_law.predict(by_value)

    def to_dict(self) -> dict:
        return jsonable({"group": self.group, "hparam": self.hparam, "by": self.by,
                         "optima": [o.to_dict() for o in self.optima], "optimum_law": self.optimum_law.to_dict(),
                         "stable_law": self.stable_law.to_dict()})


@dataclass(frozen=True, eq=False)
class HyperReport:
    source: str
    hparam: str
    by: str
    excluded: dict[str, int]
    laws: dict[str, HyperLaw]

    def __getitem__(self, group: str) -> HyperLaw:
        return self.laws[group]

    def to_dict(self) -> dict:
        return jsonable({"source": self.source, "hparam": self.hparam, "by": self.by, "excluded": self.excluded,
                         "laws": [law.to_dict() for law in self.laws.values()]})


def fit_hyper_law(df, hparam: str = "lr", by: str = "width", *, columns: Columns | None = None,
                  level: float = DEFAULT_LEVEL) -> HyperReport:
    """Per group and per `by` value: optimal h, largest stable h, sensitivity; then power laws in `by`.

    Diverged runs are kept (they mark the stable edge); other non-complete statuses are left out.
    """
    if hparam not in HPARAMS:
        raise ConfigError(f"hyperparameter '{hparam}' not supported (choose from {', '.join(HPARAMS)})")
    if by not in BY:
        raise ConfigError(f"unknown '{by}' (choose from {', '.join(BY)})", option="by")
    runs = select_runs(df, columns, need=(by, hparam, "loss"), keep_status=("complete", "diverged"))
    laws = {}
    for group, rows in runs.frame.groupby("group", sort=False):
        optima = tuple(analyse_curve(r, hparam, float(v)) for v, r in rows.groupby(size_key(rows[by]), sort=True))
        ok = [o for o in optima if o.status == "ok"]
        edged = [o for o in optima if o.diverged_in_grid and o.status != "all_diverged"]
        laws[group] = HyperLaw(group, hparam, by, optima,
                               fit_power_law([o.by_value for o in ok], [o.optimum for o in ok], level),
                               fit_power_law([o.by_value for o in edged], [o.largest_stable for o in edged], level))
    return HyperReport(runs.source, hparam, by, runs.excluded, laws)
