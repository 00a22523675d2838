"""A law fitted to one group's points: its parameters, their draws, and how to read it anywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.fitting.bootstrap import DEFAULT_LEVEL, Draws, percentile_interval
from scalinglab.analysis.fitting.laws import Law, frontier_loss
from scalinglab.analysis.serialize import jsonable


@dataclass(frozen=True, eq=False)
class LawFit:
    """One law fitted to one group's points. `status`: ok | boundary | not_converged."""

    law: Law
    group: str
    params: dict[str, float]
    objective: float
    """Summed Huber loss of the log residuals at the optimum."""
    status: str
    method: str
    delta: float
    n_points: int
    n_runs: int
    data_range: dict[str, tuple[float, float]]
    """Min and max of each input over the fitted points: a prediction outside is an extrapolation."""
    residuals: np.ndarray
    """log L̂ − log L per fitted point."""
    draws: Draws | None = None
    """Parameter draws behind every interval: bootstrap resamples, or a comparison's posterior."""
    level: float = DEFAULT_LEVEL
    shared: tuple[str, ...] = ()
    """Parameters this arm shares with the other arm of a joint fit (analysis.joint)."""
    resampling: str = "runs"
    """How the draws were made: a bootstrap's resampling (bootstrap.RESAMPLINGS), or 'posterior'."""
    unmeasured: tuple[str, ...] = ()
    """Parameters these points cannot measure, held at a cited value and given no interval (the
    data-constrained law's R_N* when no run has more parameters than its data is worth)."""

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.params[n] for n in self.law.param_names])

    def _log_x(self, inputs) -> np.ndarray:
        if len(inputs) != len(self.law.inputs):
            raise TypeError(f"predict() of {self.law.formula} takes {', '.join(self.law.inputs)}")
        arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, dtype=float)) for v in inputs])
        return np.log(np.stack(arrays, axis=-1).reshape(-1, len(self.law.inputs)))

    def predict(self, *inputs) -> np.ndarray:
        """Loss at the law's inputs: compute C (L(C)), (N, D) (L(N, D)) or (N, D, U); arrays broadcast."""
        return self.law.predict(self.vector, self._log_x(inputs))

    def predict_samples(self, *inputs) -> np.ndarray:
        """Loss under each bootstrap draw: (n_draws, n_points)."""
        if self.draws is None:
            raise ValueError("this fit has no bootstrap (fit with bootstrap > 0)")
        return self.law.predict(self.draws.samples, self._log_x(inputs))

    def predict_interval(self, *inputs, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of the prediction (e.g. over a grid of C, for the report's bands)."""
        return percentile_interval(self.predict_samples(*inputs), self.level if level is None else level, axis=0)

    def frontier(self, compute) -> np.ndarray:
        """L*(C): the best loss at compute C (for a law of N and D, where its frontier lies)."""
        return frontier_loss(self.law, self.vector, np.atleast_1d(np.asarray(compute, dtype=float)))

    def frontier_samples(self, compute) -> np.ndarray:
        """L*(C) under each bootstrap draw: (n_draws, n_points)."""
        if self.draws is None:
            raise ValueError("this fit has no bootstrap (fit with bootstrap > 0)")
        return frontier_loss(self.law, self.draws.samples[:, None, :], np.atleast_1d(np.asarray(compute, float)))

    def frontier_interval(self, compute, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        return percentile_interval(self.frontier_samples(compute), self.level if level is None else level, axis=0)

    @property
    def has_spread(self) -> bool:
        """Draws draws that can vary: not an exact fit through as many runs as parameters."""
        return self.draws is not None and len(self.draws.samples) > 1

    def interval(self, name: str, level: float | None = None) -> tuple[float, float]:
        if self.draws is None or name in self.unmeasured:
            return (float("nan"), float("nan"))
        return self.draws.interval(self.law.param_names.index(name), self.level if level is None else level)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return {n: self.interval(n, level) for n in self.law.param_names}

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={v:.4g}" for n, v in self.params.items())
        return f"<LawFit {self.group}: {self.law.formula}; {values}; {self.status}, {self.n_points} points>"

    def __str__(self) -> str:
        """Two lines for a person: the law, the data and the status; each parameter with its interval."""
        runs = "" if self.n_runs == self.n_points else f" of {self.n_runs} runs"
        head = f"{self.group}: {self.law.formula}, fitted to {self.n_points} points{runs} (status {self.status})"
        values = []
        for n in self.law.param_names:
            lo, hi = self.interval(n)
            shared = " (shared)" if n in self.shared else " (not measured)" if n in self.unmeasured else ""
            values.append(f"{n} = {self.params[n]:.4g}{shared}" + (f" [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else ""))
        boot = self.draws
        how = (" (no intervals: as many distinct points as parameters, the curve passes through them)"
               if self.status == "exact" or (boot is not None and not self.has_spread)
               else " (no bootstrap, so no intervals)" if boot is None
               else f" ({self.level:.0%} intervals from {len(boot.samples)} posterior draws)"
               if self.resampling == "posterior"
               else f" ({self.level:.0%} intervals from {boot.n_resamples} bootstrap resamples of {self.resampling})")
        return f"{head}\n  {', '.join(values)}{how}"

    def to_dict(self) -> dict:
        boot = self.draws
        return jsonable({
            "group": self.group, "law": self.law.name, "formula": self.law.formula, "status": self.status,
            "method": self.method, "params": self.params, "intervals": self.intervals(), "level": self.level,
            "objective": self.objective, "delta": self.delta, "n_points": self.n_points, "n_runs": self.n_runs,
            "data_range": self.data_range, "shared": list(self.shared), "unmeasured": list(self.unmeasured),
            "bootstrap": None if boot is None else {"resamples": boot.n_resamples, "failed": boot.n_failed,
                                                    "seed": boot.seed, "resampling": self.resampling},
        })

