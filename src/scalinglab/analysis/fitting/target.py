"""Where a fitted law is read for a forecast: a compute on each arm's frontier, or one model (N, D)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.model.accounting import chinchilla_flops


@dataclass(frozen=True)
class Target:
    """Where the forecast is made: a compute (on each arm's frontier), or a model (N, D)."""

    compute: float
    params: float | None = None
    tokens: float | None = None

    @classmethod
    def at(cls, compute: float | None = None, params: float | None = None, tokens: float | None = None) -> Target:
        if params is not None and tokens is not None:
            return cls(chinchilla_flops(params, tokens), float(params), float(tokens))
        return cls(float(compute))

    @property
    def is_model(self) -> bool:
        return self.params is not None

    def describe(self) -> str:
        c = f"C = {self.compute:.3g} FLOPs"
        return f"N = {self.params:.3g}, D = {self.tokens:.3g} ({c})" if self.is_model else c

    def losses(self, fit: LawFit) -> np.ndarray:
        """Point loss of one arm at the target: (1,)."""
        return fit.predict(self.params, self.tokens) if self.is_model else fit.frontier(self.compute)

    def log_inputs(self, fit: LawFit) -> np.ndarray:
        """Where the arm's target loss is read, in its law's log inputs: (1, k). On the L(N, D)
        frontier, at the arm's compute-optimal (N, D): the optimum moves with the parameters, but
        the loss there does not move with it to first order (the envelope theorem), so a derivative
        by the parameters at that point is the frontier's."""
        if not self.is_model:
            return fit.law.frontier_inputs(fit.vector, np.atleast_1d(self.compute))
        return fit.law.log_inputs(params=self.params, tokens=self.tokens, compute=self.compute)

    def loss_samples(self, fit: LawFit) -> np.ndarray:
        """The same under each draw: (n_draws,)."""
        s = fit.predict_samples(self.params, self.tokens) if self.is_model else fit.frontier_samples(self.compute)
        return s[:, 0]
