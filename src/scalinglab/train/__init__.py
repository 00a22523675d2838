"""Train one run: optimizer variants, schedules, the loop with eval, checkpoints and resume."""

from scalinglab.train.loop import Reporter, evaluate, resolve_device, train_run
from scalinglab.train.probe import probe_throughput
from scalinglab.train.result import MetricRow, RunResult

__all__ = ["MetricRow", "Reporter", "RunResult", "evaluate", "probe_throughput", "resolve_device", "train_run"]
