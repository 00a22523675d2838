"""The local executor: a pool of 'spawn' worker processes, each with its own thread count.

'spawn', not fork: a forked child inherits the driver's torch thread pool and locks, and the
malloc settings (execute.resources.MALLOC_ENV) only take effect in a process that starts fresh.

A run on K devices takes K of the pool's slots: its worker starts K processes and waits for them
(execute.group). On GPUs such a run takes whole devices, the first K, and runs alone: the pool's
workers each keep one device for their lifetime, so no other run may be on one of them.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from scalinglab.config import RunConfig
from scalinglab.execute.group import train_job
from scalinglab.execute.resources import MALLOC_ENV, Resources, available_cpus, check_room, gpu_ids
from scalinglab.execute.worker import Job, Outcome, init_worker


class LocalExecutor:
    """Runs jobs on `resources.workers` processes; `slots` is how many devices' worth may be in flight."""

    def __init__(self, resources: Resources, malloc_env: bool = True):
        self.slots = resources.workers
        self._gpus = resources.devices  # dealt out to the workers in turn
        self._env = dict(MALLOC_ENV) if malloc_env else {}
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, Job] = {}

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Workers inherit os.environ at spawn; the user's own MALLOC_* settings win.
            for key, value in self._env.items():
                os.environ.setdefault(key, value)
            ctx = mp.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.slots, mp_context=ctx,
                initializer=init_worker, initargs=(os.getpid(), ctx.Value("i", 0), self._gpus),
            )
        return self._pool

    def check(self, job: Job) -> None:
        """Refuse (ConfigError) a run this machine cannot hold: more GPUs or cores than it has."""
        check_room(RunConfig.model_validate_json(job.config_json), job.run_id, cpus=available_cpus(), gpus=self._gpus,
                   where="this machine")

    def fits(self, job: Job) -> bool:
        """Whether `job` may start now: its slots are free (or nothing runs: a run on more devices than
        workers runs alone); on GPUs, a run on several devices runs alone."""
        if not self._futures:
            return True
        if self._gpus and (job.devices > 1 or any(j.devices > 1 for j in self._futures.values())):
            return False
        return sum(j.devices for j in self._futures.values()) + job.devices <= self.slots

    def submit(self, job: Job) -> None:
        if self._gpus and job.devices > 1:
            job = dataclasses.replace(job, cuda_devices=",".join(gpu_ids(job.devices)))
        with children_ignore_sigint():
            self._futures[self._ensure_pool().submit(train_job, job)] = job

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Block until at least one job ends (or `timeout` seconds pass); return the ended ones."""
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        outcomes = []
        broken = False
        for future in done:
            job = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except BrokenProcessPool:
                broken = True
                outcomes.append(Outcome(job.run_id, None, "WorkerDied: a worker process was killed or crashed "
                                        "(out of memory?) while this run was in flight", None, None))
            except Exception as e:  # e.g. the job could not be pickled
                outcomes.append(Outcome(job.run_id, None, f"{type(e).__name__}: {e}", None, None))
        if broken:  # a broken pool takes every in-flight job with it; start a fresh one for the rest
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        return outcomes

    def close(self) -> None:
        """Stop the workers; runs still in flight (the driver was interrupted) are killed, their
        checkpoints left for the next `run` to resume."""
        if self._pool is None:
            return
        stop_pool(self._pool)
        self._futures.clear()
        self._pool = None


@contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Start pool processes with SIGINT held back (a 'spawn' pool starts them in submit()).

    A terminal's Ctrl-C reaches the whole process group; a worker should leave it to the driver,
    which stops the pool (stop_pool). A signal mask survives fork and exec, so a worker started
    here holds SIGINT blocked from its first instruction until init_worker ignores it and unblocks
    it, which drops a Ctrl-C that came meanwhile (one while it imports would print its traceback).
    CPython's resource tracker starts its process the same way.

    The driver's own Ctrl-C in the window is held, not lost: blocked in this thread, or taken by
    another and noted by a handler that does not raise, it is raised once the window is over.
    (Ignoring SIGINT in the driver instead, as this once did, dropped a Ctrl-C that came while
    workers spawned.)
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # one still pending is noted now
        signal.signal(signal.SIGINT, previous)
        if held:  # again, to whatever handled it before: KeyboardInterrupt by default
            signal.raise_signal(signal.SIGINT)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's workers and wait for its threads and queues to close.

    Kill rather than ask: idle workers hold nothing of value (every result is back), a torch
    process takes seconds to tear itself down, and on Ctrl-C a running task (a throughput probe of
    a large model, a run) would otherwise be waited for. Closing the pool after the kill frees
    its semaphores, which an interrupted `with ProcessPoolExecutor` left to the resource tracker's
    'leaked semaphore' warnings. ProcessPoolExecutor has no public way to stop a running task
    (3.14 adds terminate_workers).
    """
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
