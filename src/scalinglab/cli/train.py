"""`scalinglab train`: one run from flags and/or a TOML file."""

from __future__ import annotations

import faulthandler
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from scalinglab.cli.app import app, err_console, out_console, resume_command, user_errors

if TYPE_CHECKING:
    from scalinglab.config import RunConfig

# The flags that are shortcuts for a setting, so an error names the flag the user typed.
FLAGS = {"model.width": "--width", "model.depth": "--depth", "budget.tokens": "--tokens", "optim.lr": "--lr",
         "seed": "--seed"}


def build_run_config(config: Optional[Path], sets: list[str], shortcuts: dict[str, object]) -> RunConfig:
    """The run from a TOML file, then the flags, then `--set`s (later ones win); an error names the
    flag, the `--set` or the file that gave the bad value."""
    from pydantic import ValidationError

    from scalinglab.config import ConfigError, RunConfig, apply_overrides, read_toml
    from scalinglab.config.errors import from_validation

    data = read_toml(config) if config else {}
    given = {key: value for key, value in shortcuts.items() if value is not None}
    tree = apply_overrides(data, list(sets), values=given)
    set_keys = {item.partition("=")[0].strip() for item in sets}
    loop = tree.get("loop", {})
    if "WORLD_SIZE" in os.environ and isinstance(loop, dict) and "devices" not in loop:
        # Under torchrun the run trains on the processes it started (a different loop.devices is refused).
        tree = apply_overrides(tree, [], values={"loop.devices": int(os.environ["WORLD_SIZE"])})
    try:
        cfg = RunConfig.model_validate(tree)
    except ValidationError as e:
        key, _, message = str(from_validation(e)).partition(": ")
        if key in given and key not in set_keys:
            raise ConfigError(f"{FLAGS[key]}: {message}") from None
        where = "--set" if key in set_keys or not config else str(config)
        raise ConfigError(f"{where}: {key}: {message}") from None
    cfg.data.check_cache_dir("--set" if "data.cache_dir" in set_keys or not config else str(config))
    return cfg


@app.command()
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Run settings (TOML, sections as RunConfig)."),
    sets: list[str] = typer.Option([], "--set", help="Override a setting: --set optim.lr=0.004 (repeatable)."),
    width: Optional[int] = typer.Option(None, help="Model width D (model.width)."),
    depth: Optional[str] = typer.Option(None, help="Layers, or a rule such as 'width/64' (model.depth)."),
    tokens: Optional[float] = typer.Option(None, help="Training tokens (budget.tokens); default 20 per parameter."),
    lr: Optional[str] = typer.Option(None, help="Peak LR or a rule such as '2/width' (optim.lr)."),
    seed: Optional[int] = typer.Option(None, help="Seed (seed)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (checkpoints, result.json); default runs/<hash>."),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Train one model and print its summary; rerunning the same command resumes or reuses it."""
    from scalinglab.cli.progress import RichReporter, summary_table
    from scalinglab.config.paths import check_folder
    from scalinglab.execute.worker import die_with_parent
    from scalinglab.train import train_run

    launched = "WORLD_SIZE" in os.environ
    if launched:  # a rank of torchrun's: a killed torchrun leaves none training on
        die_with_parent()
        faulthandler.enable()  # a rank that crashes says where, in torchrun's log

    with user_errors():
        cfg = build_run_config(config, sets, {"model.width": width, "model.depth": _number_or_rule(depth),
                                              "budget.tokens": tokens, "optim.lr": _number_or_rule(lr), "seed": seed})
        out_dir = out or Path("runs") / f"w{cfg.model.width}-L{cfg.model.resolved_depth()}-{cfg.digest()}"
        check_folder(out_dir)
        main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 speaks for the run
        if main:
            err_console.print(f"output: {out_dir}", soft_wrap=True)
        reporter = RichReporter(err_console)
        try:
            result = train_run(cfg, out_dir, reporter=reporter)
        except KeyboardInterrupt:
            reporter.stop()
            if main:
                err_console.print(f"interrupted: {reporter.kept()} in {out_dir}; to go on, run the same command: "
                                  f"{resume_command()}", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        finally:
            reporter.stop()  # an error prints below the bar, not inside it
    if main and json:
        print(result.model_dump_json(indent=1, exclude={"metrics"}))
    elif main:
        out_console.print(summary_table(result))
    if launched:
        from scalinglab.train.distributed import end_rank

        end_rank(0)


def _number_or_rule(text: str | None) -> int | float | str | None:
    """A flag that takes a number or a rule: '4' → 4, '0.004' → 0.004, '2/width' stays a rule (text)."""
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text
