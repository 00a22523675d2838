"""The typer application and the one place that turns library errors into exit codes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from scalinglab.config import ConfigError

app = typer.Typer(
    name="scalinglab",
    help="Scaling-law research on language models: plan, train, fit, compare, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Progress and tables go to stderr, so `--json` output on stdout stays machine-readable.
err_console = Console(stderr=True)
out_console = Console()


def fail(message: str, code: int = 2) -> None:
    """Print one line and exit non-zero (2 for bad input, as everywhere in scalinglab)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_app() -> None:
    try:
        app()
    except ConfigError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


@app.callback()
def _root() -> None:
    """Scaling-law research on language models: plan, train, fit, compare, report."""
