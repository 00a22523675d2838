"""scalinglab: plan, train, fit and compare scaling laws of language-model recipes.

From Python (a notebook), a study's results are one call away, and every analysis takes the table:

    import scalinglab
    runs = scalinglab.load_results("studies/crossover-cpu.toml")   # pandas, one row per run
    from scalinglab.analysis import compare_arms, fit_law           # see scalinglab.analysis
    from scalinglab.report import draw_comparison                   # the report's main figure, into an ax
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from scalinglab.config import Study

__version__ = "0.1.0"


def load_results(source: str | Path | Study, results: str | Path | None = None) -> pd.DataFrame:
    """One row per run as a DataFrame, what every analysis reads.

    `source` is a study (its TOML file, or loaded): every run it defines, with its stored result
    where there is one (`status` says which; the columns of `scalinglab export`), read from the
    study's results folder, or from `results` where `run --out` put them. Or it is a table of runs
    anyone published (.csv, .parquet, .jsonl, .json), read as it is.
    """
    from scalinglab.config import ConfigError, Study

    if isinstance(source, Study) or Path(source).suffix == ".toml":
        from scalinglab.store import export_table

        return export_table(source, results)
    if results is not None:
        raise ConfigError(f"{source}: `results` is the results folder of a study; a table is read as it is")
    from scalinglab.analysis import load_table

    return load_table(source)


__all__ = ["__version__", "load_results"]
