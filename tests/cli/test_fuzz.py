"""Random bad input, from a seeded generator: every case ends in one line on stderr and exit 2, or in a
right answer; never a traceback or a hang, and a refused input writes nothing.

Each section makes one kind of input:
- a study file, a `--set` value, an analysis table for `fit` / `compare` / `backtest` (a cell, a
  column or a flag made wrong);
- `--where`: conditions that ran code, wrote files or hung in pandas' DataFrame.query, grammar soup,
  long and deep ones;
- deep nesting: TOML files, `--set` values and keys nested 5 to 100,000 levels deep;
- long names: arm and study names long, odd, or holding control characters; the run ids of an
  accepted study must stay short, distinct and on one line;
- numbers: every numeric flag of every command that takes one (fit, compare, backtest, report, next,
  run --adaptive, plan, train) given NaN, infinities, negatives, zero, tiny, huge and non-numbers;
- hand-edited results: a finished run's result.json edited, then `train` on its folder again: the
  edit is said in one warning and the run's own result comes back, or the file is one it cannot tell.

A case says whether the library refuses it (`invalid`), found by loading it in-process, where
anything but a ConfigError is a traceback; the command is then run through the CLI. A case the
library accepts is counted and not run when it would train. `invalid=None` leaves it to the command.

The cases are fixed by the seed (the same on every machine). The suite runs a share of each
section (SCALE × Section.share: 406 cases, ~20 s of CPU); SCALINGLAB_FUZZ_SCALE=1 runs all of
them, 1,966 cases in ~3 min (the numbers section: its whole product of flags and values). The
tally prints as a table (pytest -s): tried, clean errors, accepted, tracebacks, hangs (a case over
CASE_SECONDS) and other faults (two lines, exit 1, a file written, a wrong answer); the test fails
on any of the last three.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from typer.exceptions import TyperException
from typer.testing import CliRunner, Result

from scalinglab.cli import app
from scalinglab.cli.train import build_run_config
from scalinglab.config import ConfigError, RunConfig, load_study
from scalinglab.config.study import AXES, SHORTHAND
from scalinglab.config.study import SECTIONS as RUN_SECTIONS
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
    check: Callable[[Result], str | None] | None = None
    """For a command that succeeds: what is wrong with its answer, or None."""


class LibraryTraceback(AssertionError):
    """The library raised something other than a ConfigError while loading a case."""


class Fault(Exception):
    """A case's input was accepted and gave a wrong result (a run id with a newline, say)."""


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
    except Fault:
        raise
    except Exception:  # noqa: BLE001 - what a user would see as a traceback
        raise LibraryTraceback(f"{what}: traceback instead of a one-line error:\n{traceback.format_exc()}") from None
    return False


def _base_study() -> dict:
    return {"study": {"name": "fuzz"}, "model": {"depth": 1}, "budget": {"tokens": 2048, "batch_size": 8},
            "data": {"tokenizer": "bytes", "seq_len": 32, "max_documents": 50},
            "sweep": {"width": [64]}, "arms": {"a": {"lr": 0.01}}}


def study_case(rng: random.Random, tmp: Path, i: int) -> Case:
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


def set_case(rng: random.Random, tmp: Path, i: int) -> Case:
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
               ["--bootstrap", "-1"], ["--run", "arm"], ["--margin", "nan"], ["--level", "2"]]


def table_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """`scalinglab fit | compare | backtest` on a small two-arm table with a cell, column or flag made wrong."""
    import pandas as pd

    from scalinglab.analysis import compare_arms, fit_law, rolling_backtest
    from scalinglab.analysis.evaluating.synthetic import table
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
    flags = (["--bootstrap", "0"] if command == "fit" else ["--draws", "0"]) + \
        (rng.choice(TABLE_FLAGS) if kind == 3 or rng.random() < 0.3 else [])
    argv = [command, str(path), *(["--a", "a", "--b", "b"] if command != "fit" else []), *flags]

    def load():
        # The library's view of the same command, through the CLI's own parsing of the flags.
        from typer.main import get_command

        cmd = get_command(app).commands[command]
        try:
            params = cmd.make_context(command, argv[1:]).params
        except TyperException as e:  # a flag the command does not have: a usage error, refused too
            raise ConfigError(e.format_message()) from None
        refits = params["bootstrap"] if command == "fit" else 0
        frame = _table_of(params.pop("data"), params.pop("where", None), refits, False)
        if command == "fit":
            return fit_law(frame, "compute", bootstrap=params["bootstrap"], frontier=params["frontier"],
                           checkpoints=params["checkpoints"], drop_highest=params["drop_highest"],
                           resample=params["resample"], target_compute=params["target_compute"],
                           columns=_columns(params))
        call = compare_arms if command == "compare" else rolling_backtest
        extra = {} if command == "backtest" else {"target_compute": params["target_compute"],
                                                  "target_params": params["target_params"],
                                                  "target_tokens": params["target_tokens"]}
        return call(frame, params["a"], params["b"], draws=params["draws"] or 0, law=params["law"],
                    frontier=params["frontier"], checkpoints=params["checkpoints"], share=params["share"],
                    drop_highest=params["drop_highest"], margin=params["margin"], level=params["level"],
                    columns=_columns(params), **extra)

    return Case(argv, _refused(load, " ".join(argv)))


def _columns(params: dict):
    from scalinglab.analysis import Columns

    return Columns(group=params.get("group"), loss=params.get("loss"), run_id=params.get("run"))


def _two_arm_table(rng: random.Random, tmp: Path) -> Path:
    from scalinglab.analysis.evaluating.synthetic import table

    df, _ = table(rng.choice(["inside", "never"]), seed=rng.randrange(5), sizes=5)
    path = tmp / "runs.csv"
    df.to_csv(path, index=False)
    return path


# Conditions that pandas' DataFrame.query ran, wrote files with or hung on ({dir}: the case's folder,
# where anything written would show).
WHERE_ATTACKS = [
    "loss.to_frame().query('@com.builtins.__import__(\"os\").system(\"touch {dir}/pwned\")', engine='python')",
    "loss.to_pickle('{dir}/x.pkl')",
    "loss ** 9**9**9 > 0",
    "__import__('os').system('touch {dir}/pwned')",
    "compute.to_csv('{dir}/c.csv') is None",
    "loss[loss > 0].to_json('{dir}/j.json')",
    "(lambda: open('{dir}/f', 'w'))() == 1",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "loss > 0 if open('{dir}/f', 'w') else 1",
    "f'{{open(\"{dir}/f\", \"w\")}}' == 'x'",
    "arm == 'a'; import os",
    "@__builtins__",
    "loss.__class__.__mro__",
    "arm.str.cat(others=None) == 'x'",
]
WHERE_ATOMS = ["arm", "loss", "params", "compute", "run_id", "nope", "`arm`", "`no such`", "1", "-1", "1e400", "0x10",
               "'a'", "'b'", "'[/x]'", "''", "True", "None", "[1, 'a']", "('a',)", "{'a'}", "loss.max()", "arm[0]",
               "9**9**9", "@x", "'a\nb'", "\x00", "é", "[", ")", "lambda: 1"]
WHERE_OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not", "+", "**", "and", "or", "&", "|", "@",
             ".", ",", ":", ":="]


def _soup(rng: random.Random, depth: int) -> str:
    """A random expression: mostly the grammar's own pieces, put together right or wrong."""
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(WHERE_ATOMS)
    kind = rng.randrange(4)
    if kind == 0:
        return f"{_soup(rng, depth - 1)} {rng.choice(WHERE_OPS)} {_soup(rng, depth - 1)}"
    if kind == 1:
        return f"not {_soup(rng, depth - 1)}"
    if kind == 2:
        return f"({_soup(rng, depth - 1)})"
    return f"{rng.choice(['arm', 'loss', 'params'])} {rng.choice(WHERE_OPS[:8])} {rng.choice(WHERE_ATOMS)}"


def where_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """`fit | compare | backtest --where CONDITION`: attacks, soup, and long or deep conditions."""
    kind = rng.randrange(4)
    if kind == 0:
        where = rng.choice(WHERE_ATTACKS).replace("{dir}", str(tmp))
    elif kind == 1:
        where = _soup(rng, rng.randrange(1, 6))
    elif kind == 2:
        n = rng.choice([50, 99, 100, 101, 199, 200, 1000, 100_000])
        where = rng.choice([("(" * n) + "loss > 1" + (")" * n), "not " * n + "loss > 1", "-" * n + "1 < loss",
                            " and ".join(["loss > 1"] * n), "x" * n, "loss in [" + ", ".join(["1"] * n) + "]"])
    else:  # the documented kind, right or slightly wrong
        where = rng.choice(["arm == 'a'", "arm in ['a', 'b'] and loss < 99", "1e6 <= params < 1e8", "arm == a",
                            "arm = 'a'", "arm == 'a' and", "not arm == 'b'", "`loss` > 0", "loss > '3'"])
    command = rng.choice(["fit", "compare", "backtest"])
    arms = ["--a", "a", "--b", "b"] if command != "fit" else []
    quick = ["--bootstrap", "0"] if command == "fit" else ["--draws", "0"]
    return Case([command, str(_two_arm_table(rng, tmp)), *arms, *quick, "--where", where], None)


DEPTHS = [5, 15, 16, 17, 100, 499, 500, 1000, 5000, 100_000]


def deep_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """A study file or `--set` nested deep: arrays, inline tables, dotted headers and keys."""
    n = rng.choice(DEPTHS)
    kind = rng.randrange(6)
    if kind >= 4:  # `train --set`: a value or a key nested n deep
        config = tmp / "run.toml"
        config.write_text(tomli_w.dumps(tiny_settings()))
        value = rng.choice(["[" * n + "]" * n, "{" + ".".join(["k"] * n) + " = 1}"])
        item = f"optim.lr={value}" if kind == 4 else (".".join(["optim"] * n) + "=1")
        argv = ["train", "--config", str(config), "--set", item, "--out", str(tmp / "out")]
        return Case(argv, _refused(lambda: build_run_config(config, [item], {}), item[:60]))
    text = tomli_w.dumps(_base_study())
    text = (text + "\n[loop]\nthreads = " + ("[" * n + "]" * n if kind == 0 else "{a = " * n + "1" + "}" * n)
            if kind < 2 else text + "\n[" + ".".join(["arms"] + ["a"] * n) + "]\nlr = 0.01\n" if kind == 2
            else ".".join(["k"] * n) + " = 1\n" + text)
    path = tmp / "s.toml"
    path.write_text(text)
    return Case(["plan", "--no-probe", str(path)], _refused(lambda: load_study(path), f"depth {n}, kind {kind}"),
                ["plan", "--no-probe", str(path)])


NAME_PIECES = ["a", "x" * 63, "x" * 95, "x" * 96, "x" * 97, "x" * 200, "x" * 254, "x" * 255, "x" * 256, "x" * 300,
               "x" * 5000, "a\n", "a\r", "a\t", "a\x00", "\n", "a/b", "..", ".", "-a", "a b", "é", "[/x]", "a\\", "CON",
               ""]


def _checked_ids(path: Path):
    """Load a study, and fault it when an accepted study's run ids are long, odd or not distinct."""
    study = load_study(path)
    ids = [r.run_id for r in study.runs]
    if len(set(ids)) != len(ids):
        raise Fault(f"two runs share an id: {sorted(ids)[:2]}")
    for run_id in ids:
        if len(run_id.encode()) > 255 or "/" in run_id or any(ord(c) < 32 for c in run_id):
            raise Fault(f"run id not fit for a folder name: {run_id!r}")
    return study


def long_name_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """Arm and study names long, odd, or two long ones alike up to the cut, with the same settings."""
    study = _base_study()
    name = rng.choice(NAME_PIECES) + rng.choice(["", "", rng.choice(NAME_PIECES)])
    kind = rng.randrange(3)
    if kind == 0:
        study["arms"] = {name: {"lr": 0.01}, "b": {"lr": 0.02}}
    elif kind == 1:
        study["study"]["name"] = name
    else:  # the same config twice: one digest, so only the names keep the ids apart
        study["arms"] = {name + "a": {"lr": 0.01}, name + "b": {"lr": 0.01}}
    path = tmp / "s.toml"
    path.write_text(tomli_w.dumps(study))
    return Case(["plan", "--no-probe", str(path)], _refused(lambda: _checked_ids(path), repr(name)[:60]),
                ["plan", "--no-probe", str(path)])


NUMBER_FLAGS = {
    "fit": ["--bootstrap", "--bootstrap-seed", "--delta", "--target-compute", "--drop-highest"],
    "compare": ["--draws", "--bootstrap-seed", "--margin", "--level", "--target-compute", "--drop-highest",
                "--target-params", "--target-tokens"],
    "backtest": ["--draws", "--bootstrap-seed", "--margin", "--level", "--drop-highest"],
    "report": ["--target-compute", "--bootstrap", "--bootstrap-seed"],
    "next": ["--target-compute", "--budget", "--draws", "--error-rate", "--top", "--extend"],
    "run": ["--budget", "--target-compute", "--error-rate", "--workers", "--threads-per-worker"],
    "plan": ["--workers", "--threads-per-worker"],
    "train": ["--width", "--depth", "--tokens", "--lr", "--seed"],
}
NUMBERS = ["nan", "-nan", "inf", "-inf", "-1", "0", "-0.0", "1e-300", "0.5", "3", "1e21", "1e39", "1e300", "1e400",
           "100001", "4294967296", "x", ""]
NUMBER_CASES = [(c, f, v) for c, flags in NUMBER_FLAGS.items() for f in flags for v in NUMBERS]
random.Random(SEED).shuffle(NUMBER_CASES)


def _small_study(tmp: Path) -> Path:
    from tests.study_files import write_study

    return write_study(tmp / "s.toml", widths=(64, 128, 192), arms={"a": {"lr": 0.01}, "b": {"lr": 0.02}})


def number_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """Every numeric flag of every command that takes one, with each of NUMBERS (case i of their product).

    Nothing trains: the analysis commands fit a small table (no bootstrap unless the flag is
    --bootstrap), `report` and `next` read a study with no results yet, `run --adaptive` is a dry
    run, and `train` is run only when the library refuses its settings."""
    command, flag, value = NUMBER_CASES[i]
    given = [f"{flag}={value}"]  # `=`: a value such as -1 is not read as a flag
    if command in ("fit", "compare", "backtest"):
        arms = ["--a", "a", "--b", "b"] if command != "fit" else []
        other = {"--target-params": ["--target-tokens", "1e10"], "--target-tokens": ["--target-params", "1e9"]}
        quick = "--bootstrap" if command == "fit" else "--draws"
        extra = ([quick, "0"] if flag != quick else []) + other.get(flag, [])
        return Case([command, str(_two_arm_table(rng, tmp)), *arms, *extra, *given], None)
    if command == "train":
        config = tmp / "run.toml"
        config.write_text(tomli_w.dumps(tiny_settings()))
        argv = ["train", "--config", str(config), *given, "--out", str(tmp / "out")]
        return Case(argv, _refused(lambda: _train_settings(argv), " ".join(argv[3:])))
    study = str(_small_study(tmp))
    extra = {"report": [], "next": ["--no-probe"], "plan": ["--no-probe"],
             "run": ["--adaptive", "--dry-run", "--no-probe"] + (["--budget", "1e15"] if flag != "--budget" else [])}
    return Case([command, study, *extra[command], *given], None)


def _train_settings(argv: list[str]) -> RunConfig:
    """`train`'s settings from its command line, as the command builds them (without training)."""
    from typer.main import get_command

    from scalinglab.cli.train import _number_or_rule

    try:
        params = get_command(app).commands["train"].make_context("train", argv[1:]).params
    except TyperException as e:
        raise ConfigError(e.format_message()) from None
    return build_run_config(params["config"], params["sets"], {
        "model.width": params["width"], "model.depth": _number_or_rule(params["depth"]),
        "budget.tokens": params["tokens"], "optim.lr": _number_or_rule(params["lr"]), "seed": params["seed"]})


def _finished_run(root: Path) -> tuple[Path, Path, dict]:
    """A finished tiny run (trained once per session) to copy and edit: (config file, folder, result.json)."""
    config, folder = root / "finished.toml", root / "finished"
    if not folder.exists():
        config.write_text(tomli_w.dumps(tiny_settings(budget={"tokens": 8 * 8 * 32, "batch_size": 8},
                                                      loop={"threads": 1, "eval_tokens": 512, "log_every": 4})))
        result = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(folder)])
        assert result.exit_code == 0, result.output
    return config, folder, json.loads((folder / "result.json").read_text())


def _edits(doc: dict) -> list[tuple[str, Callable[[], str]]]:
    """(what, the edited text) of a result.json; each keeps or drops the checksum as its name says.
    An edit of what the result holds is told; "an extra key" leaves the result as it was."""
    def dumped(**change):
        return json.dumps({k: v for k, v in (doc | change).items() if v is not _DROP}, indent=1)

    metrics = [dict(m) for m in doc["metrics"]]
    metrics[-1]["eval_loss"] = 0.5
    return [
        ("final loss 0.52", lambda: dumped(final_eval_loss=0.52)),
        ("a metric changed", lambda: dumped(metrics=metrics)),
        ("status diverged", lambda: dumped(status="diverged")),
        ("steps 1.5", lambda: dumped(steps=1.5)),
        ("steps -5", lambda: dumped(steps=-5)),
        ("loss a string", lambda: dumped(final_eval_loss="x")),
        ("loss true", lambda: dumped(final_eval_loss=True)),
        ("loss NaN", lambda: dumped(final_eval_loss=math.nan)),
        ("loss 1e999", lambda: dumped().replace(f'"final_eval_loss": {doc["final_eval_loss"]!r}',
                                                '"final_eval_loss": 1e999')),
        ("an extra key", lambda: dumped(extra=1)),
        ("a key missing", lambda: dumped(tokens=_DROP)),
        ("checksum garbage", lambda: dumped(checksum="sha256:00")),
        ("checksum a number", lambda: dumped(checksum=5)),
        ("checksum null", lambda: dumped(checksum=None)),
        ("a key twice", lambda: dumped()[:-2] + ',\n "final_eval_loss": 0.5\n}'),  # JSON reads the last
        ("truncated", lambda: dumped()[: len(dumped()) // 2]),
        ("a list", lambda: "[]"),
        ("null", lambda: "null"),
        ("empty", lambda: ""),
        ("NUL bytes", lambda: "\x00" * 10),
        ("not UTF-8", lambda: "\udcff"),
        ("no checksum (before there were any)", lambda: dumped(checksum=_DROP)),
        ("no checksum, loss edited (cannot be told)", lambda: dumped(checksum=_DROP, final_eval_loss=0.52)),
    ]


_DROP = object()


def edited_result_case(rng: random.Random, tmp: Path, i: int) -> Case:
    """A finished run's result.json edited, then `train` on the folder: the edit is said in one
    warning naming the file and the run's own result comes back (finished again from its checkpoint)."""
    config, finished, doc = _finished_run(tmp.parent)
    what, edit = rng.choice(_edits(doc))
    folder = tmp / "run"
    shutil.copytree(finished, folder)
    text = edit()
    (folder / "result.json").write_bytes(text.encode("utf-8", "surrogateescape"))

    def check(result: Result) -> str | None:
        told = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        after = json.loads((folder / "result.json").read_text())
        if what.startswith("no checksum") or what == "an extra key":  # the file read as it is
            return None if not told else f"{what}: warned {told}"
        if len(told) != 1 or str(folder / "result.json") not in told[0]:
            return f"{what}: not one warning naming the file: {result.stderr}"
        if after["final_eval_loss"] != doc["final_eval_loss"]:
            return f"{what}: the run's result did not come back ({after['final_eval_loss']})"
        return None

    return Case(["train", "--config", str(config), "--out", str(folder)], None, check=check)


def _finite_for_toml(tree):
    """tomli_w writes nan and inf as TOML's nan and inf: nothing to change, but keep lists of
    mixed tables and values out (TOML has no such arrays)."""
    if isinstance(tree, dict):
        return {k: _finite_for_toml(v) for k, v in tree.items()}
    if isinstance(tree, list) and any(isinstance(x, dict) for x in tree) and not all(isinstance(x, dict) for x in tree):
        return [x for x in tree if not isinstance(x, dict)]
    return tree


SCALE = float(os.environ.get("SCALINGLAB_FUZZ_SCALE", "0.35"))
CASE_SECONDS = 120
"""A case still running after this long is a hang (the slowest clean case takes a few seconds)."""


@dataclass(frozen=True)
class Section:
    make: Callable[[random.Random, Path, int], Case]
    cases: int
    """How many at scale 1."""
    share: float = 1.0
    """Of SCALE, in the suite: the sections whose cases train or fit run a smaller share."""
    mostly_bad: bool = True
    """The generator makes bad input, so most cases must end in a clean error."""

    @property
    def count(self) -> int:
        return self.cases if SCALE >= 1 else round(self.cases * SCALE * self.share)


SECTIONS: dict[str, Section] = {
    "study file": Section(study_case, 500),
    "--set value": Section(set_case, 300),
    "analysis table": Section(table_case, 120),
    "--where": Section(where_case, 200, share=0.3),
    "deep nesting": Section(deep_case, 60, share=0.5),
    "long names": Section(long_name_case, 80, share=0.5, mostly_bad=False),
    "numbers": Section(number_case, len(NUMBER_CASES), share=0.15),
    "hand-edited results": Section(edited_result_case, 40, share=0.25, mostly_bad=False),
}
COLUMNS = ("tried", "clean errors", "accepted", "tracebacks", "hangs", "faults")


class _Hang(BaseException):
    """Raised in a case that runs past CASE_SECONDS (a BaseException: no `except Exception` swallows it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def stop(signum, frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _outcome(runner: CliRunner, case: Case, case_dir: Path) -> tuple[str, str | None]:
    """The column a case counts in, and what went wrong when that is a fault."""
    before = _files(case_dir)
    if case.invalid is False:
        if not case.if_valid:
            return "accepted", None
        result = runner.invoke(app, case.if_valid)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            return "tracebacks", "".join(traceback.format_exception(result.exception))
        if result.exit_code != 0:
            return "faults", f"{case.if_valid}: exit {result.exit_code} on input the library accepts\n{result.output}"
        return ("accepted", None) if _files(case_dir) == before else ("faults", f"{case.if_valid} wrote files")
    result = runner.invoke(app, case.argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "tracebacks", "".join(traceback.format_exception(result.exception))
    if result.exit_code == 0:
        if case.invalid:
            return "faults", "accepted what the library refuses"
        problem = case.check(result) if case.check else None
        return ("faults", problem) if problem else ("accepted", None)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
        return "faults", f"exit {result.exit_code}, not one line of error:\n{result.stderr}"
    if _files(case_dir) != before:
        return "faults", f"refused, but wrote {sorted(set(_files(case_dir)) - set(before))}"
    return "clean errors", None


def test_random_bad_input_is_one_line_and_writes_nothing(tmp_path):
    rng = random.Random(SEED)
    runner = CliRunner()
    tally: Counter = Counter()
    problems: list[str] = []
    for name, section in SECTIONS.items():
        start = time.perf_counter()
        for i in range(section.count):
            case_dir = tmp_path / f"{name.replace(' ', '-').strip('-')}-{i}"
            case_dir.mkdir()
            tally[name, "tried"] += 1
            case = None
            try:
                with _time_limit(CASE_SECONDS):
                    case = section.make(rng, case_dir, i)
                    column, problem = _outcome(runner, case, case_dir)
            except _Hang:
                column, problem = "hangs", f"over {CASE_SECONDS} s"
            except LibraryTraceback as e:
                column, problem = "tracebacks", str(e)
            except Fault as e:
                column, problem = "faults", str(e)
            tally[name, column] += 1
            if problem:
                problems.append(f"{name} #{i}: {case.argv if case else '(making the case)'}: {problem}")
        tally[name, "seconds"] = round(time.perf_counter() - start)
    columns = (*COLUMNS, "seconds")
    print(f"\nfuzz at scale {SCALE:g}:\n" + f"{'section':<22}" + "".join(f"{c:>14}" for c in columns))
    for name in SECTIONS:
        print(f"{name:<22}" + "".join(f"{tally[name, c]:>14}" for c in columns))
    print(f"{'all':<22}" + "".join(f"{sum(tally[n, c] for n in SECTIONS):>14}" for c in columns))
    assert not problems, f"{len(problems)} cases went wrong; the first:\n" + "\n\n".join(problems[:3])
    for name, section in SECTIONS.items():
        if section.mostly_bad:
            assert tally[name, "clean errors"] > section.count // 2  # the generator mostly makes bad input
