"""JSON that every reader accepts (a browser's ``JSON.parse`` included): NaN and ±inf are written as null.

    line = dumps(record)        # json.dumps with allow_nan=False, non-finite floats replaced by None

The JSON writers of ``edge run`` (the frame log, its summary, ``/status.json``) go through ``dumps``.
"""
import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float inside (dict values, list and tuple items) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps(value, allow_nan=False, **kwargs)``, with NaN/inf written as null instead of refused."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:  # "Out of range float values are not JSON compliant": walk it once more, cleaned
        return json.dumps(finite(value), allow_nan=False, **kwargs)
