"""A run on several devices, started for a study: torchrun, as a child of the worker that got the run.

The worker (a local pool process, or a Ray task holding the run's devices) starts torchrun,

    torchrun --standalone --nproc-per-node K -m scalinglab.execute.group rank JOB DIR

(through `python -m scalinglab.execute.group launch`, below) and waits. Each rank trains the run
(worker.train_here, then train.train_run, which finds its place from torchrun's variables) and
writes its Outcome to DIR; the worker hands back rank 0's, or the first failure. torchrun
(`--standalone`: a free port of this machine) is what a researcher types by hand, so a study's
runs and hand-launched ones start the same way.

Nothing is left running when something dies: torchrun stops the other ranks when one fails, the
kernel kills torchrun when its worker dies and each rank when torchrun dies (PR_SET_PDEATHSIG),
so a killed driver or worker leaves no rank writing the run's folder. The next `run` resumes the
run from its last checkpoint, which rank 0 wrote atomically. (torchrun asks for that signal in
its own process, `launch`, before it starts: a `preexec_fn` would run between fork and exec of a
worker with threads, which Python warns can deadlock.)
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from scalinglab.config import RunConfig
from scalinglab.config.paths import write_atomically
from scalinglab.execute.worker import Job, Outcome, die_with_parent, train_here

LOG_TAIL = 4000
"""Characters of torchrun's output kept with a failed run (its error.log)."""


def train_job(job: Job) -> Outcome:
    """Train one run, as an executor asks: a run on one device in this process, a run on several in a
    process group this process starts and waits for, unless this process is already one of its ranks."""
    from scalinglab.train.distributed import launched_world

    if job.devices > 1 and not launched_world().launched:
        return train_group(job)
    return train_here(job)


def train_group(job: Job) -> Outcome:
    """Train `job` on job.devices processes of this machine; rank 0's outcome, or the first failure."""
    threads = RunConfig.model_validate_json(job.config_json).resolved_threads()
    with tempfile.TemporaryDirectory(prefix="scalinglab-group-") as tmp:
        folder = Path(tmp)
        write_atomically(folder / "job.json", json.dumps(dataclasses.asdict(job)))
        command = [sys.executable, "-m", "scalinglab.execute.group", "launch", str(os.getpid()), "--standalone",
                   f"--nproc-per-node={job.devices}", "-m", "scalinglab.execute.group", "rank",
                   str(folder / "job.json"), str(folder)]
        # OMP_NUM_THREADS: torchrun sets 1 and says so unless it is set; each rank sets its own count.
        env = os.environ | {"OMP_NUM_THREADS": str(threads)}
        if job.cuda_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = job.cuda_devices
        with open(folder / "torchrun.log", "wb") as log:
            code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True).returncode
        ranks = {r: _read_outcome(folder / f"rank{r}.json") for r in range(job.devices)}
        log_tail = (folder / "torchrun.log").read_text(errors="replace")[-LOG_TAIL:]
    failed = [o for o in ranks.values() if o is not None and o.error is not None]
    missing = [r for r, o in ranks.items() if o is None]
    if not missing and not failed and code == 0:
        return ranks[0]
    warnings = tuple(dict.fromkeys(w for o in ranks.values() if o is not None for w in o.warnings))  # each once
    if missing:  # a rank killed (kill -9, out of memory): torchrun stops the others, whose errors follow from it
        error = (f"RankDied: a process of the run's {job.devices} ended without a result (killed, or out of "
                 f"memory?) and torchrun stopped the others (exit code {code}); its log is in error.log")
        detail = "\n\n".join([*(o.detail or "" for o in failed), log_tail])
        return Outcome(job.run_id, None, error, detail, socket.gethostname(), warnings)
    first = failed[0] if failed else None
    if first is None:  # every rank said it finished, yet torchrun failed
        return Outcome(job.run_id, None, f"GroupFailed: torchrun exit code {code}", log_tail,
                       socket.gethostname(), warnings)
    return dataclasses.replace(first, detail=f"{first.detail}\n\n{log_tail}", warnings=warnings)


def _read_outcome(path: Path) -> Outcome | None:
    try:
        fields = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return Outcome(**{**fields, "warnings": tuple(fields.get("warnings", ()))})


def main() -> None:
    """`launch WORKER_PID TORCHRUN_ARGS...`: torchrun, dying with the worker that started it;
    `rank JOB DIR`: one rank, which trains the job (train_run finds its rank from torchrun's
    variables) and writes its outcome to DIR, dying with torchrun."""
    if sys.argv[1] == "launch":
        die_with_parent(int(sys.argv[2]))
        from torch.distributed.run import main as torchrun

        torchrun(sys.argv[3:])
        return
    die_with_parent()
    faulthandler.enable()  # a rank that crashes says where, in torchrun's log
    job_file, folder = sys.argv[2:4]
    job = Job(**json.loads(Path(job_file).read_text()))
    outcome = train_here(job)
    write_atomically(Path(folder) / f"rank{os.environ['RANK']}.json", json.dumps(dataclasses.asdict(outcome)))
    from scalinglab.train.distributed import end_rank

    end_rank(0 if outcome.error is None else 1)


if __name__ == "__main__":
    main()
