"""Loading and checking the input table: one row per run (or per checkpoint of a run).

The analysis never sees a study's internals, only a plain table, so published results (e.g.
Epoch's Chinchilla points) and our own `export` go through the same door. Columns are renamed
to standard names (those of the study export) and every problem is one line naming the file and
the column, which the CLI turns into exit status 2.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis.reading.where import matching
from scalinglab.config import ConfigError
from scalinglab.config.checks import MAX_COUNT
from scalinglab.model.accounting import chinchilla_flops, chinchilla_tokens

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
    unique_tokens: str | None = None
    """Unique training tokens a run could draw (repeated data: analysis.constrained)."""
    compute: str | None = None
    loss: str | None = None
    """Final eval loss (nats per token)."""
    status: str | None = None
    run_id: str | None = None
    """Which rows belong to one run (default 'run_id', else 'run'): checkpoints, and the unit of resampling."""
    step: str | None = None
    seed: str | None = None
    """Rows of one arm at the same (N, D) with different seeds measure seed-to-seed noise."""
    loss_se: str | None = None
    """Standard error of the loss (default 'loss_se', else our export's 'final_eval_loss_se')."""
    width: str | None = None
    lr: str | None = None
    batch_size: str | None = None
    initial_loss: str | None = None
    vocab_size: str | None = None


# Standard name -> the names looked for when the user names no column, first match wins.
_DEFAULT_NAMES = {f.name: (f.name,) for f in fields(Columns)} | {
    "group": ("arm",), "run_id": ("run_id", "run"), "loss_se": ("loss_se", "final_eval_loss_se")}
NUMERIC = ("params", "tokens", "compute", "loss", "step", "seed", "loss_se", "width", "lr", "batch_size",
           "initial_loss", "vocab_size", "unique_tokens")
MAX_LOSS = 1e6
"""Cross-entropy in nats (or bits, or a perplexity) stays far below this."""


@dataclass(frozen=True, eq=False)
class Runs:
    """A checked table in standard column names, and what was left out."""

    frame: pd.DataFrame
    """Columns: group, run, then whichever of NUMERIC (and status) the table has."""
    source: str
    excluded: dict[str, int] = field(default_factory=dict)
    """Rows left out, by reason (status other than complete, missing loss, a filter)."""
    names: dict[str, str] = field(default_factory=dict)
    """Standard name → the user's column name, for messages."""

    @property
    def n_excluded(self) -> int:
        return sum(self.excluded.values())

    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.frame["group"]))

    def with_frame(self, frame: pd.DataFrame, excluded: dict[str, int] | None = None) -> Runs:
        """The same table with some rows left out (and counted under their reason)."""
        counts = dict(self.excluded)
        for why, n in (excluded or {}).items():
            if n:
                counts[why] = counts.get(why, 0) + n
        return Runs(frame.reset_index(drop=True), self.source, counts, self.names)


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv, .parquet, .jsonl or .json file; the single entry point for input tables."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a table file")
    if not p.is_file():
        raise ConfigError(f"{p}: file not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            with open(p, newline="", encoding="utf-8", errors="replace") as f:
                _check_unique_header(p, next(csv.reader(f, delimiter=sep), []))
            df = pd.read_csv(p, sep=sep)
        elif suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            _check_unique_header(p, pq.read_schema(p).names)
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


def _check_unique_header(path: Path, names: list) -> None:
    # pandas would silently rename a second 'loss' to 'loss.1' and use the first: refuse instead.
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{path.name}: column '{name}' appears twice; rename one of them")
        seen.add(name)


def filter_rows(df: pd.DataFrame, where: str | None) -> pd.DataFrame:
    """Rows meeting a condition on the table's own column names, e.g. "eval_set == 'c4_val'" (analysis.where)."""
    if not where:
        return df
    kept = df[matching(df, where)]
    if kept.empty:
        raise ConfigError(f"no row matches {where!r}", option="where", where=_source(df))
    kept.attrs = dict(df.attrs)
    return kept


def _source(df: pd.DataFrame) -> str:
    return str(df.attrs.get("source", "table"))


def _missing(source: str, name: str, df: pd.DataFrame, why: str = "") -> ConfigError:
    listed = ", ".join(map(str, df.columns))
    return ConfigError(f"{source}: column '{name}' not found{why} (columns: {listed})")


def _standardize(df: pd.DataFrame, columns: Columns) -> tuple[pd.DataFrame, dict[str, str]]:
    source = _source(df)
    if not df.columns.is_unique:
        name = df.columns[df.columns.duplicated()][0]
        raise ConfigError(f"{source}: column '{name}' appears twice; rename one of them")
    out, names = {}, {}
    for std, defaults in _DEFAULT_NAMES.items():
        given = getattr(columns, std)
        found = [given] if given is not None else [n for n in defaults if n in df.columns][:1]
        if found and found[0] in df.columns:
            out[std] = df[found[0]].to_numpy()
            names[std] = found[0]
        elif given is not None:
            raise _missing(source, given, df)
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    for std in NUMERIC:
        if std in frame:
            raw = frame[std]
            if raw.map(lambda v: isinstance(v, (bool, np.bool_))).any():
                raise ConfigError(f"{source}: column '{names[std]}' holds true/false, not numbers")
            values = pd.to_numeric(raw, errors="coerce")
            bad = values.isna() & raw.notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ConfigError(f"{source}: column '{names[std]}' is not numeric (row {i + 1}: {raw.iloc[i]!r})")
            frame[std] = values.astype(float)
    return frame, names


def _derive(frame: pd.DataFrame, names: dict[str, str]) -> None:
    # C ≈ 6·N·D (Kaplan et al. 2020); the same relation gives D from published (N, C) points.
    if "compute" not in frame and {"params", "tokens"} <= set(frame):
        frame["compute"] = chinchilla_flops(frame["params"], frame["tokens"])
        names["compute"] = "compute (6·N·D)"
    if "tokens" not in frame and {"params", "compute"} <= set(frame):
        frame["tokens"] = chinchilla_tokens(frame["compute"], frame["params"])
        names["tokens"] = "tokens (C/6N)"


def select_runs(df: pd.DataFrame, columns: Columns | None = None, need: tuple[str, ...] = ("compute", "loss"),
                keep_status: tuple[str, ...] = ("complete",), checkpoints: str = "last") -> Runs:
    """Check `df` for the standard columns in `need` and keep rows whose status is in `keep_status`.

    Rows left out are counted by reason. A table without a status column counts as all complete.
    When "diverged" is kept (hyperparameter laws), a missing or infinite loss stays in: it is
    how divergence shows. checkpoints="last" keeps each run's last row (by step when there is a
    step column, else the largest tokens); "all" keeps every row.
    """
    columns = columns or Columns()
    source = _source(df)
    frame, names = _standardize(df, columns)
    # Before deriving, so a message names the user's column rather than a derived one.
    for std in ("params", "tokens", "compute"):
        if std in frame:
            _check_range(frame, std, names, source, MAX_COUNT)
    _derive(frame, names)
    for std in need:
        if std not in frame:
            why = " and cannot be derived as 6·N·D (needs params and tokens)" if std == "compute" else ""
            why = " and cannot be derived as C/(6·N) (needs params and compute)" if std == "tokens" else why
            raise _missing(source, getattr(columns, std) or _DEFAULT_NAMES[std][0], df, why)
    excluded: dict[str, int] = {}
    # An exact copy of a row (a table concatenated twice, an export appended to itself) is merged
    # into it and counted, not refused: it adds no information, and the analysis can go on. Counted
    # as a run of its own it narrowed every interval ("24 rows, 24 runs" of 12).
    copies = _copies(df)
    if copies.any():
        excluded["exact copies of another row"] = int(copies.sum())
        frame = frame[~copies].copy()
    if "group" in frame:  # a row of no arm belongs to no comparison: said, not dropped unseen
        raw = frame["group"]
        blank = raw.isna().to_numpy() | raw.astype(str).str.strip().eq("").to_numpy()
        if blank.any():
            excluded[f"empty {names['group']}"] = int(blank.sum())
            frame = frame[~blank].copy()
    frame["group"] = frame["group"].astype(str) if "group" in frame else SINGLE_GROUP
    frame["run"] = frame["run_id"].astype(str) if "run_id" in frame else frame.index.astype(str)

    if "status" in frame:
        status = frame["status"].astype(str).str.strip().str.lower()
        frame["status"] = status
        for s, n in status[~status.isin(keep_status)].value_counts().items():
            excluded[f"status {s}"] = int(n)
        frame = frame[status.isin(keep_status)]
    if "diverged" not in keep_status and "loss" in frame:
        bad = ~np.isfinite(frame["loss"].to_numpy())
        if bad.any():
            excluded["missing or non-finite loss"] = int(bad.sum())
            frame = frame[~bad]
    if checkpoints == "last":
        frame = last_rows(frame)
    elif checkpoints != "all":
        raise ConfigError(f"unknown choice '{checkpoints}' (choose all or last)", option="checkpoints")
    if frame.empty:
        raise ConfigError(f"{source}: no usable rows ({_describe(excluded)} left out)")
    # The columns asked for, and the scale columns whenever the table has them (design and pairing
    # read them): a missing value there is named, not carried into a fit.
    for std in dict.fromkeys([*need, *(c for c in ("params", "tokens", "compute") if c in frame)]):
        if std != "loss" and not np.isfinite(frame[std].to_numpy()).all():
            i = int(frame.index[~np.isfinite(frame[std].to_numpy())][0])
            raise ConfigError(f"{source}: column '{names[std]}' has a missing value (row {i + 1})")
        _check_range(frame, std, names, source, MAX_LOSS if std == "loss" else MAX_COUNT)
    _check_seeds(frame, names, source)
    return Runs(frame.reset_index(drop=True), source, excluded, names)


def _check_seeds(frame: pd.DataFrame, names: dict[str, str], source: str) -> None:
    """Replicates must have the shape of runs: each seed a run of its own (a run id holding rows of two
    seeds would be read as one run's checkpoints, and its seeds' spread as noise of nothing), and a
    seed given for every row of a point or for none (a point part-seeded cannot say which rows repeat)."""
    if "seed" not in frame:
        return
    seeds = frame["seed"]
    if "run_id" in names and len(frame):
        mixed = frame.groupby(["group", "run"])["seed"].nunique(dropna=False)
        if (mixed > 1).any():
            group, run = mixed.index[int(np.argmax(mixed.to_numpy() > 1))]
            raise ConfigError(f"{source}: column '{names['seed']}': run '{run}' of '{group}' holds rows of "
                              f"{int(mixed.max())} seeds; each seed is a run of its own (give it its own "
                              f"{names['run_id']})")
    if seeds.isna().any() and seeds.notna().any() and {"params", "tokens"} <= set(frame):
        point = frame.assign(_n=size_key(frame["params"]), _d=size_key(frame["tokens"]))
        part = point.groupby(["group", "_n", "_d"])["seed"].agg(lambda v: v.isna().any() and v.notna().any())
        if part.any():
            i = int(frame.index[seeds.isna()][0])
            raise ConfigError(f"{source}: column '{names['seed']}' has a missing value (row {i + 1}) at a point "
                              f"whose other runs give theirs: which of them repeat which cannot be told")


def _copies(df: pd.DataFrame) -> np.ndarray:
    """Which rows repeat an earlier row in every column (by position)."""
    try:
        return df.duplicated().to_numpy()
    except TypeError:  # cells pandas cannot hash (lists from a JSON table): compare them as text
        return df.astype(str).duplicated().to_numpy()


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's last row: its final checkpoint (by step, else by tokens seen)."""
    order = next((c for c in ("step", "tokens") if c in frame), None)
    if order is None or not frame.duplicated(["group", "run"]).any():
        return frame
    return frame.sort_values(order, kind="stable").groupby(["group", "run"], sort=False).tail(1).sort_index()


def without_highest(runs: Runs, k: int) -> Runs:
    """Leave out each group's k highest-loss rows (Besiroglu et al. 2024 drop Chinchilla's 5)."""
    if k < 0:
        raise ConfigError(f"must be 0 or more, got {k}", option="drop_highest")
    if k == 0:
        return runs
    frame = runs.frame
    ranks = frame.groupby("group")["loss"].rank(method="first", ascending=False)
    small = frame.groupby("group")["loss"].transform("size") <= k
    if small.any():
        group = frame.loc[small, "group"].iloc[0]
        raise ConfigError(f"{k} would leave nothing of group '{group}'", option="drop_highest", where=runs.source)
    return runs.with_frame(frame[ranks > k], {f"the {k} highest losses of each group": int((ranks <= k).sum())})


def _check_range(frame: pd.DataFrame, std: str, names: dict[str, str], source: str, top: float) -> None:
    values = frame[std].to_numpy(dtype=float)
    bad = np.isfinite(values) & (values <= 0)
    if bad.any():
        i = int(frame.index[bad][0])
        raise ConfigError(f"{source}: column '{names[std]}' must be positive (row {i + 1}: {values[bad][0]:g})")
    big = np.isinf(values) | (values > top)
    if big.any():
        i = int(frame.index[big][0])
        raise ConfigError(f"{source}: column '{names[std]}' holds an implausible value (row {i + 1}: "
                          f"{values[big][0]:.3g}; the limit is {top:.0e})")


def size_key(values: pd.Series) -> pd.Series:
    """Values rounded to 6 significant digits: one width or budget despite float noise in the table."""
    return values.map(lambda v: float(f"{v:.6g}"))


def _describe(excluded: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in excluded.items()) or "none"
