"""Single-threaded BLAS while fitting.

A fit here is tiny (≤ 5 parameters, a few hundred points), yet OpenBLAS hands each of L-BFGS-B's
small matrix products to its thread pool; on a busy 2-core machine the hand-off costs about 1 ms
per iteration, ten times the work (measured on the Chinchilla bootstrap: 70 ms → 7 ms per refit).
threadpoolctl solves this in general but is not a dependency, so this finds the OpenBLAS builds
that numpy and scipy have loaded and calls their own get/set_num_threads, restoring the old
count on exit. Where none is found (macOS, MKL builds), it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager

# Symbol names differ by build: plain OpenBLAS, and the scipy-openblas wheels (32- and 64-bit ints).
_SYMBOLS = (
    ("openblas_get_num_threads", "openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
)


@functools.cache
def _openblas_handles() -> tuple[tuple[object, object], ...]:
    try:
        import numpy  # noqa: F401  (load both libraries before looking for them)
        import scipy.linalg  # noqa: F401

        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return ()
    handles = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                handles.append((getattr(lib, get_name), getattr(lib, set_name)))
                break
    return tuple(handles)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    handles = _openblas_handles()
    before = [get() for get, _ in handles]
    for _, set_ in handles:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(handles, before):
            set_(n)
