"""What a report is made of, read from the store: the run table, the curves, and which sweeps exist.

Pure bookkeeping on the store's tables (no fitting, no drawing): which runs count for a fit,
which axes the study sweeps, and the per-width groups the LR and batch figures draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.config import ConfigError, Study
from scalinglab.config.load import read_toml
from scalinglab.model.accounting import chinchilla_flops
from scalinglab.plan import make_plan
from scalinglab.report.figures import Trace
from scalinglab.report.regimes import sentences as regime_sentences
from scalinglab.store import export_table, load_decisions, load_metrics

# Axes over which a study tunes rather than scales: for L(C), each compute point keeps its best run.
TUNED_AXES = ("lr", "batch_size", "weight_decay", "l2")


@dataclass(frozen=True)
class StudyData:
    study: Study
    table: pd.DataFrame
    """store.export_table, plus `planned_compute` (6·N·D of the planned budget: where a diverged
    run is drawn) and `nominal_compute` (the same before rounding tokens to whole steps)."""
    metrics: pd.DataFrame
    """store.load_metrics: one row per logged step."""
    swept: tuple[str, ...]
    """Sweep axes with more than one value, in the study's order (width first)."""
    labels: dict[str, str]
    """arm -> 'scaled (lr 2/width)': the arm's name and what its table sets."""
    decisions: pd.DataFrame | None = None
    """store.load_decisions: what an adaptive study chose to train, and why (None or empty: not adaptive)."""

    def counts(self) -> dict[str, int]:
        counts = self.table["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("complete", "diverged", "failed", "running", "pending")}

    def finished(self) -> pd.DataFrame:
        """Complete runs with a final eval loss: the only rows any fit sees."""
        t = self.table
        return t[(t["status"] == "complete") & t["loss"].notna()]

    def diverged(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "diverged"]


def read_study(study: Study, out_dir: Path) -> StudyData:
    """The study's results from its store; ConfigError when there is nothing to report on."""
    table = export_table(study, out_dir)
    if not table["status"].isin(["complete", "diverged", "failed"]).any():
        raise ConfigError(f"{study.path}: no results yet in {out_dir} (run `scalinglab run {study.path}` first)")
    return study_data(study, table, load_metrics(study, out_dir), load_decisions(study, out_dir))


def study_data(study: Study, table: pd.DataFrame, metrics: pd.DataFrame | None = None,
               decisions: pd.DataFrame | None = None) -> StudyData:
    """StudyData from a table in store.export_table's columns (and optionally its curves)."""
    metrics = pd.DataFrame(columns=["run_id", "step", "train_loss", "eval_loss"]) if metrics is None else metrics
    swept = tuple(axis for axis, values in _axes(study).items() if len(values) > 1)
    for col in ("epochs", "unique_tokens"):  # tables from before epochs were recorded: unknown
        table = table if col in table else table.assign(**{col: np.nan})
    labels = {arm: label + regime_sentences.label_tag(table, arm) for arm, label in arm_labels(study.path, study.arms).items()}
    return StudyData(study, table.join(_planned(study), on="run_id"), metrics, swept, labels, decisions)


def _axes(study: Study) -> dict[str, list]:
    values: dict[str, list] = {}
    for run in study.runs:
        for axis, value in run.axes.items():
            if value not in values.setdefault(axis, []):
                values[axis].append(value)
    return values


def _planned(study: Study) -> pd.DataFrame:
    """Per run_id: 6·N·D of the planned budget (a diverged run stops early, but is drawn where it
    was headed), the same for the requested tokens before rounding to whole steps (equal across a
    batch sweep), and the planned steps."""
    rows = {}
    for r in make_plan(study, order="listed").runs:
        b = r.budget
        rows[r.spec.run_id] = (b.flops_6nd, chinchilla_flops(b.params_non_embedding, b.requested), b.steps)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["planned_compute", "nominal_compute", "steps_planned"])


def arm_labels(study_path: Path, arms: tuple[str, ...]) -> dict[str, str]:
    """'scaled (lr 2/width, qk_norm false)': what each arm sets, as written in the file."""
    raw = read_toml(study_path).get("arms", {})
    labels = {}
    for arm in arms:
        settings = []
        for key, value in raw.get(arm, {}).items():
            items = value.items() if isinstance(value, dict) else [(key, value)]
            settings += [f"{k} {str(v).lower() if isinstance(v, bool) else v}" for k, v in items]
        labels[arm] = f"{arm} ({', '.join(settings)})" if settings else arm
    return labels


def envelope(finished: pd.DataFrame) -> pd.DataFrame:
    """Per arm and compute point, the best run over the tuned axes (an LR sweep's optimum).

    Seeds and scale axes stay separate rows: the bootstrap resamples them as runs.
    """
    # Nominal, not actual, compute: a batch sweep rounds each run's tokens to its own whole steps.
    keys = ["arm", "width", "depth", "params", "nominal_compute", "seed"]
    best = finished.sort_values("loss").groupby(keys, sort=False, dropna=False).head(1)
    return best.sort_values(["arm", "compute"])


def traces(data: StudyData, arm: str, max_runs: int = 8) -> list[Trace]:
    """Learning curves of one arm: per width, its longest run (at the best LR when LR is swept)."""
    t = data.table
    t = t[(t["arm"] == arm) & t["status"].isin(["complete", "diverged"])]
    if t.empty or data.metrics.empty:
        return []
    picked = []
    for _, g in t.groupby("width", sort=True):
        longest = g[g["planned_compute"] == g["planned_compute"].max()]
        done = longest[longest["loss"].notna()].sort_values("loss")
        picked.append(done.iloc[0] if len(done) else longest.iloc[0])
    out = []
    for row in picked[:max_runs]:
        m = data.metrics[data.metrics["run_id"] == row["run_id"]].sort_values("step")
        train = m[m["train_loss"].notna()]
        ev = m[m["eval_loss"].notna()]
        label = f"width {row['width']}, depth {row['depth']}" + regime_sentences.epochs_suffix(row["epochs"])
        out.append(Trace(label, train["step"].to_numpy(float), train["train_loss"].to_numpy(float),
                         ev["step"].to_numpy(float), ev["eval_loss"].to_numpy(float),
                         diverged=row["status"] == "diverged"))
    return out


def run_rows(data: StudyData) -> list[dict]:
    """The run table as plain dicts (JSON-ready: NaN and pandas NA become None)."""
    cols = ["name", "arm", "status", "width", "depth", "lr", "batch_size", "l2", "weight_decay", "params", "params_total", "tokens",
            "compute", "planned_compute", "final_train_loss", "final_eval_loss", "final_eval_loss_se",
            "final_unseen_train_loss", "diverged_step", "steps", "steps_planned", "wall_time_s", "error", "run_id",
            "epochs", "unique_tokens"]
    rows = []
    for rec in data.table[cols].to_dict("records"):
        rec = {k: _json_value(v) for k, v in rec.items()}
        train, ev = rec["final_train_loss"], rec["final_eval_loss"]
        rec["gap"] = ev - train if train is not None and ev is not None else None
        rec["unseen"] = rec.pop("final_unseen_train_loss")
        rows.append(rec)
    return rows


def _json_value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
