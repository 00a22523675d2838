"""What the analysis says about a study: a fit per arm, comparisons against the first arm, LR and
batch optima, and the effect of other swept settings (L2, weight decay). Every step that lacks data
records why instead of raising, so a report is always made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.analysis import COMPUTE, Comparison, HyperReport, LawFit, compare_arms, fit_hyper_law, fit_points
from scalinglab.analysis.deciding.verdict import DEFAULT_TARGET_FACTOR, default_target
from scalinglab.analysis.fitting.bootstrap import group_seed
from scalinglab.analysis.fitting.fit import default_resampling
from scalinglab.analysis.fitting.models import DEFAULT_DRAWS
from scalinglab.analysis.reading.table import size_key
from scalinglab.config import ConfigError
from scalinglab.plan import largest_planned
from scalinglab.report.collect import StudyData, envelope
from scalinglab.report.levers import LeverEffect, arm_levers, setting_levers
from scalinglab.report.regimes.findings import Repeats, analyse_repeats


@dataclass(frozen=True, eq=False)
class ArmFit:
    """L(C) of one arm, or why there is none. status: ok | boundary | not_converged | insufficient data."""

    arm: str
    status: str
    fit: LawFit | None
    n_points: int
    reason: str = ""


@dataclass(frozen=True, eq=False)
class Pair:
    """Arm b against the baseline a: the analysis' Comparison, or why there is none."""

    a: str
    b: str
    comparison: Comparison | None
    reason: str = ""


@dataclass(frozen=True, eq=False)
class Hyper:
    """A swept hyperparameter (lr, batch_size): optimum and largest stable value per width or budget."""

    hparam: str
    by: str
    """width, or compute when one width holds several budgets (e.g. an LR sweep per budget)."""
    report: HyperReport | None
    reason: str = ""


SETTINGS = ("l2", "weight_decay")
"""Swept settings reported as loss against their value (LR and batch size have their own analysis)."""


@dataclass(frozen=True)
class SettingEffect:
    """One arm at one width across a swept setting: its best and worst value (best over any LR sweep)."""

    arm: str
    width: int
    values: tuple[float, ...]
    loss: tuple[float, ...]
    """Final eval loss per value (NaN where every run at that value diverged or failed)."""
    best: float
    best_loss: float
    worst: float
    worst_loss: float


@dataclass(frozen=True, eq=False)
class Findings:
    fits: dict[str, ArmFit]
    pairs: list[Pair]
    baseline: str | None
    """The arm every other arm is compared with: the study's first arm that could be fitted."""
    target_compute: float | None
    target_source: str
    """'given' (--target-compute) or e.g. '10× the largest run the study plans'."""
    fit_rows: pd.DataFrame
    """The points the fits saw: per arm and compute point, the best complete run over tuned axes."""
    hyper: dict[str, Hyper]
    """Per swept hyperparameter (lr, batch_size) present in the study."""
    settings: dict[str, list[SettingEffect]]
    """Per swept setting of SETTINGS present in the study."""
    repeats: Repeats | None = None
    """When runs repeat data: the two regimes side by side and the data-constrained law (report.regimes)."""
    levers: list[LeverEffect] = field(default_factory=list)
    """When a setting of SETTINGS is swept: each of its values against its first, per arm, then each
    arm against the first at those first values (report.levers)."""

    @property
    def headline(self) -> Pair | None:
        """The comparison the verdict speaks about: the first one that worked."""
        return next((p for p in self.pairs if p.comparison is not None), None)

    def forecasts(self) -> dict[str, tuple[float, float, float]]:
        """Per fitted arm, its loss at the target compute and the 95% interval (NaN when the fit has
        no spread); empty without a target. The headline comparison's arms are given as its forecast
        gives them (the draws' means, the law's misfit in the interval), so the page states one loss
        for each; any other arm as its own fit's draws."""
        if self.target_compute is None:
            return {}
        out = {}
        for arm, fit in self.fits.items():
            if fit.fit is None:
                continue
            if fit.fit.has_spread:
                samples = fit.fit.frontier_samples(self.target_compute)[:, 0]
                samples = samples[np.isfinite(samples)]
                lo, hi = np.quantile(samples, [0.025, 0.975]) if len(samples) else (math.nan, math.nan)
                out[arm] = (float(np.mean(samples)) if len(samples) else math.nan, float(lo), float(hi))
            else:
                out[arm] = (float(fit.fit.frontier(self.target_compute)[0]), math.nan, math.nan)
        head = self.headline
        if head is not None and head.comparison.forecast.compute == self.target_compute:
            f = head.comparison.forecast
            out[head.a] = (f.loss_a, *f.interval_a)
            out[head.b] = (f.loss_b, *f.interval_b)
        return out


def analyse(data: StudyData, target_compute: float | None, bootstrap: int, seed: int) -> Findings:
    rows = envelope(data.finished())
    by_arm = {arm: rows[rows["arm"] == arm] for arm in data.study.arms}
    status = data.table.groupby("arm")["status"].value_counts()
    short = {arm: _too_few(r, status.get(arm)) for arm, r in by_arm.items()}
    fittable = [arm for arm in data.study.arms if not short[arm]]
    baseline = fittable[0] if fittable else None
    if target_compute is not None:
        target, source = float(target_compute), "given"
    elif fittable:
        target = default_target(largest_planned(data.study, fittable))
        source = f"{DEFAULT_TARGET_FACTOR:g}× the largest run the study plans"
    else:
        target, source = None, "no fit"

    # Each compared arm's curve is the one its comparison drew (the baseline's from its first pair);
    # an arm in no comparison is fitted alone.
    fits: dict[str, ArmFit] = {}
    pairs = []
    for arm in data.study.arms:
        if baseline is None or arm == baseline:
            continue
        if short[arm]:
            pairs.append(Pair(baseline, arm, None, short[arm]))
            continue
        try:
            # A comparison samples its posterior (analysis.posterior), whose cost does not grow with the
            # draws kept: bootstrap 0 (point fits only) stays 0, any other count takes the default draws.
            c = compare_arms(rows, baseline, arm, target_compute=target, draws=DEFAULT_DRAWS if bootstrap else 0,
                             seed=seed)
        except ConfigError as e:
            pairs.append(Pair(baseline, arm, None, str(e)))
            continue
        pairs.append(Pair(baseline, arm, c))
        fits.setdefault(baseline, ArmFit(baseline, c.fit_a.status, c.fit_a, c.fit_a.n_points))
        fits[arm] = ArmFit(arm, c.fit_b.status, c.fit_b, c.fit_b.n_points)
    for arm in data.study.arms:
        if arm not in fits:
            fits[arm] = (ArmFit(arm, "insufficient data", None, len(by_arm[arm]), short[arm]) if short[arm]
                         else _fit_arm(by_arm[arm], arm, bootstrap, seed))
    fits = {arm: fits[arm] for arm in data.study.arms}
    hyper = {h: analyse_hyper(data, h) for h in ("lr", "batch_size") if h in data.swept}
    settings = {s: setting_effects(data, s) for s in SETTINGS if s in data.swept}
    return Findings(fits, pairs, baseline, target, source, rows, hyper, settings,
                    analyse_repeats(data.study, data.table, data.metrics, bootstrap, seed), regularization_levers(data))


def regularization_levers(data: StudyData) -> list[LeverEffect]:
    """Each value of a swept setting against its first, per arm; then each arm against the first, both
    at those first values ([] when no setting of SETTINGS is swept)."""
    swept = [s for s in SETTINGS if s in data.swept]
    done = data.finished()
    if not swept or done.empty:
        return []
    arms = data.study.arms
    out = [e for s in swept for e in setting_levers(done, s, arms, data.swept)]
    if len(arms) > 1:
        out += arm_levers(done, arms, {s: float(done[s].min()) for s in swept}, data.swept)
    return out


def setting_effects(data: StudyData, setting: str) -> list[SettingEffect]:
    """Per arm and width, the final loss at each value of `setting` (the best run when LR is also swept)."""
    t = data.table
    values = sorted(t[setting].dropna().unique())
    done = data.finished()
    out = []
    for (arm, width), g in done.groupby(["arm", "width"], sort=False):
        best_per_value = g.groupby(setting)["loss"].min().reindex(values)
        ok = best_per_value.dropna()
        out.append(SettingEffect(arm, int(width), tuple(float(v) for v in values), tuple(best_per_value.astype(float)),
                                 float(ok.idxmin()), float(ok.min()), float(ok.idxmax()), float(ok.max())))
    order = {arm: i for i, arm in enumerate(data.study.arms)}
    return sorted(out, key=lambda e: (order.get(e.arm, len(order)), e.width))


def analyse_hyper(data: StudyData, hparam: str) -> Hyper:
    """fit_hyper_law by width when each arm's width has one budget, else by (nominal) compute.

    When LR and batch size are both swept, the LR is analysed per batch size (one curve each) and
    the batch size with the LR retuned per batch (each batch size at its best LR), as Xiao (2024)
    compares batch sizes. The compute handed over is the nominal one of the planned budget: a
    diverged run's recorded compute stops at divergence and a batch sweep rounds tokens to whole
    steps per batch size, and either would split one budget's sweep into several curves.
    """
    t = data.table.assign(compute=data.table["nominal_compute"])
    if "lr" in data.swept and "batch_size" in data.swept:
        t = _lr_per_batch(t) if hparam == "lr" else _best_lr_per_batch(t)
    one_budget = t.groupby(["arm", "width"])["compute"].nunique().max() <= 1
    by = "width" if one_budget else "compute"
    try:
        return Hyper(hparam, by, fit_hyper_law(t, hparam, by))
    except ConfigError as e:
        return Hyper(hparam, by, None, str(e))


def _lr_per_batch(t: pd.DataFrame) -> pd.DataFrame:
    """One LR curve per arm and batch size: the batch size joins the arm as the group."""
    return t.assign(arm=t["arm"] + ", batch " + t["batch_size"].astype(int).astype(str))


def _best_lr_per_batch(t: pd.DataFrame) -> pd.DataFrame:
    """Each (arm, width, budget, seed, batch size) at its best LR; diverged only if every LR diverged."""
    keys = ["arm", "width", "compute", "seed", "batch_size"]
    ranked = t.assign(_rank=t["loss"].where(t["status"] == "complete").fillna(float("inf")))
    best = ranked.sort_values("_rank", kind="stable").groupby(keys, sort=False, dropna=False).head(1)
    return best.drop(columns="_rank").sort_index()


def _too_few(rows: pd.DataFrame, status: pd.Series | None) -> str:
    """Why an arm cannot be fitted ('' when it can): L(C) has 3 parameters, so 3 distinct computes."""
    n = size_key(rows["compute"]).nunique() if len(rows) else 0
    if n >= COMPUTE.n_params:
        return ""
    status = {} if status is None else status.to_dict()
    others = ", ".join(f"{status[s]} {s}" for s in ("diverged", "failed", "pending", "running") if status.get(s))
    return (f"{n} complete run{'' if n == 1 else 's'} at distinct compute" + (f", {others}" if others else "")
            + f"; fitting {COMPUTE.formula} needs at least {COMPUTE.n_params}")


def _fit_arm(rows: pd.DataFrame, arm: str, bootstrap: int, seed: int) -> ArmFit:
    try:
        fit = fit_points(COMPUTE, rows[["compute"]].to_numpy(), rows["loss"].to_numpy(), rows["run_id"].to_numpy(),
                         group=arm, bootstrap=bootstrap, seed=group_seed(seed, arm),
                         resampling=default_resampling([rows["run_id"].nunique()]))
    except ConfigError as e:
        return ArmFit(arm, "insufficient data", None, len(rows), str(e))
    return ArmFit(arm, fit.status, fit, len(rows))
