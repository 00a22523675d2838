"""One kind of error for everything a user wrote wrong: it prints as one line naming the key or file."""

from __future__ import annotations

import re

from pydantic import ValidationError


class ConfigError(ValueError):
    """A bad setting, file or value. `str(err)` is one line: `where: option: text`, each part when known.

    option: the library parameter the error is about (`target_compute`), when it is one. The library
    names its own parameters; the command line shows the flag instead (`--target-compute`), so the
    terminal's vocabulary stays in `cli` (cli.app.user_errors renders it).
    """

    def __init__(self, text: str, *, option: str | None = None, where: str | None = None):
        self.text, self.option, self.where = text, option, where
        super().__init__(self.line())

    def line(self, flag=None) -> str:
        """The one line; `flag` maps an option to how the reader knows it (a CLI flag)."""
        name = None if self.option is None else (flag(self.option) if flag else self.option)
        return one_line(": ".join(part for part in (self.where, name, self.text) if part))

    def at(self, where: str) -> ConfigError:
        """The same error, said of a file or table."""
        return ConfigError(self.text, option=self.option, where=f"{where}: {self.where}" if self.where else where)


def one_line(text: str) -> str:
    """Control characters escaped as Python writes them ('\\n'): a name or value with a newline in it
    (an arm 'a\\n', an `--lr` of '1" \\nx = "') keeps an error on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
