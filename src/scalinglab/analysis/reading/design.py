"""What kind of experiment a table holds, and which compute-optimal frontier it can give.

Published scaling data come in a few designs, and each needs its own reading (Hoffmann et al.
2022 used three on the same runs):
- ladder: one token budget per model size, D on one line with N (e.g. 20 tokens per parameter,
  or one fixed D): the points themselves are the frontier, and L(N, D) cannot be separated
  into its N and D terms;
- frontier: one point per compute budget per arm, at sizes that differ between the arms (a
  published table of each recipe's compute-optimal points): the points are the frontier, read as
  L(C), and the arms pair by budget;
- grid: several token budgets per size, or (N, D) that vary apart (over-training grids;
  Chinchilla's points): L(N, D) can be fitted and minimised at C = 6ND (Approach 3);
- isoflop: several sizes at each of two or more shared compute budgets: per budget, the
  minimum of loss against log N is a frontier point (Approach 2);
- checkpoints: several rows per run, the loss at points along one training run (Gemstones);
  read as a grid whose rows of one run are not independent: every resample takes whole runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.config import ConfigError

DESIGNS = ("ladder", "frontier", "grid", "isoflop", "checkpoints")
FRONTIERS = ("params-tokens", "isoflop", "envelope", "points")
"""Approach 3 (L(N, D) minimised at C = 6ND), Approach 2 (per-budget minima), Approach 1 (the
lower envelope of loss against compute), and a ladder's own points."""

BUDGET_TOLERANCE = 0.01
"""Computes within 1% (0.0043 decades) of each other are one isoFLOP budget."""
MIN_SIZES_PER_BUDGET = 3
"""A parabola in log N through fewer sizes has no minimum to speak of."""
ISOFLOP_SHARE = 0.5
"""An isoFLOP grid puts at least half its runs in shared budgets; a few chance coincidences of
compute in a scattered table (Chinchilla's digitised points) do not make one."""
MIN_SIZES_FOR_ND = 3
"""L(N, D)'s N term (A, α) needs three sizes; with fewer, every budget of one size is only a point
of loss against compute."""
IDENTIFIED = 0.15
"""L(N, D)'s N and D terms are told apart only as far as log D varies apart from log N: the ratio
of the smaller to the larger singular value of an arm's centred (log N, log D) rows measures it (the
conditioning of the two terms' directions in a fit). Grids read 0.4–0.8 (Chinchilla's points 0.78,
Gadre et al.'s over-training grid 0.40–0.42, Gemstones' checkpoints 0.55); a frontier table whose
optimal N jitters by 15% around its power law reads 0.06, a ladder 0. Below this, the fit's two
terms trade against each other and L(N, D) is not fitted."""


@dataclass(frozen=True)
class Design:
    kind: str
    n_rows: int
    n_runs: int
    n_sizes: int
    """Distinct model sizes N (or computes, in a table without N)."""
    rows_per_run: int
    """Most rows any run has (1: one row per run)."""
    budgets_per_size: int
    """Most distinct token budgets any size was trained to (over every run's last row)."""
    isoflop_budgets: int
    """Compute budgets holding MIN_SIZES_PER_BUDGET or more sizes."""

    def describe(self) -> str:
        what = {
            "ladder": "ladder (one token budget per size)",
            "frontier": "frontier points (one point per compute budget per arm, sizes differing between arms)",
            "grid": ("several token budgets per size" if self.budgets_per_size > 1
                     else "(N, D) that vary apart"),
            "isoflop": f"isoFLOP grid ({self.isoflop_budgets} budgets with {MIN_SIZES_PER_BUDGET}+ sizes)",
            "checkpoints": f"checkpoints of runs (up to {self.rows_per_run} rows per run)",
        }[self.kind]
        return f"{what}: {self.n_rows} rows, {self.n_runs} runs, {self.n_sizes} sizes"

    @property
    def independent_n_and_d(self) -> bool:
        """N and D vary apart, over enough sizes to fit L(N, D)'s N term (MIN_SIZES_FOR_ND)."""
        return self.kind not in ("ladder", "frontier") and self.n_sizes >= MIN_SIZES_FOR_ND


def budget_groups(compute: pd.Series | np.ndarray) -> np.ndarray:
    """An integer label per row, in compute order: a budget starts at its smallest compute and takes
    every compute up to BUDGET_TOLERANCE above it (so a chain of near values cannot span a decade)."""
    log_c = np.log(np.asarray(compute, dtype=float))
    order = np.argsort(log_c, kind="stable")
    labels = np.empty(len(log_c), dtype=int)
    label, start = -1, -np.inf
    for i in order:
        if log_c[i] > start + np.log1p(BUDGET_TOLERANCE):
            label, start = label + 1, log_c[i]
        labels[i] = label
    return labels


def detect_design(frame: pd.DataFrame, source: str = "table") -> Design:
    """The design of a checked table (analysis.table.Runs.frame, every checkpoint kept)."""
    keys = ["group", "run"] + [c for c in ("step", "tokens", "seed") if c in frame]
    repeated = frame.duplicated(keys, keep=False)
    if repeated.any():
        run = frame.loc[repeated, "run"].iloc[0]
        raise ConfigError(f"run '{run}' has several rows at the same point of training (several measurements per "
                          f"run, e.g. one per eval set?): keep one with a filter", option="where", where=source)
    per_run = frame.groupby(["group", "run"]).size()
    last = frame if per_run.max() == 1 else _last(frame)
    size_col = "params" if "params" in frame else "compute"
    n_sizes = int(_rounded(frame[size_col]).nunique()) if size_col in frame else 0
    has_nd = {"params", "tokens"} <= set(frame)
    budgets = int(last.groupby(["group", _rounded(last["params"])])["tokens"].nunique().max()) if has_nd else 1
    iso, share = _isoflop_budgets(last) if has_nd else (0, 0.0)
    if per_run.max() > 1:
        kind = "checkpoints"
    elif iso >= 2 and share >= ISOFLOP_SHARE:
        kind = "isoflop"
    elif has_nd and (budgets > 1 or conditioning(last) >= IDENTIFIED):
        kind = "grid"
    elif has_nd and _sizes_differ(last):
        kind = "frontier"
    else:
        kind = "ladder"
    return Design(kind, len(frame), len(per_run), n_sizes, int(per_run.max()), budgets, iso)


def _last(frame: pd.DataFrame) -> pd.DataFrame:
    order = "step" if "step" in frame else "tokens"
    return frame.sort_values(order, kind="stable").groupby(["group", "run"], sort=False).tail(1)


def _rounded(values: pd.Series) -> pd.Series:
    return values.map(lambda v: float(f"{v:.6g}"))


def _isoflop_budgets(last: pd.DataFrame) -> tuple[int, float]:
    """Budgets holding several sizes (for the group with the most), and the share of rows in them."""
    best, inside = 0, 0
    for _, rows in last.groupby("group"):
        labels = budget_groups(rows["compute"])
        sizes = rows.assign(budget=labels).groupby("budget")["params"].nunique()
        full = sizes.index[sizes >= MIN_SIZES_PER_BUDGET]
        best = max(best, len(full))
        inside += int(np.isin(labels, full).sum())
    return best, inside / max(len(last), 1)


def conditioning(last: pd.DataFrame) -> float:
    """The smallest over arms of how far log D varies apart from log N (IDENTIFIED): the ratio of the
    singular values of the arm's centred (log N, log D) rows; an arm under 3 rows or one size is skipped."""
    ratios = []
    for _, rows in last.groupby("group"):
        x = np.log(rows[["params", "tokens"]].to_numpy(float))
        if len(rows) < 3 or np.ptp(x[:, 0]) == 0:
            continue
        s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
        ratios.append(float(s[-1] / s[0]) if s[0] > 0 else 0.0)
    return min(ratios) if ratios else 0.0


def _sizes_differ(last: pd.DataFrame) -> bool:
    """Two or more arms whose runs share no (N, D) at a compute budget both ran: each arm's own
    points (e.g. compute-optimal ones), not one ladder run twice."""
    if last["group"].nunique() < 2:
        return False
    keyed = last.assign(_budget=budget_groups(last["compute"]), _n=_rounded(last["params"]))
    shared = keyed.groupby("_budget")["group"].nunique()
    both = keyed[keyed["_budget"].isin(shared.index[shared > 1])]
    if both["_budget"].nunique() < 2:
        return False
    same = both.groupby(["_budget", "_n"])["group"].nunique()
    return bool((same < 2).all())


def default_frontier(design: Design, law: str | None = None) -> str:
    """The frontier a design gives best: Approach 3 where N and D vary apart, per-budget minima on
    an isoFLOP grid, a ladder's own points. `fit --law compute` fits points, so it takes the lower
    envelope where compare would take Approach 3."""
    if design.kind == "isoflop":
        return "isoflop"
    if design.kind in ("ladder", "frontier"):
        return "points"
    return "envelope" if law == "compute" or not design.independent_n_and_d else "params-tokens"


def check_frontier(design: Design, frontier: str, source: str) -> None:
    """One line naming the flag and the design found when the design cannot give this frontier."""
    if frontier not in FRONTIERS:
        raise ConfigError(f"unknown frontier '{frontier}' (choose from {', '.join(FRONTIERS)})", option="frontier")
    found = f"the design found is {design.describe()}"
    if frontier == "params-tokens" and not design.independent_n_and_d:
        raise ConfigError(f"params-tokens needs N and D that vary apart (several token budgets per size, over "
                          f"{MIN_SIZES_FOR_ND}+ sizes); {found}", option="frontier", where=source)
    if frontier == "isoflop" and design.isoflop_budgets < 2:
        raise ConfigError(f"isoflop needs two or more compute budgets with {MIN_SIZES_PER_BUDGET}+ sizes each; {found}",
                          option="frontier", where=source)
    if frontier == "points" and design.kind not in ("ladder", "frontier"):
        raise ConfigError(f"points fits every row, which is a frontier only on a ladder or a table of frontier "
                          f"points; {found} (use envelope, or "
                          f"params-tokens)", option="frontier", where=source)
