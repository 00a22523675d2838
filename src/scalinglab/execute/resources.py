"""How to spread a study over this machine: worker processes × threads per worker, and their env."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scalinglab.config import ConfigError
from scalinglab.config.run import RunConfig, default_threads

# glibc serves blocks above M_MMAP_THRESHOLD with a fresh mmap and returns heap tops above
# M_TRIM_THRESHOLD to the kernel, so per-step tensors of a few MB are page-faulted afresh every
# step (PERFORMANCE.md: 36% kernel time at width 64). Raising both keeps such blocks in the heap
# and reuses them. glibc reads these once, at process start: the launcher sets them before
# spawning workers. Measured with benchmarks/workers.py (2 cores, width 64/2, seq 256, batch 16;
# median of 3): page faults per step fall 10-40x; 1-thread workers gain 1.05-1.07x at vocab 4096
# (the chunked loss already keeps the logits small) and 1.13-1.21x at vocab 32000, whose logit
# chunks are 131 MB; one 2-thread process gains 1.65x at vocab 32000 but loses 0.80-0.85x at
# 4096. Studies run 1-thread workers by default, where it never lost, so it stays on.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(512 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 2**20),
}


@dataclass(frozen=True)
class Resources:
    workers: int
    """Runs trained at once (processes, or Ray tasks in flight); a run on K devices takes K of them."""
    threads: int
    """CPU cores each worker reserves (a Ray task's num_cpus). A run's torch threads are its own
    (RunConfig.resolved_threads), part of its identity, whatever this says."""
    gpus: float = 0.0
    """GPUs per worker: 1, or a fraction when small runs share a device (Ray's num_gpus; the local
    pool deals the devices out to its workers in turn via CUDA_VISIBLE_DEVICES)."""

    @property
    def devices(self) -> int:
        """GPUs the workers use between them (0 on CPU)."""
        return max(1, round(self.workers * self.gpus)) if self.gpus else 0


def available_cpus() -> int:
    """Cores this process may run on (the affinity mask, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cuda_devices() -> int:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_ids(gpus: int) -> list[str]:
    """The machine's first `gpus` devices as CUDA_VISIBLE_DEVICES names them: the user's own
    restriction, if it lists that many, else 0 .. gpus-1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
    return visible[:gpus] if len(visible) >= gpus and visible[0] else [str(i) for i in range(gpus)]


def runs_per_gpu(width: int) -> int:
    """Runs sharing one GPU for models of this width.

    A small model cannot fill an H100 alone: its step is a few hundred tiny kernels, and the GPU
    idles while Python launches them. Several processes per device overlap one run's launch
    overhead with another's kernels. These counts are unmeasured guesses (no GPU was lent to this
    project's development so far); `benchmarks/workers.py --device cuda --sizes 128/2 --layouts
    8x2,1x2` on a GPU machine measures the first. Fewer runs share a device as width grows, so
    their activations still fit in its memory.
    """
    if width <= 256:
        return 8
    if width <= 512:
        return 4
    return 2 if width <= 1024 else 1


def choose_resources(widths: list[int], n_runs: int, *, cpus: int | None = None, gpus: int | None = None,
                     workers: int | None = None, threads: int | None = None,
                     run_threads: list[int] | None = None, run_devices: list[int] | None = None) -> Resources:
    """Workers × cores per worker for a study whose largest model has max(widths), or the user's choice.

    A run trains with its own thread count (`run_threads`, RunConfig.resolved_threads; default
    config.default_threads of each width): it is part of the run's identity, so spare cores are
    not handed to the runs, as they once were (1 run on 2 cores took 2 threads and computed a
    different result). CPU: each worker reserves the most threads any run uses, and as many
    workers run as the cores allow, never more than the runs' processes (`run_devices`: a run on
    K devices is K processes, and takes K workers' cores), never fewer than the largest run's.
    GPUs: runs_per_gpu of the largest model on each device, the cores shared among the workers (a
    run's own threads still apply).
    """
    cpus = cpus or available_cpus()
    gpus = cuda_devices() if gpus is None else gpus
    n_runs = max(1, n_runs)
    if run_threads is None:
        run_threads = [default_threads(w) for w in widths]
    if gpus:
        w = workers or min(gpus * runs_per_gpu(max(widths, default=64)), n_runs)
        return Resources(workers=w, threads=threads or max(1, cpus // w), gpus=min(1.0, gpus / w))
    per = threads or max(run_threads, default=1)
    if workers is None:
        processes = sum(run_devices) if run_devices else n_runs
        workers = max(1, max(run_devices or [1]), min(processes, cpus // per))
    return Resources(workers=workers, threads=per)


def check_room(cfg: RunConfig, run_id: str, *, cpus: int, gpus: int, where: str) -> None:
    """Refuse, in one line naming the setting, a run that `where` (this machine, a Ray cluster's
    largest node) cannot hold: its devices are started together, on one machine."""
    devices = cfg.resolved_devices()
    if cfg.loop.device == "cuda" and not gpus:
        raise ConfigError(f"loop.device: run {run_id} asks for 'cuda' and {where} has no GPU")
    if gpus and cfg.loop.device != "cpu":
        if devices > gpus:
            raise ConfigError(f"loop.devices: run {run_id} asks for {devices} GPUs and {where} has {gpus}")
    elif devices * cfg.resolved_threads() > cpus:
        raise ConfigError(f"loop.devices: run {run_id} asks for {devices} processes × {cfg.resolved_threads()} "
                          f"thread(s) and {where} has {cpus} cores")
