"""One kind of error for everything a user wrote wrong: it prints as one line naming the key or file."""

from __future__ import annotations

import re

from pydantic import ValidationError


class ConfigError(ValueError):
    """A bad setting, file or value. `str(err)` is the one line shown to the user (CLI exits 2)."""


def from_validation(err: ValidationError, where: str = "") -> ConfigError:
    """Turn pydantic's multi-line report into one line: `where: key.path: message` (first problem)."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    msg = msg.removeprefix("Value error, ")
    # A model-level check names its field in the message ("width: ...", "optim.lr: ..."); fold it into the key.
    field = re.match(r"^([A-Za-z_][\w.]*): ", msg)
    if field:
        key = f"{key}.{field.group(1)}" if key else field.group(1)
        msg = msg[field.end():]
    prefix = f"{where}: " if where else ""
    return ConfigError(f"{prefix}{key}: {msg}" if key else f"{prefix}{msg}")
