"""How much a run's losses depend on its torch thread count: the same spec trained with 1 and 2 threads.

torch's CPU kernels (matmul blocking, reductions) split their work by the number of threads, so
the order of floating-point additions, and so the rounding, changes with it; training amplifies
the difference. This trains the demo study's runs (studies/crossover-cpu.toml, one arm) at a few
widths on a short budget with each thread count and prints the final losses and their differences.

    python benchmarks/threads.py                                   # widths 32, 64, 96; 2 tokens/param
    python benchmarks/threads.py --widths 32,48,64,80,96 --tokens-per-param 20 --arm scaled
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from scalinglab.config import load_study
from scalinglab.demo import STUDY_NAME, studies_dir
from scalinglab.train import train_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="32,64,96")
    ap.add_argument("--tokens-per-param", type=float, default=2.0)
    ap.add_argument("--arm", default="constant")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    study = load_study(studies_dir() / f"{STUDY_NAME}.toml")
    specs = [r for r in study.runs if r.arm == args.arm and r.width in widths]
    print(f"{'width':>5} " + " ".join(f"{f'{t} thr train':>12} {f'{t} thr eval':>12}" for t in threads)
          + "   max |Δ| train  max |Δ| eval  bitwise")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            losses = []
            for t in threads:
                cfg = spec.config.model_copy(update={
                    "budget": spec.config.budget.model_copy(update={"tokens_per_param": args.tokens_per_param}),
                    "loop": spec.config.loop.model_copy(update={"threads": t})})
                r = train_run(cfg, Path(tmp) / f"w{spec.width}-t{t}")
                losses.append((r.final_train_loss, r.final_eval_loss))
            dt = max(a[0] for a in losses) - min(a[0] for a in losses)
            de = max(a[1] for a in losses) - min(a[1] for a in losses)
            same = "same" if len(set(losses)) == 1 else "differ"
            print(f"{spec.width:>5} " + " ".join(f"{a:>12.5f} {b:>12.5f}" for a, b in losses)
                  + f"   {dt:>13.2e} {de:>13.2e}  {same}", flush=True)


if __name__ == "__main__":
    main()
