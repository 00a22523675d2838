"""The typer application and the one place that turns library errors into exit codes."""

from __future__ import annotations

import logging
import shlex
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

BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")

_invocation: list[str] = []
"""This call's arguments: every command that trains resumes when run again with the same ones."""


def resume_command() -> str:
    """The command to type to go on after an interruption: the one that was interrupted."""
    return shlex.join(["scalinglab", *_invocation])


def _switches(command, ctx) -> list:
    """A command's on/off options (`--json`, `--probe/--no-probe`), its --help included."""
    return [p for p in command.get_params(ctx) if getattr(p, "is_flag", False)]


def _shown_as_switches(command, ctx) -> None:
    """typer 0.29's help gives every flag a type, `--json <bool>`, as if it took a value; a switch
    has none to show (an empty metavar is shown as nothing)."""
    for param in _switches(command, ctx):
        if param.metavar is None:
            param.metavar = ""


def _switch_given_a_value(ctx, argv: list[str]) -> str | None:
    """`--json true`: a switch takes no value, so click reads `true` as a stray argument; say so."""
    names = {name for p in _switches(ctx.command, ctx) for name in (*p.opts, *p.secondary_opts)}
    for name, value in zip(argv, argv[1:]):
        if name in names and value.lower() in BOOLEAN_WORDS:
            return f"{name} is a switch and takes no value: write {name} alone, not '{name} {value}'"
    return None


class _OneLineUsageErrors(TyperGroup):
    """Command-line usage errors (an unknown option, a missing argument, `--width abc`) as one line,
    like every other bad input, instead of click's usage box."""

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _shown_as_switches(command, ctx)
        return command

    def format_help(self, ctx, formatter):
        _shown_as_switches(self, ctx)
        super().format_help(ctx, formatter)

    def main(self, args=None, *rest, standalone_mode: bool = True, **kwargs):
        argv = list(sys.argv[1:] if args is None else args)
        _invocation[:] = argv
        try:
            code = super().main(argv, *rest, standalone_mode=False, **kwargs)
        except TyperException as e:  # click's ClickException and its subclasses (usage errors)
            ctx = getattr(e, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            message = (_switch_given_a_value(ctx, argv) if ctx is not None else None) or e.format_message()
            if message:  # (none when a bare `scalinglab` has printed the help)
                err_console.print(error_line(f"{where}{message} (see --help)"), soft_wrap=True)
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


def bootstrap_seed(seed: int | None, old_seed: int | None) -> int:
    """The analysis seed from --bootstrap-seed, or from --seed, its name until this release (`train
    --seed` is a training seed: one flag, one meaning), with a one-line notice."""
    if old_seed is None:
        return 0 if seed is None else seed
    if seed is not None:
        fail("--seed and --bootstrap-seed: give --bootstrap-seed only (--seed is its old name)")
    err_console.print(warning_line("--seed is deprecated here: use --bootstrap-seed (the seed of the bootstrap); "
                                   "--seed goes in the next release"), soft_wrap=True)
    return old_seed


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
