"""Measure training throughput per model shape the way the study will run: in fresh worker processes.

Each shape is probed by all workers at once (train.measure_throughput: a few real steps on random
tokens, no data read), in 'spawn' processes with the malloc env, so the figure includes whatever
the workers do to each other (shared caches, memory bandwidth) and the allocator settings.

Only shapes whose training step is expected to take under PROBE_STEP_S are probed; the others
(the paper studies' widths on a laptop CPU: minutes per step) get the FLOP rate of the largest
shape probed, scaled by their FLOPs per token, and are marked as such. Shapes are probed smallest
first, so each one's step time is predicted from the rate just measured; the first is predicted
from a one-row step of itself, and probed whatever it costs up to SMALLEST_STEP_S. When even the
one-row step is too large, nothing is probed: the estimate needs the target device.

The probe also says how far to trust it: the spread of its timings (each worker's, in parts) and
the machine's load when it began.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from scalinglab.config import RunConfig
from scalinglab.execute.local import children_ignore_sigint, stop_pool
from scalinglab.execute.resources import MALLOC_ENV, Resources, available_cpus
from scalinglab.execute.worker import init_worker
from scalinglab.model.accounting import training_flops_per_token
from scalinglab.plan import shape_key
from scalinglab.plan.plan import vocab_size

PROBE_STEP_S = 1.0
"""Probe a shape when one step is expected to take at most this long: a probe is a warm-up and at
least 4 timed steps per worker, so a few seconds per shape."""
SMALLEST_STEP_S = 30.0
"""The smallest shape is probed at its full batch whenever the one-row step predicts its step
under this: a one-row step is mostly fixed costs, which a busy machine inflates most, so its rate
underestimates a batch's many times over. Scaling every shape from it priced the quick demo at
42 min on a loaded 2-core machine (8 min measured); from the smallest shape's own batch, the
others are scaled by a rate of the same kind."""
CALIBRATION_ROW = 128
"""Tokens of the one-row step that predicts the first shape's step time."""
CALIBRATION_FLOPS = 5e10
"""The most FLOPs of that step (a few seconds at the ~10 GFLOP/s of a busy laptop core, for a
warm-up and one timed step); beyond it nothing is probed."""


@dataclass(frozen=True)
class Throughputs:
    """Training tokens/s of one worker per shape_key, while `resources.workers` run side by side."""

    measured: dict[str, float] = field(default_factory=dict)
    scaled: dict[str, float] = field(default_factory=dict)
    """Shapes too slow to probe here: the FLOP rate of the largest shape probed, over their FLOPs
    per token (an estimate that errs long: larger matmuls usually run at a higher rate)."""
    spread: tuple[float, float] = (1.0, 1.0)
    """The slowest and the fastest timing of any shape measured (a worker's part of its steps) over
    that shape's median: how steady the machine was while probing."""
    load: float | None = None
    """The load average per core when the probe began: at 1 or more, other work held every core."""

    @property
    def tokens_per_s(self) -> dict[str, float]:
        return {**self.measured, **self.scaled}


def _flops_per_token(cfg: RunConfig) -> float:
    return training_flops_per_token(cfg.model, vocab_size(cfg.data.tokenizer), cfg.data.seq_len)


def _step_flops(cfg: RunConfig) -> float:
    return _flops_per_token(cfg) * cfg.budget.batch_size * cfg.data.seq_len


def _one_row(cfg: RunConfig) -> RunConfig:
    return cfg.model_copy(update={"budget": cfg.budget.model_copy(update={"batch_size": 1}),
                                  "data": cfg.data.model_copy(update={"seq_len": min(cfg.data.seq_len, CALIBRATION_ROW)})})


def _warm() -> None:
    import scalinglab.train  # noqa: F401  (torch and the model: seconds, paid before any timing)


def _probe(config_json: str, seconds: float) -> list[float]:
    """Tokens/s of a config's steps in this worker: one part of one step after the warm-up when
    `seconds` is 0 (a rough figure), else three parts of about `seconds` of steps in all."""
    from scalinglab.train import measure_rates, measure_throughput

    cfg = RunConfig.model_validate_json(config_json)  # with its own thread count, as it will train
    first = measure_throughput(cfg, steps=1)
    if seconds <= 0:
        return [first]
    # Time about `seconds` of steps: a tiny model's 3 steps take milliseconds, too few to time.
    per_step = cfg.budget.batch_size * cfg.data.seq_len
    steps = min(200, max(3, round(seconds * first / per_step)))
    return measure_rates(cfg, steps=steps, chunks=3)


def _representatives(configs: list[RunConfig]) -> dict[str, RunConfig]:
    """One config per shape: the one with the smallest LR. An LR sweep's largest LRs diverge within
    a few steps, and steps on NaN and huge weights run ~30% slower on CPU (large-lr-cpu.toml at
    width 64: 22k tokens/s at LR 4.1 against 31k at 0.004), so probing one of them priced the whole
    sweep ~40% too long. Runs that diverge stop early anyway; the healthy ones set the time."""
    chosen: dict[str, RunConfig] = {}
    for cfg in sorted(configs, key=lambda c: c.optim.lr, reverse=True):
        chosen[shape_key(cfg)] = cfg  # the smallest LR comes last and stays
    return chosen


def probe_throughputs(configs: list[RunConfig], resources: Resources, seconds: float = 2.0,
                      malloc_env: bool = True) -> Throughputs:
    """Probe what is quick to probe (see the module's docstring), scale the rest by FLOPs."""
    shapes = sorted(_representatives(configs).items(), key=lambda item: _step_flops(item[1]))
    load = os.getloadavg()[0] / available_cpus() if hasattr(os, "getloadavg") else None
    out = Throughputs(load=load)
    if not shapes or _step_flops(_one_row(shapes[0][1])) > CALIBRATION_FLOPS:
        return out  # even one row of the smallest model is too slow here: nothing to probe
    workers = max(1, resources.workers)
    if malloc_env:
        for key, value in MALLOC_ENV.items():
            os.environ.setdefault(key, value)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=init_worker, initargs=(os.getpid(),))

    def probe(cfg: RunConfig, secs: float) -> list[list[float]]:
        """Each worker's timings of the config, all at once (as the study's runs will be)."""
        with children_ignore_sigint():
            futures = [pool.submit(_probe, cfg.model_dump_json(), secs) for _ in range(workers)]
        return [f.result() for f in futures]

    try:
        with children_ignore_sigint():
            warm = [pool.submit(_warm) for _ in range(workers)]
        for f in warm:
            f.result()
        rate = None  # FLOP/s of one worker at the largest shape probed so far
        spreads = []
        for i, (key, cfg) in enumerate(shapes):
            if rate is None:
                row = _one_row(cfg)
                rate = statistics.mean(r for worker in probe(row, 0) for r in worker) * _flops_per_token(row)
            if _step_flops(cfg) / rate > (SMALLEST_STEP_S if i == 0 else PROBE_STEP_S):
                out.scaled[key] = rate / _flops_per_token(cfg)
                continue
            timed = probe(cfg, seconds)
            # Each worker's median part: a moment of other work on the machine does not set the figure.
            out.measured[key] = statistics.mean(statistics.median(worker) for worker in timed)
            parts = [r / out.measured[key] for worker in timed for r in worker]
            spreads.append((min(parts), max(parts)))
            rate = out.measured[key] * _flops_per_token(cfg)
    finally:
        stop_pool(pool)
    if spreads:
        out = replace(out, spread=(min(lo for lo, _ in spreads), max(hi for _, hi in spreads)))
    return out
