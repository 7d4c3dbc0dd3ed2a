"""Column kinds: what a column *means* for modelling, beyond its pandas dtype.

:func:`infer_kind` reads one column and returns one of the :class:`Kind` strings; the
profiler, the schema and the preparer all start from it. The rules, first match wins:

1. **boolean**: a ``bool`` dtype, or exactly two distinct non-missing values that form
   one of the pairs 0/1, true/false, yes/no, y/n, t/f (case and surrounding spaces
   ignored; numbers 0 and 1 of any numeric dtype count).
2. **datetime**: a datetime dtype, or text of which at least 95 % of the sampled values
   have the shape of a date (``2020-01-31``, ``31/01/2020``, ``2020-01-31T10:00Z``, or a
   month name with digits such as ``Jan 5, 2020``) and at least 95 % of the first 1,000
   sampled values parse as dates. ``"1-5"``, ``"2020"`` or ``"12:30"`` are not dates.
3. Numbers (numeric dtypes; object columns that hold only Python numbers):

   - a float column with fractional values is **numeric**;
   - a float column of whole numbers *with missing values* is treated as an integer
     column (pandas widens integers to float to hold ``NaN``); without missing values it
     stays **numeric** (a measurement that happens to be whole);
   - an integer column is an **identifier** when the table has at least 50 non-missing
     values, at least 95 % of them are distinct and the name looks like an id (a token
     id, uuid, guid, key, code, identifier, ref, idx, no, nr: ``user_id``, ``customerId``,
     ``ID``) - or, without such a name, when every value is distinct, the column is
     sorted and its values are nearly consecutive (a row counter);
   - an integer column with few distinct values, at most ``min(20, max(5, 5 % of the
     non-missing values))``, is an **integer_category** (race coded 1/2/3);
   - any other integer column is **numeric**.
4. Text (string, object and categorical dtypes):

   - **identifier**: at least 50 non-missing values, at least 95 % distinct, values
     without spaces, and an id-like name or id-like values (UUIDs, hex strings of 8+
     characters, or codes of one fixed length that contain a digit);
   - **text**: at least half of the sampled values distinct and long values (on
     average at least 3 words or 30 characters): free text such as comments;
   - **category**: any other text.

A column with no non-missing value keeps the kind of its dtype (numeric for numbers,
datetime for datetimes, category otherwise); :func:`infer_kind` raises nothing for it,
and loaders and profilers report it. Checks that parse values (dates, id shapes, word
counts) read a seeded sample of at most 10,000 values, so a column of 1,000,000 rows is
classified in milliseconds; distinct counts that decide a kind use the whole column.

:class:`TableTypes` holds a table's two words for a column's type, inferred once by
:func:`infer_types`: the schema dtype (the contract) and the kind (the role that refines
it), related by the one table :data:`DTYPE_KINDS`.

:func:`mixed_values` finds the other problem of a column's type: numbers with a few
words among them ("34", "unknown", "41"), which loaders keep as text and report.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlcycle.exceptions import SchemaError

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = [
    "DTYPE_KINDS",
    "NUMBER",
    "Kind",
    "TableTypes",
    "infer_kind",
    "infer_kinds",
    "infer_types",
    "mixed_values",
]

SAMPLE_SIZE = 10_000
_SEED = 0
_MIN_ID_ROWS = 50
_ID_UNIQUE_SHARE = 0.95
_DATE_SHARE = 0.95
_MAX_INT_CATEGORIES = 20
_TEXT_DISTINCT_SHARE = 0.5

_BOOLEAN_PAIRS = (
    frozenset({"0", "1"}),
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
)
_ID_TOKENS = frozenset(
    {"id", "ids", "uuid", "guid", "key", "code", "identifier", "ref", "idx", "no", "nr"}
)
_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_HEX = r"(?:0x)?[0-9a-fA-F]{8,}"
NUMBER = r"\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?\s*"
"""A number as text, with a decimal point or comma; the whole value must match."""
_MONTHS = r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[aApP][mM])?)?\s*(?:Z|[+-]\d{2}:?\d{2})?"
_NUMERIC_DATE = re.compile(
    rf"\s*(?:\d{{4}}[-/.]\d{{1,2}}(?:[-/.]\d{{1,2}})?|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}){_TIME}\s*"
)
_MONTH_NAME = re.compile(rf"\b(?:{_MONTHS})[a-z]*\.?(?:\b|$)", re.IGNORECASE)
_DATE_PARSE_SAMPLE = 1_000


class Kind:
    """The kinds a column can have, as plain strings (they go into JSON unchanged)."""

    NUMERIC = "numeric"
    INTEGER_CATEGORY = "integer_category"
    CATEGORY = "category"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"
    ALL = (NUMERIC, INTEGER_CATEGORY, CATEGORY, BOOLEAN, DATETIME, TEXT, IDENTIFIER)


DTYPE_KINDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "number": frozenset({Kind.NUMERIC, Kind.INTEGER_CATEGORY, Kind.BOOLEAN, Kind.IDENTIFIER}),
        "integer": frozenset({Kind.NUMERIC, Kind.INTEGER_CATEGORY, Kind.BOOLEAN, Kind.IDENTIFIER}),
        "boolean": frozenset({Kind.BOOLEAN}),
        "category": frozenset(
            {Kind.CATEGORY, Kind.BOOLEAN, Kind.DATETIME, Kind.TEXT, Kind.IDENTIFIER}
        ),
        "string": frozenset(
            {Kind.CATEGORY, Kind.BOOLEAN, Kind.DATETIME, Kind.TEXT, Kind.IDENTIFIER, Kind.NUMERIC}
        ),
        "datetime": frozenset({Kind.DATETIME}),
    }
)
"""The one mapping between the two words for a column's type.

A schema dtype (:data:`mlcycle.schema.DTYPES`) is the contract: what a value must be for
the model to accept it. A kind is the column's modelling *role*, a refinement of its dtype:
a ``category`` column may be a plain category, a yes/no flag (``boolean``), dates written
as text (``datetime``), free ``text`` or an ``identifier``. This table lists, for each
dtype, the kinds a column of that dtype can have; ``string`` holds ``numeric`` only for
durations (timedeltas), which a request sends as text. Nothing else spells the relation.
"""


def infer_kinds(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> dict[str, str]:
    """The :class:`Kind` of every column of ``df`` except those in ``exclude``.

    >>> infer_kinds(pd.DataFrame({"smoker": ["yes", "no", "yes"], "age": [31.5, 40.0, 22.1]}))
    {'smoker': 'boolean', 'age': 'numeric'}
    """
    skip = set(exclude)
    return {
        column: infer_kind(df.iloc[:, position])
        for position, column in enumerate(df.columns)
        if column not in skip
    }


def infer_kind(series: pd.Series) -> str:
    """The :class:`Kind` of one column, by the rules of this module's docstring."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Kind.BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return Kind.DATETIME
    if pd.api.types.is_timedelta64_dtype(dtype):
        return Kind.NUMERIC
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if pd.api.types.is_bool_dtype(categories.dtype):
            return Kind.BOOLEAN
        if pd.api.types.is_datetime64_any_dtype(categories.dtype):
            return Kind.DATETIME
        values = series.dropna()
        if values.empty:
            return Kind.CATEGORY
        if values.nunique() == 2 and _is_boolean_pair(pd.Series(values.unique().tolist())):
            return Kind.BOOLEAN
        return Kind.CATEGORY

    values = series.dropna()
    if pd.api.types.is_numeric_dtype(dtype):
        if values.empty:
            return Kind.NUMERIC
        return _numeric_kind(values, series.name, has_missing=len(values) < len(series))
    if values.empty:
        return Kind.CATEGORY
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred == "boolean":
            return Kind.BOOLEAN
        if inferred in ("datetime", "datetime64", "date"):
            return Kind.DATETIME
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().all():
                return _numeric_kind(numbers, series.name, has_missing=len(values) < len(series))
    return _text_kind(values, series.name)


def mixed_values(series: pd.Series) -> tuple[int, list[str]] | None:
    """``(count, examples)`` of the words in a column of numbers, or None if it is not mixed.

    Mixed means: a text column of which at least half the non-missing values are numbers
    and the rest are not ("34", "unknown", "41"), or an object column holding Python
    numbers and strings side by side. Examples are at most five distinct offending values.
    """
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_object_dtype(series.dtype):
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("mixed", "mixed-integer"):
            is_text = values.map(lambda v: isinstance(v, str) and not re.fullmatch(NUMBER, v))
            words = values[is_text.astype(bool)]
            if 0 < len(words) < len(values):
                return len(words), [str(v) for v in pd.unique(words)[:5]]
            return None
        if kind != "string":
            return None
    text = values.astype(str)
    probe = text.iloc[:: max(1, len(text) // 1000)]  # spread over the column
    if probe.str.fullmatch(NUMBER).mean() < 0.3:
        return None
    numeric = text.str.fullmatch(NUMBER).astype(bool)
    n_numbers = int(numeric.sum())
    if n_numbers < 0.5 * len(text) or n_numbers == len(text):
        return None
    words = text[~numeric]
    return len(words), [str(v) for v in pd.unique(words)[:5]]


def _numeric_kind(values: pd.Series, name: object, *, has_missing: bool) -> str:
    """Kind of a column of non-missing numbers (``values`` has no missing value)."""
    is_integer = pd.api.types.is_integer_dtype(values.dtype)
    if not is_integer:
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        for part in (array[:SAMPLE_SIZE], array):  # most float columns fail on the head
            if not np.isfinite(part).all() or not np.equal(np.mod(part, 1.0), 0.0).all():
                return Kind.NUMERIC
    distinct = pd.unique(values.to_numpy())
    n_distinct = len(distinct)
    if n_distinct == 2 and set(np.asarray(distinct, dtype=np.float64).tolist()) == {0.0, 1.0}:
        return Kind.BOOLEAN
    if not is_integer and not has_missing:
        return Kind.NUMERIC
    n = len(values)
    if n >= _MIN_ID_ROWS and n_distinct >= _ID_UNIQUE_SHARE * n:
        if _looks_like_id_name(name):
            return Kind.IDENTIFIER
        if n_distinct == n and _is_row_counter(values, distinct):
            return Kind.IDENTIFIER
    if n_distinct <= min(_MAX_INT_CATEGORIES, max(5, 0.05 * n)):
        return Kind.INTEGER_CATEGORY
    return Kind.NUMERIC


def _is_row_counter(values: pd.Series, distinct: np.ndarray) -> bool:
    """Sorted, all distinct and nearly consecutive: 1, 2, 3, ... or 1001, 1003, ..."""
    if not (values.is_monotonic_increasing or values.is_monotonic_decreasing):
        return False
    span = float(np.max(distinct)) - float(np.min(distinct)) + 1.0
    return span <= 2.0 * len(distinct)


def _text_kind(values: pd.Series, name: object) -> str:
    """Kind of a column of non-missing text (or mixed objects, read as text)."""
    sample = _sample(values).astype(str).str.strip()
    sample_distinct = sample.nunique()
    if sample.str.lower().nunique() <= 2:
        full_distinct = values.astype(str).str.strip().str.lower().unique()
        if len(full_distinct) == 2 and _is_boolean_pair(pd.Series(full_distinct)):
            return Kind.BOOLEAN
    if _looks_like_dates(sample):
        return Kind.DATETIME
    n = len(values)
    spaced = sample.str.contains(r"\s", regex=True).mean()
    if (
        n >= _MIN_ID_ROWS
        and sample_distinct >= _ID_UNIQUE_SHARE * len(sample)
        and spaced < 1 - _ID_UNIQUE_SHARE
        and values.nunique() >= _ID_UNIQUE_SHARE * n
        and (_looks_like_id_name(name) or _looks_like_id_values(sample))
    ):
        return Kind.IDENTIFIER
    if sample_distinct >= _TEXT_DISTINCT_SHARE * len(sample):
        mean_words = sample.str.split().str.len().mean()
        mean_length = sample.str.len().mean()
        if mean_words >= 3 or mean_length >= 30:
            return Kind.TEXT
    return Kind.CATEGORY


def _sample(values: pd.Series) -> pd.Series:
    if len(values) <= SAMPLE_SIZE:
        return values
    return values.sample(SAMPLE_SIZE, random_state=_SEED)


def _is_boolean_pair(distinct: pd.Series) -> bool:
    pair = frozenset(distinct.astype(str).str.strip().str.lower())
    return pair in _BOOLEAN_PAIRS


def _looks_like_dates(sample: pd.Series) -> bool:
    """Date-shaped (checked on the sample) and parseable (checked on 1,000 of them)."""
    numeric_form = sample.str.fullmatch(_NUMERIC_DATE)
    named_form = (
        sample.str.contains(_MONTH_NAME, regex=True)
        & sample.str.contains(r"\d", regex=True)
        & (sample.str.count(r"\s+") < 6)
        & (sample.str.len() <= 48)
    )
    if (numeric_form | named_form).mean() < _DATE_SHARE:
        return False
    head = sample.iloc[:_DATE_PARSE_SAMPLE]
    for form in (None, "mixed"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(head, errors="coerce", format=form, utc=True)
            except (ValueError, TypeError, OverflowError):
                continue
        if parsed.notna().mean() >= _DATE_SHARE:
            return True
    return False


def _looks_like_id_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    tokens = {token.lower() for token in re.split(r"[^A-Za-z0-9]+", spaced) if token}
    return bool(tokens & _ID_TOKENS)


def _looks_like_id_values(sample: pd.Series) -> bool:
    if sample.str.fullmatch(_UUID).mean() >= _ID_UNIQUE_SHARE:
        return True
    if sample.str.fullmatch(_HEX).mean() >= _ID_UNIQUE_SHARE and sample.str.len().nunique() <= 2:
        return True
    lengths = sample.str.len()
    has_digit = sample.str.contains(r"\d", regex=True).mean()
    return bool(lengths.nunique() == 1 and has_digit >= _ID_UNIQUE_SHARE)


@dataclass(frozen=True)
class TableTypes:
    """A table's column types, inferred once: the schema (the contract) and each kind.

    ``schema`` gives every column's dtype, nulls, categories and range; ``kinds`` refines
    each column's dtype into its modelling role, as :data:`DTYPE_KINDS` allows. Training
    builds its preparer from ``kinds`` and registers ``schema`` in the bundle, so the model
    honours the contract inferred when the table was profiled.
    """

    schema: Schema
    kinds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {column.name for column in self.schema.columns}
        for name, kind in self.kinds.items():
            if name not in names:
                raise SchemaError(
                    f"Column '{name}' has a kind but is not in the schema. "
                    f"Schema columns: {', '.join(sorted(names))}."
                )
            dtype = self.schema.column(name).dtype
            if kind not in DTYPE_KINDS[dtype]:
                raise SchemaError(
                    f"Column '{name}' cannot be of kind {kind!r}: its schema dtype is "
                    f"{dtype!r}, whose kinds are {', '.join(sorted(DTYPE_KINDS[dtype]))}."
                )

    def select(self, columns: Iterable[str]) -> TableTypes:
        """The types of ``columns`` only, in that order (the target kept if listed)."""
        from mlcycle.schema import Schema

        wanted = list(columns)
        schema = Schema(
            [self.schema.column(name) for name in wanted],
            target=self.schema.target if self.schema.target in wanted else None,
            defaults=self.schema.defaults,
            unexpected=self.schema.unexpected,
        )
        kinds = {name: self.kinds[name] for name in wanted if name in self.kinds}
        return TableTypes(schema, MappingProxyType(kinds))


def infer_types(
    df: pd.DataFrame, target: str | None = None, *, kinds: Mapping[str, str] | None = None
) -> TableTypes:
    """Infer ``df``'s schema and the kind of every column, each column read once per word.

    ``kinds`` (e.g. a profile's) are used as they are where given; the columns they leave
    out are inferred here. The target gets a kind like any column.

    >>> types = infer_types(pd.DataFrame({"plan": ["a", "b", "a"], "age": [31, 40, 22]}))
    >>> types.schema.column("plan").dtype, types.kinds["plan"]
    ('category', 'category')
    """
    from mlcycle.schema import Schema

    schema = Schema.from_dataframe(df, target=target)
    known = {str(name): str(kind) for name, kind in (kinds or {}).items()}
    missing = [name for name in df.columns if str(name) not in known]
    if missing:
        known.update({str(name): kind for name, kind in infer_kinds(df[missing]).items()})
    ordered = {str(name): known[str(name)] for name in df.columns}
    return TableTypes(schema, MappingProxyType(ordered))
