"""A study's plan: every run with its budget, FLOPs and estimated time, before anything trains."""

from __future__ import annotations

import functools
import heapq
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from scalinglab.config import RunConfig, RunSpec, Study
from scalinglab.plan.budget import EVAL_TOKEN_COST, Budget, resolve_budget

Order = Literal["largest", "smallest", "listed"]

# Fixed costs, measured on the 2-core development machine (a faster one pays less, so the
# estimate errs long): per run, building the model and writing its checkpoint and result; per
# worker once, starting a process, importing torch and the first run's data and kernels; per
# study once, the driver's own start (imports, store) and end.
RUN_OVERHEAD_S = 0.3
WORKER_START_S = 6.0
STUDY_START_S = 3.0
GROUP_START_S = 7.0
"""A run on several devices starts its process group once per run (torchrun and its ranks:
interpreters, torch, the rendezvous): 6.6 s for 2 ranks on the development machine."""
SCALING_EFFICIENCY = 0.7
"""Throughput of a run on K devices over K times one device's (the gradient average, the ranks'
smaller batches, a rank held up holding up the others): between what benchmarks/ddp.py measured for
2 CPU processes idle and under load (benchmarks/RESULTS.md), until it is measured on GPUs."""
FIXED_COST_ERROR = 0.1
"""However steady the probe's timings, the fixed costs above were measured on one machine: a plan's
time is given as a range at least ±10% wide."""


@functools.cache
def vocab_size(tokenizer: str) -> int:
    from scalinglab.data import tokenizer_vocab_size

    return tokenizer_vocab_size(tokenizer)


def shape_key(cfg: RunConfig) -> str:
    """What a run's speed depends on: the model, its input shape, the device. Runs that share it share a probe."""
    return json.dumps([cfg.model.model_dump(), cfg.data.tokenizer, cfg.data.seq_len, cfg.budget.batch_size,
                       cfg.loop.device, cfg.loop.precision, cfg.loop.compile, cfg.optim.grad_normalize])


@dataclass(frozen=True)
class PlannedRun:
    spec: RunSpec
    budget: Budget
    tokens_per_s: float | None
    """Probed training throughput of this run's shape on one worker; None without a probe."""
    scaled: bool = False
    """tokens_per_s was scaled by FLOPs from a smaller shape (too slow to probe here), not measured."""
    slots: int = 1
    """Workers it occupies while it trains: its devices (on GPUs a run on several takes them all: it runs alone)."""

    @property
    def devices(self) -> int:
        return self.spec.config.resolved_devices()

    @property
    def seconds(self) -> float | None:
        """Estimated wall time: training + evaluations (shared out among its devices) + per-run overhead."""
        if not self.tokens_per_s:
            return None
        eval_tokens = self.budget.evaluations * self.spec.config.loop.eval_tokens
        rate = self.tokens_per_s * (self.devices * SCALING_EFFICIENCY if self.devices > 1 else 1)
        start = GROUP_START_S if self.devices > 1 else 0.0
        return (self.budget.tokens + EVAL_TOKEN_COST * eval_tokens) / rate + RUN_OVERHEAD_S + start

    def to_dict(self) -> dict:
        return {"run_id": self.spec.run_id, "arm": self.spec.arm, "width": self.spec.width, "depth": self.spec.depth,
                "params": self.budget.params_non_embedding, "params_total": self.budget.params_total,
                "tokens": self.budget.tokens, "steps": self.budget.steps, "flops": self.budget.flops,
                "flops_6nd": self.budget.flops_6nd, "devices": self.devices, "tokens_per_s": self.tokens_per_s,
                "seconds": self.seconds,
                "estimate": None if self.tokens_per_s is None else "flops" if self.scaled else "probe"}


@dataclass(frozen=True)
class Plan:
    study: Study
    runs: tuple[PlannedRun, ...]
    """In execution order."""
    workers: int
    threads: int
    """Torch threads per worker (what the probe measured with)."""
    spread: tuple[float, float] = (1.0, 1.0)
    """The probe's slowest and fastest timing over its typical one (execute.probe.Throughputs)."""
    load: float | None = None
    """The machine's load average per core when probed (None: not probed)."""

    @property
    def trainings(self) -> tuple[PlannedRun, ...]:
        """One run per config, in execution order: runs that share a config (a crossover's pivot, in
        both arms) are trained once by the driver, so the totals count them once."""
        return tuple({r.spec.digest: r for r in self.runs}.values())

    @property
    def tokens(self) -> int:
        return sum(r.budget.tokens for r in self.trainings)

    @property
    def flops(self) -> float:
        return sum(r.budget.flops for r in self.trainings)

    @property
    def flops_6nd(self) -> float:
        return sum(r.budget.flops_6nd for r in self.trainings)

    @property
    def seconds(self) -> float | None:
        """Estimated wall time of the whole study: trainings dealt in order to whichever workers free up first."""
        return makespan([r.seconds for r in self.trainings], self.workers, [r.slots for r in self.trainings])

    @property
    def seconds_range(self) -> tuple[float, float] | None:
        """The estimate at the fastest and the slowest rate the probe timed, and at least ±10%
        (FIXED_COST_ERROR); None without an estimate."""
        if self.seconds is None:
            return None

        def at(speed: float) -> float:
            return makespan([replace(r, tokens_per_s=r.tokens_per_s * speed).seconds for r in self.trainings],
                            self.workers, [r.slots for r in self.trainings])

        return (min(at(self.spread[1]), (1 - FIXED_COST_ERROR) * self.seconds),
                max(at(self.spread[0]), (1 + FIXED_COST_ERROR) * self.seconds))

    def to_dict(self) -> dict:
        return {"study": self.study.name, "workers": self.workers, "threads_per_worker": self.threads,
                "runs": [r.to_dict() for r in self.runs],
                "totals": {"runs": len(self.runs), "trainings": len(self.trainings), "tokens": self.tokens,
                           "flops": self.flops, "flops_6nd": self.flops_6nd, "seconds": self.seconds,
                           "seconds_range": self.seconds_range, "load_per_core": self.load}}


def makespan(seconds: list[float | None], workers: int, slots: list[int] | None = None) -> float | None:
    """When the last run ends, runs started in order as the driver starts them: each once as many
    workers as it occupies (`slots`, 1 each by default; at most all of them) are free."""
    if any(s is None for s in seconds):
        return None
    if not seconds:
        return 0.0
    slots = slots or [1] * len(seconds)
    free_at = [WORKER_START_S] * min(workers, sum(slots))
    for s, k in zip(seconds, slots, strict=True):
        taken = [heapq.heappop(free_at) for _ in range(min(k, len(free_at)))]
        for _ in taken:  # all start together, when the last of them frees up
            heapq.heappush(free_at, taken[-1] + s)
    return STUDY_START_S + max(free_at)


def make_plan(study: Study, *, workers: int = 1, threads: int = 1, order: Order = "largest",
              tokens_per_s: Mapping[str, float] | None = None, runs: list[RunSpec] | None = None,
              scaled: Collection[str] = (), spread: tuple[float, float] = (1.0, 1.0),
              load: float | None = None, gpus: bool = False) -> Plan:
    """Budgets and estimates for a study's runs (all, or `runs`), in execution order.

    `tokens_per_s` maps shape_key -> probed throughput per worker (execute.probe_throughputs);
    without it the plan has FLOPs but no times. `scaled` names the shapes whose figure was scaled
    by FLOPs rather than measured; `spread` and `load` say how steady and how busy the machine was
    while probing (Plan). `largest` first (by FLOPs) keeps the longest run
    from starting last, which is what bounds a study's wall time. `gpus`: the runs train on GPUs,
    where a run on several devices runs alone (execute.local).
    """
    planned = []
    for spec in study.runs if runs is None else runs:
        budget = resolve_budget(spec.config, vocab_size(spec.config.data.tokenizer))
        key = shape_key(spec.config)
        devices = spec.config.resolved_devices()
        slots = workers if gpus and devices > 1 else devices
        planned.append(PlannedRun(spec, budget, (tokens_per_s or {}).get(key), key in scaled, slots))
    if order != "listed":
        planned.sort(key=lambda r: r.budget.flops, reverse=order == "largest")
    return Plan(study=study, runs=tuple(planned), workers=workers, threads=threads, spread=spread, load=load)


def largest_planned(study: Study, arms: Collection[str]) -> float:
    """6ND compute of the largest run of these arms that the study file plans."""
    return max(r.budget.flops_6nd for r in make_plan(study, order="listed").runs if r.spec.arm in arms)
