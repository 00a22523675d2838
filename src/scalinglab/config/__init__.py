"""User-facing settings: TOML in, frozen validated pydantic models out, one-line errors.

Names are imported on first use (PEP 562): building the pydantic models costs ~0.2 s, which
`scalinglab --help` and the CLI's error paths that only need ConfigError should not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "ConfigError": "errors",
    "apply_overrides": "load", "read_toml": "load", "validate": "load",
    "check_rule": "rules", "evaluate_rule": "rules",
    "BudgetConfig": "run", "DataConfig": "run", "LoopConfig": "run", "ModelConfig": "run", "OptimConfig": "run",
    "RunConfig": "run", "ScheduleConfig": "run",
    "RunSpec": "study", "Study": "study", "SweepConfig": "study", "load_study": "study",
}
"""Each public name and the module of this package that defines it."""

__all__ = [
    "BudgetConfig",
    "ConfigError",
    "DataConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "RunSpec",
    "ScheduleConfig",
    "Study",
    "SweepConfig",
    "apply_overrides",
    "check_rule",
    "evaluate_rule",
    "load_study",
    "read_toml",
    "validate",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from scalinglab.config.errors import ConfigError
    from scalinglab.config.load import apply_overrides, read_toml, validate
    from scalinglab.config.rules import check_rule, evaluate_rule
    from scalinglab.config.run import (
        BudgetConfig,
        DataConfig,
        LoopConfig,
        ModelConfig,
        OptimConfig,
        RunConfig,
        ScheduleConfig,
    )
    from scalinglab.config.study import RunSpec, Study, SweepConfig, load_study
