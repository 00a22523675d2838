"""What kind of experiment a table holds, and which compute-optimal frontier it can give.

Published scaling data come in a few designs, and each needs its own reading (Hoffmann et al.
2022 used three on the same runs):
- ladder: one token budget per model size, D on one line with N (e.g. 20 tokens per parameter,
  or one fixed D): the points themselves are the frontier, and L(N, D) cannot be separated
  into its N and D terms;
- grid: several token budgets per size, or (N, D) scattered off any one line (over-training
  grids; Chinchilla's points): L(N, D) can be fitted and minimised at C = 6ND (Approach 3);
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

DESIGNS = ("ladder", "grid", "isoflop", "checkpoints")
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
OFF_LINE = 0.1
"""log D varies independently of log N when, after a straight-line fit of log D on log N, the
residual spread exceeds this (≈ ±10% in D): then N and D terms can be told apart."""


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
            "grid": ("several token budgets per size" if self.budgets_per_size > 1
                     else "(N, D) off any one tokens-per-parameter line"),
            "isoflop": f"isoFLOP grid ({self.isoflop_budgets} budgets with {MIN_SIZES_PER_BUDGET}+ sizes)",
            "checkpoints": f"checkpoints of runs (up to {self.rows_per_run} rows per run)",
        }[self.kind]
        return f"{what}: {self.n_rows} rows, {self.n_runs} runs, {self.n_sizes} sizes"

    @property
    def independent_n_and_d(self) -> bool:
        """N and D vary apart, over enough sizes to fit L(N, D)'s N term (MIN_SIZES_FOR_ND)."""
        return self.kind != "ladder" and self.n_sizes >= MIN_SIZES_FOR_ND


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
    elif has_nd and (budgets > 1 or _off_line(last)):
        kind = "grid"
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


def _off_line(last: pd.DataFrame) -> bool:
    spread = 0.0
    for _, rows in last.groupby("group"):
        log_n, log_d = np.log(rows["params"].to_numpy()), np.log(rows["tokens"].to_numpy())
        if len(rows) < 3 or np.ptp(log_n) == 0:
            continue
        slope, icept = np.polyfit(log_n, log_d, 1)
        spread = max(spread, float(np.std(log_d - (icept + slope * log_n))))
    return spread > OFF_LINE


def default_frontier(design: Design, law: str | None = None) -> str:
    """The frontier a design gives best: Approach 3 where N and D vary apart, per-budget minima on
    an isoFLOP grid, a ladder's own points. `fit --law compute` fits points, so it takes the lower
    envelope where compare would take Approach 3."""
    if design.kind == "isoflop":
        return "isoflop"
    if design.kind == "ladder":
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
    if frontier == "points" and design.kind != "ladder":
        raise ConfigError(f"points fits every row, which is a frontier only on a ladder; {found} (use envelope, or "
                          f"params-tokens)", option="frontier", where=source)
