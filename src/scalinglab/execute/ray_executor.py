"""The Ray executor: each run a Ray task asking for its CPUs (and GPU), on a local or existing cluster.

Ray is an optional extra (`pip install -e .[ray]`) and is imported only here, only when used.
Checkpoints are written by the task to the study's runs folder, so on a multi-node cluster that
folder must be on a file system every node sees; results come back to the driver, which alone
writes the store.

A run on K devices is one task holding K GPUs (or K × its threads CPUs): Ray places a task on one
node with all of it free, which is the one-node placement its process group needs, reserved
whole before it starts (a placement group of one bundle would say the same). The task starts
the ranks with torchrun there, as the local executor's workers do (execute.group).
"""

from __future__ import annotations

from scalinglab.config import ConfigError, RunConfig
from scalinglab.execute.group import train_job
from scalinglab.execute.resources import MALLOC_ENV, Resources, check_room
from scalinglab.execute.worker import Job, Outcome


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("ray needs Ray: pip install 'scalinglab[ray]'", option="executor") from None
    return ray


class RayExecutor:
    def __init__(self, resources: Resources, address: str | None = None, malloc_env: bool = True):
        ray = self._ray = import_ray()
        self._started = False
        if not ray.is_initialized():
            env = {"env_vars": dict(MALLOC_ENV)} if malloc_env else None
            if address:  # join a running cluster ('auto': the one this machine belongs to)
                ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                # address="local": a new Ray of our own even when `ray start` left a cluster on this machine.
                ray.init(address="local", num_cpus=resources.workers * resources.threads,
                         num_gpus=resources.gpus * resources.workers or None, include_dashboard=False,
                         runtime_env=env, log_to_driver=False)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", resources.threads))
        # In flight at once: what the cluster can run, so 'running' in the store means running.
        self.slots = max(1, cpus // resources.threads) if address else resources.workers
        self._resources = resources
        self._task = ray.remote(num_cpus=resources.threads, num_gpus=resources.gpus, max_retries=0)(train_job)
        self._refs: dict = {}

    def check(self, job: Job) -> None:
        """Refuse (ConfigError) a run that no node of the cluster can hold: Ray would wait for it forever."""
        nodes = [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]
        check_room(RunConfig.model_validate_json(job.config_json), job.run_id,
                   cpus=int(max((n.get("CPU", 0) for n in nodes), default=0)),
                   gpus=int(max((n.get("GPU", 0) for n in nodes), default=0)), where="the Ray cluster's largest node")

    def fits(self, job: Job) -> bool:
        """Whether `job` may start now: a run on K devices takes K slots (or runs alone)."""
        busy = sum(j.devices for j in self._refs.values())
        return not self._refs or busy + job.devices <= self.slots

    def submit(self, job: Job) -> None:
        task = self._task
        if job.devices > 1:  # one task holding all of the run's devices, on one node
            gpus = job.devices if self._resources.gpus else 0
            task = task.options(num_cpus=job.devices * self._resources.threads, num_gpus=gpus)
        self._refs[task.remote(job)] = job

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        outcomes = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except Exception as e:  # the task's process died (a run's own errors come back as Outcomes)
                message = " ".join(str(e).split())[:500]
                outcomes.append(Outcome(job.run_id, None, f"{type(e).__name__}: {message}", None, None))
        return outcomes

    def close(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()
