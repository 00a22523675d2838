"""The typer application and the one place that turns library errors into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from scalinglab.config import ConfigError

app = typer.Typer(
    name="scalinglab",
    help="Scaling-law research on language models: plan, train, fit, compare, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Progress and tables go to stderr, so `--json` output on stdout stays machine-readable.
# Neither console reads markup: what they print comes from users (file names, arm names, study
# descriptions) and from errors, and a `[/x]` in those must print as itself, not raise
# rich.errors.MarkupError or vanish. Styles are given with `style=` or rich.text.Text instead.
err_console = Console(stderr=True, markup=False, highlight=False)
out_console = Console(markup=False, highlight=False)


def error_line(message: str) -> Text:
    """`error: <message>`, the message as plain text whatever brackets it holds."""
    return Text.assemble(("error:", "bold red"), " ", str(message))


def fail(message: str, code: int = 2) -> None:
    """Print one line and exit non-zero (2 for bad input, as everywhere in scalinglab)."""
    err_console.print(error_line(message), soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input is one line and exit 2, whether called through `scalinglab` or typer's test runner."""
    try:
        yield
    except ConfigError as e:
        fail(str(e))


def run_app() -> None:
    try:
        app()
    except ConfigError as e:
        err_console.print(error_line(str(e)), soft_wrap=True)
        sys.exit(2)


@app.callback()
def _root() -> None:
    """Scaling-law research on language models: plan, train, fit, compare, report."""
