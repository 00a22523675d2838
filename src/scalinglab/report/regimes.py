"""Repeated data in a report: which runs repeat it, the two regimes side by side, the data-constrained law.

Xiao 2024 (arXiv 2409.15156) contrasts the "generalization" regime, many epochs over a fixed data
set, where explicit L2, small batches and large learning rates help, with the one-epoch "scaling"
regime, where they stop helping. A run is in the first when its budget passes more than once over
the unique train tokens it can draw (epochs > 1: data.epochs). This module marks such runs, sets a
study's arms of each regime side by side (each recipe against the regime's baseline, and the
generalization gap), flags comparisons that mix regimes, and fits Muennighoff et al. 2023's
data-constrained law (analysis.constrained) to the recipes whose runs repeat data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.constrained import LAW, PAPER_R_D_STAR, ConstrainedFit, fit_data_constrained
from scalinglab.analysis.bootstrap import group_seed
from scalinglab.config import ConfigError, Study
from scalinglab.data.epochs import repeats_data
from scalinglab.report.levers import LeverEffect, effect, per_width, said, signed

ONE, MANY = "at most one epoch", "many epochs"
CONSTRAINED_RESAMPLES = 200
"""Draws draws of a data-constrained fit in a report: 7 parameters refitted per draw, so fewer
than an L(C) fit's 1,000 keep a report within seconds; the interval's ends move by a few percent."""
MIN_SIZES = 2
"""Model sizes a data-constrained fit needs: one size's checkpoints vary only D, and N' is unknown."""


def repeated(rows: pd.DataFrame) -> np.ndarray:
    """One bool per row: the run repeated data (unknown epochs, from results older than the count: no)."""
    return np.array([repeats_data(None if pd.isna(e) else float(e)) for e in rows["epochs"]], dtype=bool)


def span(epochs) -> str:
    """'34' or '7.5–30' (epochs, 2 significant digits)."""
    lo, hi = (f"{v:.2g}" if v < 10 else f"{v:.0f}" for v in (float(np.min(epochs)), float(np.max(epochs))))
    return lo if lo == hi else f"{lo}–{hi}"


def epochs_suffix(epochs) -> str:
    """' (34 epochs)' for a run that repeated data, '' otherwise (a learning curve's label)."""
    value = None if pd.isna(epochs) else float(epochs)
    return f" ({span([value])} epochs)" if repeats_data(value) else ""


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "complete") & table["loss"].notna()]


def arm_regime(table: pd.DataFrame, arm: str) -> str | None:
    """ONE or MANY when every finished run of the arm is in that regime, 'mixed', or None (no epochs known)."""
    rows = _finished(table)
    rows = rows[(rows["arm"] == arm) & rows["epochs"].notna()]
    if rows.empty:
        return None
    rep = repeated(rows)
    return MANY if rep.all() else ONE if not rep.any() else "mixed"


def label_tag(table: pd.DataFrame, arm: str) -> str:
    """What an arm's label adds: ' [7.5–30 epochs]' when its runs repeat data, ' [widths 256, 512
    repeat data]' when some do, '' when none does."""
    rows = _finished(table)
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
    rows = _finished(rows)
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


# --- recipes: arms that differ only in max_train_tokens -------------------------------------------

def recipes(study: Study) -> dict[str, str]:
    """arm -> its recipe: the first arm (in the study's order) whose runs are the same but for
    data.max_train_tokens. The same recipe in two regimes is one lever, seen twice."""
    signature: dict[str, set[str]] = {}
    for spec in study.runs:
        cfg = spec.config
        plain = cfg.model_copy(update={"data": cfg.data.model_copy(update={"max_train_tokens": None})})
        signature.setdefault(spec.arm, set()).add(plain.digest())
    first: dict[frozenset, str] = {}
    return {arm: first.setdefault(frozenset(signature[arm]), arm) for arm in study.arms if arm in signature}


# --- the two regimes side by side ------------------------------------------------------------------

@dataclass(frozen=True)
class Regime:
    name: str
    """ONE or MANY."""
    arms: tuple[str, ...]
    baseline: str
    """The regime's first arm: every other arm is measured against it."""
    epochs: tuple[float, float]
    gaps: dict[str, tuple[tuple[int, ...], tuple[float, ...]]]
    """arm -> (widths, final eval − final train loss): the generalization gap."""
    levers: tuple[LeverEffect, ...]

    @property
    def gap_median(self) -> float:
        return float(np.median([g for _, gaps in self.gaps.values() for g in gaps]))


@dataclass(frozen=True)
class Contrast:
    one: Regime
    many: Regime
    recipe_of: dict[str, str]
    """arm -> its recipe (recipes())."""

    def lever_names(self) -> list[str]:
        """Recipes measured as levers in either regime, in the order they first appear."""
        return list(dict.fromkeys(e.recipe for r in (self.one, self.many) for e in r.levers))


def _regime(table: pd.DataFrame, name: str, arms: list[str], recipe_of: dict[str, str]) -> Regime:
    done = _finished(table)
    rows = done[done["arm"].isin(arms)]
    baseline = arms[0]
    gaps, levers = {}, []
    for arm in arms:
        mine = per_width(done[done["arm"] == arm])
        ok = mine["train"].notna()
        gaps[arm] = (tuple(int(w) for w in mine.index[ok]), tuple(float(v) for v in (mine["loss"] - mine["train"])[ok]))
        lever = None if arm == baseline else effect(arm, recipe_of.get(arm, arm), done[done["arm"] == arm],
                                                    done[done["arm"] == baseline])
        if lever is not None:
            levers.append(lever)
    return Regime(name, tuple(arms), baseline, (float(rows["epochs"].min()), float(rows["epochs"].max())), gaps,
                  tuple(levers))


def contrast(study: Study, table: pd.DataFrame) -> Contrast | None:
    """The two regimes side by side, when the study has arms wholly in each (None otherwise)."""
    by = {arm: arm_regime(table, arm) for arm in study.arms}
    one = [a for a in study.arms if by[a] == ONE]
    many = [a for a in study.arms if by[a] == MANY]
    if not one or not many:
        return None
    recipe_of = recipes(study)
    return Contrast(_regime(table, ONE, one, recipe_of), _regime(table, MANY, many, recipe_of), recipe_of)


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


CONTRAST_CAPTION = (
    "The two regimes side by side (Xiao 2024): left, runs that see each training token at most once; right, runs "
    "that repeat a small slice of the data many times. Top: each recipe's final eval loss minus its regime's "
    "baseline, per width (below the dotted zero: the lever helps). Bottom: each arm's generalization gap, final "
    "eval minus final train loss. Rows share their y axis, so the two regimes read on one scale.")


def draw_contrast(figure, c: Contrast, labels: dict[str, str]) -> None:
    """Two columns (one epoch, many epochs) × two rows (change of loss vs the baseline, generalization gap)."""
    from scalinglab.report import figures as fig

    axes = figure.subplots(2, 2, sharey="row", squeeze=False)
    order = list(dict.fromkeys([c.recipe_of[c.one.baseline], c.recipe_of[c.many.baseline], *c.lever_names()]))

    def colour(arm: str) -> int:
        return order.index(c.recipe_of.get(arm, arm)) if c.recipe_of.get(arm, arm) in order else len(order)

    def label(arm: str) -> str:
        return labels.get(c.recipe_of.get(arm, arm), arm)

    # Legends name recipes (the first arm's label), so a lever reads and colours the same in both columns.
    for col, r in enumerate((c.one, c.many)):
        fig.by_width(axes[0, col], [fig.Line(label(e.arm), np.array(e.widths, float), np.array(e.delta),
                                             colour(e.arm)) for e in r.levers],
                     "final eval loss − baseline (nats)", f"{r.name} ({span(r.epochs)} epochs), vs {r.baseline}")
        fig.by_width(axes[1, col], [fig.Line(label(arm), np.array(w, float), np.array(g), colour(arm))
                                    for arm, (w, g) in r.gaps.items()], "eval − train loss (nats)")


# --- the data-constrained law where runs repeat data -----------------------------------------------

@dataclass(frozen=True, eq=False)
class RecipeFit:
    """Muennighoff et al.'s law fitted to one recipe's checkpoints, or why it could not be."""

    recipe: str
    arms: tuple[str, ...]
    n_runs: int
    fit: ConstrainedFit | None
    reason: str = ""


def checkpoints(table: pd.DataFrame, metrics: pd.DataFrame, arms) -> pd.DataFrame:
    """Every eval of the arms' complete runs after step 0: (run, N, D so far, unique tokens, eval loss)."""
    runs = _finished(table)
    runs = runs[runs["arm"].isin(arms) & runs["unique_tokens"].notna()]
    if not {"run_id", "step", "tokens", "eval_loss"} <= set(metrics):  # a table without curves
        return pd.DataFrame(columns=["run_id", "tokens", "eval_loss", "params", "unique_tokens"], dtype=float)
    m = metrics[metrics["run_id"].isin(runs["run_id"]) & metrics["eval_loss"].notna() & (metrics["step"] > 0)]
    out = m[["run_id", "tokens", "eval_loss"]].merge(runs[["run_id", "params", "unique_tokens"]], on="run_id")
    return out.astype({"tokens": float, "eval_loss": float, "params": float, "unique_tokens": float})


def constrained_fits(study: Study, table: pd.DataFrame, metrics: pd.DataFrame, bootstrap: int,
                     seed: int) -> list[RecipeFit]:
    """The law per recipe (its arms in every regime) whose runs repeat data, on their checkpoints."""
    done = _finished(table)
    recipe_of = recipes(study)
    out = []
    for recipe in dict.fromkeys(recipe_of.values()):
        arms = tuple(a for a, r in recipe_of.items() if r == recipe)
        rows = done[done["arm"].isin(arms)]
        if not repeated(rows).any():
            continue
        points = checkpoints(table, metrics, arms)
        sizes = points["params"].nunique()
        if sizes < MIN_SIZES:
            out.append(RecipeFit(recipe, arms, len(rows), None, f"its evaluated runs have {sizes} model "
                                 f"size{'' if sizes == 1 else 's'}; the law needs {MIN_SIZES} or more"))
            continue
        try:
            fit = fit_data_constrained(points["params"], points["tokens"], points["unique_tokens"], points["eval_loss"],
                                       points["run_id"], group=recipe, bootstrap=min(bootstrap, CONSTRAINED_RESAMPLES),
                                       seed=group_seed(seed, recipe))
        except ConfigError as e:
            out.append(RecipeFit(recipe, arms, len(rows), None, str(e)))
            continue
        out.append(RecipeFit(recipe, arms, len(rows), fit))
    return out


def repeated_sentences(table: pd.DataFrame, fits: list[RecipeFit], labels: dict[str, str]) -> list[str]:
    """Which runs repeat data, and what the data-constrained law says a repetition is worth."""
    done = _finished(table)
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
              f" (no interval: {f.n_runs} runs, and resampling them needs more than the law's {LAW.n_params} "
              f"parameters)" if f.draws is None else "")
        rms = float(np.sqrt(np.mean(f.residuals**2)))
        rn = (f"R_N* = {p['R_N_star']:.3g}" if f.identified["R_N_star"]
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


@dataclass(frozen=True, eq=False)
class Repeats:
    """What a report says about repeated data (None of it when no run repeats data)."""

    contrast: Contrast | None
    fits: list[RecipeFit]

    def to_dict(self) -> dict:
        c = self.contrast
        regimes = None if c is None else {
            r.name: {"arms": list(r.arms), "baseline": r.baseline, "epochs": list(r.epochs),
                     "gap_median": r.gap_median,
                     "gaps": {arm: {"widths": list(w), "gaps": list(g)} for arm, (w, g) in r.gaps.items()},
                     "levers": [{"arm": e.arm, "recipe": e.recipe, "widths": list(e.widths), "delta": list(e.delta),
                                 "se": list(e.se), "mean": e.mean, "verdict": e.verdict} for e in r.levers]}
            for r in (c.one, c.many)}
        return {"regimes": regimes,
                "data_constrained": [{"recipe": rf.recipe, "arms": list(rf.arms), "runs": rf.n_runs,
                                      "fit": None if rf.fit is None else rf.fit.to_dict(), "reason": rf.reason}
                                     for rf in self.fits]}


def analyse_repeats(study: Study, table: pd.DataFrame, metrics: pd.DataFrame, bootstrap: int,
                    seed: int) -> Repeats | None:
    if "epochs" not in table or not repeated(_finished(table)).any():
        return None
    return Repeats(contrast(study, table), constrained_fits(study, table, metrics, bootstrap, seed))


# --- where it shows in the report ------------------------------------------------------------------

CONTRAST_TITLE = "Two regimes"
REPEATED_TITLE = "Repeated data"
