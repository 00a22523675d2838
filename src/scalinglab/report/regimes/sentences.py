"""Repeated data in words: labels and captions that say which runs repeat data, the warning when a
comparison mixes regimes, and the sentences and rows of the two regimes and the data-constrained law."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalinglab.analysis.fitting.constrained import DATA_CONSTRAINED, PAPER_R_D_STAR
from scalinglab.data.epochs import repeats_data
from scalinglab.report.levers import said, signed
from scalinglab.report.regimes.findings import MANY, ONE, Contrast, RecipeFit, Regime, finished, repeated


def span(epochs) -> str:
    """'34' or '7.5–30' (epochs, 2 significant digits)."""
    lo, hi = (f"{v:.2g}" if v < 10 else f"{v:.0f}" for v in (float(np.min(epochs)), float(np.max(epochs))))
    return lo if lo == hi else f"{lo}–{hi}"


def epochs_suffix(epochs) -> str:
    """' (34 epochs)' for a run that repeated data, '' otherwise (a learning curve's label)."""
    value = None if pd.isna(epochs) else float(epochs)
    return f" ({span([value])} epochs)" if repeats_data(value) else ""


def label_tag(table: pd.DataFrame, arm: str) -> str:
    """What an arm's label adds: ' [7.5–30 epochs]' when its runs repeat data, ' [widths 256, 512
    repeat data]' when some do, '' when none does."""
    rows = finished(table)
    rows = rows[rows["arm"] == arm]
    rep = repeated(rows) if len(rows) else np.zeros(0, bool)
    if not rep.any():
        return ""
    if rep.all():
        return f" [{span(rows['epochs'])} epochs]"
    widths = sorted({int(w) for w in rows.loc[rep, "width"]})
    return f" [width{'s' if len(widths) > 1 else ''} {', '.join(map(str, widths))} repeat data]"


def caption_note(rows: pd.DataFrame, drawn_hollow: bool = False) -> str:
    """A figure caption's sentence on the runs it shows that repeat data ('' when none does)."""
    rows = finished(rows)
    rep = repeated(rows)
    if not rep.any():
        return ""
    where = (f"arm{'s' if rows.loc[rep, 'arm'].nunique() > 1 else ''} "
             f"{', '.join(dict.fromkeys(rows.loc[rep, 'arm']))}; {span(rows.loc[rep, 'epochs'])} epochs")
    runs = f"{int(rep.sum())} of {len(rows)} runs"
    if drawn_hollow:
        return f"Hollow markers: the {runs} that repeat data, more than one epoch over their unique train tokens ({where})."
    return f"{runs.capitalize()} here repeat data, more than one epoch over their unique train tokens ({where})."


def mix_sentences(rows: pd.DataFrame, a: str, b: str) -> list[str]:
    """A warning when the runs a comparison of arms a and b rests on are not all in one regime. Arms
    are named, not labelled: their labels already say how many epochs they train."""
    regimes = {arm: set(np.where(repeated(rows[rows["arm"] == arm]), MANY, ONE)) for arm in (a, b)}
    if len(regimes[a] | regimes[b]) < 2:
        return []
    mixed = [arm for arm in (a, b) if len(regimes[arm]) > 1]
    if mixed:
        why = (f"{' and '.join(mixed)} {'have' if len(mixed) > 1 else 'has'} runs in both, so a fitted curve joins "
               f"the two regimes")
    else:
        how = {arm: "over many epochs" if MANY in regimes[arm] else "for one epoch" for arm in (a, b)}
        why = f"{a} trains {how[a]} and {b} {how[b]}"
    return [f"This comparison mixes regimes ({why}): a difference may be the data's repetition rather than "
            f"the recipe."]


def contrast_headline(c: Contrast) -> str:
    """The contrast in one sentence: per regime, what each lever did (its range over widths), and
    the levers whose effect changes with the regime."""
    def listed(r: Regime) -> str:
        return ", ".join(said(e, e.recipe) for e in r.levers) or "no lever was measured"

    one = {e.recipe: e.verdict for e in c.one.levers}
    flips = [e.recipe for e in c.many.levers if e.recipe in one and one[e.recipe] != e.verdict]
    flipped = (f" What {' and '.join(flips)} do{'es' if len(flips) == 1 else ''} changes with the regime." if flips
               else " No lever changes with the regime." if one else "")
    return (f"Each lever against its regime's baseline, over many epochs ({span(c.many.epochs)}): {listed(c.many)}; "
            f"in one epoch ({span(c.one.epochs)}): {listed(c.one)}.{flipped}")


def verdict_notes(f) -> list[str]:
    """What a comparison's verdict adds (f: Findings): a warning when its comparison mixes regimes."""
    return [] if f.headline is None else mix_sentences(f.fit_rows, f.headline.a, f.headline.b)


def contrast_sentences(c: Contrast, labels: dict[str, str]) -> list[str]:
    """Per regime: its gap and each lever's effect; then the levers whose effect changed with the regime."""
    out = []
    for r in (c.one, c.many):
        effects = "; ".join(f"{labels.get(e.recipe, e.recipe)} {signed(e.mean)} ({e.verdict}: "
                            f"{', '.join(f'{signed(d)} at {w}' for w, d in zip(e.widths, e.delta))})"
                            for e in r.levers) or "no other arm"
        out.append(f"{r.name.capitalize()} ({span(r.epochs)} epochs, {len(r.arms)} arms): generalization gap (final "
                   f"eval − train loss) median {signed(r.gap_median)} nats; against {r.baseline}, "
                   f"mean change of the final eval loss (per width): {effects}.")
    one = {e.recipe: e for e in c.one.levers}
    many = {e.recipe: e for e in c.many.levers}
    flips = [f"{name} ({one[name].verdict} in one epoch, {many[name].verdict} over many)" for name in c.lever_names()
             if name in one and name in many and one[name].verdict != many[name].verdict]
    same = [name for name in c.lever_names() if name in one and name in many and one[name].verdict == many[name].verdict]
    if flips:
        out.append("What a lever does depends on the regime for " + "; ".join(flips) + "."
                   + (f" The same in both: {', '.join(same)}." if same else ""))
    elif same:
        out.append(f"Every lever measured in both regimes does the same in both ({', '.join(same)}).")
    return out


def contrast_rows(c: Contrast, labels: dict[str, str]) -> list[dict]:
    """The side-by-side table: one row per lever (and the baselines' gap), one column pair per regime."""
    rows = [{"lever": "generalization gap (median, all arms)", "one": signed(c.one.gap_median), "one_verdict": "",
             "many": signed(c.many.gap_median), "many_verdict": ""}]
    one = {e.recipe: e for e in c.one.levers}
    many = {e.recipe: e for e in c.many.levers}
    for name in c.lever_names():
        a, b = one.get(name), many.get(name)
        rows.append({"lever": labels.get(name, name) + f" vs {c.one.baseline} / {c.many.baseline}",
                     "one": signed(a.mean) if a else "", "one_verdict": a.verdict if a else "not run",
                     "many": signed(b.mean) if b else "", "many_verdict": b.verdict if b else "not run"})
    return rows


def repeated_sentences(table: pd.DataFrame, fits: list[RecipeFit], labels: dict[str, str]) -> list[str]:
    """Which runs repeat data, and what the data-constrained law says a repetition is worth."""
    done = finished(table)
    rep = repeated(done)
    if not rep.any():
        return []
    widths = sorted({int(w) for w in done.loc[rep, "width"]})
    out = [f"{int(rep.sum())} of {len(done)} complete runs repeat data ({span(done.loc[rep, 'epochs'])} epochs over "
           f"their unique train tokens; widths {', '.join(map(str, widths))}): hollow markers in the loss-vs-compute "
           f"figure, '[… epochs]' in arm labels and learning curves, and the epochs column of the run table."]
    for rf in fits:
        who = " + ".join(labels.get(a, a) for a in rf.arms)
        if rf.fit is None:
            out.append(f"Data-constrained law (Muennighoff et al. 2023) for {who}: not fitted: {rf.reason}.")
            continue
        f, p = rf.fit, rf.fit.params
        lo, hi = f.interval("R_D_star")
        iv = (f" (95% interval {lo:.3g}–{hi:.3g})" if math.isfinite(lo) else
              f" (no interval: {f.n_runs} runs, and resampling them needs more than the law's "
              f"{DATA_CONSTRAINED.n_params} parameters)" if f.draws is None else "")
        rms = float(np.sqrt(np.mean(f.residuals**2)))
        rn = (f"R_N* = {p['R_N_star']:.3g}" if "R_N_star" not in f.unmeasured
              else "no run has more parameters than its unique data is worth, so R_N* is not measured")
        out.append(f"Data-constrained law (Muennighoff et al. 2023) fitted to the {f.n_points} evaluations of "
                   f"{rf.n_runs} runs of {who}: R_D* = {p['R_D_star']:.3g}{iv}: the k-th repetition of the data is "
                   f"worth exp(−k/{p['R_D_star']:.3g}) of fresh data, so repeating it is worth at most "
                   f"{1 + p['R_D_star']:.3g} epochs of fresh data (Muennighoff et al. measured R_D* ≈ "
                   f"{PAPER_R_D_STAR:.3g} at scale); {rn}; E = {p['E']:.3g}, α = {p['alpha']:.3g}, β = {p['beta']:.3g}; "
                   f"residuals {rms:.3f} in log loss (RMS)"
                   + (", larger than the law's own scatter: where the eval loss rises with more epochs (overfitting), "
                      "the law, in which a repetition is worth less but never harms, cannot follow it" if rms > 0.05
                      else "") + f" [fit status: {f.status}].")
    return out


CONTRAST_TITLE = "Two regimes"
REPEATED_TITLE = "Repeated data"
