"""Repeated data in a study, found: which runs repeat it (more than one epoch over the unique train
tokens they can draw: data.epochs), the study's arms of each regime side by side (each recipe against
the regime's baseline, and the generalization gap), and Muennighoff et al. 2023's data-constrained
law (analysis.fitting.constrained) fitted to the recipes whose runs repeat data.

Xiao 2024 (arXiv 2409.15156) contrasts the "generalization" regime, many epochs over a fixed data
set, where explicit L2, small batches and large learning rates help, with the one-epoch "scaling"
regime, where they stop helping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.fitting.bootstrap import group_seed
from scalinglab.analysis.fitting.constrained import fit_data_constrained
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.config import ConfigError, Study
from scalinglab.data.epochs import repeats_data
from scalinglab.report.levers import LeverEffect, effect, per_width

ONE, MANY = "at most one epoch", "many epochs"
CONSTRAINED_RESAMPLES = 200
"""Bootstrap draws of a data-constrained fit in a report: 7 parameters refitted per draw, so fewer
than an L(C) fit's 1,000 keep a report within seconds; the interval's ends move by a few percent."""
MIN_SIZES = 2
"""Model sizes a data-constrained fit needs: one size's checkpoints vary only D, and N' is unknown."""


def repeated(rows: pd.DataFrame) -> np.ndarray:
    """One bool per row: the run repeated data (unknown epochs, from results older than the count: no)."""
    return np.array([repeats_data(None if pd.isna(e) else float(e)) for e in rows["epochs"]], dtype=bool)


def finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "complete") & table["loss"].notna()]


def arm_regime(table: pd.DataFrame, arm: str) -> str | None:
    """ONE or MANY when every finished run of the arm is in that regime, 'mixed', or None (no epochs known)."""
    rows = finished(table)
    rows = rows[(rows["arm"] == arm) & rows["epochs"].notna()]
    if rows.empty:
        return None
    rep = repeated(rows)
    return MANY if rep.all() else ONE if not rep.any() else "mixed"


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
    done = finished(table)
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


@dataclass(frozen=True, eq=False)


class RecipeFit:
    """Muennighoff et al.'s law fitted to one recipe's checkpoints, or why it could not be."""

    recipe: str
    arms: tuple[str, ...]
    n_runs: int
    fit: LawFit | None
    reason: str = ""
    n_repeated: int = 0
    """Evaluations that repeat data (D > U): what R_D* is measured on."""


def checkpoints(table: pd.DataFrame, metrics: pd.DataFrame, arms) -> pd.DataFrame:
    """Every eval of the arms' complete runs after step 0: (run, N, D so far, unique tokens, eval loss)."""
    runs = finished(table)
    runs = runs[runs["arm"].isin(arms) & runs["unique_tokens"].notna()]
    if not {"run_id", "step", "tokens", "eval_loss"} <= set(metrics):  # a table without curves
        return pd.DataFrame(columns=["run_id", "tokens", "eval_loss", "params", "unique_tokens"], dtype=float)
    m = metrics[metrics["run_id"].isin(runs["run_id"]) & metrics["eval_loss"].notna() & (metrics["step"] > 0)]
    out = m[["run_id", "tokens", "eval_loss"]].merge(runs[["run_id", "params", "unique_tokens"]], on="run_id")
    return out.astype({"tokens": float, "eval_loss": float, "params": float, "unique_tokens": float})


def constrained_fits(study: Study, table: pd.DataFrame, metrics: pd.DataFrame, bootstrap: int,
                     seed: int) -> list[RecipeFit]:
    """The law per recipe (its arms in every regime) whose runs repeat data, on their checkpoints."""
    done = finished(table)
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
        repeats = int((points["tokens"] > points["unique_tokens"]).sum())
        out.append(RecipeFit(recipe, arms, len(rows), fit, n_repeated=repeats))
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
                                      "repeated": rf.n_repeated,
                                      "fit": None if rf.fit is None else rf.fit.to_dict(), "reason": rf.reason}
                                     for rf in self.fits]}


def analyse_repeats(study: Study, table: pd.DataFrame, metrics: pd.DataFrame, bootstrap: int,
                    seed: int) -> Repeats | None:
    if "epochs" not in table or not repeated(finished(table)).any():
        return None
    return Repeats(contrast(study, table), constrained_fits(study, table, metrics, bootstrap, seed))
