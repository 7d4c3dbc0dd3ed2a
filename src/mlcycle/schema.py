"""The input contract of a model: which columns it expects, of which types and values,
and what to do when a value breaks it.

A :class:`Schema` is inferred from training data, travels inside every bundle
(``schema.json``), may be edited by hand (``to_json(indent=2)``) and is enforced at
prediction time on a DataFrame, a list of JSON records or a dict of columns::

    schema = Schema.from_dataframe(train_df, target="churned")
    schema.check(records)       # -> [Issue(row=3, column='plan', code='unseen_category', ...)]
    schema.validate(records)    # raises SchemaError listing the first few issues
    X = schema.coerce(records)  # the DataFrame the model's pipeline is given

An absent column and a missing value are different things:

- A column absent from the input (no key in any record, no column in the frame or file) is
  refused (``missing_column``, naming it and listing what the model expects) unless the
  column is marked ``optional``; an optional column that is absent is all missing values.
  In a list of records, a key that some records have and others lack is a missing value in
  the records that lack it (JSON writers often drop null fields).
- A missing value (``null``, ``None``, NaN) in a column that is present follows the
  column's ``missing`` policy.

Policies are stated per column. :meth:`Schema.from_dataframe` writes every one of them
into each column, so ``schema.json`` says what each column does; a hand-written column
that leaves one out follows the schema's ``defaults``:

- ``missing``: ``allow`` (nulls pass), ``refuse``, or ``impute`` (nulls pass to the
  pipeline's imputer). The default ``auto``, resolved when the schema is inferred, allows
  nulls in a column that had nulls in training (``nullable``) and refuses them elsewhere.
- ``unseen`` (category columns): ``refuse`` (default), ``allow`` (passed through to the
  encoder), or ``map_to_missing`` (then subject to the ``missing`` policy). Free-text
  (``string``) columns have no known values: any text is accepted.
- ``out_of_range`` (number and integer columns, against ``min``/``max`` from training):
  ``allow`` (default: ranges are recorded, not enforced), ``clip`` or ``refuse``.
  Infinity is refused whatever the policy.

Each policy applies row by row: a bad value refuses its row, never the other rows (the
server answers 422 for a request holding any refused row; batch scoring lists each refused
row and scores the others).

Keys the schema does not know follow the schema-level ``unexpected`` policy:
``refuse`` (the default for schemas inferred or written by this version: an unknown key is
an ``unexpected_column`` issue, which catches ``incme`` for ``income``) or ``allow``
(ignored; schemas of formats 1 and 2 read as ``allow``). Whatever the policy, a key that
differs from a schema column only by case or spaces (``Age`` for ``age``) is refused with
"did you mean 'age'?". Batch scoring copies a file's other columns (ids, the target) to its
output unread: there they are carried, not model input, and ``unexpected`` does not apply
to them, but the case-and-spaces rule does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle._schema_input import (
    _as_category as as_category,
)
from mlcycle._schema_input import (
    _category_type,
    _convert,
    _expects,
    _Hits,
    _inspect,
    _kind,
    _objects,
    _python_scalar,
    _show,
    _span,
    _summary,
    _table,
)
from mlcycle._schema_input import (
    _show as show_value,
)
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
    "Screened",
    "as_category",
    "show_value",
]

DTYPES: tuple[str, ...] = ("number", "integer", "boolean", "category", "string", "datetime")
"""The logical column types a schema knows, independent of pandas/numpy dtypes."""

SCHEMA_FORMAT = 4
"""Version of the dictionary layout written by :meth:`Schema.to_dict` (formats 1 to 3 are
read too). Format 3 added each column's ``optional`` flag and made ``refuse`` the
``unexpected`` policy of a schema that does not state one; format 4 added ``ignored``."""

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

_COLUMN_KEYS = ("name", "dtype", "nullable", "optional", "categories", "min", "max")
_POLICY_KEYS = ("missing", "unseen", "out_of_range")
_SCHEMA_KEYS = ("format", "target", "defaults", "unexpected", "columns", "ignored")


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

    A policy left as ``None`` follows the schema's ``defaults``. ``optional`` columns may be
    absent from the input (then they are all missing); the others must be present.
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
    optional: bool = False

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
        elif not isinstance(self.optional, bool):
            problem = f"'optional' of {what} must be true or false. Got {self.optional!r}."
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

    @property
    def category_type(self) -> type | None:
        """The Python type a category column's values are checked into: ``int``, ``float``
        or ``bool`` when every category has it (``1.0`` becomes ``1`` where the categories
        are integers), None for text or mixed categories (values kept as given) and for
        other column types. The prediction log types the column by it."""
        return _category_type(self.categories) if self.dtype == "category" else None

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


@dataclass(frozen=True)
class Screened:
    """What :meth:`Schema.screen` found: every issue, and the rows that passed, typed."""

    issues: list[Issue]
    accepted: Any
    """numpy array of the 0-based positions of the rows that no issue names, in order."""
    frame: pd.DataFrame
    """Those rows, typed for the model (as :meth:`Schema.coerce`), index 0..n-1."""


@dataclass
class Schema:
    """The columns a model expects (the target included, if known), its target and policies."""

    columns: list[Column] = field(default_factory=list)
    target: str | None = None
    defaults: Policy = field(default_factory=Policy)
    unexpected: str = "refuse"
    ignored: list[str] = field(default_factory=list)
    """Columns of the training table the model leaves out (personal data, identifiers): a
    client sending its whole row is not refused for them, whatever ``unexpected`` says; their
    values are dropped unread, never checked, logged or passed to the model."""

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
        if not isinstance(self.ignored, list) or not all(
            isinstance(name, str) for name in self.ignored
        ):
            raise SchemaError(
                f"The schema's 'ignored' must be a list of column names. Got {self.ignored!r}."
            )
        both = sorted(seen.intersection(self.ignored))
        if both:
            raise SchemaError(
                f"Column{'s' if len(both) > 1 else ''} {', '.join(map(repr, both))} cannot be "
                "both a schema column and ignored."
            )
        for column in self.columns:
            if column.optional and self.policy(column.name).missing == "refuse":
                raise SchemaError(
                    f"Column '{column.name}' is optional, so it may be absent (all missing), "
                    "but its 'missing' policy refuses missing values. Set its 'missing' policy "
                    "to allow or impute, or make it required."
                )

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
        cls,
        df: pd.DataFrame,
        target: str | None = None,
        *,
        defaults: Policy | None = None,
        unexpected: str = "refuse",
    ) -> Schema:
        """Infer a schema from training data: types, nulls seen, categories and ranges.

        Every column is required and states its policies, ``defaults`` resolved (``auto``
        becomes ``allow`` where training had nulls, ``refuse`` elsewhere).
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"A schema is inferred from a pandas DataFrame. Got {_kind(df)}.")
        if target is not None and target not in df.columns:
            raise SchemaError(
                f"The target column '{target}' is not in the data. "
                f"Columns: {', '.join(map(str, df.columns))}."
            )
        defaults = defaults or Policy()
        columns = [_infer_column(str(name), df[name]) for name in df.columns]
        for column in columns:
            _state_policies(column, defaults)
        return cls(columns, target=target, defaults=defaults, unexpected=unexpected)

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the schema as a JSON-ready dictionary (see :meth:`from_dict`)."""
        return {
            "format": SCHEMA_FORMAT,
            "target": self.target,
            "defaults": self.defaults.to_dict(),
            "unexpected": self.unexpected,
            "columns": [c.to_dict() for c in self.columns],
            **({"ignored": list(self.ignored)} if self.ignored else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Rebuild a schema written by :meth:`to_dict` or edited by hand; unknown keys refused."""
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), list):
            raise SchemaError("A schema dictionary needs a 'columns' list.")
        _refuse_unknown(data, _SCHEMA_KEYS, "the schema")
        fmt = data.get("format", SCHEMA_FORMAT)
        if fmt not in (1, 2, 3, SCHEMA_FORMAT) or isinstance(fmt, bool):
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
            unexpected=data.get("unexpected", "allow" if fmt < 3 else "refuse"),
            ignored=data.get("ignored", []),
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

        Serving builds its OpenAPI from it. Every feature but the ``optional`` ones is
        ``required``; those whose missing policy is not ``refuse`` accept ``null``. Each
        property states its policies in ``x-mlcycle-policy`` and in words in its
        ``description``; ``x-mlcycle-unexpected`` is the unknown-key policy.
        """
        names = self.feature_names
        out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
        out.update({"title": title} if title is not None else {})
        out["type"] = "object"
        out["description"] = (
            "One input record. A required column must be present (send null for a missing "
            "value, where its policy allows one); "
            + (
                "keys the model does not know are refused."
                if self.unexpected == "refuse"
                else "keys the model does not know are ignored, unless they differ from a "
                "column only by case or spaces (refused)."
            )
        )
        out["properties"] = {n: _json_property(self.column(n), self.policy(n)) for n in names}
        out["required"] = [n for n in names if not self.column(n).optional]
        out["additionalProperties"] = self.unexpected == "allow"
        out["x-mlcycle-unexpected"] = self.unexpected
        return out

    def column_issues(self, names: Iterable[str], *, carried: bool = False) -> list[Issue]:
        """The whole-column issues of an input whose columns are ``names``, in order.

        A required feature absent is ``missing_column``; a name the schema does not know is
        ``unexpected_column`` when the ``unexpected`` policy refuses it, and always when it
        differs from a schema column only by case or spaces. ``carried=True`` (batch
        scoring, which copies unknown columns to its output) reports only the latter.
        """
        return [hits.issue(0) for hits in self._column_hits(list(names), carried)]

    # -- enforcement -----------------------------------------------------------------------

    def check(self, data: Any, limit: int | None = None, *, carried: bool = False) -> list[Issue]:
        """Every way ``data`` breaks this schema, one :class:`Issue` per row and column.

        ``data`` is a DataFrame, a list of records (dicts) or a dict of columns (a dict
        whose values are not all lists is one record). Nothing is raised for bad values;
        :class:`SchemaError` only for input that is none of these. ``limit`` stops early.
        ``carried=True`` accepts unknown columns as carried through (see the module's notes).
        """
        issues: list[Issue] = []
        for hits in self._scan(data, carried)[0]:
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

    def validate(self, data: Any, *, carried: bool = False) -> None:
        """Raise :class:`SchemaError` naming the first few ways ``data`` breaks this schema.

        The target is checked only when present. See :meth:`check` for the inputs accepted.
        """
        hits = self._scan(data, carried)[0]
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
        frame = self._typed(table, n_rows)
        if isinstance(data, pd.DataFrame):
            frame.index = data.index
        return frame

    def screen(self, data: Any, *, carried: bool = False) -> Screened:
        """Check every row once, and type the rows that pass: batch scoring's one pass.

        Returns every issue (as :meth:`check`), the positions of the rows no issue names,
        and those rows typed as :meth:`coerce` types them (positional index). A whole-column
        issue (an absent column, say) refuses every row.
        """
        import numpy as np

        hits, table, n_rows = self._scan(data, carried)
        issues = [h.issue(k) for h in hits for k in range(h.count)]
        good = np.ones(n_rows, dtype=bool)
        if any(h.rows is None for h in hits):
            good[:] = False
        for h in hits:
            if h.rows is not None:
                good[h.rows] = False
        accepted = np.flatnonzero(good)
        if len(accepted) < n_rows:
            table = {name: series.iloc[accepted] for name, series in table.items()}
        return Screened(issues, accepted, self._typed(table, len(accepted)))

    def _typed(self, table: dict[str, pd.Series], n_rows: int) -> pd.DataFrame:
        import pandas as pd

        out = {}
        for name in self.feature_names:
            given = table.get(name)
            series = _objects([None] * n_rows) if given is None else given.reset_index(drop=True)
            out[name] = _convert(self.column(name), self.policy(name), series)
        return pd.DataFrame(out, index=pd.RangeIndex(n_rows), columns=self.feature_names)

    def _scan(
        self, data: Any, carried: bool = False
    ) -> tuple[list[_Hits], dict[str, pd.Series], int]:
        import numpy as np

        names = {c.name for c in self.columns}
        table, present, n_rows, hits = _table(data, names)
        if present is not None:
            hits.extend(self._column_hits(present, carried))
        not_records = [h.rows for h in hits if h.column is None]  # reported once, as rows
        for column in self.columns:
            for h in _inspect(column, self.policy(column.name), table.get(column.name)):
                if not_records and h.rows is not None:
                    keep = ~np.isin(h.rows, not_records[0])
                    h.rows, h.values = h.rows[keep], h.values[keep]
                hits.extend([h] if h.rows is None or len(h.rows) else [])
        return hits, table, n_rows

    def _column_hits(self, present: list[str], carried: bool = False) -> list[_Hits]:
        known = {c.name: c for c in self.columns}
        given = set(present)
        ignored = set(self.ignored)
        unknown = [name for name in present if name not in known and name not in ignored]
        hits: list[_Hits] = []
        features = self.feature_names
        for name in features:
            if name not in given and not known[name].optional:
                say = f"Column '{name}' is missing from the input{_hint(name, unknown)}."
                hits.append(_Hits(name, "missing_column", f"{say} {_expects(features)}"))
        spelled = {_spelling(name): name for name in known}
        for name in unknown:
            meant = spelled.get(_spelling(name))
            if meant is not None:
                say = (
                    f"Column {_show(name)} is not one the model knows; did you mean '{meant}'? "
                    "Column names must match exactly, case and spaces included."
                )
            elif self.unexpected == "refuse" and not carried:
                say = f"Column {_show(name)} is not one the model knows; remove it. "
                say += _expects(features)
            else:
                continue
            hits.append(_Hits(name, "unexpected_column", say))
        return hits


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
    stated = {"missing": policy.missing}
    if column.dtype == "category":
        stated["unseen"] = policy.unseen
    if column.dtype in ("number", "integer"):
        stated["out_of_range"] = policy.out_of_range
    out["description"] = _describe(column, policy)
    out["x-mlcycle-policy"] = {"optional": column.optional, **stated}
    return out


_MISSING_WORDS = {
    "allow": "null accepted",
    "impute": "null passed to the model's imputer",
    "refuse": "null refused",
}
_UNSEEN_WORDS = {
    "refuse": "a value not seen in training is refused",
    "allow": "a value not seen in training is passed to the model",
    "map_to_missing": "a value not seen in training counts as null",
}


def _describe(column: Column, policy: Policy) -> str:
    """The column's contract in words, for the OpenAPI document's readers."""
    parts = [
        "optional (may be absent: all null)" if column.optional else "required",
        _MISSING_WORDS[policy.missing],
    ]
    if column.dtype == "category" and column.categories is not None:
        parts.append(_UNSEEN_WORDS[policy.unseen])
    if column.dtype == "string":
        parts.append("free text: any text accepted")
    if column.dtype in ("number", "integer") and (column.min, column.max) != (None, None):
        span = _span(column)
        parts.append(
            {
                "allow": f"training range {span} not enforced",
                "clip": f"clipped to {span}",
                "refuse": f"values outside {span} refused",
            }[policy.out_of_range]
        )
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _spelling(name: str) -> str:
    """A column name with case and whitespace erased: equal for near-miss spellings."""
    return "".join(name.split()).casefold()


def _hint(absent: str, unknown: list[str]) -> str:
    """The hint " (it has 'Age': did you mean 'age'?)" when an unknown key looks like it."""
    if not unknown:
        return ""
    near = [name for name in unknown if _spelling(name) == _spelling(absent)]
    if not near:
        import difflib

        near = difflib.get_close_matches(absent, unknown, n=1, cutoff=0.8)
    return f" (it has {_show(near[0])}: did you mean '{absent}'?)" if near else ""


def _state_policies(column: Column, defaults: Policy) -> None:
    """Write the policies in force into an inferred column, ``auto`` resolved."""
    missing = defaults.missing
    if missing == "auto":
        missing = "allow" if column.nullable else "refuse"
    column.missing = missing
    if column.dtype == "category":
        column.unseen = defaults.unseen
    if column.dtype in ("number", "integer"):
        column.out_of_range = defaults.out_of_range


def _finite_or_none(value: Any, integer: bool = False) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if integer and number.is_integer() else number


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
