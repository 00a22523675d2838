"""A short throughput probe: a few real training steps of a model on random tokens, no data read."""

from __future__ import annotations

import statistics
import time

import torch

from scalinglab.config import RunConfig
from scalinglab.data import tokenizer_vocab_size
from scalinglab.train.loop import build_model, resolve_device
from scalinglab.train.optim import build_optimizer
from scalinglab.train.step import train_step


def measure_throughput(cfg: RunConfig, steps: int = 3, chunks: int = 1) -> float:
    """Training tokens per second of this run's model and batch on this machine (after one warm-up step).

    With `chunks` > 1 the steps are timed in that many parts and the median part's rate is returned,
    so a moment of other work on the machine (a few seconds of a shared core) does not set the figure.
    """
    return statistics.median(measure_rates(cfg, steps, chunks))


def measure_rates(cfg: RunConfig, steps: int = 3, chunks: int = 1) -> list[float]:
    """The tokens/s of each of `chunks` parts of `steps` timed steps (after one warm-up step): their
    spread says how steady the machine was."""
    torch.set_num_threads(cfg.resolved_threads())  # as the run will train
    vocab = tokenizer_vocab_size(cfg.data.tokenizer)
    device, dtype = resolve_device(cfg)
    model = build_model(cfg, vocab, device)
    optimizer = build_optimizer(model, cfg.optim, cfg.optim.resolved_lr(cfg.model.width))
    shape = (cfg.budget.batch_size, cfg.data.seq_len)
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, vocab, shape, generator=gen).to(device) for _ in range(2))

    def step() -> None:
        train_step(model, optimizer, x, y, cfg, device, dtype)

    def timed(n: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n * shape[0] * shape[1] / (time.perf_counter() - t0)

    step()  # warm-up: allocator, kernels, compile
    chunks = max(1, min(chunks, steps))
    return [timed(steps // chunks + (i < steps % chunks)) for i in range(chunks)]
