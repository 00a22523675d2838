"""User-facing settings: TOML in, frozen validated pydantic models out, one-line errors."""

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
