"""Results to plain JSON values: numpy scalars to floats, NaN and ±inf to null."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np


def jsonable(value):
    """Recursively convert `value` for json.dumps (which would write NaN, not valid JSON)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a record inside a record (a noise)
        return jsonable(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
