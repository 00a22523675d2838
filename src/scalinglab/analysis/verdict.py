"""An honest verdict: name a winner only when the forecast and the data agree that there is one.

A confident wrong winner is the worst answer a comparison can give; "uncertain" is a correct one
when the data cannot decide. The forecast names no winner when
- P(B beats A) lies within UNCERTAIN (0.2–0.8), or the Δ interval straddles 0; or
- the runner-up joint model is about as good (models.CLOSE_MODELS) and names the other winner; or
- there is no spread to judge by (a fit through as many runs as it has parameters); or
- some joint model could not be weighed (too few runs beyond its parameters): the forecast then
  rests on the simpler models alone (with few runs, the parallel one, whose curves cannot cross),
  and its confidence says nothing yet about what the untested model would forecast.
An uncertain verdict says what would settle it: runs of both arms at the next rung up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.forecast import Forecast
from scalinglab.analysis.models import CLOSE_MODELS, ModelChoice
from scalinglab.analysis.serialize import jsonable

UNCERTAIN = (0.2, 0.8)


@dataclass(frozen=True)
class Verdict:
    winner: str | None
    """'a', 'b', or None when uncertain."""
    reasons: tuple[str, ...]
    """Why no winner is named (empty when one is)."""
    settle: str | None
    """What run would settle an uncertain verdict."""
    settle_compute: float | None = None

    @property
    def uncertain(self) -> bool:
        return self.winner is None

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"uncertain": self.uncertain})


def decide(forecast: Forecast, choice: ModelChoice, runner_up: Forecast | None, ladder_step: float,
           names: tuple[str, str]) -> Verdict:
    """The verdict at the target. ladder_step: the typical compute ratio between the runs' rungs."""
    reasons = []
    p = forecast.p_b_beats_a
    if not math.isfinite(p):
        reasons.append("no spread: the fit passes through as many runs as it has parameters")
    else:
        if UNCERTAIN[0] <= p <= UNCERTAIN[1]:
            reasons.append(f"P({names[1]} beats {names[0]}) = {p:.2f} is between {UNCERTAIN[0]} and {UNCERTAIN[1]}")
        lo, hi = forecast.delta_interval
        if lo < 0 < hi:
            reasons.append(f"the {int(round(100 * choice.best.fit_a.level))}% interval of the difference "
                           f"({lo:+.3g} to {hi:+.3g}) includes 0")
    if not choice.forced and not all_weighed(choice):
        reasons.append(f"too few runs to weigh every joint model ({', '.join(_unweighed(choice))} could not be): "
                       f"a model the data cannot yet test might disagree")
    rival = choice.runner_up
    # Weights exp(−ΔAIC/2): a rival within CLOSE_MODELS of the best has at least e^−1 of its weight.
    if rival is not None and runner_up is not None and runner_up.winner != forecast.winner \
            and rival.weight >= choice.best.weight * np.exp(-CLOSE_MODELS / 2):
        gap = rival.criterion - choice.best.criterion
        score = f"ΔAIC {gap:.1f}" if np.isfinite(gap) else "too few runs to rank the models"
        reasons.append(f"the runner-up model ({_shared(rival.sharing)}; {score}) names "
                       f"{names[0 if runner_up.winner == 'a' else 1]}")
    if not reasons:
        return Verdict(forecast.winner, (), None)
    top = max(choice.best.fit_a.data_range["compute"][1], choice.best.fit_b.data_range["compute"][1])
    # At least a doubling: checkpoints and dense grids have rungs closer than any run worth adding.
    step = max(ladder_step, 2.0) if np.isfinite(ladder_step) else 10.0
    nxt = min(top * step, forecast.compute)
    settle = (f"runs of both arms at about {nxt:.2g} FLOPs (the next rung, {step:.2g}× the largest run) would narrow "
              f"it" if nxt < forecast.compute else
              f"runs of both arms at the target ({forecast.compute:.2g} FLOPs) would settle it")
    return Verdict(None, tuple(reasons), settle, nxt)


def all_weighed(choice: ModelChoice) -> bool:
    """Whether the data could weigh every joint model (each has enough runs beyond its parameters)."""
    return not _unweighed(choice)


def _unweighed(choice: ModelChoice) -> list[str]:
    return [_shared(s) for s, f in choice.fits.items() if not np.isfinite(f.criterion)]


def _shared(sharing: str) -> str:
    return {"none": "nothing shared", "E": "E shared", "E+exponents": "E and exponents shared"}[sharing]
