"""When a study that looks at its results several times may stop: the level each look decides at."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from scalinglab.analysis.deciding.verdict import LEVEL


def look_level(spent: float, total: float, looked: float, level: float = LEVEL) -> float:
    """The level one look of a sequential study decides at, so that all its looks together keep their
    wrong decisions within 1 − level: an O'Brien–Fleming-type spending function (Lan & DeMets 1983),
    α(t) = 2 − 2Φ(z_{1−α/2}/√t) with t the share of the planned compute spent, strict early (when
    the fits rest on the smallest runs) and close to the plain level at the end. Each look spends
    α(t) − α(t_before) (`looked`: the share spent at the last look that could decide), which is
    conservative, since it ignores that successive looks share their data."""
    alpha = 1 - level
    z = ndtri(1 - alpha / 2)

    def spend(t: float) -> float:
        return 0.0 if t <= 0 else float(2 - 2 * ndtr(z / np.sqrt(min(t, 1.0))))

    t, before = (spent / total if total > 0 else 1.0), (looked / total if total > 0 else 0.0)
    return 1 - max(spend(t) - spend(before), 1e-6)
