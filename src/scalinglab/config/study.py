"""A study file: shared settings, a sweep, and named arms, validated whole before anything runs.

    [study]
    name = "crossover-cpu"              # optional; defaults to the file's stem

    [model]                             # shared settings: the sections of a RunConfig
    depth = "width/64"
    [data]
    tokenizer = "bpe:4096"
    [budget]
    tokens_per_param = 20

    [sweep]                             # every run is the product arm x sweep axes
    width = [64, 128, 192, 256]         # required, non-empty
    seed = [0, 1]                       # optional: depth, lr, batch_size, weight_decay, l2, seed, tokens_per_param

    [replicates]                        # optional: more seeds at a few widths only, to measure
    width = [128]                       # seed-to-seed noise without repeating the whole ladder
    seed = [1]

    [arms.constant]                     # shorthand keys (lr, weight_decay, ...) ...
    lr = "2/192"
    [arms.scaled]
    lr = "2/width"
    [arms.scaled.model]                 # ... or whole sections, as in a RunConfig
    qk_norm = false

With no `[arms]` the study has one arm, `base`. Every expanded RunConfig is validated when the file
is loaded, and an error names the key as the user wrote it: `x.toml: arms.scaled.lr: ...`,
`x.toml: sweep.width: 100 is not a multiple of head_dim 64`.

Run identity: `run_id` = readable name + `RunConfig.digest()` of the fully resolved config (rules
evaluated at the run's width). The name carries the arm and every swept value so ids are unique
within a study and readable; the digest is what makes a run the same run. Execution reuses a
finished result whose digest matches (see execute.driver), so renaming an arm or adding a sweep
axis renames runs but trains nothing again, and two arms that meet at one width (constant 2/192 vs
2/width at width 192) train that point once. Changing one arm changes only that arm's digests.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from scalinglab.config.checks import shown
from scalinglab.config.errors import ConfigError, from_validation
from scalinglab.config.load import read_toml, validate
from scalinglab.config.run import Frozen, RunConfig

SECTIONS = ("model", "data", "optim", "schedule", "budget", "loop")

# Sweep axis -> where it lands in a RunConfig.
AXES = {
    "width": ("model", "width"),
    "depth": ("model", "depth"),
    "lr": ("optim", "lr"),
    "batch_size": ("budget", "batch_size"),
    "weight_decay": ("optim", "weight_decay"),
    "l2": ("optim", "l2"),
    "seed": ("seed",),
    "tokens_per_param": ("budget", "tokens_per_param"),
}

# Arm shorthand: `[arms.x] lr = ...` means `[arms.x.optim] lr = ...`. The settings recipes vary.
SHORTHAND = {
    "lr": "optim", "weight_decay": "optim", "l2": "optim", "decay_mode": "optim",
    "grad_normalize": "optim", "grad_clip": "optim",
    "depth": "model", "qk_norm": "model", "mlp": "model", "mlp_ratio": "model", "z_loss": "model",
    "batch_size": "budget", "tokens": "budget", "tokens_per_param": "budget",
    "max_train_tokens": "data",
}

# Settings that may hold a file path after a `kind:` prefix; relative paths are read from the
# study file's folder, so a study means the same thing from whatever directory it is run.
PATH_SETTINGS = ("source", "tokenizer")
_PATH_KINDS = ("files:", "sentencepiece:")


def anchor_path(value: Any, folder: Path) -> Any:
    """`sentencepiece:x.model` / `files:data/*.txt` relative to `folder`; anything else unchanged."""
    if not isinstance(value, str):
        return value
    for kind in _PATH_KINDS:
        if value.startswith(kind):
            rest = Path(value.removeprefix(kind)).expanduser()
            return kind + str(rest if rest.is_absolute() else (folder / rest))
    return value


_ARM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
"""Matched against the whole name (fullmatch): `$` would let a trailing newline into run ids and folders."""
MAX_NAME = 96
"""Characters of a run's readable name. A longer one (a long arm name) keeps its start and a hash of
the whole, so run ids stay unique and their folders within the filesystem's 255 bytes per name."""


class StudyInfo(Frozen):
    name: str | None = None
    """Names the study (and its output folder's default); None uses the file's stem."""
    description: str = ""
    """Free text shown by `plan` and kept with the results."""


def _value_list(v: Any) -> list | None:
    """A non-empty list of distinct numbers or strings (a sweep axis, or a replicates list)."""
    # Only the list's shape is checked here; each value is checked as the RunConfig setting it
    # becomes (so `width = [true]` or `lr = [nan]` gets the same message as a single setting).
    if v is None:
        return v
    if not isinstance(v, list):
        raise ValueError(f"expected a list of values, got {shown(v)}")
    if not v:
        raise ValueError("must list at least one value")
    seen = set()
    for x in v:
        if not isinstance(x, (int, float, str)):
            raise ValueError(f"expected numbers or strings, got {shown(x)}")
        if (type(x), x) in seen:
            raise ValueError(f"{shown(x)} is listed twice")
        seen.add((type(x), x))
    return v


class SweepConfig(Frozen):
    """Lists of values; runs are their product (with the arms). Only width is required."""

    width: list[Any]
    """Model widths D, each a multiple of head_dim."""
    depth: list[Any] | None = None
    """Depths or rules such as 'width/64'; unset uses model.depth."""
    lr: list[Any] | None = None
    """Peak learning rates or rules such as '2/width'."""
    batch_size: list[Any] | None = None
    weight_decay: list[Any] | None = None
    l2: list[Any] | None = None
    seed: list[Any] | None = None
    tokens_per_param: list[Any] | None = None
    """Budgets in tokens per parameter (longer or shorter than Chinchilla's 20)."""

    _lists = field_validator("*", mode="before")(lambda v: _value_list(v))

    def axes(self) -> dict[str, list]:
        """The swept settings in a fixed order (width first), unset ones left out."""
        return {name: getattr(self, name) for name in AXES if getattr(self, name) is not None}


class Replicates(Frozen):
    """Extra seeds of the sweep's points at some widths: each adds runs with its seed, for every arm
    and every other sweep value. They measure how much a final loss moves from seed to seed, which
    is what a difference between arms is judged against (analysis.observed)."""

    width: list[Any]
    """Widths to repeat, each one of sweep.width."""
    seed: list[Any]
    """Seeds to add there, none of them the study's own seed(s)."""

    _lists = field_validator("*", mode="before")(lambda v: _value_list(v))


class StudyFile(Frozen):
    """The file as written: sections stay plain tables here and are validated as RunConfigs."""

    study: StudyInfo = StudyInfo()
    sweep: SweepConfig
    replicates: Replicates | None = None
    arms: dict[str, dict[str, Any]] = {}
    model: dict[str, Any] = {}
    data: dict[str, Any] = {}
    optim: dict[str, Any] = {}
    schedule: dict[str, Any] = {}
    budget: dict[str, Any] = {}
    loop: dict[str, Any] = {}
    seed: Any = 0
    """Checked as RunConfig.seed, like every setting."""


class RunSpec(Frozen):
    """One run of a study: which arm and sweep point, and the fully resolved config it trains."""

    study: str
    arm: str
    axes: dict[str, int | float | str]
    """This run's sweep values as written (an lr may be a rule; the config holds its value)."""
    config: RunConfig
    """Width set, depth and lr rules evaluated: everything explicit."""

    @property
    def width(self) -> int:
        return self.config.model.width

    @property
    def depth(self) -> int:
        return self.config.model.resolved_depth()

    @property
    def name(self) -> str:
        """Readable and unique within the study, e.g. `w128-L2-scaled-20xN` or `w64-L1-base-lr0.01-s1-20xN`."""
        cfg = self.config
        parts = [f"w{self.width}", f"L{self.depth}", self.arm]
        for axis in self.axes:
            if axis == "lr":
                parts.append(f"lr{cfg.optim.resolved_lr(self.width):.3g}")
            elif axis == "batch_size":
                parts.append(f"b{cfg.budget.batch_size}")
            elif axis == "weight_decay":
                parts.append(f"wd{cfg.optim.weight_decay:g}")
            elif axis == "l2":
                parts.append(f"l2_{cfg.optim.l2:g}")
            elif axis == "seed":
                parts.append(f"s{cfg.seed}")
        b = cfg.budget
        if b.tokens is not None:
            parts.append(f"{si(b.tokens)}tok")
        else:
            parts.append(f"{b.tokens_per_param:g}xN" + ("tot" if b.param_count == "total" else ""))
        name = "-".join(parts)
        if len(name) > MAX_NAME:
            name = f"{name[:MAX_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return name

    @property
    def digest(self) -> str:
        return self.config.digest()

    @property
    def run_id(self) -> str:
        return f"{self.name}-{self.digest}"


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    description: str
    arms: tuple[str, ...]
    runs: tuple[RunSpec, ...]
    """Arm by arm, then the sweep product in file order (width outermost)."""

    def default_out_dir(self) -> Path:
        """`<folder of the study file>/<file stem>/`: results.sqlite and runs/<run_id>/ go here."""
        return self.path.parent / self.path.stem


def load_study(path: str | Path, widths: list[int] | None = None) -> Study:
    """Read and validate a study file, expanding and checking every run; raises ConfigError.

    widths: expand the study at these widths instead of sweep.width (the ladder a study would have
    if it were extended: what `scalinglab next` weighs beyond the sweep).
    """
    path = Path(path)
    where = str(path)
    try:
        raw = read_toml(path)
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not valid TOML: not UTF-8 text") from None
    if widths is not None and isinstance(raw.get("sweep"), dict):
        raw["sweep"] = raw["sweep"] | {"width": list(widths)}
    spec = validate(StudyFile, raw, where)
    name = spec.study.name or path.stem
    base = {s: dict(getattr(spec, s)) for s in SECTIONS} | {"seed": spec.seed}
    for key in PATH_SETTINGS:
        if key in base["data"]:
            base["data"][key] = anchor_path(base["data"][key], path.parent)
    base_sources = {(s, k): f"{s}.{k}" for s in SECTIONS for k in getattr(spec, s)} | {("seed",): "seed"}
    if "width" in spec.model:
        raise ConfigError(f"{where}: model.width: widths are set by sweep.width")
    axes = spec.sweep.axes()  # a swept setting overrides the shared one; an arm may not also set it

    arms = spec.arms or {"base": {}}
    runs: list[RunSpec] = []
    for arm, table in arms.items():
        if not _ARM_NAME.fullmatch(arm):
            raise ConfigError(f"{where}: arms.{arm}: arm names may use letters, digits and _ . + - only")
        overrides = _arm_overrides(arm, table, axes, where)
        tree = copy.deepcopy(base)
        sources = dict(base_sources)
        for user_key, target, value in overrides:
            if target[0] == "data" and target[-1] in PATH_SETTINGS:
                value = anchor_path(value, path.parent)
            _put(tree, target, value)
            sources[target] = user_key
        points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
        points += _replicate_points(spec, axes, points, where)
        for point in points:
            run_tree = copy.deepcopy(tree)
            run_sources = dict(sources)
            for axis, value in point.items():
                _put(run_tree, AXES[axis], value)
                run_sources[AXES[axis]] = f"sweep.{axis}" if axis in axes else f"replicates.{axis}"
            cfg = _validate_run(run_tree, run_sources, point, where)
            runs.append(RunSpec(study=name, arm=arm, axes=point, config=_resolved(cfg)))
    for run in {r.config.data.cache_dir: r for r in runs}.values():
        run.config.data.check_cache_dir(where)
    return Study(path=path, name=name, description=spec.study.description, arms=tuple(arms), runs=tuple(runs))


def _replicate_points(spec: StudyFile, axes: dict[str, list], points: list[dict], where: str) -> list[dict]:
    """The sweep points at the replicated widths, once per extra seed."""
    rep = spec.replicates
    if rep is None:
        return []
    for w in rep.width:
        if w not in axes["width"]:
            raise ConfigError(f"{where}: replicates.width: {shown(w)} is not one of sweep.width")
    own = set(axes.get("seed", [spec.seed]))
    for seed in rep.seed:
        if seed in own:
            raise ConfigError(f"{where}: replicates.seed: {shown(seed)} is already a seed of the study")
    return [p | {"seed": seed} for seed in rep.seed for p in points if p["width"] in rep.width]


def _arm_overrides(arm: str, table: dict[str, Any], axes: dict[str, list], where: str) -> list[tuple[str, tuple, Any]]:
    """(key as written, place in a RunConfig, value) for each setting an arm overrides."""
    out: list[tuple[str, tuple, Any]] = []
    for key, value in table.items():
        user_key = f"arms.{arm}.{key}"
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {user_key}: expected a table of {key} settings")
            out += [(f"{user_key}.{k}", (key, k), v) for k, v in value.items()]
        elif key in SHORTHAND:
            out.append((user_key, (SHORTHAND[key], key), value))
        elif key in ("seed", "width"):
            out.append((user_key, AXES[key], value))
        else:
            known = [*SHORTHAND, *SECTIONS, "seed"]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            raise ConfigError(f"{where}: {user_key}: unknown key{hint}")
    swept = {place: axis for axis, place in AXES.items() if axis in axes}
    seen: dict[tuple, str] = {}
    for user_key, place, _ in out:
        if place == ("model", "width"):
            raise ConfigError(f"{where}: {user_key}: widths are set by sweep.width, not by an arm")
        if place in swept:
            raise ConfigError(f"{where}: {user_key}: also swept by sweep.{swept[place]}; set it in one place")
        if place in seen:
            raise ConfigError(f"{where}: {user_key}: set twice in arms.{arm} (also as {seen[place]})")
        seen[place] = user_key
    return out


def _put(tree: dict, place: tuple, value: Any) -> None:
    node = tree
    for part in place[:-1]:
        node = node.setdefault(part, {})
    node[place[-1]] = value


def _validate_run(tree: dict, sources: dict[tuple, str], point: dict, where: str) -> RunConfig:
    """Validate one expanded run, naming the key where the user wrote the bad value."""
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as e:
        key, sep, msg = str(from_validation(e)).partition(": ")
        if not sep:
            raise ConfigError(f"{where}: {key}") from None
        place = tuple(key.split("."))
        # An error deeper than a setting (e.g. inside a list) belongs to the setting's key.
        while len(place) > 1 and place not in sources:
            place = place[:-1]
        user_key = sources.get(place, key)
        if user_key.startswith("sweep."):
            value = point[user_key.removeprefix("sweep.")]
            if shown(value) not in msg:
                msg = f"{shown(value)}: {msg}"
        raise ConfigError(f"{where}: {user_key}: {msg}") from None


def _resolved(cfg: RunConfig) -> RunConfig:
    """The same run with its depth, lr and devices rules evaluated at its width, so the config says
    everything (and a run on one device has the id it had before devices existed)."""
    model = cfg.model.model_copy(update={"depth": cfg.model.resolved_depth()})
    optim = cfg.optim.model_copy(update={"lr": cfg.optim.resolved_lr(cfg.model.width)})
    loop = cfg.loop.model_copy(update={"devices": cfg.resolved_devices()})
    return cfg.model_copy(update={"model": model, "optim": optim, "loop": loop})


def si(x: float) -> str:
    """3 significant digits with an SI prefix: 2.05M, 41.4T (run names, plan tables)."""
    for div, suffix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"
