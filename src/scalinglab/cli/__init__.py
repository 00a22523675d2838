"""`scalinglab` command line: thin wrappers that parse, call one library function, and print."""

from scalinglab.cli import advice, analysis, demo, report, study, train  # noqa: F401  (registers commands)
from scalinglab.cli.app import app, run_app


def main() -> None:
    run_app()


__all__ = ["app", "main"]
