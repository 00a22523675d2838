"""Running `scalinglab` as from a terminal, and pressing Ctrl-C there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

SCALINGLAB = [sys.executable, "-m", "scalinglab"]


def start(args: list[str], **popen) -> subprocess.Popen:
    """`scalinglab ARGS` in a process group of its own, handling SIGINT as a program started from a
    terminal does, even where the tests run with SIGINT ignored (a background job): a handled signal
    is reset to the default in the child, an ignored one stays so."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([*SCALINGLAB, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, **popen)
    finally:
        signal.signal(signal.SIGINT, previous)


def ctrl_c(proc: subprocess.Popen, timeout: float) -> str:
    """A terminal's Ctrl-C, which signals the whole foreground process group (the driver and its
    workers); what the process then wrote to stderr."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
