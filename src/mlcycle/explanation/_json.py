"""JSON-safe values: what ``to_dict`` of an explanation may contain (no NaN, no NumPy)."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any


def json_value(value: Any) -> Any:
    """``value`` as a plain JSON value: NaN, infinities and missing markers become ``None``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return json_value(item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, _dt.datetime | _dt.date):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    return str(value)


def json_float(value: Any) -> float | None:
    """A finite float, or ``None``."""
    number = float(value)
    return number if math.isfinite(number) else None


def label_text(label: Any) -> str:
    """A class label as the text used in keys and messages (``1``, ``'yes'`` → ``1``, ``yes``)."""
    plain = json_value(label)
    return str(plain)
