"""How long `scalinglab --help` and every command's `--help` take, wall clock (goal: ≤ 0.5 s each).

Each page is shown `--repeats` times in a fresh process (the installed `scalinglab` script, as a
user runs it); prints the median and the slowest, and the load average, since on a busy machine
the wall time is mostly waiting for a core.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from typer.main import get_command

    from scalinglab.cli import app

    exe = shutil.which("scalinglab")
    command = [exe] if exe else [sys.executable, "-m", "scalinglab"]
    pages = [[]] + [[c] for c in get_command(app).commands]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {' '.join(command)}")
    worst = 0.0
    for page in pages:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run([*command, *page, "--help"], stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        worst = max(worst, statistics.median(times))
        print(f"{' '.join(['scalinglab', *page, '--help']):32s} median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s")
    print(f"slowest median: {worst:.2f} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
