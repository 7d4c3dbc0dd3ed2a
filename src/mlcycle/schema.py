"""The input contract of a model: which columns it expects, of which types and values,
and what to do when a value breaks it.

A :class:`Schema` is inferred from training data, travels inside every bundle
(``schema.json``), may be edited by hand (``to_json(indent=2)``) and is enforced at
prediction time on a DataFrame, a list of JSON records or a dict of columns::

    schema = Schema.from_dataframe(train_df, target="churned")
    schema.check(records)       # -> [Issue(row=3, column='plan', code='unseen_category', ...)]
    schema.validate(records)    # raises SchemaError listing the first few issues
    X = schema.coerce(records)  # the DataFrame the model's pipeline is given

Policies are set per column, or once in the schema's ``defaults``:

- ``missing``: ``allow`` (nulls pass), ``refuse``, or ``impute`` (nulls pass to the
  pipeline's imputer). The default ``auto`` allows nulls in a column that had nulls in
  training (``nullable``) and refuses them elsewhere. NaN is a missing value.
- ``unseen`` (category columns): ``refuse`` (default), ``allow`` (passed through to the
  encoder), or ``map_to_missing`` (then subject to the ``missing`` policy).
- ``out_of_range`` (number and integer columns, against ``min``/``max`` from training):
  ``allow`` (default: ranges are recorded, not enforced), ``clip`` or ``refuse``.
  Infinity is refused whatever the policy.

Columns that the schema does not know are ignored unless ``unexpected`` is ``refuse``.
A feature whose missing policy is not ``refuse`` may be absent: it is all missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DTYPES",
    "ISSUE_CODES",
    "MISSING_POLICIES",
    "OUT_OF_RANGE_POLICIES",
    "SCHEMA_FORMAT",
    "UNEXPECTED_POLICIES",
    "UNSEEN_POLICIES",
    "Column",
    "Finding",
    "Issue",
    "Policy",
    "Schema",
]

DTYPES: tuple[str, ...] = ("number", "integer", "boolean", "category", "string", "datetime")
"""The logical column types a schema knows, independent of pandas/numpy dtypes."""

SCHEMA_FORMAT = 2
"""Version of the dictionary layout written by :meth:`Schema.to_dict` (format 1 is read too)."""

MAX_INFERRED_CATEGORIES = 50
"""A text column with at most this many distinct values is inferred as ``category``."""

MISSING_POLICIES: tuple[str, ...] = ("allow", "refuse", "impute")
UNSEEN_POLICIES: tuple[str, ...] = ("refuse", "allow", "map_to_missing")
OUT_OF_RANGE_POLICIES: tuple[str, ...] = ("allow", "clip", "refuse")
UNEXPECTED_POLICIES: tuple[str, ...] = ("allow", "refuse")
_POLICIES = (("auto", *MISSING_POLICIES), MISSING_POLICIES, UNSEEN_POLICIES, OUT_OF_RANGE_POLICIES)

ISSUE_CODES: tuple[str, ...] = (
    "missing_column",
    "wrong_type",
    "missing_value",
    "unseen_category",
    "out_of_range",
    "unexpected_column",
)
"""What :meth:`Schema.check` may report, one code per kind of problem."""

_MAX_SHOWN = 5  # issues quoted in a SchemaError message
_INT64_LIMIT = 2.0**63
_ISO_DATETIME = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
_COLUMN_KEYS = ("name", "dtype", "nullable", "categories", "min", "max")
_POLICY_KEYS = ("missing", "unseen", "out_of_range")
_SCHEMA_KEYS = ("format", "target", "defaults", "unexpected", "columns")


def _check_choice(value: Any, allowed: tuple[str, ...], what: str) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise SchemaError(f"{what} must be one of {', '.join(allowed)}. Got {value!r} instead.")


def _refuse_unknown(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = [str(key) for key in data if key not in known]
    if unknown:
        keys = ", ".join(f"'{key}'" for key in unknown)
        raise SchemaError(
            f"Unknown key{'s' if len(unknown) > 1 else ''} {keys} in {where}. "
            f"Expected: {', '.join(known)}."
        )


def _is_json_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int)  # bool is an int


def _is_bound(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Policy:
    """What to do with missing values, unseen categories and out-of-range numbers."""

    missing: str = "auto"
    unseen: str = "refuse"
    out_of_range: str = "allow"

    def __post_init__(self) -> None:
        for key, allowed in zip(_POLICY_KEYS, (_POLICIES[0], *_POLICIES[2:]), strict=True):
            _check_choice(getattr(self, key), allowed, f"The '{key}' policy")

    def to_dict(self) -> dict[str, str]:
        """Return the policy as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        """Build a policy from :meth:`to_dict` output; unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise SchemaError(f"The schema's 'defaults' must be an object. Got {data!r}.")
        _refuse_unknown(data, _POLICY_KEYS, "the schema's 'defaults'")
        return cls(**data)


@dataclass
class Column:
    """One input column: name, logical type, nulls seen in training, values seen, policies.

    A policy left as ``None`` follows the schema's ``defaults``.
    """

    name: str
    dtype: str
    nullable: bool = True
    categories: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    missing: str | None = None
    unseen: str | None = None
    out_of_range: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"A column name must be a non-empty string. Got {self.name!r}.")
        what = f"column '{self.name}'"
        _check_choice(self.dtype, DTYPES, f"The dtype of {what}")
        self.min, self.max = _python_scalar(self.min), _python_scalar(self.max)
        if isinstance(self.categories, list | tuple):
            self.categories = [_python_scalar(v) for v in self.categories]
        problem = None
        if not isinstance(self.nullable, bool):
            problem = f"'nullable' of {what} must be true or false. Got {self.nullable!r}."
        elif self.categories is not None and not isinstance(self.categories, list | tuple):
            problem = f"'categories' of {what} must be a list or null. Got {self.categories!r}."
        elif self.categories is not None and not all(map(_is_json_scalar, self.categories)):
            problem = f"'categories' of {what} must hold strings, finite numbers or booleans."
        elif not all(_is_bound(getattr(self, bound)) for bound in ("min", "max")):
            problem = f"'min' and 'max' of {what} must be finite numbers or null."
        elif self.min is not None and self.max is not None and self.min > self.max:
            problem = f"'min' of {what} is greater than its 'max'."
        elif self.unseen is not None and self.dtype != "category":
            problem = f"The 'unseen' policy applies to category columns; {what} is {self.dtype}."
        elif self.out_of_range is not None and self.dtype not in ("number", "integer"):
            problem = f"The 'out_of_range' policy applies to numbers; {what} is {self.dtype}."
        if problem:
            raise SchemaError(problem)
        for key, allowed in zip(_POLICY_KEYS, _POLICIES[1:], strict=True):
            if getattr(self, key) is not None:
                _check_choice(getattr(self, key), allowed, f"The '{key}' policy of {what}")

    def to_dict(self) -> dict[str, Any]:
        """Return the column as a JSON-ready dictionary (policies only where set)."""
        out = {key: getattr(self, key) for key in _COLUMN_KEYS}
        out.update({key: getattr(self, key) for key in _POLICY_KEYS if getattr(self, key)})
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Column:
        """Build a column from :meth:`to_dict` output; unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise SchemaError(
                f"A schema column must be an object with 'name' and 'dtype'. Got {data!r}."
            )
        if "name" not in data or "dtype" not in data:
            raise SchemaError(f"A schema column needs 'name' and 'dtype'. Got {dict(data)!r}.")
        _refuse_unknown(data, _COLUMN_KEYS + _POLICY_KEYS, f"schema column {data['name']!r}")
        return cls(**data)


@dataclass(frozen=True)
class Issue:
    """One way the input breaks the schema.

    ``row`` is the 0-based position in the input (``None`` for a whole column);
    ``column`` is ``None`` for a whole row; ``code`` is one of :data:`ISSUE_CODES`.
    """

    row: int | None
    column: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as a JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """Every issue of one code in one column, counted, with the first few as examples."""

    column: str | None
    code: str
    count: int
    examples: tuple[Issue, ...]
    values: tuple[Any, ...]
    """The offending input values of ``examples``, in the same order."""


@dataclass
class Schema:
    """The columns a model expects (the target included, if known), its target and policies."""

    columns: list[Column] = field(default_factory=list)
    target: str | None = None
    defaults: Policy = field(default_factory=Policy)
    unexpected: str = "allow"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for column in self.columns:
            if not isinstance(column, Column):
                raise SchemaError(f"Schema columns must be Column objects. Got {column!r}.")
            if column.name in seen:
                raise SchemaError(f"Column '{column.name}' appears twice in the schema.")
            seen.add(column.name)
        if self.target is not None and self.target not in seen:
            raise SchemaError(
                f"The target '{self.target}' is not one of the schema's columns: "
                f"{', '.join(seen) or '(none)'}."
            )
        if not isinstance(self.defaults, Policy):
            raise SchemaError(f"The schema's 'defaults' must be a Policy. Got {self.defaults!r}.")
        _check_choice(self.unexpected, UNEXPECTED_POLICIES, "The 'unexpected' policy")

    @property
    def feature_names(self) -> list[str]:
        """Names of the input columns a prediction needs, in order (the target excluded)."""
        return [c.name for c in self.columns if c.name != self.target]

    def column(self, name: str) -> Column:
        """Return the column called ``name`` or raise :class:`SchemaError`."""
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(
            f"The schema has no column '{name}'. Columns: "
            f"{', '.join(c.name for c in self.columns)}."
        )

    def policy(self, name: str) -> Policy:
        """The policies in force for column ``name``: its own, else the defaults, resolved."""
        column = self.column(name)
        missing = column.missing or self.defaults.missing
        if missing == "auto":
            missing = "allow" if column.nullable else "refuse"
        return Policy(
            missing,
            column.unseen or self.defaults.unseen,
            column.out_of_range or self.defaults.out_of_range,
        )

    # -- inference -------------------------------------------------------------------------

    @classmethod
    def from_dataframe(
        cls, df: pd.DataFrame, target: str | None = None, *, defaults: Policy | None = None
    ) -> Schema:
        """Infer a schema from training data: types, nulls seen, categories and ranges."""
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"A schema is inferred from a pandas DataFrame. Got {_kind(df)}.")
        if target is not None and target not in df.columns:
            raise SchemaError(
                f"The target column '{target}' is not in the data. "
                f"Columns: {', '.join(map(str, df.columns))}."
            )
        columns = [_infer_column(str(name), df[name]) for name in df.columns]
        return cls(columns, target=target, defaults=defaults or Policy())

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the schema as a JSON-ready dictionary (see :meth:`from_dict`)."""
        return {
            "format": SCHEMA_FORMAT,
            "target": self.target,
            "defaults": self.defaults.to_dict(),
            "unexpected": self.unexpected,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Rebuild a schema written by :meth:`to_dict` or edited by hand; unknown keys refused."""
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), list):
            raise SchemaError("A schema dictionary needs a 'columns' list.")
        _refuse_unknown(data, _SCHEMA_KEYS, "the schema")
        fmt = data.get("format", SCHEMA_FORMAT)
        if fmt not in (1, SCHEMA_FORMAT) or isinstance(fmt, bool):
            raise SchemaError(
                f"This schema has format {fmt!r}; this mlcycle reads formats 1 to "
                f"{SCHEMA_FORMAT}. Upgrade mlcycle to read it."
            )
        target = data.get("target")
        if target is not None and not isinstance(target, str):
            raise SchemaError(
                f"The schema's 'target' must be a column name or null. Got {target!r}."
            )
        return cls(
            [Column.from_dict(c) for c in data["columns"]],
            target=target,
            defaults=Policy.from_dict(data.get("defaults", {})),
            unexpected=data.get("unexpected", "allow"),
        )

    def to_json(self, indent: int | None = None) -> str:
        """Return the schema as JSON.

        Without ``indent``: canonical (sorted keys, no insignificant whitespace), for hashing.
        With ``indent``: for people to read and edit, keys in their natural order.
        """
        layout: dict[str, Any] = {"sort_keys": True, "separators": (",", ":")}
        if indent is not None:
            layout = {"indent": indent}
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, **layout)

    @classmethod
    def from_json(cls, text: str | bytes) -> Schema:
        """Rebuild a schema from :meth:`to_json` output (or a hand-edited copy of it)."""

        def refuse_constant(name: str) -> Any:
            raise ValueError(f"{name} is not allowed in a schema")

        try:
            data = json.loads(text, parse_constant=refuse_constant)
        except (ValueError, TypeError, RecursionError) as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}.") from exc
        return cls.from_dict(data)

    def to_json_schema(self, title: str | None = None) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) for one input record, the target excluded.

        Serving builds its OpenAPI from it. Features whose missing policy is ``refuse`` are
        ``required``; the others accept ``null`` and may be left out.
        """
        names = self.feature_names
        out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
        out.update({"title": title} if title is not None else {})
        out["type"] = "object"
        out["properties"] = {n: _json_property(self.column(n), self.policy(n)) for n in names}
        out["required"] = [n for n in names if self.policy(n).missing == "refuse"]
        out["additionalProperties"] = self.unexpected == "allow"
        return out

    # -- enforcement -----------------------------------------------------------------------

    def check(self, data: Any, limit: int | None = None) -> list[Issue]:
        """Every way ``data`` breaks this schema, one :class:`Issue` per row and column.

        ``data`` is a DataFrame, a list of records (dicts) or a dict of columns (a dict
        whose values are not all lists is one record). Nothing is raised for bad values;
        :class:`SchemaError` only for input that is none of these. ``limit`` stops early.
        """
        issues: list[Issue] = []
        for hits in self._scan(data)[0]:
            for k in range(hits.count):
                if limit is not None and len(issues) >= limit:
                    return issues
                issues.append(hits.issue(k))
        return issues

    def findings(self, data: Any, examples: int = 5) -> list[Finding]:
        """The issues of :meth:`check` grouped by column and code, counted: for reports."""
        out = []
        for h in self._scan(data)[0]:
            first = range(min(examples, h.count))
            issues, values = tuple(h.issue(k) for k in first), tuple(h.value(k) for k in first)
            out.append(Finding(h.column, h.code, h.count, issues, values))
        return out

    def validate(self, data: Any) -> None:
        """Raise :class:`SchemaError` naming the first few ways ``data`` breaks this schema.

        The target is checked only when present. See :meth:`check` for the inputs accepted.
        """
        hits = self._scan(data)[0]
        if hits:
            raise SchemaError(_summary(hits, self.feature_names))

    def coerce(self, data: Any) -> pd.DataFrame:
        """Validate ``data`` and return the features in schema order, typed for the model.

        Numbers are float64, integers int64 (float64 when values are missing), booleans
        bool (object when missing), categories and text object with NaN for missing,
        datetimes naive UTC datetime64. ``clip`` and ``map_to_missing`` are applied here.
        """
        import pandas as pd

        hits, table, n_rows = self._scan(data)
        if hits:
            raise SchemaError(_summary(hits, self.feature_names))
        out = {}
        for name in self.feature_names:
            series = table.get(name)
            if series is None:
                series = _objects([None] * n_rows)
            out[name] = _convert(self.column(name), self.policy(name), series)
        frame = pd.DataFrame(out, index=pd.RangeIndex(n_rows), columns=self.feature_names)
        if isinstance(data, pd.DataFrame):
            frame.index = data.index
        return frame

    def _scan(self, data: Any) -> tuple[list[_Hits], dict[str, pd.Series], int]:
        import numpy as np

        names = {c.name for c in self.columns}
        table, present, n_rows, hits = _table(data, names)
        features, expects = self.feature_names, _expects(self.feature_names)
        for name in features if present is not None else ():
            if name not in table and self.policy(name).missing == "refuse":
                say = f"Column '{name}' is missing from the input. {expects}"
                hits.append(_Hits(name, "missing_column", say))
        for name in present if present is not None and self.unexpected == "refuse" else ():
            if name not in names:
                say = f"Column {_show(name)} is not one the model knows; remove it. {expects}"
                hits.append(_Hits(name, "unexpected_column", say))
        not_records = [h.rows for h in hits if h.column is None]  # reported once, as rows
        for column in self.columns:
            for h in _inspect(column, self.policy(column.name), table.get(column.name)):
                if not_records and h.rows is not None:
                    keep = ~np.isin(h.rows, not_records[0])
                    h.rows, h.values = h.rows[keep], h.values[keep]
                hits.extend([h] if h.rows is None or len(h.rows) else [])
        return hits, table, n_rows


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


def _mask(series: pd.Series, bad: Callable[[Any], bool]) -> Any:
    """Boolean array: where ``bad(value)``; decided once per Python type for speed."""
    import numpy as np

    if series.dtype != object:
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
    ok = [isinstance(v, dt.date | np.datetime64) or (isinstance(v, str) and bool(re.fullmatch(
        _ISO_DATETIME, v))) for v in values]  # fmt: skip
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
    return pd.Series(values, dtype=object)


# -- small helpers -------------------------------------------------------------------------


def _json_property(column: Column, policy: Policy) -> dict[str, Any]:
    out: dict[str, Any] = {"type": [column.dtype if column.dtype != "datetime" else "string"]}
    if column.dtype == "category":
        names = {bool: "boolean", int: "integer", float: "number", str: "string"}
        cats = column.categories
        out["type"] = sorted({names[type(v)] for v in cats or [True, 1.0, ""]})
        if cats is not None and policy.unseen == "refuse":
            out["enum"] = list(cats)
        elif cats:
            out["examples"] = list(cats[:20])
    if column.dtype == "datetime":
        out["format"] = "date-time"
    if column.dtype in ("number", "integer") and policy.out_of_range == "refuse":
        if column.min is not None:
            out["minimum"] = column.min
        if column.max is not None:
            out["maximum"] = column.max
    if policy.missing != "refuse":
        out["type"] = [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    out["type"] = out["type"][0] if len(out["type"]) == 1 else out["type"]
    return out


def _expects(features: list[str]) -> str:
    return f"The model expects: {', '.join(features)}."


def _span(column: Column) -> str:
    low, high = _show(column.min), _show(column.max)
    if column.min is not None and column.max is not None:
        return f"{low} to {high}"
    return f"at least {low}" if column.min is not None else f"at most {high}"


def _known(categories: list[Any]) -> str:
    shown = ", ".join(map(str, categories[:10]))
    return shown if len(categories) <= 10 else f"{shown}, … ({len(categories)} in all)"


def _show(value: Any) -> str:
    """A short, safe repr of an input value for a message."""
    value = _python_scalar(value)
    try:
        text = repr(value)
    except Exception:  # a value that cannot be shown must not hide the issue
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _finite_or_none(value: Any, integer: bool = False) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if integer and number.is_integer() else number


def _python_scalar(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, TypeError):
            return value
    return value


def _infer_column(name: str, series: pd.Series) -> Column:
    from pandas.api import types as pdt

    nullable = bool(series.isna().any())
    values = series.dropna()
    if isinstance(series.dtype, pdt.CategoricalDtype):
        categories = [_python_scalar(v) for v in series.cat.categories]
        if all(_is_json_scalar(v) for v in categories):
            return Column(name, "category", nullable, categories=categories)
        series, values = series.astype(object), values.astype(object)
    kind = pdt.infer_dtype(series, skipna=True)
    if kind == "boolean":
        return Column(name, "boolean", nullable)
    if kind in ("datetime64", "datetime", "date"):
        return Column(name, "datetime", nullable)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        integer = kind == "integer"
        low = _finite_or_none(values.min(), integer) if len(values) else None
        high = _finite_or_none(values.max(), integer) if len(values) else None
        return Column(name, "integer" if integer else "number", nullable, min=low, max=high)
    if kind == "string":
        distinct = values.unique()
        if len(distinct) <= MAX_INFERRED_CATEGORIES:
            return Column(name, "category", nullable, categories=sorted(map(str, distinct)))
        return Column(name, "string", nullable)
    return Column(name, "string", nullable)
