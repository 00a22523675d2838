"""The comparison as users ask for it: the arms prepared, fitted, forecast and judged
(deciding.comparison), then checked on their own largest size, held out (deciding.holdout)."""

from __future__ import annotations

from dataclasses import replace

from scalinglab.analysis.deciding.comparison import Comparison, analyse, prepare, resolve_target
from scalinglab.analysis.deciding.holdout import holdout_backtest
from scalinglab.analysis.deciding.verdict import LEVEL
from scalinglab.analysis.fitting.models import DEFAULT_DRAWS, Progress
from scalinglab.analysis.reading.table import Columns
from scalinglab.config.numbers import check_within_data


def compare_arms(df, a: str, b: str, *, columns: Columns | None = None, target_compute: float | None = None,
                 target_params: float | None = None, target_tokens: float | None = None, law: str | None = None,
                 frontier: str | None = None, checkpoints: str | None = None, share: str = "auto",
                 drop_highest: int = 0, draws: int = DEFAULT_DRAWS, seed: int = 0, level: float = LEVEL,
                 margin: float | None = None, backtest: bool = True, progress: Progress | None = None) -> Comparison:
    """Compare arm b against arm a (the baseline) on a table of runs; see the module docstring.

    backtest: also redo the comparison without the largest size and check its forecast there;
    progress(what, share done): told as each posterior is sampled (models.Progress)."""
    setup, runs = prepare(df, a, b, columns=columns, law=law, frontier=frontier, checkpoints=checkpoints, share=share,
                          drop_highest=drop_highest, draws=draws, seed=seed, level=level, margin=margin)
    target = resolve_target(setup, runs.frame, target_compute, target_params, target_tokens)
    check_within_data(target.compute, runs.frame["compute"], "target_params" if target.is_model else "target_compute")
    comparison = replace(analyse(runs.frame, setup, target, progress), excluded=runs.excluded)
    if not backtest:
        return comparison
    return replace(comparison, backtest=holdout_backtest(runs.frame, setup, comparison.observed))
