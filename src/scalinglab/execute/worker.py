"""What a worker does with one run: train it and hand back a plain, picklable outcome.

Workers never touch the store: they return the RunResult (as JSON) or the error, and the driver
writes. The spec travels as JSON so the same function serves a process pool and Ray.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from scalinglab.config.paths import write_atomically
from scalinglab.execute.resources import gpu_ids

PROGRESS = "progress.json"


@dataclass(frozen=True)
class Job:
    """One run handed to an executor."""

    run_id: str
    config_json: str
    """The RunSpec's resolved RunConfig, as JSON."""
    out_dir: str
    """Checkpoint and result.json folder (train_run resumes from it)."""
    devices: int = 1
    """Processes the run trains on (RunConfig.resolved_devices): the slots or devices it occupies."""
    cuda_devices: str | None = None
    """CUDA_VISIBLE_DEVICES for a run on several GPUs, as the local executor chose them."""


@dataclass(frozen=True)
class Outcome:
    run_id: str
    result_json: str | None
    """The RunResult as JSON when the run finished (complete or diverged)."""
    error: str | None
    """One line, `Type: message`, when it raised."""
    detail: str | None
    """The traceback, for the log."""
    host: str | None
    warnings: tuple[str, ...] = ()
    """What the run recovered from (a damaged checkpoint, say), one line each, for the driver to show."""


class _Collected(logging.Handler):
    """Keeps scalinglab's warnings during one run: a worker's stderr may go nowhere (Ray)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def train_here(job: Job) -> Outcome:
    """Train one run in this process (resuming from its checkpoint); never raises for a run's own error.
    A run on several devices reaches here once per rank (execute.group.train_job starts them)."""
    host = socket.gethostname()
    collected = _Collected()
    logger = logging.getLogger("scalinglab")
    logger.addHandler(collected)
    try:
        from scalinglab.config import RunConfig
        from scalinglab.train import train_run

        # The run sets its own thread count (RunConfig.resolved_threads): part of its identity,
        # so not the worker's share of the cores.
        cfg = RunConfig.model_validate_json(job.config_json)
        result = train_run(cfg, job.out_dir, reporter=ProgressFile(Path(job.out_dir)))
        return Outcome(job.run_id, result.model_dump_json(), None, None, host, tuple(collected.lines))
    except Exception as e:  # a failed run is a result of the study, not the end of it
        message = " ".join(str(e).split()) or "(no message)"
        return Outcome(job.run_id, None, f"{type(e).__name__}: {message}", traceback.format_exc(), host,
                       tuple(collected.lines))
    finally:
        logger.removeHandler(collected)


@dataclass(frozen=True)
class RunProgress:
    """Where a run is, from its progress file: what the driver shows while it trains, and what
    `status` shows of an interrupted run."""

    step: int
    steps: int
    tokens_per_s: float | None = None
    """Over the last logging window."""
    checkpoint: int = 0
    """The step of the newest checkpoint: an interrupted run resumes there (0: none yet)."""
    tokens_per_step: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.steps) if self.steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if not self.tokens_per_s or not self.tokens_per_step:
            return None
        return max(0, self.steps - self.step) * self.tokens_per_step / self.tokens_per_s


class ProgressFile:
    """A train reporter that keeps `<run dir>/progress.json` (RunProgress's fields) current, so the
    driver can show progress inside long runs without workers writing the store."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / PROGRESS
        self.now = RunProgress(0, 0)

    def _write(self, **changes) -> None:
        self.now = replace(self.now, **changes)
        write_atomically(self.path, json.dumps(asdict(self.now)))

    def on_start(self, total_steps: int, start_step: int, budget) -> None:
        # A resumed run starts at its checkpoint's step.
        self._write(step=start_step, steps=total_steps, checkpoint=start_step, tokens_per_step=budget.tokens_per_step)

    def on_log(self, row) -> None:
        self._write(step=row.step, tokens_per_s=row.tokens_per_s)

    def on_checkpoint(self, step: int) -> None:
        self._write(checkpoint=step)

    def on_end(self, result) -> None:
        self._write(step=result.steps)


def read_progress(out_dir: Path) -> RunProgress | None:
    """A run's progress file, or None when there is none (not started) or it cannot be read."""
    try:
        return RunProgress(**json.loads((out_dir / PROGRESS).read_text()))
    except (OSError, ValueError, TypeError):  # TypeError: a file of other fields (an older scalinglab's)
        return None


def init_worker(parent_pid: int, gpu_counter=None, gpus: int = 0) -> None:
    """Pool initializer: die with the driver (Linux), so a killed study leaves no run training on,
    leave Ctrl-C to the driver, and with `gpus`, take the next device of the machine for this
    worker's lifetime.

    Without the first a worker whose driver got SIGKILL finishes its run unobserved and could
    write the same checkpoint folder as the next `scalinglab run`.
    """
    if gpus and gpu_counter is not None:
        with gpu_counter.get_lock():
            index = gpu_counter.value
            gpu_counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_ids(gpus)[index % gpus]  # before any CUDA call in this process
    # Ctrl-C in a terminal reaches the whole process group: the driver stops the workers itself
    # (local.stop_pool). Pools start workers with SIGINT blocked (local.children_ignore_sigint):
    # ignoring it drops one held meanwhile, and only then is it unblocked.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent_pid)


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing), and
    exit now if the parent (`parent_pid`, when known) is already gone."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)
