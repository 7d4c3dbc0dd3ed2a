"""The input contract of a model: which columns it expects, of which types and values.

A :class:`Schema` is inferred from training data, travels inside every bundle
(``schema.json``) and is enforced at prediction time::

    schema = Schema.from_dataframe(train_df, target="churned")
    schema.validate(request_df)  # raises SchemaError naming what is wrong
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DTYPES", "SCHEMA_FORMAT", "Column", "Schema"]

DTYPES: tuple[str, ...] = ("number", "integer", "boolean", "category", "string", "datetime")
"""The logical column types a schema knows, independent of pandas/numpy dtypes."""

SCHEMA_FORMAT = 1
"""Version of the dictionary layout written by :meth:`Schema.to_dict`."""

MAX_INFERRED_CATEGORIES = 50
"""A text column with at most this many distinct values is inferred as ``category``."""

# What pandas.api.types.infer_dtype may report for a column of each logical type.
_ACCEPTED_KINDS: dict[str, frozenset[str]] = {
    "number": frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"}),
    "integer": frozenset({"integer", "floating", "mixed-integer-float", "empty"}),
    "boolean": frozenset({"boolean", "empty"}),
    "string": frozenset({"string", "empty"}),
    "datetime": frozenset({"datetime64", "datetime", "date", "empty"}),
}


@dataclass
class Column:
    """One input column: its name, logical type, whether it may be missing, its values seen."""

    name: str
    dtype: str
    nullable: bool = True
    categories: list[Any] | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"A column name must be a non-empty string. Got {self.name!r}.")
        if self.dtype not in DTYPES:
            raise SchemaError(
                f"The dtype of column '{self.name}' must be one of {', '.join(DTYPES)}. "
                f"Got {self.dtype!r} instead."
            )
        if self.categories is not None:
            self.categories = list(self.categories)

    def to_dict(self) -> dict[str, Any]:
        """Return the column as a JSON-ready dictionary."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "nullable": self.nullable,
            "categories": self.categories,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        """Build a column from :meth:`to_dict` output; unknown keys are refused."""
        unknown = set(data) - {"name", "dtype", "nullable", "categories", "min", "max"}
        if unknown:
            raise SchemaError(
                f"Unknown keys in a schema column: {', '.join(sorted(unknown))}. "
                "Expected name, dtype, nullable, categories, min, max."
            )
        if "name" not in data or "dtype" not in data:
            raise SchemaError(f"A schema column needs 'name' and 'dtype'. Got {data!r}.")
        return cls(**data)


@dataclass
class Schema:
    """The columns a model expects (the target included, if known) and the target's name."""

    columns: list[Column] = field(default_factory=list)
    target: str | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for column in self.columns:
            if column.name in seen:
                raise SchemaError(f"Column '{column.name}' appears twice in the schema.")
            seen.add(column.name)
        if self.target is not None and self.target not in seen:
            raise SchemaError(
                f"The target '{self.target}' is not one of the schema's columns: "
                f"{', '.join(seen) or '(none)'}."
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

    # -- inference -------------------------------------------------------------------------

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, target: str | None = None) -> Schema:
        """Infer a schema from training data: types, nulls seen, categories and ranges."""
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"A schema is inferred from a pandas DataFrame. Got {_kind(df)}.")
        if target is not None and target not in df.columns:
            raise SchemaError(
                f"The target column '{target}' is not in the data. "
                f"Columns: {', '.join(map(str, df.columns))}."
            )
        return cls([_infer_column(str(name), df[name]) for name in df.columns], target=target)

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the schema as a JSON-ready dictionary (see :meth:`from_dict`)."""
        return {
            "format": SCHEMA_FORMAT,
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Rebuild a schema written by :meth:`to_dict`."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise SchemaError("A schema dictionary needs a 'columns' list.")
        fmt = data.get("format", SCHEMA_FORMAT)
        if fmt != SCHEMA_FORMAT:
            raise SchemaError(
                f"This schema has format {fmt!r}; this mlcycle reads format {SCHEMA_FORMAT}. "
                "Upgrade mlcycle to read it."
            )
        return cls([Column.from_dict(c) for c in data["columns"]], target=data.get("target"))

    def to_json(self) -> str:
        """Return the schema as canonical JSON (sorted keys, no insignificant whitespace)."""
        return json.dumps(
            self.to_dict(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Schema:
        """Rebuild a schema from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}.") from exc
        return cls.from_dict(data)

    # -- enforcement -----------------------------------------------------------------------

    def validate(self, df: pd.DataFrame) -> None:
        """Raise :class:`SchemaError` listing every way ``df`` breaks this schema.

        Feature columns must be present; the target is checked only when present.
        Extra columns are allowed. Ranges are recorded, not enforced.
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"The input must be a pandas DataFrame. Got {_kind(df)}.")
        features = self.feature_names
        present = {str(c) for c in df.columns}
        missing = [name for name in features if name not in present]
        problems: list[str] = []
        if missing:
            quoted = ", ".join(f"'{name}'" for name in missing)
            subject = f"Column {quoted} is" if len(missing) == 1 else f"Columns {quoted} are"
            problems.append(
                f"{subject} missing from the input. The model expects: {', '.join(features)}."
            )
        by_name = {str(c): c for c in df.columns}
        for column in self.columns:
            if column.name in by_name:
                problems.extend(_check_column(column, df[by_name[column.name]]))
        if problems:
            raise SchemaError(" ".join(problems))


def _kind(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _python_scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _infer_column(name: str, series: pd.Series) -> Column:
    from pandas.api import types as pdt

    nullable = bool(series.isna().any())
    values = series.dropna()
    if isinstance(series.dtype, pdt.CategoricalDtype):
        categories = [_python_scalar(v) for v in series.cat.categories]
        return Column(name, "category", nullable, categories=categories)
    kind = pdt.infer_dtype(series, skipna=True)
    if kind == "boolean":
        return Column(name, "boolean", nullable)
    if kind in ("datetime64", "datetime", "date"):
        return Column(name, "datetime", nullable)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        dtype = "integer" if kind == "integer" else "number"
        low = _finite_or_none(values.min()) if len(values) else None
        high = _finite_or_none(values.max()) if len(values) else None
        return Column(name, dtype, nullable, min=low, max=high)
    if kind == "string":
        distinct = values.unique()
        if len(distinct) <= MAX_INFERRED_CATEGORIES:
            return Column(name, "category", nullable, categories=sorted(map(str, distinct)))
        return Column(name, "string", nullable)
    return Column(name, "string", nullable)


def _check_column(column: Column, series: pd.Series) -> list[str]:
    from pandas.api import types as pdt

    problems: list[str] = []
    values = series.dropna()
    n_missing = len(series) - len(values)
    if n_missing and not column.nullable:
        problems.append(
            f"Column '{column.name}' has {n_missing} missing value(s) but the model "
            "needs a value in every row."
        )
    if not len(values):
        return problems
    if column.dtype == "category":
        if column.categories is not None:
            allowed = set(column.categories)
            unknown = sorted({_python_scalar(v) for v in values} - allowed, key=str)
            if unknown:
                shown = ", ".join(repr(v) for v in unknown[:5])
                problems.append(
                    f"Column '{column.name}' has values the model has not seen: {shown}. "
                    f"Allowed: {', '.join(map(str, column.categories))}."
                )
        return problems
    kind = pdt.infer_dtype(values, skipna=True)
    ok = kind in _ACCEPTED_KINDS[column.dtype]
    if ok and column.dtype == "integer" and kind != "integer":
        ok = bool((values.astype(float) % 1 == 0).all())
    if not ok:
        bad = ((i, v) for i, v in values.items() if not _fits(column.dtype, v))
        row, example = next(bad, (None, None))
        where = f" (row {row!r})" if row is not None else ""
        problems.append(
            f"Column '{column.name}' must hold {column.dtype} values. Got {example!r} "
            f"of type {type(example).__name__}{where}; convert the column or fix the input."
        )
    return problems


def _fits(dtype: str, value: Any) -> bool:
    """Whether one non-null value belongs to a logical type (used to find an example)."""
    import datetime as dt
    import numbers

    import numpy as np

    is_bool = isinstance(value, bool | np.bool_)
    is_number = isinstance(value, numbers.Real) and not is_bool
    return {
        "number": is_number,
        "integer": is_number and float(value).is_integer(),
        "boolean": is_bool,
        "string": isinstance(value, str),
        "datetime": isinstance(value, dt.date | np.datetime64),
    }[dtype]
