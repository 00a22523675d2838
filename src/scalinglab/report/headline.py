"""The report's first lines: the study's own finding in plain words, then the loss forecast.

Each kind of study asks its own question, so its report opens with its answer: an LR sweep with
the best LR per width, the law it follows and the largest stable LR; a batch sweep with the best
batch per width and whether it moves; a regularization sweep and the two regimes with each lever's
effect and the noise it is judged against; a crossover with the verdict at the target. The loss
forecast follows. The machinery behind them (model weights, information criteria, the bootstrap)
stays in the sections below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalinglab.report import caveats
from scalinglab.report.collect import StudyData
from scalinglab.report.findings import SETTINGS, Findings, Hyper
from scalinglab.report.levers import LeverEffect, noise_sentence, said, seed_spread, signed, span
from scalinglab.report.regimes import sentences as regime_sentences
from scalinglab.report.sentences import flops, interval, loss, verdict_sentence

KINDS = ("two regimes", "regularization", "batch size", "learning rate", "crossover", "ladder")
"""What a study is about, in the order a study that is several (an L2 sweep with an LR grid) is named by."""


SECTIONS = {"learning rate": "Learning rate", "batch size": "Batch size", "regularization": "Other swept settings"}
"""The page's section that answers each kind of study's question: it comes first (the two regimes' own
sections always do)."""


def own_section_first(sections: list, kind: str) -> list:
    """(title, ...) pairs with the study's own section (SECTIONS) moved to the front, the rest in order."""
    return sorted(sections, key=lambda section: section[0] != SECTIONS.get(kind))


@dataclass(frozen=True)
class Headline:
    kind: str
    """One of KINDS."""
    finding: tuple[str, ...]
    """The answer to the study's question, sentence by sentence (empty for a plain ladder)."""
    forecast: str
    """The loss forecast at the target compute, or why there is none."""

    @property
    def text(self) -> str:
        return " ".join([*self.finding, self.forecast])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "finding": list(self.finding), "forecast": self.forecast}


def headline(data: StudyData, f: Findings) -> Headline:
    kind, finding = _finding(data, f)
    return Headline(kind, tuple(finding), forecast_sentence(data, f))


def _finding(data: StudyData, f: Findings) -> tuple[str, list[str]]:
    if f.repeats is not None and f.repeats.contrast is not None:
        c = f.repeats.contrast
        effects = [*c.one.levers, *c.many.levers]
        return "two regimes", [regime_sentences.contrast_headline(c), noise_sentence(_noise(effects), _seeds(data))]
    if f.levers:
        return "regularization", [*lever_sentences(data, f.levers), noise_sentence(_noise(f.levers), _seeds(data))]
    if "batch_size" in f.hyper:
        return "batch size", batch_sentences(f.hyper["batch_size"], data)
    if "lr" in f.hyper:
        return "learning rate", lr_sentences(f.hyper["lr"], data.labels)
    pairs = [p for p in f.pairs if p.comparison is not None]
    if pairs:
        verdicts = [verdict_sentence(p.comparison, data.labels[p.a], data.labels[p.b]) for p in pairs]
        return "crossover", [*verdicts, *regime_sentences.verdict_notes(f)]
    return "ladder", []


def _seeds(data: StudyData) -> tuple[float, int]:
    return seed_spread(data.finished(), data.swept)


def _noise(effects: list[LeverEffect]) -> float:
    return max((e.noise for e in effects), default=math.nan)


# --- regularization: each setting's value and each arm against their first ---------------------------

def lever_sentences(data: StudyData, levers: list[LeverEffect]) -> list[str]:
    """One sentence per setting value (across arms) and one for the arms against the first."""
    arms = data.study.arms
    out = []
    by_value: dict[str, list[LeverEffect]] = {}
    for e in levers:
        if e.recipe not in arms:
            by_value.setdefault(e.recipe, []).append(e)
    for name, effects in by_value.items():
        setting = name.split(" ")[0]
        base = f"{setting} {min(data.finished()[setting]):g}"
        if len(effects) == 1:
            out.append(f"{_setting(name)} against {_setting(base)}: {said(effects[0], 'it')}.")
        elif len({e.verdict for e in effects}) == 1:
            verb = "has no clear effect in any arm" if effects[0].verdict == "no clear effect" else \
                f"{effects[0].verb} in every arm"
            out.append(f"{_setting(name)} against {_setting(base)}: it {verb} ({span([d for e in effects for d in e.delta])}).")
        else:
            out.append(f"{_setting(name)} against {_setting(base)}: "
                       + ", ".join(said(e, f"in {e.arm} it") for e in effects) + ".")
    arm_effects = [e for e in levers if e.recipe in arms]
    if arm_effects:
        at = [f"{_setting(f'{s} {min(data.finished()[s]):g}')}" for s in SETTINGS if s in data.swept]
        out.append(f"Against {data.labels[arms[0]]}" + (f", each at {' and '.join(at)}" if at else "") + ": "
                   + ", ".join(said(e, data.labels[e.arm]) for e in arm_effects) + ".")
    return out


def _setting(name: str) -> str:
    """'l2 0.001' -> 'l2 = 0.001'."""
    setting, _, value = name.partition(" ")
    return f"{setting} = {value}"


# --- hyperparameter sweeps -----------------------------------------------------------------------

def _at(h: Hyper, value: float, first: bool = True) -> str:
    if h.by == "width":
        return f"width {value:g}" if first else f"{value:g}"
    return f"{flops(value)} FLOPs"


def _prefix(arm: str, labels: dict[str, str], n_arms: int) -> str:
    return f"{labels.get(arm, arm)}: " if n_arms > 1 else ""


def lr_sentences(h: Hyper, labels: dict[str, str]) -> list[str]:
    """Per arm: the best LR per width (or budget), the law it follows, the largest stable LR."""
    if h.report is None:
        return [f"The learning-rate sweep could not be analysed: {h.reason}."]
    out = []
    for arm, law in h.report.laws.items():
        head = _prefix(arm, labels, len(h.report.laws))
        found = [o for o in law.optima if o.status != "all_diverged"]
        text = f"{head}Best learning rate: {_best_list(h, law.optima, 'LR')}"
        if law.optimum_law.status in ("ok", "exact"):
            text += _law(law.optimum_law, h, "LR")
        elif len(law.optima) > 1:
            text += f"; no law (it needs a best LR inside the grid at two or more {_plural(h)})"
        out.append(text + ".")
        edged = [o for o in found if o.diverged_in_grid]
        if edged:
            ratios = [o.largest_stable / o.optimum for o in edged if o.status == "ok" and o.optimum > 0]
            times = (f", {_range(ratios, '×')} the best" if ratios else "")
            stable = ", ".join(f"{o.largest_stable:.3g} at {_at(h, o.by_value, i == 0)}" for i, o in enumerate(edged))
            out.append(f"{head}Largest stable learning rate: {stable}{times}; every larger one diverged.")
        calm = [o for o in found if not o.diverged_in_grid]
        if calm:
            out.append(f"{head}Nothing diverged up to {', '.join(f'{o.largest_stable:.3g}' for o in calm)} at "
                       f"{', '.join(_at(h, o.by_value, i == 0) for i, o in enumerate(calm))}: the stable edge lies "
                       f"beyond the grid.")
    return out


def batch_sentences(h: Hyper, data: StudyData) -> list[str]:
    """Per arm: the best batch size per width (or budget), whether it moves, and what the others cost."""
    if h.report is None:
        return [f"The batch-size sweep could not be analysed: {h.reason}."]
    retuned = " (each batch size at its best learning rate)" if "lr" in data.swept else ""
    out = []
    for arm, law in h.report.laws.items():
        head = _prefix(arm, data.labels, len(h.report.laws))
        found = [o for o in law.optima if o.status != "all_diverged"]
        text = f"{head}Best batch size{retuned}: {_best_list(h, law.optima, 'batch size')}"
        sizes = [o.best_grid for o in found]
        if len(sizes) < 2:
            text += f"; with one {'width' if h.by == 'width' else 'budget'}, whether it moves is not measured"
        elif len(set(sizes)) == 1:
            text += f"; it does not move across {_plural(h)}"
        else:
            trend = ("grows" if all(np.diff(sizes) >= 0) else "shrinks" if all(np.diff(sizes) <= 0)
                     else "moves without a trend")
            text += f"; it {trend} with {'width' if h.by == 'width' else 'compute'}" + _law(law.optimum_law, h, "batch")
        out.append(text + ".")
        if found:
            last = found[-1]
            others = [(g, l - last.best_loss) for g, l, d in zip(last.grid, last.loss, last.diverged)
                      if not d and g != last.best_grid and math.isfinite(l)]
            if others:
                out.append(f"{head}At {_at(h, last.by_value)}, the other batch sizes lose to {last.best_grid:g} by: "
                           + ", ".join(f"{g:g} {signed(d)}" for g, d in others) + " nats.")
    # The difference of two runs' losses: √2 times one run's standard error, counted beyond twice that.
    se = data.finished()["final_eval_loss_se"].dropna()
    out.append(noise_sentence(float(2 * np.sqrt(2) * se.median()) if len(se) else math.nan, _seeds(data)))
    return out


def _best_list(h: Hyper, optima, name: str) -> str:
    """'0.026 at width 32, 0.017 at 48' (an LR curve's optimum is its parabola's vertex, a batch
    size the grid's best), saying which sit at an end of the grid, where the optimum may lie beyond."""
    def best(o) -> str:
        if o.status == "all_diverged":
            return f"none (every {name} diverged)"
        if o.status == "edge":
            end = "smallest" if o.best_grid == min(o.grid) else "largest stable" if o.diverged_in_grid else "largest"
            return f"{o.best_grid:.3g} (the {end} tried)"
        return f"{o.optimum if o.status == 'ok' and name == 'LR' else o.best_grid:.3g}"

    text = ", ".join(f"{best(o)} at {_at(h, o.by_value, i == 0)}" for i, o in enumerate(optima))
    if any(o.status == "edge" for o in optima):
        text += f"; at an end of the grid the best {name} may lie beyond it"
    return text


def _law(lw, h: Hyper, name: str) -> str:
    """', following LR ≈ 1.7·width^-1.20 (exponent 95% interval -1.9 to -0.5)', '' without a law."""
    if lw.status not in ("ok", "exact"):
        return ""
    iv = interval(*lw.intervals["exponent"], fmt=lambda x: f"{x:.2f}")
    return (f", following {name} ≈ {lw.coefficient:.3g}·{'width' if h.by == 'width' else 'C'}^{lw.exponent:.2f}"
            + (f" (exponent 95% interval {iv})" if iv else " (through two points: no interval)"))


def _plural(h: Hyper) -> str:
    return "widths" if h.by == "width" else "budgets"


def _range(values, unit: str) -> str:
    lo, hi = min(values), max(values)
    return f"{unit}{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{unit}{lo:.2g}–{hi:.2g}"


# --- the forecast ------------------------------------------------------------------------------------

def forecast_sentence(data: StudyData, f: Findings) -> str:
    """Each fitted arm's loss at the target compute with its interval; why not, when no arm was fitted."""
    label = data.labels
    predicted = f.forecasts()
    if not predicted:
        first = next(iter(f.fits.values()), None)
        why = f"{first.arm}: {first.reason}" if first is not None else "the study has no arms"
        return f"No scaling law could be fitted, so there is no loss forecast ({why}); the figures show the runs as observed."
    parts = [f"{label[arm]} {loss(value)}" + (f" (95% interval {interval(lo, hi)})" if interval(lo, hi) else "")
             for arm, (value, lo, hi) in predicted.items()]
    text = (f"Loss forecast at {flops(f.target_compute)} FLOPs ({f.target_source}) from the fitted "
            f"law{'s' if len(parts) > 1 else ''}: " + "; ".join(parts))
    text += "".join(f"; {label[arm]}: no fit ({fit.reason})" for arm, fit in f.fits.items() if fit.fit is None)
    careful = caveats.by_caveat({arm: f.fits[arm].fit for arm in predicted})
    return text + "." + (f" Read with care: {careful}." if careful else "")
