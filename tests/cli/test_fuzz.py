"""Random bad input, from a seeded generator: every case is exit 2 and one line on stderr, never a
traceback, and nothing is written.

Each section makes one kind of input (a study file, a `--set` value); another kind (an analysis
table for `fit` / `compare`) is one more entry in SECTIONS. A case says whether the library
refuses it (`invalid`), found by loading it in-process, where anything but a ConfigError is a
failure (a traceback); the command is then run through the CLI and must refuse it cleanly. A
case the library accepts is counted and not run (it would train). `invalid=None` leaves it to
the command: exit 0 or a clean exit 2.

The cases are fixed by the seed (the same on every machine). The suite runs the first third of
each section (~15 s on 2 cores); SCALINGLAB_FUZZ_SCALE=1 runs all of them (500 study files, 300
`--set` values, 120 tables, ~40 s).
"""

from __future__ import annotations

import math
import os
import random
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from typer.exceptions import TyperException
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.cli.train import build_run_config
from scalinglab.config import ConfigError, RunConfig, load_study
from scalinglab.config.study import AXES, SECTIONS as RUN_SECTIONS, SHORTHAND
from tests.conftest import tiny_settings

SEED = 11

# Values that are wrong for most settings, and some that are right for a few: types, non-finite
# and huge numbers, markup, rules that divide by zero, overflow, recurse or turn complex.
VALUES = [
    math.nan, math.inf, -math.inf, -1, 0, 1, 0.5, 3, 1e17, 10**30, -(10**30), 1e-300, 64, 100,
    True, False, "", "x", "nan", "inf", "[/x]", "[bold]b[/bold]", "a[/i]b", "1/0", "width/0", "width/(width-64)",
    "9**9**9", "width**width**width", "(-width)**0.5", "width*1e400", "+".join(["1"] * 300), "2/widht",
    "__import__('os')", "2/width", "width/64", "bytes", "bpe:10", "files:[/x]*.txt", "sentencepiece:",
    "hf:", [], [1], [1, 1], [math.nan], [True], ["[/x]"], {}, {"a": 1}, {"[/x]": 1},
]
# What `--set` values look like on a command line (read as TOML, else as a bare string).
SET_VALUES = [
    "nan", "inf", "-inf", "-1", "0", "1e17", "100000000000000000000", "true", "1.5", "[/x]", "'[/x]'", "[1, 2]",
    "{a = 1}", '"1/0"', '"9**9**9"', '"(-width)**0.5"', '"width*1e400"', "'" + "+".join(["1"] * 300) + "'",
    "x=y", "", '"', "[", "0x10", "1_000", "2/width", "'2/widht'", "1e-400", "-0.0",
]
SET_KEYS = ["", ".", "model.", ".width", "model..width", "model.width.x", "[/x]", "model.widht[/x]", "seed.x",
            "optim", "loop.threads.deeper"]


@dataclass(frozen=True)
class Case:
    argv: list[str]
    invalid: bool | None
    """True: the library refused it; False: it accepted it; None: up to the command."""
    if_valid: list[str] | None = None
    """A command that must succeed, writing nothing, when the library accepts the input (`plan
    --no-probe` for a study: it prints the user's text); None: an accepted case is not run."""


def _fields() -> list[tuple[str, str]]:
    """(section, field) of every RunConfig setting, and ('', 'seed')."""
    out = [("", "seed")]
    for section in RUN_SECTIONS:
        out += [(section, name) for name in type(getattr(RunConfig(), section)).model_fields]
    return out


FIELDS = _fields()


def _refused(load: Callable[[], object], what: str) -> bool:
    """Whether the library refuses the input with a ConfigError; anything else raised fails the test."""
    try:
        load()
    except ConfigError:
        return True
    except Exception:  # noqa: BLE001 - what a user would see as a traceback
        raise AssertionError(f"{what}: traceback instead of a one-line error:\n{traceback.format_exc()}") from None
    return False


def _base_study() -> dict:
    return {"study": {"name": "fuzz"}, "model": {"depth": 1}, "budget": {"tokens": 2048, "batch_size": 8},
            "data": {"tokenizer": "bytes", "seq_len": 32, "max_documents": 50},
            "sweep": {"width": [64]}, "arms": {"a": {"lr": 0.01}}}


def study_case(rng: random.Random, tmp: Path) -> Case:
    """A study file with one setting, sweep, arm key or stretch of text made wrong."""
    study = _base_study()
    value = rng.choice(VALUES)
    kind = rng.randrange(6)
    if kind == 0:  # a setting in its section
        section, field = rng.choice(FIELDS)
        (study.setdefault(section, {}) if section else study)[field] = value
    elif kind == 1:  # an arm's shorthand or section
        key = rng.choice([*SHORTHAND, "seed", *RUN_SECTIONS, "learning_rate", "[/x]"])
        study["arms"][rng.choice(["a", "b", "[/x]", "a b"])] = {key: value}
    elif kind == 2:  # a sweep axis
        study["sweep"][rng.choice([*AXES, "widht"])] = rng.choice([value, [value], [64, value]])
    elif kind == 3:  # a table where a value goes, or a value where a table goes
        study[rng.choice(["model", "optim", "sweep", "arms", "study", "seed", "[/x]"])] = value
    elif kind == 4:  # the study's own text
        study["study"][rng.choice(["name", "description", "nme"])] = value
    text = tomli_w.dumps(_finite_for_toml(study))
    if kind == 5:  # damaged text
        cut = rng.randrange(len(text))
        text = text[:cut] + rng.choice(["", "[", "]]", "\x00", "= =", '"', "\n[sweep]\n", "é"]) + text[cut + 1:]
    path = tmp / "s.toml"
    path.write_text(text)
    return Case(["run", str(path)], _refused(lambda: load_study(path), text), ["plan", "--no-probe", str(path)])


def set_case(rng: random.Random, tmp: Path) -> Case:
    """`scalinglab train --config tiny.toml --set key=value` with a wrong key or value."""
    config = tmp / "run.toml"
    config.write_text(tomli_w.dumps(tiny_settings()))
    sets = []
    for _ in range(rng.choice([1, 1, 2])):
        if rng.random() < 0.2:
            key = rng.choice(SET_KEYS)
        else:
            section, field = rng.choice(FIELDS)
            key = f"{section}.{field}" if section else field
        sets.append(f"{key}={rng.choice(SET_VALUES)}" if rng.random() > 0.05 else key)
    argv = ["train", "--config", str(config), *(a for s in sets for a in ("--set", s)), "--out", str(tmp / "out")]
    return Case(argv, _refused(lambda: build_run_config(config, sets, {}), " ".join(sets)))


TABLE_VALUES = [math.nan, math.inf, -math.inf, -1, 0, 1e308, 1e41, "", "x", "[/x]", True, "1e3", None]
TABLE_FLAGS = [["--a", "z"], ["--b", "a"], ["--frontier", "isoflop"], ["--frontier", "nope"], ["--checkpoints", "all"],
               ["--checkpoints", "some"], ["--where", "loss >"], ["--where", "[/x] == 1"], ["--where", "loss > 99"],
               ["--where", "__import__('os').system('true')"], ["--target-compute", "inf"], ["--target-compute", "-5"],
               ["--target-params", "1e9"], ["--drop-highest", "-1"], ["--drop-highest", "99"], ["--share", "all"],
               ["--resample", "rows"], ["--law", "chinchilla"], ["--group", "[/x]"], ["--loss", "nope"],
               ["--bootstrap", "-1"], ["--run", "arm"]]


def table_case(rng: random.Random, tmp: Path) -> Case:
    """`scalinglab fit | compare | backtest` on a small two-arm table with a cell, column or flag made wrong."""
    import pandas as pd

    from scalinglab.analysis import compare_arms, fit_law, rolling_backtest
    from scalinglab.analysis.synthetic import table
    from scalinglab.cli.analysis import _table_of

    df, _ = table(rng.choice(["inside", "never"]), seed=rng.randrange(5), sizes=5)
    df = df.astype(object)
    kind = rng.randrange(4)
    if kind == 0:  # a bad cell
        df.loc[rng.randrange(len(df)), rng.choice(list(df.columns))] = rng.choice(TABLE_VALUES)
    elif kind == 1:  # a column dropped, renamed or doubled
        col = rng.choice(list(df.columns))
        df = rng.choice([lambda d: d.drop(columns=col), lambda d: d.rename(columns={col: "[/x]"}),
                         lambda d: pd.concat([d, d[[col]]], axis=1)])(df)
    elif kind == 2:  # all rows of one arm gone, or a single row left
        df = rng.choice([df[df["arm"] == "a"], df.head(1), df.iloc[::3]])
    # JSON lines cannot hold two columns of one name: a doubled column goes to CSV.
    path = tmp / rng.choice(["runs.csv", "runs.jsonl" if df.columns.is_unique else "runs.csv", "runs[bold]x[red].csv"])
    (df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_json(path, orient="records", lines=True))
    command = rng.choice(["fit", "compare", "backtest"])
    flags = ["--bootstrap", "0"] + (rng.choice(TABLE_FLAGS) if kind == 3 or rng.random() < 0.3 else [])
    argv = [command, str(path), *(["--a", "a", "--b", "b"] if command != "fit" else []), *flags]

    def load():
        # The library's view of the same command, through the CLI's own parsing of the flags.
        from typer.main import get_command

        cmd = get_command(app).commands[command]
        try:
            params = cmd.make_context(command, argv[1:]).params
        except TyperException as e:  # a flag the command does not have: a usage error, refused too
            raise ConfigError(e.format_message()) from None
        frame = _table_of(params.pop("data"), params.pop("where", None))
        if command == "fit":
            return fit_law(frame, "compute", bootstrap=params["bootstrap"], frontier=params["frontier"],
                           checkpoints=params["checkpoints"], drop_highest=params["drop_highest"],
                           resample=params["resample"], target_compute=params["target_compute"],
                           columns=_columns(params))
        call = compare_arms if command == "compare" else rolling_backtest
        extra = {} if command == "backtest" else {"target_compute": params["target_compute"],
                                                  "target_params": params["target_params"],
                                                  "target_tokens": params["target_tokens"]}
        return call(frame, params["a"], params["b"], bootstrap=params["bootstrap"], law=params["law"],
                    frontier=params["frontier"], checkpoints=params["checkpoints"], share=params["share"],
                    resample=params["resample"], drop_highest=params["drop_highest"], columns=_columns(params), **extra)

    return Case(argv, _refused(load, " ".join(argv)))


def _columns(params: dict):
    from scalinglab.analysis import Columns

    return Columns(group=params.get("group"), loss=params.get("loss"), run_id=params.get("run"))


def _finite_for_toml(tree):
    """tomli_w writes nan and inf as TOML's nan and inf: nothing to change, but keep lists of
    mixed tables and values out (TOML has no such arrays)."""
    if isinstance(tree, dict):
        return {k: _finite_for_toml(v) for k, v in tree.items()}
    if isinstance(tree, list) and any(isinstance(x, dict) for x in tree) and not all(isinstance(x, dict) for x in tree):
        return [x for x in tree if not isinstance(x, dict)]
    return tree


SCALE = float(os.environ.get("SCALINGLAB_FUZZ_SCALE", "0.35"))
SECTIONS: dict[str, tuple[Callable[[random.Random, Path], Case], int]] = {
    "study file": (study_case, round(500 * SCALE)),
    "--set value": (set_case, round(300 * SCALE)),
    "analysis table": (table_case, round(120 * SCALE)),
}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_random_bad_input_is_one_line_and_writes_nothing(tmp_path):
    rng = random.Random(SEED)
    runner = CliRunner()
    tally: Counter = Counter()
    for name, (make, count) in SECTIONS.items():
        for i in range(count):
            case_dir = tmp_path / f"{name.replace(' ', '-')}-{i}"
            case_dir.mkdir()
            case = make(rng, case_dir)
            tally[name, "tried"] += 1
            before = _files(case_dir)
            if case.invalid is False:
                tally[name, "accepted"] += 1
                if case.if_valid:
                    result = runner.invoke(app, case.if_valid)
                    assert result.exit_code == 0, f"{name} #{i}: {case.if_valid}\n{result.output}\n{result.exception!r}"
                    assert _files(case_dir) == before
                continue
            result = runner.invoke(app, case.argv)
            where = f"{name} #{i}: {case.argv}"
            assert result.exit_code in ((2,) if case.invalid else (0, 2)), f"{where}\n{result.output}\n{result.exception!r}"
            if result.exit_code == 0:
                tally[name, "accepted"] += 1
                continue
            assert isinstance(result.exception, SystemExit), f"{where}: {result.exception!r}"
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}\n{result.stderr}"
            assert "Traceback" not in result.output, where
            assert _files(case_dir) == before, f"{where}: wrote {set(_files(case_dir)) - set(before)}"
            tally[name, "clean errors"] += 1
    print("\nfuzz:", {f"{n}: {k}": v for (n, k), v in sorted(tally.items())})
    for name, (_, count) in SECTIONS.items():
        assert tally[name, "clean errors"] > count // 2  # the generator mostly makes bad input
