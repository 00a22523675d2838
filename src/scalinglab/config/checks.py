"""Field types that say what a setting may hold: whole numbers that are not booleans, finite numbers
in a range, booleans that are booleans.

pydantic's lax mode reads `true` as 1, `1e17` as an int and `1` as true, and a float field takes
nan and inf. Each of those passed validation and failed inside training, after the study database
and run folders were written (or, for nan and inf, serialised to the same JSON null, so two runs
got one id). These types refuse them when the file is loaded, and the message shows the value as
the user wrote it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator

# Upper bounds on sizes: beyond any model trained to date, so no real setting meets them, but a
# typo such as `batch_size = 1e17` is refused here instead of reaching the allocator.
MAX_WIDTH = 2**16
MAX_DEPTH = 1024
MAX_SEQ_LEN = 2**20
MAX_BATCH = 2**20
MAX_TOKENS = 1e15
MAX_THREADS = 1024
MAX_DEVICES = 4096
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_COUNT = 1e40
"""Parameters, tokens and FLOPs above this are not a real run (the largest runs are ~1e26 FLOPs); a
value like 1e308 would overflow 6·N·D and every log-space fit."""


def shown(value: Any) -> str:
    """A value as it reads in TOML: true, nan, inf, 1e+17, 'text'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = repr(value)
    if len(text) <= 60:
        return text
    return text[:56] + ("...'" if text[0] == "'" else "...")  # an error stays one readable line


def whole_number(value: Any) -> int:
    """An int that is not a bool (`batch_size = true` is a typo, not 1), nor a float (1e17, 16.5)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {shown(value)}")
    return value


def real_number(value: Any) -> float:
    """A finite int or float, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {shown(value)}")
    return float(value)


def _bounds_text(ge, gt, le, lt) -> str:
    if gt == 0 and le is None and lt is None:
        return "positive number"
    if ge == 0 and le is None and lt is None:
        return "number ≥ 0"
    if (ge is not None or gt is not None) and (le is not None or lt is not None):
        left = f"[{ge:g}" if ge is not None else f"({gt:g}"
        right = f"{le:g}]" if le is not None else f"{lt:g})"
        return f"number in {left}, {right}"
    return "number " + " and ".join(
        f"{op} {bound:g}" for op, bound in (("≥", ge), (">", gt), ("≤", le), ("<", lt)) if bound is not None)


def in_range(value: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
             lt: float | None = None, cap: float | None = None) -> float:
    """`value` as a finite float within the bounds, else ValueError saying what it must be.

    `le`/`lt` are part of the meaning (a fraction ≤ 1) and shown with the range; `cap` is a sanity
    bound on a size, reported on its own ("must be at most 1e+15").
    """
    x = real_number(value)
    if not (math.isfinite(x) and (ge is None or x >= ge) and (gt is None or x > gt)
            and (le is None or x <= le) and (lt is None or x < lt)):
        raise ValueError(f"must be a finite {_bounds_text(ge, gt, le, lt)}, got {shown(value)}")
    if cap is not None and x > cap:
        raise ValueError(f"must be at most {cap:g}, got {shown(value)}")
    return x


def real(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
         lt: float | None = None, cap: float | None = None, optional: bool = False) -> Any:
    """A float field: finite, within the bounds given (in_range), e.g. `real(gt=0)` for a learning rate."""

    def check(value: Any) -> float | None:
        if value is None and optional:
            return None
        return in_range(value, ge=ge, gt=gt, le=le, lt=lt, cap=cap)

    return Annotated[float | None if optional else float, BeforeValidator(check)]


def whole_in_range(value: Any, *, ge: int, le: int | None = None, message: str | None = None) -> int:
    """`value` as an int in [ge, le], else ValueError; the message for a value below `ge` may be
    given, with {n} for the value."""
    n = whole_number(value)
    if n < ge:
        low = message or ("must not be negative" if ge == 0 else "must be positive" if ge == 1
                          else f"must be at least {ge}")
        raise ValueError(low.format(n=n))
    if le is not None and n > le:
        raise ValueError(f"must be at most {le}, got {n}")
    return n


def whole(*, ge: int, le: int | None = None, optional: bool = False, message: str | None = None) -> Any:
    """An int field within [ge, le] (whole_in_range)."""

    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        return whole_in_range(value, ge=ge, le=le, message=message)

    return Annotated[int | None if optional else int, BeforeValidator(check)]


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


Boolean = Annotated[bool, BeforeValidator(_boolean)]
