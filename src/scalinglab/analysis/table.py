"""Loading and checking the input table: one row per run (or per checkpoint of a run).

The analysis never sees a study's internals, only a plain table, so published results (e.g.
Epoch's Chinchilla points) and our own `export` go through the same door. Columns are renamed
to standard names (those of the study export) and every problem is one line naming the file and
the column, which the CLI turns into exit status 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.config import ConfigError

SINGLE_GROUP = "all"
"""Group name when the table has no group column (e.g. published points of one recipe)."""


@dataclass(frozen=True)
class Columns:
    """Which column of the user's table holds each quantity.

    None means the study-export name (the field name; `arm` for the group), used when present;
    a name given explicitly must exist. compute is derived as 6·N·D when absent, and tokens as
    C/(6·N) (Kaplan et al. 2020's C ≈ 6ND, the convention of the Chinchilla data).
    """

    group: str | None = None
    params: str | None = None
    """Non-embedding parameters N."""
    tokens: str | None = None
    compute: str | None = None
    loss: str | None = None
    """Final eval loss (nats per token)."""
    status: str | None = None
    run_id: str | None = None
    step: str | None = None
    """When present, only each run's last step is used."""
    width: str | None = None
    lr: str | None = None
    batch_size: str | None = None
    initial_loss: str | None = None
    vocab_size: str | None = None


_DEFAULT_NAMES = {f.name: f.name for f in fields(Columns)} | {"group": "arm"}
NUMERIC = ("params", "tokens", "compute", "loss", "step", "width", "lr", "batch_size", "initial_loss", "vocab_size")


@dataclass(frozen=True, eq=False)
class Runs:
    """A checked table in standard column names, and what was left out."""

    frame: pd.DataFrame
    """Columns: group, run, then whichever of NUMERIC (and status) the table has."""
    source: str
    excluded: dict[str, int] = field(default_factory=dict)
    """Rows left out, by reason (status other than complete, missing loss)."""
    names: dict[str, str] = field(default_factory=dict)
    """Standard name → the user's column name, for messages."""

    @property
    def n_excluded(self) -> int:
        return sum(self.excluded.values())

    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.frame["group"]))


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv, .parquet, .jsonl or .json file; the single entry point for input tables."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: file not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(p, lines=True)
        elif suffix == ".json":
            try:
                df = pd.read_json(p)
            except ValueError:  # a .json file holding one record per line
                df = pd.read_json(p, lines=True)
        else:
            raise ConfigError(f"{p.name}: unknown table format '{suffix}' (use .csv, .parquet, .jsonl or .json)")
    except ConfigError:
        raise
    except Exception as e:  # pandas raises many kinds; the user needs the file and the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{p.name}: cannot read table: {first}") from None
    if df.empty:
        raise ConfigError(f"{p.name}: no rows")
    df.attrs["source"] = p.name
    return df


def _source(df: pd.DataFrame) -> str:
    return str(df.attrs.get("source", "table"))


def _missing(source: str, name: str, df: pd.DataFrame, why: str = "") -> ConfigError:
    listed = ", ".join(map(str, df.columns))
    return ConfigError(f"{source}: column '{name}' not found{why} (columns: {listed})")


def _standardize(df: pd.DataFrame, columns: Columns) -> tuple[pd.DataFrame, dict[str, str]]:
    source = _source(df)
    out, names = {}, {}
    for std, default in _DEFAULT_NAMES.items():
        given = getattr(columns, std)
        name = default if given is None else given
        if name in df.columns:
            out[std] = df[name].to_numpy()
            names[std] = name
        elif given is not None:
            raise _missing(source, given, df)
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    for std in NUMERIC:
        if std in frame:
            values = pd.to_numeric(frame[std], errors="coerce")
            bad = values.isna() & frame[std].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ConfigError(f"{source}: column '{names[std]}' is not numeric (row {i + 1}: {frame[std].iloc[i]!r})")
            frame[std] = values.astype(float)
    return frame, names


def _derive(frame: pd.DataFrame, names: dict[str, str]) -> None:
    # C ≈ 6·N·D (Kaplan et al. 2020); the same relation gives D from published (N, C) points.
    if "compute" not in frame and {"params", "tokens"} <= set(frame):
        frame["compute"] = 6.0 * frame["params"] * frame["tokens"]
        names["compute"] = "compute (6·N·D)"
    if "tokens" not in frame and {"params", "compute"} <= set(frame):
        frame["tokens"] = frame["compute"] / (6.0 * frame["params"])
        names["tokens"] = "tokens (C/6N)"


def select_runs(df: pd.DataFrame, columns: Columns | None = None, need: tuple[str, ...] = ("compute", "loss"),
                keep_status: tuple[str, ...] = ("complete",)) -> Runs:
    """Check `df` for the standard columns in `need` and keep rows whose status is in `keep_status`.

    Rows left out are counted by reason. A table without a status column counts as all complete.
    When "diverged" is kept (hyperparameter laws), a missing or infinite loss stays in: it is
    how divergence shows.
    """
    columns = columns or Columns()
    source = _source(df)
    frame, names = _standardize(df, columns)
    # Before deriving, so a message names the user's column rather than a derived one.
    for std in ("params", "tokens", "compute"):
        if std in frame:
            _check_positive(frame, std, names, source)
    _derive(frame, names)
    for std in need:
        if std not in frame:
            why = " and cannot be derived as 6·N·D (needs params and tokens)" if std == "compute" else ""
            why = " and cannot be derived as C/(6·N) (needs params and compute)" if std == "tokens" else why
            raise _missing(source, getattr(columns, std) or _DEFAULT_NAMES[std], df, why)
    frame["group"] = frame["group"].astype(str) if "group" in frame else SINGLE_GROUP
    frame["run"] = frame["run_id"].astype(str) if "run_id" in frame else frame.index.astype(str)

    excluded: dict[str, int] = {}
    if "status" in frame:
        status = frame["status"].astype(str).str.strip().str.lower()
        frame["status"] = status
        for s, n in status[~status.isin(keep_status)].value_counts().items():
            excluded[f"status {s}"] = int(n)
        frame = frame[status.isin(keep_status)]
    if "step" in frame:  # checkpoints of a decaying schedule are not final losses: keep the last
        frame = frame.sort_values("step").groupby("run", sort=False).tail(1).sort_index()
    if "diverged" not in keep_status and "loss" in frame:
        bad = ~np.isfinite(frame["loss"].to_numpy())
        if bad.any():
            excluded["missing or non-finite loss"] = int(bad.sum())
            frame = frame[~bad]
    if frame.empty:
        raise ConfigError(f"{source}: no usable rows ({_describe(excluded)} left out)")
    for std in need:
        if std != "loss" and not np.isfinite(frame[std].to_numpy()).all():
            i = int(frame.index[~np.isfinite(frame[std].to_numpy())][0])
            raise ConfigError(f"{source}: column '{names[std]}' has a missing value (row {i + 1})")
        _check_positive(frame, std, names, source)
    return Runs(frame.reset_index(drop=True), source, excluded, names)


def _check_positive(frame: pd.DataFrame, std: str, names: dict[str, str], source: str) -> None:
    values = frame[std].to_numpy(dtype=float)
    bad = np.isfinite(values) & (values <= 0)
    if bad.any():
        i = int(frame.index[bad][0])
        raise ConfigError(f"{source}: column '{names[std]}' must be positive (row {i + 1}: {values[bad][0]:g})")


def size_key(values: pd.Series) -> pd.Series:
    """Values rounded to 6 significant digits: one width or budget despite float noise in the table."""
    return values.map(lambda v: float(f"{v:.6g}"))


def _describe(excluded: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in excluded.items()) or "none"
