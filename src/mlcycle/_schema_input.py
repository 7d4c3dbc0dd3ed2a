"""How a :class:`~mlcycle.schema.Schema` reads its input: the input as one column per
feature, the issues of each column under its policy, and the typed values.

Private to :mod:`mlcycle.schema` (split from it for size); the names here are not API.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.schema import Column, Issue, Policy

_MAX_SHOWN = 5  # issues quoted in a SchemaError message
_INT64_LIMIT = 2.0**63
_ISO_DATETIME = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


# -- reading the input ---------------------------------------------------------------------


@dataclass
class _Hits:
    """Issues of one code in one column: positions and values, and how to word one."""

    column: str | None
    code: str
    say: str  # the message; "{v}" stands for the offending value
    rows: Any = None  # numpy int array of positions; None for a whole-column issue
    values: Any = None  # numpy object array aligned with rows

    @property
    def count(self) -> int:
        return 1 if self.rows is None else len(self.rows)

    def value(self, k: int) -> Any:
        return None if self.rows is None else _python_scalar(self.values[k])

    def issue(self, k: int) -> Issue:
        from mlcycle.schema import Issue

        if self.rows is None:
            return Issue(None, self.column, self.code, self.say)
        row, text = int(self.rows[k]), self.say.replace("{v}", _show(self.value(k)))
        where = f"Row {row}, column '{self.column}'" if self.column else f"Row {row}"
        return Issue(row, self.column, self.code, f"{where}: {text}")


def _summary(hits: list[_Hits], features: list[str]) -> str:
    absent = [h.column for h in hits if h.code == "missing_column"]
    parts = []
    if len(absent) == 1:
        parts.append(next(h for h in hits if h.code == "missing_column").issue(0).message)
    elif absent:
        quoted = ", ".join(f"'{name}'" for name in absent)
        parts.append(f"Columns {quoted} are missing from the input. {_expects(features)}")
    others = [h for h in hits if h.code != "missing_column"]
    total = sum(h.count for h in others)
    order = sorted((k, i) for i, h in enumerate(others) for k in range(min(h.count, _MAX_SHOWN)))
    parts += [others[i].issue(k).message for k, i in order[:_MAX_SHOWN]]  # each kind's first
    shown = min(total, _MAX_SHOWN)
    if total > shown:
        parts.append(f"({total - shown} more issue{'s' if total - shown > 1 else ''} not shown.)")
    return " ".join(parts)


def _objects(values: list[Any]) -> pd.Series:
    """A Series of exactly these Python objects (no inference, lists kept as values)."""
    import numpy as np
    import pandas as pd

    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return pd.Series(array, dtype=object)


def _table(
    data: Any, wanted: set[str]
) -> tuple[dict[str, pd.Series], list[str] | None, int, list[_Hits]]:
    """The input as Series by column name, the names present (None if unknowable), rows."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        labels = [str(label) for label in data.columns]
        table: dict[str, pd.Series] = {}
        for i, name in enumerate(labels):
            if name in wanted and name not in table:
                table[name] = data.iloc[:, i].reset_index(drop=True)
        return table, labels, len(data), []

    def is_column(v: Any) -> bool:
        return isinstance(v, list | tuple | pd.Series) or getattr(v, "ndim", 0) == 1

    if isinstance(data, Mapping) and data and all(map(is_column, data.values())):
        names = [str(key) for key in data]
        lengths = [len(v) for v in data.values()]
        if len(set(lengths)) > 1:
            say = "Column '{}' has {} values but column '{}' has {}: columns must be as long."
            pairs = [(name, n) for name, n in zip(names, lengths, strict=True) if n != lengths[0]]
            hits = [
                _Hits(c, "wrong_type", say.format(c, n, names[0], lengths[0])) for c, n in pairs
            ]
            return {}, None, 0, hits
        table = {}
        for key, values in data.items():
            if str(key) in wanted and str(key) not in table:
                if isinstance(values, list | tuple):
                    table[str(key)] = _objects(list(values))
                else:
                    table[str(key)] = pd.Series(values).reset_index(drop=True)
        return table, names, lengths[0], []
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list | tuple):
        raise SchemaError(
            "The input must be a pandas DataFrame, a list of records (dicts) or a dict of "
            f"columns. Got {_kind(data)}."
        )
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, record in enumerate(data):
        if isinstance(record, Mapping):
            records.append({str(key): value for key, value in record.items()})
        else:
            records.append({})
            bad.append(i)
    hits = []
    if bad:
        say = "{v} is not a record (an object of column names to values)."
        values = _objects([data[i] for i in bad]).to_numpy()
        hits.append(_Hits(None, "wrong_type", say, np.array(bad), values))
    present = list(dict.fromkeys(key for record in records for key in record))
    columns = [name for name in present if name in wanted]
    table = {name: _objects([record.get(name) for record in records]) for name in columns}
    return table, present if len(bad) < len(records) else None, len(records), hits


# -- checking one column -------------------------------------------------------------------


def _inspect(column: Column, policy: Policy, series: pd.Series | None) -> list[_Hits]:
    """The issues of one column, found with whole-column operations where the dtype allows."""
    import numpy as np
    import pandas as pd

    if series is None:
        return []
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    missing = series.isna().to_numpy(dtype=bool)
    positions = np.flatnonzero(~missing)
    present = series.iloc[positions]
    objects: Any = None
    hits: list[_Hits] = []

    def add(code: str, mask: Any, say: str) -> None:
        nonlocal objects
        if mask.any():
            if objects is None:
                objects = present.to_numpy(dtype=object)
            hits.append(_Hits(column.name, code, say, positions[mask], objects[mask]))

    if missing.any() and policy.missing == "refuse":
        rows = np.flatnonzero(missing)
        say = "a value is required, but it is missing."
        hits.append(_Hits(column.name, "missing_value", say, rows, series.iloc[rows].to_numpy()))
    kind = column.dtype
    if kind in ("number", "integer"):
        numbers, wrong = _numbers(present)
        with np.errstate(invalid="ignore"):
            finite = ~wrong & np.isfinite(numbers)
            infinite, huge = ~wrong & ~finite, None
            if kind == "integer":
                huge = finite & (np.abs(numbers) >= _INT64_LIMIT)
                wrong |= finite & ~huge & (numbers % 1 != 0)
                finite &= ~huge & ~wrong
        noun = "an integer" if huge is not None else "a number"
        add("wrong_type", wrong, f"{{v}} is not {noun}.")
        add("out_of_range", infinite, "{v} is infinite or too large to be a number.")
        if huge is not None:
            add("out_of_range", huge, "{v} is too large for a 64-bit integer.")
        if policy.out_of_range == "refuse" and (column.min is not None or column.max is not None):
            low = -math.inf if column.min is None else column.min
            high = math.inf if column.max is None else column.max
            outside, span = finite & ((numbers < low) | (numbers > high)), _span(column)
            add("out_of_range", outside, f"{{v}} is outside the range seen in training ({span}).")
        return hits
    if kind == "category":
        wrong = _mask(present, lambda v: not isinstance(v, str | int | float | np.generic))
        add("wrong_type", wrong, "{v} is not a category value.")
        refuse = policy.unseen == "refuse" or policy.missing == "refuse"
        if column.categories is not None and policy.unseen != "allow" and refuse:
            unseen = ~wrong
            unseen[~wrong] = ~present[~wrong].isin(column.categories).to_numpy(dtype=bool)
            say = f"{{v}} is not a known category (known: {_known(column.categories)})"
            if policy.unseen == "map_to_missing":
                say += "; unknown categories count as missing, and this column needs a value"
            add("unseen_category", unseen, say + ".")
        return hits
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(present.dtype):
            return hits
        wrong = _parse_datetimes(present).isna().to_numpy(dtype=bool)
        add("wrong_type", wrong, "{v} is not a date-time (ISO 8601, e.g. '2024-01-31T12:00:00').")
        return hits
    if kind == "boolean":
        if not pd.api.types.is_bool_dtype(present.dtype):
            wrong = _mask(present, lambda v: not isinstance(v, bool | np.bool_))
            add("wrong_type", wrong, "{v} is not true or false.")
        return hits
    if not isinstance(present.dtype, pd.StringDtype):  # string
        wrong = _mask(present, lambda v: not isinstance(v, str))
        add("wrong_type", wrong, "{v} is not text.")
    return hits


_UNIFORM_KINDS = frozenset(
    ("string", "boolean", "integer", "floating", "mixed-integer-float", "decimal", "empty")
)
"""Kinds of ``pandas.api.types.infer_dtype`` whose values all get the same verdict from
every type test of :func:`_inspect` (str; bool and numpy bool; int, float and their numpy
types; Decimal), so one value decides for the whole column."""


def _mask(series: pd.Series, bad: Callable[[Any], bool]) -> Any:
    """Boolean array: where ``bad(value)``; decided once per Python type for speed.

    A column of one kind of value (all text, say, as a CSV gives) is decided by its first
    value after one C-level pass over the column; a mixed one value by value.
    """
    import numpy as np
    from pandas.api.types import infer_dtype

    if series.dtype != object or infer_dtype(series, skipna=False) in _UNIFORM_KINDS:
        sample = series.iloc[:1].to_numpy(dtype=object)
        return np.full(len(series), bool(len(sample)) and bad(sample[0]))
    values = series.to_numpy(dtype=object)
    verdicts: dict[type, bool] = {}
    out = np.empty(len(values), dtype=bool)
    for i, value in enumerate(values):
        kind = type(value)
        if kind not in verdicts:
            verdicts[kind] = bad(value)
        out[i] = verdicts[kind]
    return out


def _numbers(series: pd.Series) -> tuple[Any, Any]:
    """(float64 array, mask of values that are not real numbers); booleans are not numbers."""
    import decimal
    import numbers

    import numpy as np
    from pandas.api import types as pdt

    if pdt.is_numeric_dtype(series.dtype) and not pdt.is_bool_dtype(series.dtype):
        as_float = series.to_numpy(dtype="float64", na_value=np.nan)
        return as_float, np.zeros(len(series), dtype=bool)
    real = numbers.Real | decimal.Decimal
    wrong = _mask(series, lambda v: not isinstance(v, real) or isinstance(v, bool | np.bool_))
    values = series.to_numpy(dtype=object)[~wrong]
    out = np.full(len(series), np.nan)
    try:
        out[~wrong] = np.asarray(values, dtype=float)
    except (OverflowError, ValueError, TypeError):
        out[~wrong] = [_to_float(v) for v in values]
    return out, wrong


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (ValueError, TypeError):
        return math.nan


def _parse_datetimes(series: pd.Series) -> pd.Series:
    """Naive UTC timestamps (positional index), NaT where a value is not a date-time."""
    import datetime as dt
    import re

    import numpy as np
    import pandas as pd

    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":  # text, as CSV gives: RE2
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = pa.array(values, type=pa.string(), from_pandas=True)
        matched = pc.match_substring_regex(texts, f"^(?:{_ISO_DATETIME})$")
        ok: Any = matched.fill_null(False).to_numpy(zero_copy_only=False)
    else:
        iso = re.compile(_ISO_DATETIME)
        ok = [isinstance(v, dt.date | np.datetime64) or (isinstance(v, str) and bool(
            iso.fullmatch(v))) for v in values]  # fmt: skip
    candidates = pd.Series(np.where(np.array(ok, dtype=bool), values, None), dtype=object)
    try:
        parsed = pd.to_datetime(candidates, format="ISO8601", errors="coerce", utc=True)
        return parsed.dt.tz_localize(None).astype("datetime64[us]")
    except (ValueError, TypeError, OverflowError):
        return pd.Series([_timestamp(v) for v in candidates], dtype="datetime64[us]")


def _timestamp(value: Any) -> Any:
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.as_unit("us")
    except (ValueError, TypeError, OverflowError, AttributeError):
        return pd.NaT


def _convert(column: Column, policy: Policy, series: pd.Series) -> pd.Series:
    """One validated column as the dtype the model expects, with clip/map_to_missing applied."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    missing = series.isna().to_numpy(dtype=bool)
    kind = column.dtype
    if kind in ("number", "integer"):
        clip = policy.out_of_range == "clip"
        low = column.min if clip and column.min is not None else None
        high = column.max if clip and column.max is not None else None
        if kind == "integer" and not missing.any():
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
            ints = series.to_numpy(dtype="int64")
            return pd.Series(ints if low is high is None else np.clip(ints, low, high))
        floats = _numbers(series)[0]
        return pd.Series(floats if low is high is None else np.clip(floats, low, high))
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            if getattr(series.dt, "tz", None) is not None:
                return series.dt.tz_convert("UTC").dt.tz_localize(None)
            return series
        return _parse_datetimes(series)
    if kind == "boolean" and not missing.any():
        return pd.Series(series.to_numpy(dtype=bool), dtype=bool)
    values = series.to_numpy(dtype=object).copy()
    values[missing] = np.nan
    if kind == "category" and column.categories is not None and policy.unseen == "map_to_missing":
        values[~missing & ~series.isin(column.categories).to_numpy(dtype=bool)] = np.nan
    value_type = _category_type(column.categories) if kind == "category" else None
    if value_type is not None:
        present = ~pd.isna(values)
        values[present] = [_as_category(_python_scalar(v), value_type) for v in values[present]]
    return pd.Series(values, dtype=object)


def _category_type(categories: list[Any] | None) -> type | None:
    """The one Python type of a category column's values when its categories share it:
    int (all integers), float (all numbers, not all integers) or bool; None for text or a
    mix, whose values are kept as given."""
    kinds = {type(v) for v in categories or ()}
    if not kinds:
        return None
    if kinds in ({bool}, {int}):
        return kinds.pop()
    return float if kinds <= {int, float} else None


def _as_category(value: Any, value_type: type) -> Any:
    """``value`` as its column's category type where nothing is lost (``1.0`` is ``1`` where
    the categories are integers, ``1`` is ``1.0`` where they are floats): a value equal to a
    category is then one value, of one type, to the model and to the prediction log."""
    kind = type(value)
    if kind is value_type:
        return value
    if value_type is int and (kind is bool or (kind is float and value.is_integer())):
        return int(value)
    if value_type is float and kind in (int, bool):
        return float(value)
    if value_type is bool and kind in (int, float) and value in (0, 1):
        return bool(value)
    return value


def _expects(features: list[str]) -> str:
    return f"The model expects: {', '.join(features)}."


def _kind(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _known(categories: list[Any]) -> str:
    shown = ", ".join(map(str, categories[:10]))
    return shown if len(categories) <= 10 else f"{shown}, … ({len(categories)} in all)"


def _show(value: Any) -> str:
    """A short, safe repr of an input value for a message (``mlcycle.schema.show_value``)."""
    value = _python_scalar(value)
    try:
        text = _SHORT.repr(value)  # bounded depth: a value nested 1,000 deep is no RecursionError
    except Exception:  # a value that cannot be shown must not hide the issue
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()  # keyword arguments need Python 3.12
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict = 3, 8, 8, 4
    # whole scalars: the caller cuts the text at 60 characters, at the end as before
    short.maxstring = short.maxlong = short.maxother = 100_000
    return short


_SHORT = _short_repr()


def _span(column: Column) -> str:
    low, high = _show(column.min), _show(column.max)
    if column.min is not None and column.max is not None:
        return f"{low} to {high}"
    return f"at least {low}" if column.min is not None else f"at most {high}"


def _python_scalar(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, TypeError):
            return value
    return value
