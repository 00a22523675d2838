"""The study driver: plan, skip what is done, hand the rest to an executor, record every outcome.

The driver is the store's only writer. Runs are identified by run_id and are the same training
run when their config digests match: a run whose digest already has a result (from a renamed arm,
a new sweep axis, or another arm meeting it at one width) copies that result instead of training,
and runs sharing a digest within one `run` train once. A run that raises is recorded `failed` and
the study goes on; `run` retries failed runs and resumes interrupted ones from their checkpoints.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from scalinglab.config import ConfigError, RunSpec, Study
from scalinglab.execute.resources import Resources, choose_resources
from scalinglab.execute.worker import Job, Outcome, RunProgress, read_progress
from scalinglab.plan import Order, Plan, PlannedRun, make_plan
from scalinglab.store import FINAL, Store, check_owner, study_paths, study_status, writer_lock

ExecutorKind = Literal["local", "ray"]
PROGRESS_EVERY_S = 1.0


class Executor(Protocol):
    slots: int
    """Devices' worth of jobs in flight at once: a run on K devices takes K."""

    def check(self, job: Job) -> None:
        """Raise ConfigError if the job can never start here (more devices than any machine has)."""

    def fits(self, job: Job) -> bool:
        """Whether the job may start now, beside those in flight."""

    def submit(self, job: Job) -> None: ...
    def wait(self, timeout: float | None = None) -> list[Outcome]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Finished:
    """How one run of this `run` ended, for the caller's progress display."""

    run: PlannedRun
    status: str
    """complete, diverged or failed."""
    final_eval_loss: float | None = None
    wall_time_s: float | None = None
    error: str | None = None
    reused_from: str | None = None
    warnings: tuple[str, ...] = ()
    """What the run recovered from on the way (e.g. a damaged checkpoint it did not resume from)."""


class Observer:
    """Told what the driver does; the CLI draws it. Subclass and override what you need."""

    def on_start(self, plan: Plan, todo: list[PlannedRun], skipped: int) -> None:
        """Before training: the plan, the runs to train, and how many already have results."""

    def on_progress(self, in_flight_flops: float) -> None:
        """About every second: FLOPs done so far by the runs still training (their progress files)."""

    def on_running(self, running: list[tuple[PlannedRun, RunProgress | None]]) -> None:
        """With each on_progress: every run in flight and where it is (None: not started yet)."""

    def on_finished(self, finished: Finished) -> None:
        """A run ended (complete, diverged, failed) or got the result of its same-digest twin."""


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)
    """complete / diverged / failed among the runs this call finished (reused ones included)."""
    skipped: int = 0
    """Runs with a result before this call (their own, or a run's of the same digest)."""
    wall_time_s: float = 0.0


def plan_study(study: Study, *, workers: int | None = None, threads: int | None = None, order: Order = "largest",
               probe: bool = True) -> Plan:
    """The plan of a study on this machine: resources chosen (or given), throughput probed unless `probe=False`."""
    from scalinglab.execute.probe import probe_throughputs

    res = choose_resources([r.width for r in study.runs], len(study.runs), workers=workers, threads=threads,
                           run_threads=[r.config.resolved_threads() for r in study.runs],
                           run_devices=[r.config.resolved_devices() for r in study.runs])
    shared = {"workers": res.workers, "threads": res.threads, "order": order, "gpus": bool(res.gpus)}
    if not probe:
        return make_plan(study, **shared)
    tps = probe_throughputs([r.config for r in study.runs], res)
    return make_plan(study, **shared, tokens_per_s=tps.tokens_per_s, scaled=tps.scaled, spread=tps.spread,
                     load=tps.load)


def check_executor(kind: ExecutorKind, address: str | None = None) -> None:
    """Refuse an executor that cannot start, before anything is stored."""
    if kind not in ("local", "ray"):
        raise ConfigError(f"unknown executor '{kind}' (use local or ray)", option="executor")
    if kind == "local" and address:
        raise ConfigError("only for the ray executor", option="address")
    if kind == "ray":
        from scalinglab.execute.ray_executor import import_ray

        import_ray()


def make_executor(kind: ExecutorKind, resources: Resources, address: str | None = None) -> Executor:
    check_executor(kind, address)
    if kind == "ray":
        from scalinglab.execute.ray_executor import RayExecutor

        return RayExecutor(resources, address=address)
    from scalinglab.execute.local import LocalExecutor

    return LocalExecutor(resources)


def run_study(plan: Plan, out_dir: str | Path, *, executor: ExecutorKind = "local", address: str | None = None,
              observer: Observer | None = None) -> Summary:
    """Train every run of `plan` that has no result yet in `out_dir` (results.sqlite + runs/)."""
    from scalinglab.train.result import stored_result

    check_executor(executor, address)
    check_owner(plan.study, out_dir)
    paths = study_paths(out_dir)
    start = time.perf_counter()
    summary = Summary()
    with writer_lock(paths.db), Store.open_writer(paths.db) as store:
        store.add_runs(r.spec for r in plan.runs)
        store.release_running()  # left 'running' by a driver that was killed: they resume now
        status = {row["run_id"]: row["status"] for row in store.runs()}
        done_digests = store.final_by_digest()

        todo: list[PlannedRun] = []
        for run in plan.runs:
            spec = run.spec
            if status.get(spec.run_id) in FINAL:
                summary.skipped += 1
            elif spec.digest in done_digests:  # the same training run is stored under another id
                store.copy_result(done_digests[spec.digest], spec.run_id)
                summary.skipped += 1
            elif (found := stored_result(_run_dir(paths.runs, spec), spec.config.model_dump_json())) is not None:
                # Finished before this results file existed (a damaged one moved aside): read back
                # here, so the plan says it is done instead of "to train" and then training nothing.
                store.record_result(spec.run_id, found, None)
                done_digests[spec.digest] = spec.run_id
                summary.skipped += 1
            else:
                todo.append(run)

        # One training per digest; the others of a group copy its result when it ends.
        groups: dict[str, list[PlannedRun]] = {}
        for run in todo:
            groups.setdefault(run.spec.digest, []).append(run)
        queue = [runs[0] for runs in groups.values()]
        pool = make_executor(executor, Resources(plan.workers, plan.threads, _gpus(plan)), address) if queue else None
        jobs = {run.spec.run_id: _job(run, paths.runs) for run in queue}
        in_flight: dict[str, PlannedRun] = {}
        try:
            for job in jobs.values():  # before anything trains: a run no machine here can hold is bad input
                pool.check(job)
            if observer:
                observer.on_start(plan, todo, summary.skipped)
            while queue or in_flight:
                # In order, each when its devices are free: a large run is not overtaken for ever by small ones.
                while queue and pool.fits(jobs[queue[0].spec.run_id]):
                    run = queue.pop(0)
                    in_flight[run.spec.run_id] = run
                    store.mark_running(r.spec.run_id for r in groups[run.spec.digest])
                    pool.submit(jobs[run.spec.run_id])
                outcomes = pool.wait(timeout=PROGRESS_EVERY_S)
                if observer and not outcomes:
                    running = [(r, read_progress(_run_dir(paths.runs, r.spec))) for r in in_flight.values()]
                    observer.on_progress(sum(p.fraction * r.budget.flops for r, p in running if p))
                    observer.on_running(running)
                for outcome in outcomes:
                    run = in_flight.pop(outcome.run_id)
                    _record(store, run, outcome, paths.runs, summary, observer)
                    for twin in groups[run.spec.digest][1:]:
                        if outcome.result_json is not None:
                            _reuse(store, twin, run.spec.run_id, summary, observer)
                        else:
                            _record(store, twin, outcome, paths.runs, summary, observer)
        finally:
            if pool is not None:
                pool.close()
            store.release_running()  # interrupted (Ctrl-C): what was in flight resumes next time
    summary.wall_time_s = time.perf_counter() - start
    return summary


def resumable(study: Study, out_dir: str | Path) -> dict[str, RunProgress]:
    """The runs without a result that hold a checkpoint (an interrupted `run` resumes them there),
    by run_id, with their progress: the newest checkpoint's step of their planned steps."""
    status = study_status(study, out_dir)
    runs_dir = study_paths(out_dir).runs
    found = {}
    for spec in study.runs:
        if status.by_run[spec.run_id] in FINAL:
            continue
        progress = read_progress(_run_dir(runs_dir, spec))
        if progress is not None and progress.checkpoint > 0:
            found[spec.run_id] = progress
    return found


def _gpus(plan: Plan) -> float:
    """GPUs per worker: the machine's devices shared among the plan's workers (0 on CPU)."""
    from scalinglab.execute.resources import cuda_devices

    wants_cuda = any(r.spec.config.loop.device in ("auto", "cuda") for r in plan.runs)
    devices = cuda_devices() if wants_cuda else 0
    return min(1.0, devices / plan.workers) if devices else 0.0


def _job(run: PlannedRun, runs_dir: Path) -> Job:
    cfg = run.spec.config
    return Job(run.spec.run_id, cfg.model_dump_json(), str(_run_dir(runs_dir, run.spec)), cfg.resolved_devices())


def _run_dir(runs_dir: Path, spec: RunSpec) -> Path:
    """`runs/<run_id>`; a folder of the same digest under another name (a renamed arm) is resumed instead."""
    own = runs_dir / spec.run_id
    if not own.exists():
        for other in sorted(runs_dir.glob(f"*-{spec.digest}")):
            return other
    return own


def _record(store: Store, run: PlannedRun, outcome: Outcome, runs_dir: Path, summary: Summary,
            observer: Observer | None) -> None:
    from scalinglab.train.result import RunResult

    run_id = run.spec.run_id
    if outcome.result_json is not None:
        result = RunResult.model_validate_json(outcome.result_json)
        store.record_result(run_id, result, outcome.host or "")
        finished = Finished(run, result.status, result.final_eval_loss, result.wall_time_s,
                            warnings=outcome.warnings)
    else:
        store.record_failure(run_id, outcome.error or "unknown error", outcome.host)
        if outcome.detail:
            log = _run_dir(runs_dir, run.spec) / "error.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(outcome.detail)
        finished = Finished(run, "failed", error=outcome.error, warnings=outcome.warnings)
    summary.counts[finished.status] += 1
    if observer:
        observer.on_finished(finished)


def _reuse(store: Store, run: PlannedRun, source: str, summary: Summary, observer: Observer | None) -> None:
    store.copy_result(source, run.spec.run_id)
    row = store.runs([run.spec.run_id])[0]
    summary.counts[row["status"]] += 1
    if observer:
        observer.on_finished(Finished(run, row["status"], row["final_eval_loss"], row["wall_time_s"],
                                      reused_from=source))
