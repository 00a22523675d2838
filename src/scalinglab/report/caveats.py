"""What a reader must be told beside a fit: a parameter at its bound, an interval collapsed to a point.

A fit can end where the optimizer could go no further: E at 0 (no loss floor, so the law is a pure
power law and its forecast falls without limit) or an exponent at an end of its range. The
bootstrap then often puts every resample on that same bound, and the interval reads "0.000 to
0.000": it looks like certainty and means the opposite. The report says both in words next to the
fit (its sentence, its legend entry, the page's warnings) instead of leaving them to the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalinglab.analysis import LawFit
from scalinglab.analysis.fitting.laws import EXPONENT_BOUNDS
from scalinglab.report.sentences import loss

E_ZERO = 5e-4
"""An E below this prints as 0.000 nats: E is at its bound (log E is free, so E only nears 0)."""
EXACT_RESIDUAL = 1e-6
"""RMS of the log residuals below which runs lie on the law exactly (made-up data, no noise)."""


@dataclass(frozen=True)
class Caveat:
    parameter: str
    short: str
    """For a legend: 'E at its bound 0'."""
    text: str
    """For a sentence: what it is and what it means."""


def _value(name: str, x: float) -> str:
    return loss(x) if name == "E" else f"{x:.3g}"


def caveats(fit: LawFit) -> list[Caveat]:
    """The fit's parameters at a bound and its intervals collapsed to one printed value."""
    out = []
    if fit.params["E"] < E_ZERO:
        out.append(Caveat("E", "E at its bound 0", f"E = {loss(fit.params['E'])} is at its bound: the runs show no "
                           f"loss floor, so the law is a pure power law and its forecasts fall without limit"))
    for name in fit.law.exponents:
        value = fit.params[name]
        edge = next((b for b in EXPONENT_BOUNDS if abs(value - b) <= 1e-6), None)
        if edge is not None:
            out.append(Caveat(name, f"{name} at its bound {edge:g}",
                              f"{name} = {value:.3g} is at the end of its allowed range ({EXPONENT_BOUNDS[0]:g} to "
                              f"{EXPONENT_BOUNDS[1]:g}): the law does not describe these runs"))
    # Runs that lie on the law exactly (made-up data) resample to the same fit: a true zero width.
    scatter = len(fit.residuals) and float(np.sqrt(np.mean(np.square(fit.residuals)))) > EXACT_RESIDUAL
    if fit.has_spread and scatter:
        collapsed = [(name, lo, hi) for name, (lo, hi) in fit.intervals().items()
                     if math.isfinite(lo) and math.isfinite(hi) and _value(name, lo) == _value(name, hi)]
        if collapsed:
            names = ", ".join(name for name, _, _ in collapsed)
            shown = "; ".join(f"{name} {_value(name, lo)} to {_value(name, hi)}" for name, lo, hi in collapsed)
            out.append(Caveat(names, f"interval of {names} collapsed",
                              f"the 95% interval{'s' if len(collapsed) > 1 else ''} of {names} collapsed to one value "
                              f"({shown}): every resample landed there although the runs scatter about the curve, "
                              f"which says they cannot move it, not that it is known"))
    return out


def legend_note(fit: LawFit) -> str:
    """' (E at its bound 0)' for a fit's legend entry: its parameters at a bound ('' when none)."""
    notes = [c.short for c in caveats(fit) if "bound" in c.short]
    return f" ({'; '.join(notes)})" if notes else ""


def by_caveat(fits: dict[str, LawFit]) -> str:
    """'E at its bound 0 (constant, scaled); no interval: the curve passes through its runs (base)', or ''."""
    arms: dict[str, list[str]] = {}
    for arm, fit in fits.items():
        notes = [c.short for c in caveats(fit)]
        if fit.status == "exact":
            notes.append("no interval: the curve passes through its runs")
        elif not fit.has_spread:
            notes.append("no interval: no bootstrap")
        if fit.status not in ("ok", "exact", "boundary"):  # boundary: a caveat names the parameter
            notes.append(f"fit status {fit.status}")
        for note in notes:
            arms.setdefault(note, []).append(arm)
    return "; ".join(f"{note} ({', '.join(names)})" for note, names in arms.items())


def sentence(fit: LawFit) -> str:
    """'Caution: ...; ....' after a fit's sentence, '' when nothing to say."""
    notes = [c.text for c in caveats(fit)]
    return f" Caution: {'; '.join(notes)}." if notes else ""
