"""The measured evidence, before any fit: the two arms' losses paired where they ran the same thing.

Rows pair when both arms trained the same model size N on the same tokens D (several seeds of one
point are averaged); failing that, at the same compute budget (arms whose models differ in size,
e.g. per-budget optimal points); failing that, at the same width (architectures whose parameter
counts differ: then the pair is not equal compute, and the report says so). Never an average across
budgets: that mixes well and badly allocated runs.

Each difference gets a standard error from the run-to-run noise (analysis.noise: seeds, the
table's own standard errors, or the local smoothness of these very differences; never the law's
misfit), and a sign flip counts only between differences that exceed twice theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.analysis.reading.design import BUDGET_TOLERANCE, budget_groups
from scalinglab.analysis.reading.noise import UNMEASURED, Noise, seed_noise, smoothness_noise, table_noise
from scalinglab.analysis.reading.table import last_rows, size_key
from scalinglab.analysis.serialize import jsonable

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
    """Standard deviation of one run's loss (nats, at the pairs' median loss), as used for the standard errors."""
    noise_source: str
    """What measured it, in words: 'seeds (k replicated points)', 'standard errors in the table', 'local
    smoothness (n paired differences)' or 'none'."""
    sign_changes: tuple[tuple[float, float], ...]
    """Between which consecutive leads (beyond noise) the leader changes: (size, size), or, when
    sizes hold several budgets, the two token counts at one N."""
    sign_change_sizes: tuple[float, ...] = ()
    """When sizes hold several budgets: the N at which each change happens along D."""
    noise_dof: float = float("inf")
    """Degrees of freedom behind `noise` (inf: a standard error from many eval tokens)."""
    run_noise: Noise = UNMEASURED
    """The same, relative (the σ of log loss), as the comparison's posterior and forecast take it."""

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


def describe(noise: Noise) -> str:
    """The noise's source in words, for Observed.noise_source."""
    return {"seeds": f"seeds ({noise.detail})", "standard errors": "standard errors in the table",
            "smoothness": f"local smoothness ({noise.detail})"}.get(noise.source, "none")


def _key_columns(key: str, both: pd.DataFrame) -> pd.DataFrame:
    if key == "N and D":
        return _snap_tokens(both.assign(_k1=size_key(both["params"]), _k2=size_key(both["tokens"])))
    if key == "compute":
        return both.assign(_k1=budget_groups(both["compute"]).astype(float), _k2=0.0)
    return both.assign(_k1=size_key(both["width"]), _k2=0.0)


def _snap_tokens(both: pd.DataFrame) -> pd.DataFrame:
    """Arm b's token keys moved onto arm a's at the same N where they differ by less than
    BUDGET_TOLERANCE and neither has an exact partner: runs that stopped at checkpoints a hair apart
    (a published ablation's last checkpoints differ by 0.04%) ran one budget. Each key is matched at
    most once, nearest first, so two checkpoints of one run never become one point."""
    keys = both[["_arm", "_k1", "_k2"]].drop_duplicates()
    a, b = keys[keys["_arm"] == "a"], keys[keys["_arm"] == "b"]
    exact = a.merge(b, on=["_k1", "_k2"])[["_k1", "_k2"]].assign(_exact=True)

    def lone(k: pd.DataFrame) -> pd.DataFrame:
        k = k.merge(exact, on=["_k1", "_k2"], how="left")
        return k[k["_exact"].isna()][["_k1", "_k2"]]

    near = lone(b).merge(lone(a), on="_k1", suffixes=("_b", "_a"))
    if near.empty:
        return both
    near["_gap"] = np.abs(np.log(near["_k2_b"] / near["_k2_a"]))
    near = near[near["_gap"] <= np.log1p(BUDGET_TOLERANCE)].sort_values("_gap", kind="stable")
    near = near.drop_duplicates(["_k1", "_k2_b"]).drop_duplicates(["_k1", "_k2_a"])
    snap = dict(zip(zip(near["_k1"], near["_k2_b"]), near["_k2_a"]))
    is_b = both["_arm"] == "b"
    moved = [snap.get(k, k[1]) for k in zip(both.loc[is_b, "_k1"], both.loc[is_b, "_k2"])]
    return both.assign(_k2=both["_k2"].where(~is_b, pd.Series(moved, index=both.index[is_b], dtype=float)))


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


def observe(frame_a: pd.DataFrame, frame_b: pd.DataFrame, frontier_a: pd.DataFrame | None = None,
            frontier_b: pd.DataFrame | None = None) -> Observed:
    """Pair the arms' rows (Runs.frame of each arm, every checkpoint) and judge each difference.

    frontier_*: the arms' frontier points (isoFLOP minima), paired by budget when rows do not pair.
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
    found = [(key, fa, fb, _pairs(fa, fb, key)) for key, fa, fb in options]
    enough = [f for f in found if len(f[3]) >= 2]
    key, fa, fb, pairs = enough[0] if enough else max(found, key=lambda f: len(f[3]))
    ends = _pairs(last_rows(fa), last_rows(fb), key)
    noise = measure_noise(pd.concat([frame_a, frame_b]), pairs, ends, key)
    if pairs.empty:
        return Observed(key="none", sizes=(), tokens=(), compute=(), compute_ratio=(), loss_a=(), loss_b=(), diff=(),
                        se=(), noise=_nats(noise, frame_a, frame_b), noise_source=describe(noise), sign_changes=(),
                        noise_dof=noise.dof if noise.measured else float("inf"), run_noise=noise)
    if noise.source == "standard errors":
        se = np.sqrt(pairs["loss_se_a"] ** 2 / pairs["count_a"] + pairs["loss_se_b"] ** 2 / pairs["count_b"]).to_numpy()
    elif noise.measured:
        level = 0.5 * (pairs["loss_a"] + pairs["loss_b"]).to_numpy()
        se = noise.sigma * level * np.sqrt(1 / pairs["count_a"].to_numpy() + 1 / pairs["count_b"].to_numpy())
    else:
        se = np.zeros(len(pairs))
    diff = (pairs["loss_b"] - pairs["loss_a"]).to_numpy()
    sizes = pairs["size_a"].to_numpy(float)
    tokens = pairs["tokens_a"].to_numpy(float)
    compute = ((pairs["compute_a"] + pairs["compute_b"]) / 2).to_numpy()
    ratio = (pairs["compute_b"] / pairs["compute_a"]).to_numpy()
    order = np.lexsort((tokens, sizes)) if key == "N and D" else np.argsort(compute, kind="stable")
    sizes, tokens, compute, ratio, diff, se = (v[order] for v in (sizes, tokens, compute, ratio, diff, se))
    loss_a, loss_b = pairs["loss_a"].to_numpy()[order], pairs["loss_b"].to_numpy()[order]
    changes, at = _sign_changes(key, sizes, tokens, diff, se)
    return Observed(key=key, sizes=tuple(sizes), tokens=tuple(tokens), compute=tuple(compute), compute_ratio=tuple(ratio),
                    loss_a=tuple(loss_a), loss_b=tuple(loss_b), diff=tuple(diff), se=tuple(se),
                    noise=_nats(noise, frame_a, frame_b), noise_source=describe(noise), sign_changes=changes,
                    sign_change_sizes=at, noise_dof=noise.dof if noise.measured else float("inf"), run_noise=noise)


def _nats(noise: Noise, frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> float:
    """The relative σ in nats, at the median loss of both arms' rows."""
    if not noise.measured:
        return float("nan")
    return noise.sigma * float(np.median(np.concatenate([frame_a["loss"], frame_b["loss"]])))


def measure_noise(both: pd.DataFrame, pairs: pd.DataFrame, final_pairs: pd.DataFrame, key: str) -> Noise:
    """The run-to-run noise of one run (relative), by the first source the table offers (analysis.noise):
    seeds, its own standard errors, the local smoothness of the paired differences of runs' last rows."""
    seeds = seed_noise(both)
    if seeds.measured:
        return seeds
    if "loss_se_a" in pairs and len(pairs) and pairs["loss_se_a"].notna().all() and pairs["loss_se_b"].notna().all():
        return table_noise(np.r_[pairs["loss_a"], pairs["loss_b"]], np.r_[pairs["loss_se_a"], pairs["loss_se_b"]])
    return smoothness_noise(_smooth_lines(final_pairs, key))


def _smooth_lines(pairs: pd.DataFrame, key: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Lines of pairs along which their differences should vary smoothly: at one tokens-per-parameter
    ratio, one N, one D or one budget (whichever gives the most neighbouring triples) along the other
    coordinate; pairs by compute or width form one line along compute."""
    if pairs.empty:
        return []
    d = np.log((pairs["loss_b"] / pairs["loss_a"]).to_numpy(float))
    f = (1 / pairs["count_a"] + 1 / pairs["count_b"]).to_numpy(float)
    log_c = np.log(((pairs["compute_a"] + pairs["compute_b"]) / 2).to_numpy(float))
    if key != "N and D":
        return [(log_c, d, f)]
    log_n, log_d = np.log(pairs["size_a"].to_numpy(float)), np.log(pairs["tokens_a"].to_numpy(float))
    best: list = []
    for fixed, along in ((log_d - log_n, log_n), (log_n, log_d), (log_d, log_n), (log_c, log_n)):
        labels = np.round(fixed / np.log(1 + 0.02)).astype(int)  # within 2%: one line
        lines = [(along[labels == v], d[labels == v], f[labels == v]) for v in np.unique(labels)]
        lines = [ln for ln in lines if len(ln[0]) >= 3]
        if sum(len(ln[0]) - 2 for ln in lines) > sum(len(ln[0]) - 2 for ln in best):
            best = lines
    return best


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
