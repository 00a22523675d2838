"""Numbers given to a command or to an analysis function (`--delta`, `--seed`, `--bootstrap`,
`--target-compute`, `--budget`, ...): each checked here, by one rule per name, before any work.

Unchecked, `--delta nan` and `--seed -1` ended in tracebacks deep in SciPy and NumPy, `--delta -1`
ran for minutes and printed losses of 0, and `--target-compute 1e-300` gave a verdict 317 decades
below the data. The rules read as those of a study file's settings (config.checks), and an error
names the option (the command line shows it as its flag).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scalinglab.config.checks import MAX_COUNT, MAX_SEED, in_range, whole_in_range
from scalinglab.config.errors import ConfigError

MAX_RESAMPLES = 100_000
"""Bootstrap resamples. At 1e5 the Monte Carlo error of a 95% interval's coverage is 0.05
percentage points (√(0.025·0.975/n)); more buys nothing but time."""
MAX_BOOTSTRAP_WORK = 1e7
"""(resamples + 1) × rows a command takes on without being told to (the CLI's --allow-slow): the
default 1,000 resamples of up to 10,000 rows. Each resample refits every arm (1–10 ms for a table of
a few hundred rows on one core, more with more rows), so a bootstrap beyond it runs for hours; a
table of 1e6 rows with the default resamples would not finish in a day."""


HUBER_DELTA = (1e-6, 10.0)
"""The range of the Huber δ on log loss (Hoffmann et al. 2022 use 1e-3). Above 10 every residual of a
log loss is inside it (least squares), and 1e300 overflowed; below 1e-6 L-BFGS stops near its start
(measured on a planted ladder: δ = 1e-8 fitted E = 0.40 where 1e-7 to 10 fit 1.79 ± 0.03, and with
1e-300 `compare` read 70 times the run-to-run noise from the fit)."""


def _positive(value: Any) -> float:
    return in_range(value, gt=0, cap=MAX_COUNT)


RULES: dict[str, Callable[[Any], Any]] = {
    "bootstrap": lambda v: whole_in_range(v, ge=0, le=MAX_RESAMPLES, message="must be 0 or more, got {n}"),
    "seed": lambda v: whole_in_range(v, ge=0, le=MAX_SEED, message="must be 0 or more, got {n}"),
    "bootstrap_seed": lambda v: whole_in_range(v, ge=0, le=MAX_SEED, message="must be 0 or more, got {n}"),
    "delta": lambda v: in_range(v, ge=HUBER_DELTA[0], le=HUBER_DELTA[1]),
    "level": lambda v: in_range(v, gt=0, lt=1),
    "drop_highest": lambda v: whole_in_range(v, ge=0),
    "target_compute": _positive,
    "target_params": _positive,
    "target_tokens": _positive,
    "budget": _positive,
    "settle": lambda v: in_range(v, gt=0, lt=0.5),
    "error_rate": lambda v: in_range(v, gt=0, lt=0.5),
    "draws": lambda v: whole_in_range(v, ge=0, le=MAX_RESAMPLES, message="must be 0 or more, got {n}"),
    "margin": lambda v: in_range(v, ge=0, cap=MAX_COUNT),
}
"""Option name → its check (raises ValueError saying what the value must be)."""


def check_numbers(**values: Any) -> None:
    """Check every option given (not None) that has a rule in RULES; the first one out of range
    is a ConfigError naming it. Options without a rule (a law, a column name) are not numbers."""
    for option, value in values.items():
        rule = RULES.get(option)
        if rule is None or value is None:
            continue
        try:
            rule(value)
        except ValueError as e:
            raise ConfigError(str(e), option=option) from None


def check_within_data(target: float | None, computes: Iterable[float], option: str = "target_compute") -> None:
    """Refuse a target compute below every run's: a forecast there extrapolates the fits downward,
    out of what they measure (a target of 1e-300 FLOPs read a loss of 6e49). At or above the
    smallest run, between runs or beyond the largest, it is the forecast asked for."""
    if target is None:
        return
    values = [float(c) for c in computes]
    if values and target < min(values):
        raise ConfigError(f"a target of {target:.3g} FLOPs is below the data, whose runs span "
                          f"{min(values):.3g}–{max(values):.3g} FLOPs; choose a compute at or above the smallest run",
                          option=option)


def bootstrap_work(resamples: int, rows: int) -> float:
    """How much a bootstrap asks for, in refits of rows: compared with MAX_BOOTSTRAP_WORK."""
    return (resamples + 1) * float(rows)
