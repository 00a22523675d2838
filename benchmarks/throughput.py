"""Training throughput and MFU of the reference model at three sizes.

MFU = model FLOPs per second / the fp32 (or bf16 on CUDA) matmul throughput measured on this
machine in this same run, with FLOPs per token = 6·(non-embedding + output-head params) + 12·L·D·S
(model.accounting). Host noise on shared CPUs is ±15–20%: compare figures from one run.

    python benchmarks/throughput.py                  # 1 thread, CPU, the three default sizes
    python benchmarks/throughput.py --threads 2 --steps 20
    python benchmarks/throughput.py --device cuda --sizes 768/12 --seq-len 1024 --batch-size 32
"""

from __future__ import annotations

import argparse
import time

import torch

from scalinglab.config import RunConfig
from scalinglab.model import count_params, training_flops_per_token
from scalinglab.train import measure_throughput


def matmul_flops_per_s(device: str, dtype: torch.dtype, shapes: list[tuple[int, int, int]], repeats: int = 20) -> float:
    """Best sustained matmul FLOP/s over shapes like the model's (M×K @ K×N)."""
    best = 0.0
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        for _ in range(3):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * m * k * n * repeats / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64/2,128/4,256/6", help="width/depth list")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    tokens = args.batch_size * args.seq_len
    sizes = [tuple(int(v) for v in s.split("/")) for s in args.sizes.split(",")]
    peak = matmul_flops_per_s(
        args.device, dtype, [(tokens, w, 4 * w) for w, _ in sizes] + [(tokens, sizes[-1][0], args.vocab)]
    )
    print(f"device {args.device}, {args.threads} thread(s), {str(dtype).removeprefix('torch.')} matmul peak "
          f"{peak / 1e9:,.1f} GFLOP/s (measured), seq {args.seq_len}, batch {args.batch_size}, vocab {args.vocab}")
    print(f"{'width/layers':>12} {'params(non-emb)':>16} {'tokens/s':>10} {'GFLOP/s':>9} {'MFU':>6}")
    for width, depth in sizes:
        cfg = RunConfig.model_validate({
            "model": {"width": width, "depth": depth},
            "data": {"tokenizer": f"bpe:{args.vocab}", "seq_len": args.seq_len},
            "budget": {"batch_size": args.batch_size},
            "loop": {"device": args.device, "threads": args.threads, "compile": args.compile},
        })
        tok_s = measure_throughput(cfg, steps=args.steps)
        flops = tok_s * training_flops_per_token(cfg.model, args.vocab, args.seq_len)
        n = count_params(cfg.model, args.vocab).non_embedding
        print(f"{width:>8}/{depth:<3} {n:>16,} {tok_s:>10,.0f} {flops / 1e9:>9.1f} {flops / peak:>6.2f}")


if __name__ == "__main__":
    main()
