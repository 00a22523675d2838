"""The typer application and the one place that turns library errors into exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from typer.core import TyperGroup
from typer.exceptions import TyperException

from scalinglab.config import ConfigError
from scalinglab.config.errors import one_line

class _OneLineUsageErrors(TyperGroup):
    """Command-line usage errors (an unknown option, a missing argument, `--width abc`) as one line,
    like every other bad input, instead of click's usage box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except TyperException as e:  # click's ClickException and its subclasses (usage errors)
            ctx = getattr(e, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            if e.format_message():  # (none when a bare `scalinglab` has printed the help)
                err_console.print(error_line(f"{where}{e.format_message()} (see --help)"), soft_wrap=True)
            code = e.exit_code
        except typer.Abort:
            err_console.print(error_line("aborted"), soft_wrap=True)
            code = 1
        if standalone_mode:
            sys.exit(code or 0)
        return code


app = typer.Typer(
    name="scalinglab",
    help="Scaling-law research on language models: plan, train, fit, compare, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_OneLineUsageErrors,
)

# Progress and tables go to stderr, so `--json` output on stdout stays machine-readable.
# Neither console reads markup: what they print comes from users (file names, arm names, study
# descriptions) and from errors, and a `[/x]` in those must print as itself, not raise
# rich.errors.MarkupError or vanish. Styles are given with `style=` or rich.text.Text instead.
err_console = Console(stderr=True, markup=False, highlight=False)
out_console = Console(markup=False, highlight=False)


def error_line(message: str) -> Text:
    """`error: <message>`, the message as plain text whatever brackets it holds."""
    return Text.assemble(("error:", "bold red"), " ", one_line(str(message)))


def warning_line(message: str) -> Text:
    """`warning: <message>`: something was wrong and has been recovered from."""
    return Text.assemble(("warning:", "yellow"), " ", str(message))


class _WarningLines(logging.Handler):
    """scalinglab's log warnings (a damaged checkpoint set aside, say) as one line each on stderr."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(warning_line(record.getMessage()), soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print one line and exit non-zero (2 for bad input, as everywhere in scalinglab)."""
    err_console.print(error_line(message), soft_wrap=True)
    raise typer.Exit(code)


ALIASES = {"fmt": "format"}
"""Library parameters whose flag has another name."""


def flag(option: str) -> str:
    """A library parameter as the command line knows it: target_compute → --target-compute."""
    return "--" + ALIASES.get(option, option).replace("_", "-")


@contextmanager
def user_errors() -> Iterator[None]:
    """The one boundary for bad input: a library ConfigError becomes one line naming the flag, and
    exit status 2, whether called through `scalinglab` or typer's test runner."""
    try:
        yield
    except ConfigError as e:
        fail(e.line(flag))


def run_app() -> None:
    try:
        app()
    except ConfigError as e:
        err_console.print(error_line(e.line(flag)), soft_wrap=True)
        sys.exit(2)


@app.callback()
def _root() -> None:
    """Scaling-law research on language models: plan, train, fit, compare, report."""
    # Here, not at import: worker processes import this module too, and their warnings travel
    # back to the driver with the run's outcome (execute.worker) instead.
    logger = logging.getLogger("scalinglab")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines())
