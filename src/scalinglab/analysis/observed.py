"""The measured evidence, before any fit: the two arms' losses paired where they ran the same thing.

Rows pair when both arms trained the same model size N on the same tokens D (several seeds of one
point are averaged); failing that, at the same compute budget (arms whose models differ in size,
e.g. per-budget optimal points); failing that, at the same width (architectures whose parameter
counts differ: then the pair is not equal compute, and the report says so). Never an average across
budgets: that mixes well and badly allocated runs.

Each difference gets a standard error, and a sign flip counts only between differences that exceed
twice theirs. The noise of one run's loss comes, in order of preference, from seeds (rows of one
arm at the same point: pooled standard deviation), from the table's own standard errors of the
loss, or from the fit: the spread of the measured log differences around the fitted ones, where a
misfit the two arms share cancels. That spread is smaller than a run's noise by what the fit spent
on those very points (a residual's variance is (1 − its leverage) × the noise's), so each pair's
share of the fit's parameters is given back, as in s² = RSS / (n − p): σ² = Σ gap² / Σ (2 − h),
h the leverage of the fitted difference (models.JointFit.difference_leverage). Without that, a
ladder of five runs per arm read the noise at a third of the truth (benchmarks/noise.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.design import budget_groups
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.table import size_key

SIGNIFICANT = 2.0
"""A difference counts as a lead when it exceeds this many standard errors."""
KEYS = ("N and D", "compute", "width")


@dataclass(frozen=True)
class Observed:
    """Paired losses (diff = loss_b − loss_a), ordered by the pairing key."""

    key: str
    """What pairs rows: 'N and D', 'compute' or 'width' (or 'none' when no rows pair)."""
    sizes: tuple[float, ...]
    """The size of each pair: N for 'N and D', else the key's own value."""
    tokens: tuple[float, ...]
    compute: tuple[float, ...]
    """Mean of the two arms' compute at each pair."""
    compute_ratio: tuple[float, ...]
    """Compute of b ÷ compute of a (≠ 1 when the arms' models or budgets differ at a width)."""
    loss_a: tuple[float, ...]
    loss_b: tuple[float, ...]
    diff: tuple[float, ...]
    se: tuple[float, ...]
    """Standard error of each difference."""
    noise: float
    """Standard deviation of one run's loss (nats), as used for the standard errors."""
    noise_source: str
    """'seeds (k replicated points)', 'standard errors in the table', 'the fit (…)' or 'none'."""
    sign_changes: tuple[tuple[float, float], ...]
    """Between which consecutive leads (beyond noise) the leader changes: (size, size), or, when
    sizes hold several budgets, the two token counts at one N."""
    sign_change_sizes: tuple[float, ...] = ()
    """When sizes hold several budgets: the N at which each change happens along D."""
    noise_dof: float = float("inf")
    """Degrees of freedom behind `noise` (inf: a standard error from many eval tokens)."""

    @property
    def significant(self) -> np.ndarray:
        return np.abs(np.array(self.diff)) > SIGNIFICANT * np.array(self.se)

    @property
    def leads(self) -> tuple[int, int, int]:
        """(b ahead, a ahead, within noise) counts over the pairs."""
        d, sig = np.array(self.diff), self.significant
        return int(np.sum(sig & (d < 0))), int(np.sum(sig & (d > 0))), int(np.sum(~sig))

    def to_dict(self) -> dict:
        b, a, tie = self.leads
        return jsonable(self.__dict__ | {"significant": self.significant, "b_ahead": b, "a_ahead": a,
                                         "within_noise": tie})


def _empty(noise: float, source: str, dof: float) -> Observed:
    return Observed("none", (), (), (), (), (), (), (), (), noise, source, (), (), dof)



def seed_noise(frame: pd.DataFrame) -> tuple[float, int, int]:
    """Pooled standard deviation of the loss over points one arm ran more than once, how many such
    points, and the degrees of freedom of the estimate."""
    if not {"params", "tokens"} <= set(frame):
        return float("nan"), 0, 0
    # A run two arms share (their settings meet at one width) appears under both: count it once.
    frame = frame.drop_duplicates([c for c in ("params", "tokens", "seed", "loss") if c in frame])
    keyed = frame.assign(_n=size_key(frame["params"]), _d=size_key(frame["tokens"]))
    groups = keyed.groupby(["group", "_n", "_d"])["loss"]
    var, count = groups.var(ddof=1), groups.size()
    rep = count > 1
    if not rep.any():
        return float("nan"), 0, 0
    dof = int((count[rep] - 1).sum())
    return float(np.sqrt(((count[rep] - 1) * var[rep]).sum() / dof)), int(rep.sum()), dof


def _key_columns(key: str, both: pd.DataFrame) -> pd.DataFrame:
    if key == "N and D":
        return both.assign(_k1=size_key(both["params"]), _k2=size_key(both["tokens"]))
    if key == "compute":
        return both.assign(_k1=budget_groups(both["compute"]).astype(float), _k2=0.0)
    return both.assign(_k1=size_key(both["width"]), _k2=0.0)


def _pairs(frame_a: pd.DataFrame, frame_b: pd.DataFrame, key: str) -> pd.DataFrame:
    both = _key_columns(key, pd.concat([frame_a.assign(_arm="a"), frame_b.assign(_arm="b")]))
    agg = {"loss": "mean", "compute": "mean", "size": "mean", "tokens": "mean", "count": "size"}
    size = "params" if key == "N and D" else key
    both = both.assign(size=both[size], count=1.0, tokens=both["tokens"] if "tokens" in both else np.nan)
    if "loss_se" in both:
        agg["loss_se"] = lambda s: float(np.sqrt(np.mean(s**2)))
    if "run" in both:
        agg["run"] = "first"
    per = both.groupby(["_arm", "_k1", "_k2"]).agg(**{c: (c if c != "count" else "loss", f) for c, f in agg.items()})
    return per.xs("a").merge(per.xs("b"), left_index=True, right_index=True, suffixes=("_a", "_b")).sort_index()


FittedDifference = Callable[[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(N, D, C_a, C_b) arrays (N None: pairs are not at one model size) → the fit's log L̂_b − log L̂_a
at each pair, and that difference's leverage (0 where it is not known)."""


def observe(frame_a: pd.DataFrame, frame_b: pd.DataFrame, fitted: FittedDifference | None = None,
            frontier_a: pd.DataFrame | None = None, frontier_b: pd.DataFrame | None = None) -> Observed:
    """Pair the arms' rows (Runs.frame of each arm, every checkpoint) and judge each difference.

    frontier_*: the arms' frontier points (isoFLOP minima), paired by budget when rows do not pair.
    fitted: the chosen fit of the two arms, the last resort for standard errors.
    """
    options = []
    if {"params", "tokens"} <= set(frame_a) and {"params", "tokens"} <= set(frame_b):
        options.append(("N and D", frame_a, frame_b))
    if frontier_a is not None and len(frontier_a) and frontier_b is not None and len(frontier_b):
        options.append(("compute", frontier_a, frontier_b))
    else:
        options.append(("compute", frame_a, frame_b))
    if "width" in frame_a and "width" in frame_b and frame_a["width"].notna().all() and frame_b["width"].notna().all():
        options.append(("width", frame_a, frame_b))
    found = [(key, _pairs(fa, fb, key)) for key, fa, fb in options]
    enough = [(k, p) for k, p in found if len(p) >= 2]
    key, pairs = enough[0] if enough else max(found, key=lambda kp: len(kp[1]))
    if pairs.empty:
        key = "none"

    sigma, replicated, dof = seed_noise(pd.concat([frame_a, frame_b]))
    if pairs.empty:
        return _empty(sigma, f"seeds ({replicated} replicated points)" if replicated else "none", dof or float("inf"))
    if replicated:
        source = f"seeds ({replicated} replicated point{'s' if replicated > 1 else ''})"
        se = sigma * np.sqrt(1 / pairs["count_a"].to_numpy() + 1 / pairs["count_b"].to_numpy())
    elif "loss_se_a" in pairs and pairs["loss_se_a"].notna().all() and pairs["loss_se_b"].notna().all():
        source = "standard errors in the table"
        se = np.sqrt(pairs["loss_se_a"] ** 2 / pairs["count_a"] + pairs["loss_se_b"] ** 2 / pairs["count_b"]).to_numpy()
        sigma, dof = float(np.median(np.concatenate([pairs["loss_se_a"], pairs["loss_se_b"]]))), float("inf")
    elif fitted is not None and len(pairs) >= 3 and (fit := _fit_noise(pairs, key, fitted)) is not None:
        source = "the fit (spread of the measured differences around the fitted ones)"
        relative, dof = fit
        level = 0.5 * (pairs["loss_a"] + pairs["loss_b"]).to_numpy()
        se = np.sqrt(2.0) * relative * level
        sigma = relative * float(np.median(level))
    else:
        source, se, dof = "none", np.zeros(len(pairs)), float("inf")
    diff = (pairs["loss_b"] - pairs["loss_a"]).to_numpy()
    sizes = pairs["size_a"].to_numpy(float)
    tokens = pairs["tokens_a"].to_numpy(float)
    compute = ((pairs["compute_a"] + pairs["compute_b"]) / 2).to_numpy()
    ratio = (pairs["compute_b"] / pairs["compute_a"]).to_numpy()
    order = np.lexsort((tokens, sizes)) if key == "N and D" else np.argsort(compute, kind="stable")
    sizes, tokens, compute, ratio, diff, se = (v[order] for v in (sizes, tokens, compute, ratio, diff, se))
    loss_a, loss_b = pairs["loss_a"].to_numpy()[order], pairs["loss_b"].to_numpy()[order]
    changes, at = _sign_changes(key, sizes, tokens, diff, se)
    return Observed(key, tuple(sizes), tuple(tokens), tuple(compute), tuple(ratio), tuple(loss_a), tuple(loss_b),
                    tuple(diff), tuple(se), float(sigma), source, changes, at, float(dof))


def _fit_noise(pairs: pd.DataFrame, key: str, fitted: FittedDifference) -> tuple[float, float] | None:
    """Relative σ of one run's loss from the pairs' log gaps around the fit, and its degrees of
    freedom (None when the fit passed through the pairs: no freedom left to measure the noise).

    With checkpoints, each run's latest pair, where three or more runs pair: a forecast is of final
    losses, and a checkpoint mid-schedule also carries how the law misfits a run's trajectory. Rows
    of one run otherwise count as one run's worth of freedom between them, as in the model
    criterion (joint.aic).
    """
    if "run_a" in pairs and pairs["run_a"].duplicated().any():
        latest = pairs.reset_index(drop=True)
        latest = latest.loc[latest.groupby("run_a")["compute_a"].idxmax()]  # compute grows along a run
        if len(latest) >= 3:  # what a forecast of final losses needs: their noise, not a checkpoint's misfit
            pairs = latest
    n = pairs["size_a"].to_numpy(float) if key == "N and D" else None
    log_fitted, leverage = fitted(n, pairs["tokens_a"].to_numpy(float), pairs["compute_a"].to_numpy(float),
                                  pairs["compute_b"].to_numpy(float))
    gap = np.log(pairs["loss_b"] / pairs["loss_a"]).to_numpy() - log_fitted
    freedom = np.clip(2.0 - leverage, 0.0, 2.0)
    runs = pairs["run_a"].nunique() if "run_a" in pairs else len(pairs)
    dof = 0.5 * float(freedom.sum()) * runs / len(pairs)
    if dof < 1.0:
        return None
    return float(np.sqrt(np.sum(gap**2) / freedom.sum())), dof


def _sign_changes(key, sizes, tokens, diff, se):
    """Leader changes between consecutive significant differences: along D at each N when sizes hold
    several budgets, else along the sizes (a ladder)."""
    sig = np.abs(diff) > SIGNIFICANT * se
    along_d = key == "N and D" and len(np.unique(sizes)) < len(sizes)
    runs = [np.flatnonzero(sig & (sizes == n)) for n in np.unique(sizes)] if along_d else [np.flatnonzero(sig)]
    changes, at = [], []
    for idx in runs:
        for i, j in zip(idx[:-1], idx[1:]):
            if np.sign(diff[i]) != np.sign(diff[j]):
                if along_d:
                    changes.append((float(tokens[i]), float(tokens[j])))
                    at.append(float(sizes[i]))
                else:
                    changes.append((float(sizes[i]), float(sizes[j])))
    return tuple(changes), tuple(at)
