"""TOML files and `--set key=value` overrides in, validated frozen configs out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from scalinglab.config.errors import ConfigError, from_validation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T", bound=BaseModel)

MAX_NESTING = 16
"""Levels of tables and lists in a settings file; a study has four (arms.x.model.depth). A file nested
100,000 deep overflowed the TOML parser's stack, and a deep one it could read overflowed ours."""
MAX_OVERRIDE_LENGTH = 10_000
"""Characters of one `--set key=value`: a path fits; an inline table of 100,000 dotted keys (12 s in the
TOML parser) does not."""
MAX_KEY_PARTS = 100
"""Dotted parts of one key that are refused before the parser sees them (_check_key_lengths)."""


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_bytes().decode()
        _check_key_lengths(text, str(path))
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested more than {MAX_NESTING} levels deep") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); TOML files must be UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    _check_nesting(data, str(path))
    return data


def _check_key_lengths(text: str, where: str) -> None:
    """Refuse, before parsing, a key of MAX_KEY_PARTS dotted parts or more: tomllib keeps a flag per
    prefix of a dotted key, so `k.k.k... = 1` of 100,000 parts took 15 GB and a header of as many
    took 30 s. The key of a line is what comes before its first `=` (a header: the whole line); a
    line of a multi-line string could read as one, but not with a hundred dots before any `=`."""
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key.count(".") >= MAX_KEY_PARTS and _dots_outside_quotes(key) >= MAX_KEY_PARTS:
            raise ConfigError(f"nested more than {MAX_NESTING} levels deep", where=where)


def _dots_outside_quotes(key: str) -> int:
    dots, quote = 0, None
    for c in key:
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == ".":
            dots += 1
    return dots


def _check_nesting(tree: Any, where: str, option: str | None = None) -> None:
    """Refuse tables and lists nested deeper than MAX_NESTING, walking without recursion."""
    stack = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        if level > MAX_NESTING:
            raise ConfigError(f"nested more than {MAX_NESTING} levels deep", option=option, where=where)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack += [(child, level + 1) for child in children]


def _parse_value(text: str) -> Any:
    """A value as TOML would read it (numbers, booleans, lists), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):  # a value nested too deep is checked by its depth
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of a nested dict with `values` (dotted key → a value as it is: a command line's typed
    flags) and then `a.b.c=value` overrides (the value read as TOML, else as a bare string) set in it.

    A flag's value is set, never pasted into TOML text: `--lr '1" \\nx = "'` once became lr = 1 and
    another key."""
    import copy

    out = copy.deepcopy(data)
    for key, value in (values or {}).items():
        _put(out, key, value, key)
    for item in overrides:
        if len(item) > MAX_OVERRIDE_LENGTH:
            raise ConfigError(f"{item[:40]}...: longer than {MAX_OVERRIDE_LENGTH:,} characters", option="set")
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{item}: expected key=value, e.g. optim.lr=0.004", option="set")
        _put(out, key.strip(), _parse_value(value.strip()), item)
    _check_nesting(out, "", option="set")
    return out


def _put(tree: dict[str, Any], key: str, value: Any, item: str) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{item}: '{part}' is a value, not a section", option="set")
        node = child
    node[parts[-1]] = value


def validate(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise from_validation(e, where) from None
