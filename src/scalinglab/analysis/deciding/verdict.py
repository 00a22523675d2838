"""The decision, as a researcher makes it: B better, A better, equivalent within a margin, or uncertain.

It reads the forecast's P(B better) = P(E[L_B] < E[L_A]) at the target (analysis.forecast) and
P(|Δ| < margin), at one stated level (LEVEL, 95%):
- B better: P(B better) ≥ (1 + level)/2 — the level's two-sided interval of Δ lies below 0;
- A better: P(B better) ≤ (1 − level)/2;
- equivalent: P(|Δ| < margin) ≥ level — whichever is ahead, by less than a difference that matters
  (it takes precedence: "B ahead by less than the margin" is an equivalence);
- uncertain: neither, with the reasons and the run that would settle it.
The margin (`margin`) is by default the run-to-run noise of one run at the target's loss: a
difference below it is one that no single training run can show, since which recipe's run comes
out ahead is then decided more by its seed than by its recipe (P of a run of B beating one of A
stays within Φ(±1/√2) = 0.24–0.76). Where nothing measured the noise, 1% of the loss stands in.
A confident wrong winner is the worst answer a comparison can give; "uncertain" and "equivalent"
are correct ones when the data cannot tell a difference that matters. So no winner is named while
- some joint model could not be weighed (too few runs beyond its parameters): the forecast then
  rests on the simpler models alone (with few runs, those whose curves cannot cross), and its
  confidence says nothing yet about what the untested model would forecast; or
- there is no spread to judge by (a fit through as many runs as it has parameters).
A study that looks several times (run --adaptive) decides at a stricter level at each look
(advising.stopping), so that its wrong decisions over all its looks stay within 1 − LEVEL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.deciding.forecast import Forecast
from scalinglab.analysis.fitting.models import ModelChoice
from scalinglab.analysis.reading.noise import Noise
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError

LEVEL = 0.95
"""The decision's level: the share of its decisions that are right, where the data decide."""
MARGIN_FALLBACK = 0.01
"""Without a measured noise, the margin is this share of the loss at the target."""
KINDS = ("b", "a", "equivalent", "uncertain")


@dataclass(frozen=True)
class Verdict:
    kind: str
    """'b' (B better), 'a' (A better), 'equivalent' or 'uncertain'."""
    reasons: tuple[dict, ...]
    """Why no winner and no equivalence are named (empty otherwise): each a code and its numbers
    (no_spread; unweighed: models; undecided: p, tail; beyond_margin: margin, p_equivalent), worded
    by report.sentences."""
    settle: str | None
    """What run would settle an uncertain verdict: 'next_rung' (both arms at settle_compute, `step`
    times the largest run) or 'target' (both arms at the target)."""
    settle_compute: float | None = None
    level: float = LEVEL
    ahead: str | None = None
    """'a' or 'b' when the level's interval of Δ excludes 0 (also within an equivalence)."""
    step: float | None = None
    """The next rung's compute over the largest run's (settle 'next_rung')."""

    @property
    def winner(self) -> str | None:
        """'a' or 'b' when one arm is named better; None when equivalent or uncertain."""
        return self.kind if self.kind in ("a", "b") else None

    @property
    def uncertain(self) -> bool:
        return self.kind == "uncertain"

    @property
    def decided(self) -> bool:
        """A winner or an equivalence: the data answered the question."""
        return self.kind != "uncertain"

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"winner": self.winner, "uncertain": self.uncertain})


def margin(noise: Noise, loss_at_target: float, given: float | None = None) -> tuple[float, str]:
    """The equivalence margin in nats, and what it is: `given`, else one run's noise at the target."""
    if given is not None:
        return float(given), "given with --margin"
    if noise.measured:
        return noise.sigma * loss_at_target, "one run's noise at the target"
    return MARGIN_FALLBACK * loss_at_target, f"{MARGIN_FALLBACK:.0%} of the loss at the target (no noise measured)"


def check_margin(given: float | None, losses: np.ndarray) -> None:
    """A margin (a non-negative finite number of nats: config.numbers) must be below the losses it is
    compared with."""
    if given is None:
        return
    top = float(np.max(losses)) if len(losses) else math.inf
    if given >= top:
        raise ConfigError(f"{given:g} nats is not below the losses it would judge (the largest is {top:.4g})",
                          option="margin")


def check_level(level: float, option: str = "level") -> None:
    """A decision's level is above one half: below it a winner would be named on the lesser chance."""
    if not (math.isfinite(level) and 0.5 < level < 1):
        raise ConfigError(f"must be between 0.5 and 1, got {level:g}", option=option)


def verdict_kind(p_better: float, p_equivalent: float, level: float = LEVEL) -> str:
    """The verdict the two probabilities give at `level`, the data's weighing aside: 'equivalent',
    'b', 'a' or 'uncertain' (the rule of the module docstring, for a forecast or a simulated one)."""
    tail = (1 - level) / 2
    if p_equivalent >= level:
        return "equivalent"
    if p_better >= 1 - tail:
        return "b"
    if p_better <= tail:
        return "a"
    return "uncertain"


def decide(forecast: Forecast, choice: ModelChoice, ladder_step: float, level: float = LEVEL) -> Verdict:
    """The verdict at the target. ladder_step: the typical compute ratio between the runs' rungs."""
    p, eq = forecast.p_b_better, forecast.p_equivalent
    tail = (1 - level) / 2
    ahead = None if not math.isfinite(p) else "b" if p >= 1 - tail else "a" if p <= tail else None
    reasons = []
    if not math.isfinite(p):
        reasons.append({"code": "no_spread"})
    if not choice.forced and not all_weighed(choice):
        reasons.append({"code": "unweighed", "models": _unweighed(choice)})
    if not reasons and verdict_kind(p, eq, level) != "uncertain":
        return Verdict(verdict_kind(p, eq, level), (), None, level=level, ahead=ahead)
    if math.isfinite(p):
        if ahead is None:
            reasons.append({"code": "undecided", "p": p, "tail": tail})
        if eq < level:
            reasons.append({"code": "beyond_margin", "margin": forecast.margin, "p_equivalent": eq})
    top = max(choice.best.fit_a.data_range["compute"][1], choice.best.fit_b.data_range["compute"][1])
    # At least a doubling: checkpoints and dense grids have rungs closer than any run worth adding.
    step = max(ladder_step, 2.0) if np.isfinite(ladder_step) else 10.0
    nxt = min(top * step, forecast.compute)
    settle = "next_rung" if nxt < forecast.compute else "target"
    return Verdict("uncertain", tuple(reasons), settle, nxt, level, ahead, step)


def all_weighed(choice: ModelChoice) -> bool:
    """Whether the data could weigh every joint model (each has enough runs beyond its parameters)."""
    return not _unweighed(choice)


def _unweighed(choice: ModelChoice) -> list[str]:
    return [_shared(s) for s, f in choice.fits.items() if not np.isfinite(f.criterion)]


def _shared(sharing: str) -> str:
    return {"none": "nothing shared", "E": "E shared", "E+exponents": "E and exponents shared"}[sharing]


DEFAULT_TARGET_FACTOR = 10.0
"""Without a target the forecast is at 10× the largest run: the one a study plans (an adaptive study
decides there from its first look, and its report is headlined there), or, for a table, it holds."""


def default_target(largest_compute: float) -> float:
    return DEFAULT_TARGET_FACTOR * largest_compute
