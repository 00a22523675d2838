"""Total training tokens/s of W worker processes × T threads each, and the effect of the malloc env.

Each layout starts W fresh 'spawn' processes, as the study executor does; they build their model,
wait at a barrier, and then train the same number of steps at once, so their timed sections
overlap. Total tokens/s = the sum over processes. Layouts and the env on/off alternate over
`--repeats` rounds and the median is printed: host noise on shared CPUs is ±15–20%, so trust the
ratios of one run and treat ratios under ~1.15× as unresolved (PERFORMANCE.md).

    python benchmarks/workers.py                           # widths 64/2 and 128/4, 2×1 vs 1×2
    python benchmarks/workers.py --sizes 256/6 --steps 4 --layouts 2x1,1x2,1x1
    # A sweep of eight width-128 runs sharing one GPU vs one alone (execute.resources.runs_per_gpu):
    python benchmarks/workers.py --device cuda --sizes 128/2 --layouts 8x2,1x2 --steps 50 --no-malloc-compare
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics

from scalinglab.execute.resources import MALLOC_ENV


def _worker(cfg_json: str, steps: int, barrier, results) -> None:
    import resource

    from scalinglab.config import RunConfig
    from scalinglab.train import measure_throughput

    cfg = RunConfig.model_validate_json(cfg_json)
    measure_throughput(cfg, steps=1)  # build, warm up caches and the allocator, then line up
    barrier.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    tokens_per_s = measure_throughput(cfg, steps=steps)
    after = resource.getrusage(resource.RUSAGE_SELF)
    # Minor page faults per step: what the malloc env is meant to remove, and unlike tokens/s
    # not blurred by whatever else shares the CPU. (+2: probe_throughput's model build and warm-up step.)
    results.put((tokens_per_s, (after.ru_minflt - before.ru_minflt) / (steps + 2)))


def measure(cfg_json: str, workers: int, steps: int, env: dict[str, str]) -> tuple[float, float]:
    """Total tokens/s of `workers` concurrent processes started with `env` added, and page faults per step."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    saved = {k: os.environ.get(k) for k in MALLOC_ENV}
    for k in MALLOC_ENV:  # glibc reads these at process start: set them only around the spawn
        os.environ.pop(k, None)
    os.environ.update(env)
    try:
        procs = [ctx.Process(target=_worker, args=(cfg_json, steps, barrier, results)) for _ in range(workers)]
        for p in procs:
            p.start()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(g[0] for g in got), statistics.mean(g[1] for g in got)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64/2,128/4", help="width/depth list")
    parser.add_argument("--layouts", default="2x1,1x2", help="WORKERSxTHREADS list")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-malloc-compare", action="store_true", help="only measure with the malloc env")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: every worker on the one visible GPU (a sweep of small runs sharing it)")
    args = parser.parse_args()

    from scalinglab.config import RunConfig

    layouts = [tuple(int(v) for v in s.split("x")) for s in args.layouts.split(",")]
    envs = {"malloc env": dict(MALLOC_ENV)} if args.no_malloc_compare else {"glibc default": {}, "malloc env": dict(MALLOC_ENV)}
    print(f"{args.device}, cpus {os.cpu_count()}, seq {args.seq_len}, batch {args.batch_size}, vocab {args.vocab}, "
          f"{args.steps} steps, median of {args.repeats}; malloc env = {MALLOC_ENV}")
    for size in args.sizes.split(","):
        width, depth = (int(v) for v in size.split("/"))
        figures: dict[tuple, list[float]] = {}
        faults: dict[tuple, list[float]] = {}
        for _ in range(args.repeats):
            for w, t in layouts:
                cfg = RunConfig.model_validate({
                    "model": {"width": width, "depth": depth},
                    "data": {"tokenizer": f"bpe:{args.vocab}", "seq_len": args.seq_len},
                    "budget": {"batch_size": args.batch_size}, "loop": {"threads": t, "device": args.device},
                })
                for env_name, env in envs.items():
                    tok_s, flt = measure(cfg.model_dump_json(), w, args.steps, env)
                    figures.setdefault((w, t, env_name), []).append(tok_s)
                    faults.setdefault((w, t, env_name), []).append(flt)
        med = {k: statistics.median(v) for k, v in figures.items()}
        for env_name in envs:
            row = "  ".join(f"{w}x{t}: {med[(w, t, env_name)]:>8,.0f} tok/s "
                            f"({statistics.median(faults[(w, t, env_name)]):,.0f} faults/step)" for w, t in layouts)
            print(f"width {width:>4}/{depth:<2} {env_name:<13} {row}")
        if len(layouts) >= 2:
            (w0, t0), (w1, t1) = layouts[:2]
            for env_name in envs:
                print(f"width {width:>4}/{depth:<2} {env_name:<13} {w0}x{t0} / {w1}x{t1} = "
                      f"{med[(w0, t0, env_name)] / med[(w1, t1, env_name)]:.2f}")
        if len(envs) == 2:
            for w, t in layouts:
                print(f"width {width:>4}/{depth:<2} {w}x{t}: malloc env / default = "
                      f"{med[(w, t, 'malloc env')] / med[(w, t, 'glibc default')]:.2f}")


if __name__ == "__main__":
    main()
