"""Measuring how far the decisions can be trusted: rolling backtests that redo the whole comparison
on smaller scales and score it against no-model baselines (calibration), and tables with a planted
truth for the coverage and error-rate benchmarks (synthetic)."""
