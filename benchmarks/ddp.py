"""A run on 2 CPU processes (torchrun, gloo, 1 thread each) against the same run in 1 process.

Measured through the commands a researcher types (`scalinglab train`, and `torchrun --standalone
--nproc-per-node 2 -m scalinglab train`), with the study executor's malloc env
(execute.resources.MALLOC_ENV):

1. equivalence: width 128, 200 steps of batch 16: the same tokens (count, and step 1's loss: the
   initial model on that step's rows) and final losses within 1e-3 nats;
2. throughput: width 256, 2 ranks × 1 thread against one 1-thread process, tokens/s inside training
   steps (RunResult.tokens_per_s), interleaved A, B, A, B (host noise on a shared machine is
   ±15-20%: every repetition is printed);
3. kill -9 of one rank mid-run (a checkpoint at half the steps or later), then the same command
   again: it resumes and ends at the uninterrupted 2-process run's losses (those of 1.);
4. where the time goes (`--only profile`): a few steps of 1 process and of each of 2 ranks under
   torch.profiler, wall and CPU time per step, and the gloo all-reduce's share.

    python benchmarks/ddp.py                                   # all four
    python benchmarks/ddp.py --only throughput --repeats 4
    python benchmarks/ddp.py --only profile
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scalinglab.execute.resources import MALLOC_ENV

BASE = {
    "model": {"depth": "width/64"},
    "data": {"tokenizer": "bpe:1024", "seq_len": 128},  # the demo study's data (crossover-cpu.toml)
    "optim": {"lr": "1.5/width"},
    "budget": {"batch_size": 16},
    "loop": {"threads": 1},
}


def settings(width: int, steps: int, **loop) -> dict:
    tokens = steps * BASE["budget"]["batch_size"] * BASE["data"]["seq_len"]
    return {**BASE, "model": {**BASE["model"], "width": width}, "budget": {**BASE["budget"], "tokens": tokens},
            "loop": {**BASE["loop"], **loop}}


def write_config(folder: Path, name: str, cfg: dict) -> Path:
    import tomli_w

    path = folder / f"{name}.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def command(config: Path, out: Path, ranks: int) -> list[str]:
    train = ["-m", "scalinglab", "train", "--config", str(config), "--out", str(out), "--json"]
    if ranks == 1:
        return [sys.executable, *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", *train]


ENV = os.environ | MALLOC_ENV | {"OMP_NUM_THREADS": "1"}


def train(config: Path, out: Path, ranks: int) -> tuple[dict, float]:
    """The run's JSON summary, and the command's wall time."""
    t0 = time.perf_counter()
    done = subprocess.run(command(config, out, ranks), capture_output=True, text=True, env=ENV)
    if done.returncode:
        sys.exit(f"{' '.join(command(config, out, ranks))} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), time.perf_counter() - t0


def first_loss(out: Path) -> float:
    curve = json.loads((out / "result.json").read_text())["metrics"]
    return next(m["train_loss"] for m in curve if m["train_loss"] is not None)


def equivalence(tmp: Path, width: int, steps: int) -> dict:
    # Checkpoints every 2 s: the same config is the killed run of 3.
    config = write_config(tmp, "equivalence", settings(width, steps, log_every=1, checkpoint_seconds=2))
    one, t1 = train(config, tmp / "eq1", 1)
    two, t2 = train(config, tmp / "eq2", 2)
    print(f"\n1. equivalence: width {width}, {steps} steps of {BASE['budget']['batch_size']} × "
          f"{BASE['data']['seq_len']} tokens, 1 process vs 2 (gloo, 1 thread each)")
    print(f"   tokens seen             {one['tokens']:>12,} {two['tokens']:>12,}   "
          f"{'same' if one['tokens'] == two['tokens'] else 'DIFFERENT'}")
    a, b = first_loss(tmp / "eq1"), first_loss(tmp / "eq2")
    print(f"   step 1 train loss       {a:>12.6f} {b:>12.6f}   |Δ| {abs(a - b):.1e} "
          "(the initial model on that step's rows: the same rows)")
    for key in ("final_train_loss", "final_eval_loss", "final_unseen_train_loss"):
        d = abs(one[key] - two[key])
        print(f"   {key:<23} {one[key]:>12.6f} {two[key]:>12.6f}   |Δ| {d:.1e} {'ok' if d < 1e-3 else 'ABOVE 1e-3'}")
    print(f"   wall time               {t1:>11.1f}s {t2:>11.1f}s")
    return two


def throughput(tmp: Path, width: int, steps: int, repeats: int) -> None:
    # Evaluations are outside RunResult.tokens_per_s; keep them small anyway.
    config = write_config(tmp, "throughput", settings(width, steps, log_every=10, eval_tokens=1024,
                                                      eval_every=10 * steps))
    print(f"\n2. throughput: width {width}, {steps} steps, tokens/s inside training steps, interleaved")
    rates: dict[int, list[float]] = {1: [], 2: []}
    for i in range(repeats):
        for ranks in (1, 2):
            got, wall = train(config, tmp / f"tp{ranks}-{i}", ranks)
            rates[ranks].append(got["tokens_per_s"])
            print(f"   rep {i + 1} {ranks} process(es): {got['tokens_per_s']:>8,.0f} tok/s (command {wall:.1f} s)",
                  flush=True)
    ratios = [b / a for a, b in zip(rates[1], rates[2], strict=True)]
    print(f"   2 ranks / 1 process, per repetition: {', '.join(f'{r:.2f}' for r in ratios)}"
          f"   (median {sorted(ratios)[len(ratios) // 2]:.2f}; goal >= 1.7)")


def kill_and_resume(tmp: Path, whole: dict) -> None:
    config, out = tmp / "equivalence.toml", tmp / "killed"  # 1.'s run again, in another folder
    launcher = subprocess.Popen(command(config, out, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    while _checkpoint_step(out) < whole["steps"] // 2:  # mid-run: a checkpoint at half of the steps or later
        if launcher.poll() is not None:
            sys.exit("the run ended before it could be killed mid-run: give it more steps")
        time.sleep(0.2)
    ranks = [int(p) for p in subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                                             text=True).stdout.split()]
    os.kill(ranks[-1], signal.SIGKILL)
    code = launcher.wait()
    step = _checkpoint_step(out)
    print(f"\n3. kill -9 of one of {len(ranks)} ranks, its last checkpoint at step {step}: torchrun exit code {code}, "
          f"result written: {(out / 'result.json').exists()}")
    t0 = time.perf_counter()
    rerun = subprocess.run(command(config, out, 2), capture_output=True, text=True, env=ENV)
    said = [line for line in rerun.stderr.splitlines() if "resuming" in line]
    print(f"   the same command again: exit code {rerun.returncode}, '{said[0].strip() if said else 'no resume'}', "
          f"{time.perf_counter() - t0:.1f} s")
    again = json.loads(rerun.stdout)
    for key in ("steps", "final_train_loss", "final_eval_loss"):
        print(f"   {key:<18} uninterrupted {whole[key]:>12} rerun {again[key]:>12}   "
              f"|Δ| {abs(whole[key] - again[key]):.1e}")


def _checkpoint_step(out: Path) -> int:
    import torch

    path = out / "checkpoint.pt"  # written whole, then renamed into place: never read half-written
    return torch.load(path, weights_only=True)["step"] if path.exists() else -1


def profile(width: int, steps: int) -> None:
    """Profile `steps` training steps of this script as 1 process, then as each of 2 ranks under torchrun."""
    args = [__file__, "--profile-rank", "--width", str(width), "--steps", str(steps)]
    print(f"\n4. where the time goes: width {width}, {steps} steps on random tokens, 1 process then 2 ranks")
    subprocess.run([sys.executable, *args], env=ENV, check=True)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args],
                   env=ENV, check=True)


def profile_rank(width: int, steps: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from scalinglab.config import RunConfig
    from scalinglab.data import tokenizer_vocab_size
    from scalinglab.train.distributed import launched_world, process_group, training_loss
    from scalinglab.train.loop import build_model
    from scalinglab.train.optim import build_optimizer
    from scalinglab.train.step import train_step

    torch.set_num_threads(1)
    world = launched_world()
    cfg = RunConfig.model_validate({**settings(width, steps), "loop": {"threads": 1, "devices": world.size}})
    vocab = tokenizer_vocab_size(cfg.data.tokenizer)
    shape = (cfg.budget.batch_size // world.size, cfg.data.seq_len)
    x, y = (torch.randint(0, vocab, shape) for _ in range(2))
    with process_group(world, torch.device("cpu")):
        model = build_model(cfg, vocab, torch.device("cpu"))
        optimizer = build_optimizer(model, cfg.optim, cfg.optim.resolved_lr(width))
        loss_fn = training_loss(model, world, torch.device("cpu"))
        for _ in range(2):  # warm-up
            train_step(model, optimizer, x, y, cfg, torch.device("cpu"), None, loss_fn)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            t0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                train_step(model, optimizer, x, y, cfg, torch.device("cpu"), None, loss_fn)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        events = prof.key_averages()
        table = events.table(sort_by="self_cpu_time_total", row_limit=12)
        comm = [e for e in events if any(k in e.key.lower() for k in ("allreduce", "all_reduce", "gloo", "c10d"))]
        table += "\ncommunication events: " + ", ".join(
            f"{e.key} {e.count}x {e.cpu_time_total / 1000 / steps:.1f} ms/step" for e in comm)
        # CPU time (this process's threads, gloo's included) against wall time: the rest is waiting,
        # for a core (other work on the machine) or for the other rank at the gradient average.
        line = (f"{'rank ' + str(world.rank) if world.launched else '1 process'}: {steps} steps of {shape[0]} rows, "
                f"{seconds / steps * 1000:.0f} ms wall and {cpu / steps * 1000:.0f} ms CPU per step")
        for rank in range(world.size):  # one rank's table at a time
            if world.launched:
                torch.distributed.barrier()
            if rank == world.rank:
                print(f"\n{line}", table, sep="\n", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("equivalence", "throughput", "kill", "profile"))
    ap.add_argument("--width", type=int, help="for --only/--profile-rank (default: 128 for equivalence and kill, "
                    "256 for throughput and profile)")
    ap.add_argument("--steps", type=int, help="default: 200 (equivalence, kill), 30 (throughput), 5 (profile)")
    ap.add_argument("--repeats", type=int, default=3, help="throughput repetitions of each (A, B, A, B, ...)")
    ap.add_argument("--profile-rank", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_rank:
        profile_rank(args.width, args.steps)
        return
    print(f"cpus {os.cpu_count()}, malloc env {MALLOC_ENV}, {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only in (None, "equivalence", "kill"):
            whole = equivalence(tmp, args.width or 128, args.steps or 200)
            if args.only in (None, "kill"):
                kill_and_resume(tmp, whole)
        if args.only in (None, "throughput"):
            throughput(tmp, args.width or 256, args.steps or 30, args.repeats)
        if args.only in (None, "profile"):
            profile(args.width or 256, args.steps or 5)


if __name__ == "__main__":
    main()
