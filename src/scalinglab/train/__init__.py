"""Train one run: optimizer variants, schedules, the loop with eval, checkpoints and resume."""

from scalinglab.train.evaluate import eval_loss
from scalinglab.train.loop import Reporter, resolve_device, train_run
from scalinglab.train.result import MetricRow, RunResult
from scalinglab.train.throughput import measure_rates, measure_throughput

__all__ = ["MetricRow", "Reporter", "RunResult", "eval_loss", "measure_rates", "measure_throughput", "resolve_device",
           "train_run"]
