"""Measure training throughput per model shape the way the study will run: in fresh worker processes.

Each shape is probed by all workers at once (train.probe_throughput: a few real steps on random
tokens, no data read), in 'spawn' processes with the malloc env, so the figure includes whatever
the workers do to each other (shared caches, memory bandwidth) and the allocator settings.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
from concurrent.futures import ProcessPoolExecutor

from scalinglab.config import RunConfig
from scalinglab.execute.resources import MALLOC_ENV, Resources
from scalinglab.execute.worker import init_worker
from scalinglab.plan import shape_key


def _warm() -> None:
    import scalinglab.train  # noqa: F401  (torch and the model: seconds, paid before any timing)


def _probe(config_json: str, seconds: float) -> float:
    from scalinglab.train import probe_throughput

    cfg = RunConfig.model_validate_json(config_json)  # with its own thread count, as it will train
    # Time about `seconds` of steps: a tiny model's 3 steps take milliseconds, too few to time.
    first = probe_throughput(cfg, steps=1)
    per_step = cfg.budget.batch_size * cfg.data.seq_len
    steps = min(200, max(3, round(seconds * first / per_step)))
    return probe_throughput(cfg, steps=steps, chunks=3)


def probe_throughputs(configs: list[RunConfig], resources: Resources, seconds: float = 2.0,
                      malloc_env: bool = True) -> dict[str, float]:
    """shape_key -> training tokens/s of one worker while `resources.workers` run side by side."""
    shapes = {shape_key(c): c for c in configs}
    if not shapes:
        return {}
    workers = max(1, resources.workers)
    if malloc_env:
        for key, value in MALLOC_ENV.items():
            os.environ.setdefault(key, value)
    out = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=init_worker, initargs=(os.getpid(),)) as pool:
        for f in [pool.submit(_warm) for _ in range(workers)]:
            f.result()
        for key, cfg in shapes.items():
            futures = [pool.submit(_probe, cfg.model_dump_json(), seconds) for _ in range(workers)]
            out[key] = statistics.mean(f.result() for f in futures)
    return out
