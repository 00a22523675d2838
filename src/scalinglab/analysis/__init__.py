"""Scaling-law analysis on a plain table: fits, posteriors, forecasts, verdicts, backtests, advice.

Works on a pandas DataFrame with columns such as arm, params, tokens, compute, loss (the study
export, or anyone's published points), so it never imports torch. Its floors follow the data, and
import one way only, each from those before it (benchmarks/layout.py checks):
    reading → fitting → deciding → evaluating → advising
(reading: the table, its design, frontier points and noise; fitting: laws, posteriors, joint
models; deciding: forecast, crossing, verdict, the comparison; evaluating: backtests, planted
truths; advising: the next run, stopping). serialize and threads serve every floor. Public API:

Input
    load_table(path) -> DataFrame                 .csv, .parquet, .jsonl, .json
    Columns(group=, params=, tokens=, compute=, loss=, ...)   the user's column names
    select_runs(df, columns, need, keep_status) -> Runs      checked table, rows left out counted

Loss laws (Hoffmann et al. 2022; Besiroglu et al. 2024)
    fit_law(df, law="compute" | "params-tokens", *, columns, method="grid" | "varpro",
            bootstrap=1000, seed=0, delta=1e-3, level=0.95, target_compute=None) -> FitReport
    fit_points(law, x, loss, runs, ...) -> LawFit              the same on arrays
    LawFit: params, intervals(), status, predict(C) or predict(N, D), predict_interval(...),
            predict_samples(...), bootstrap (draws), to_dict()
    compute_optimal(fit, compute) -> Allocation                 N*(C), D*(C), D*/N*, with intervals

Repeated data (Muennighoff et al. 2023)
    fit_data_constrained(params, tokens, unique_tokens, loss, runs, ...) -> LawFit
        L(N, D, U) = E + A/N'^α + B/D'^β with repeated tokens and excess parameters decaying by
        R_D*, R_N* (DATA_CONSTRAINED, one more Law); fit_table(df, columns=...) (fitting.constrained)
        fits each group of a table

Comparing two arms
    compare_arms(df, a, b, *, columns, target_compute=None, draws=3200, seed=0, level=0.95,
                 margin=None, backtest=True) -> Comparison
    Comparison: setup, models (the joint models, weighed; their posterior draws), observed (paired
                differences, run noise), forecast (Δ at the target with its three sources of
                uncertainty, P(B better), a run's P, the compute multiplier), crossing, verdict
                (b | a | equivalent | uncertain), backtest (held-out largest size), to_dict()
    rolling_backtest(df, a, b, ...) -> Calibration              every fold redoes the comparison

Hyperparameter laws (Wortsman et al. 2023)
    fit_hyper_law(df, hparam="lr" | "batch_size", by="width" | "compute" | "params", *, columns)
        -> HyperReport; per group a HyperLaw: optima (per width: optimum, largest_stable,
           sensitivity), optimum_law and stable_law (PowerLaw with predict, predict_interval)
"""

from scalinglab.analysis.deciding.compare import compare_arms
from scalinglab.analysis.deciding.comparison import Comparison, Setup
from scalinglab.analysis.deciding.crossover import Crossing, find_crossing
from scalinglab.analysis.deciding.forecast import Forecast
from scalinglab.analysis.deciding.observed import Observed
from scalinglab.analysis.deciding.scored import Backtest
from scalinglab.analysis.deciding.verdict import Verdict
from scalinglab.analysis.evaluating.calibration import Calibration, Scores, rolling_backtest
from scalinglab.analysis.fitting.allocation import Allocation, compute_optimal
from scalinglab.analysis.fitting.bootstrap import Draws, percentile_interval
from scalinglab.analysis.fitting.constrained import DATA_CONSTRAINED, fit_data_constrained
from scalinglab.analysis.fitting.fit import FitReport, fit_law, fit_points
from scalinglab.analysis.fitting.hyperparams import (
    HyperLaw,
    HyperReport,
    Optimum,
    PowerLaw,
    fit_hyper_law,
    fit_power_law,
)
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import COMPUTE, PARAMS_TOKENS, Law, get_law
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.reading.design import Design, detect_design
from scalinglab.analysis.reading.table import Columns, Runs, filter_rows, load_table, select_runs

__all__ = [
    "COMPUTE",
    "PARAMS_TOKENS",
    "DATA_CONSTRAINED",
    "Allocation",
    "Backtest",
    "Draws",
    "Calibration",
    "Columns",
    "Comparison",
    "Crossing",
    "Design",
    "FitReport",
    "Forecast",
    "HyperLaw",
    "HyperReport",
    "Law",
    "LawFit",
    "Observed",
    "Optimum",
    "PowerLaw",
    "Runs",
    "Scores",
    "Setup",
    "Target",
    "Verdict",
    "compare_arms",
    "compute_optimal",
    "detect_design",
    "filter_rows",
    "find_crossing",
    "fit_data_constrained",
    "fit_hyper_law",
    "fit_law",
    "fit_points",
    "fit_power_law",
    "get_law",
    "load_table",
    "percentile_interval",
    "rolling_backtest",
    "select_runs",
]
