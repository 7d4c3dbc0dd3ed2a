"""Validate a table against a model's schema and the user's rules: a pass/fail report.

This is what ``mlcycle validate data.csv --schema schema.json --rules rules.yaml`` runs;
``report.passed`` decides the exit status (``report.exit_code``: 0 or 1), so the command
can gate a CI pipeline::

    report = validate(df, schema="schema.json", rules="rules.yaml")
    report.render(console)

A rules file (YAML, read with ``safe_load``)::

    rows: {min: 100, max: 1000000}      # row-count bounds (either may be left out)
    columns:
      age:   {range: [14, 45], not_null: true}   # null bound = open; dates work too
      race:  {allowed: [1, 2, 3]}
      id:    {unique: true}                       # nulls are not counted as duplicates
      email: {regex: "[^@ ]+@[^@ ]+"}             # the whole value must match (re.fullmatch)

``range``, ``allowed`` and ``regex`` skip nulls: ``not_null`` is the rule for those.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import ConfigError, SchemaError
from mlcycle.schema import Schema

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

__all__ = ["Check", "ColumnRules", "Rules", "ValidationReport", "load_rules", "validate"]

EXAMPLES = 5
"""Failing rows quoted per check."""

_RULE_NAMES = ("range", "allowed", "unique", "not_null", "regex")
_SCHEMA_CHECKS = {  # issue code -> check name, in report order
    "missing_column": "present",
    "wrong_type": "type",
    "missing_value": "not missing",
    "unseen_category": "known categories",
    "out_of_range": "range",
}


# -- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRules:
    """The rules for one column; ``None``/``False`` means the rule is not set."""

    range: tuple[Any, Any] | None = None
    allowed: tuple[Any, ...] | None = None
    unique: bool = False
    not_null: bool = False
    regex: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rules that are set, as in the YAML file."""
        out: dict[str, Any] = {}
        if self.range is not None:
            out["range"] = [_jsonable(bound) for bound in self.range]
        if self.allowed is not None:
            out["allowed"] = [_jsonable(value) for value in self.allowed]
        out.update({key: True for key in ("unique", "not_null") if getattr(self, key)})
        if self.regex is not None:
            out["regex"] = self.regex
        return out


@dataclass(frozen=True)
class Rules:
    """User rules for a table: per-column rules and row-count bounds; see :func:`validate`."""

    columns: dict[str, ColumnRules] = field(default_factory=dict)
    rows_min: int | None = None
    rows_max: int | None = None
    source: str = "<dict>"
    """Where the rules were read from, named in error messages."""

    def to_dict(self) -> dict[str, Any]:
        """The rules in the layout of a rules file."""
        out: dict[str, Any] = {}
        if self.rows_min is not None or self.rows_max is not None:
            rows = {"min": self.rows_min, "max": self.rows_max}
            out["rows"] = {key: value for key, value in rows.items() if value is not None}
        out["columns"] = {name: rules.to_dict() for name, rules in self.columns.items()}
        return out


def load_rules(path_or_dict: str | os.PathLike[str] | Mapping[str, Any] | Rules) -> Rules:
    """Read rules from a YAML file (or a dict of the same shape) and check every rule.

    Malformed YAML, an unknown rule or a value of the wrong type raise
    :class:`~mlcycle.exceptions.ConfigError` naming the file and the rule.
    """
    if isinstance(path_or_dict, Rules):
        return path_or_dict
    if isinstance(path_or_dict, Mapping):
        return _parse_rules(path_or_dict, "<dict>")
    if not isinstance(path_or_dict, str | os.PathLike):
        raise ConfigError(
            "The 'path_or_dict' parameter of load_rules() must be a path to a YAML file or a "
            f"dict. Got {type(path_or_dict).__name__} instead."
        )
    import yaml

    path = Path(path_or_dict)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The rules file {path} cannot be read: {exc}.") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"The rules file {path} is not valid YAML{at}: {problem}.") from exc
    if data is None:
        raise ConfigError(f"The rules file {path} is empty. Expected 'columns' and/or 'rows'.")
    return _parse_rules(data, str(path))


def _parse_rules(data: Any, source: str) -> Rules:
    def fail(where: str, problem: str) -> ConfigError:
        return ConfigError(f"Invalid rules in {source}: '{where}' {problem}")

    if not isinstance(data, Mapping):
        raise ConfigError(
            f"Invalid rules in {source}: expected a mapping with 'columns' and/or 'rows'. "
            f"Got {type(data).__name__}."
        )
    _known_keys(data, ("columns", "rows"), "", fail)
    rows = {} if data.get("rows") is None else data["rows"]
    if not isinstance(rows, Mapping):
        raise fail("rows", f"must be a mapping like {{min: 1, max: 1000}}. Got {rows!r}.")
    _known_keys(rows, ("min", "max"), "rows.", fail)
    for key in ("min", "max"):
        value = rows.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise fail(f"rows.{key}", f"must be a whole number of rows. Got {value!r}.")
        if value is not None and value < 0:
            raise fail(f"rows.{key}", f"must be 0 or more. Got {value!r}.")
    if rows.get("min") is not None and rows.get("max") is not None and rows["min"] > rows["max"]:
        raise fail("rows", f"has min {rows['min']} greater than max {rows['max']}.")
    columns = {} if data.get("columns") is None else data["columns"]
    if not isinstance(columns, Mapping):
        raise fail("columns", f"must map column names to rules. Got {columns!r}.")
    parsed = {str(name): _parse_column(str(name), spec, fail) for name, spec in columns.items()}
    return Rules(parsed, rows.get("min"), rows.get("max"), source)


def _known_keys(data: Mapping[Any, Any], known: tuple[str, ...], prefix: str, fail: Any) -> None:
    for key in data:
        if key not in known:
            kind = "rule" if prefix.startswith("columns.") else "key"
            raise fail(f"{prefix}{key}", f"is not a known {kind} (known: {', '.join(known)}).")


def _parse_column(name: str, spec: Any, fail: Any) -> ColumnRules:
    where = f"columns.{name}"
    if not isinstance(spec, Mapping):
        raise fail(where, f"must be a mapping of rules ({', '.join(_RULE_NAMES)}). Got {spec!r}.")
    _known_keys(spec, _RULE_NAMES, f"{where}.", fail)
    bounds = spec.get("range")
    if bounds is not None:
        ok = isinstance(bounds, list | tuple) and len(bounds) == 2
        kinds = {_bound_kind(b) for b in bounds if b is not None} if ok else {"?"}
        if not ok or "?" in kinds or len(kinds) > 1 or bounds == [None, None]:
            raise fail(
                f"{where}.range",
                f"must be [min, max] with two numbers or two dates (null for no bound). "
                f"Got {bounds!r}.",
            )
        if None not in bounds and _bound_key(bounds[0]) > _bound_key(bounds[1]):
            raise fail(f"{where}.range", f"has min {bounds[0]!r} greater than max {bounds[1]!r}.")
        bounds = tuple(bounds)
    allowed = spec.get("allowed")
    if allowed is not None:
        scalars = isinstance(allowed, list) and all(
            v is None or isinstance(v, str | int | float | dt.date) for v in allowed
        )
        if not scalars or not allowed:
            raise fail(f"{where}.allowed", f"must be a non-empty list of values. Got {allowed!r}.")
        allowed = tuple(allowed)
    for flag in ("unique", "not_null"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise fail(f"{where}.{flag}", f"must be true or false. Got {spec[flag]!r}.")
    pattern = spec.get("regex")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise fail(f"{where}.regex", f"must be a string. Got {pattern!r}.")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise fail(f"{where}.regex", f"is not a valid regular expression: {exc}.") from exc
    return ColumnRules(
        bounds, allowed, spec.get("unique", False), spec.get("not_null", False), pattern
    )


def _bound_kind(bound: Any) -> str:
    if isinstance(bound, bool):
        return "?"
    if isinstance(bound, int | float):
        return "number" if math.isfinite(bound) else "?"
    return "date" if isinstance(bound, dt.date) else "?"


def _bound_key(bound: Any) -> Any:
    if isinstance(bound, dt.date) and not isinstance(bound, dt.datetime):
        return dt.datetime(bound.year, bound.month, bound.day)
    if isinstance(bound, dt.datetime) and bound.tzinfo is not None:
        return bound.astimezone(dt.UTC).replace(tzinfo=None)
    return bound


# -- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of the report: what was checked, on which column, and how it went."""

    source: str  # "schema" or "rules"
    name: str
    column: str | None
    passed: bool
    failing: int
    examples: tuple[dict[str, Any], ...] = ()
    """Up to :data:`EXAMPLES` failures: ``{"row": position or None, "value": ...}``."""
    detail: str = ""
    """What was checked, or (when it failed) the first failure in words."""

    def to_dict(self) -> dict[str, Any]:
        """The check as a JSON-ready dictionary."""
        return {
            "source": self.source,
            "name": self.name,
            "column": self.column,
            "passed": self.passed,
            "failing": self.failing,
            "examples": [dict(example) for example in self.examples],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`: every check, passed or not. Falsy when it failed."""

    checks: tuple[Check, ...]
    rows: int
    columns: int

    @property
    def passed(self) -> bool:
        """Whether every check passed (a report with no checks passes)."""
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [check for check in self.checks if not check.passed]

    @property
    def exit_code(self) -> int:
        """The exit status for ``mlcycle validate``: 0 when passed, 1 when not."""
        return 0 if self.passed else 1

    def __bool__(self) -> bool:
        return self.passed

    @property
    def summary(self) -> str:
        """One line: PASS or FAIL, with counts."""
        n, bad = len(self.checks), len(self.failed)
        on = f"on {self.rows} row{'s' if self.rows != 1 else ''}"
        if bad:
            return f"FAIL: {bad} of {n} check{'s' if n != 1 else ''} failed {on}."
        return f"PASS: {n} check{'s' if n != 1 else ''} passed {on}."

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dictionary."""
        return {
            "passed": self.passed,
            "rows": self.rows,
            "columns": self.columns,
            "summary": self.summary,
            "checks": [check.to_dict() for check in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON (strict: no NaN or Infinity)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def render(self, console: Console | None = None) -> None:
        """Print the report as a Rich table and a green PASS / red FAIL summary line."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        console = console or Console()
        table = Table(title="Validation", title_justify="left")
        for heading in ("check", "column", "result", "failing", "examples"):
            table.add_column(heading, justify="right" if heading == "failing" else "left")
        for check in self.checks:
            shown = "; ".join(
                f"row {e['row']}: {e['value']!r}" if e["row"] is not None else repr(e["value"])
                for e in check.examples
            ) or ("" if check.passed else check.detail)
            table.add_row(
                escape(f"{check.source}: {check.name}"),
                escape(check.column or "(table)"),
                "[green]PASS[/]" if check.passed else "[red]FAIL[/]",
                str(check.failing),
                escape(shown if len(shown) <= 80 else shown[:77] + "..."),
            )
        console.print(table)
        colour = "green" if self.passed else "red"
        console.print(f"[bold {colour}]{escape(self.summary)}[/]", highlight=False)


# -- validation ----------------------------------------------------------------------------


def validate(
    df: pd.DataFrame,
    schema: Schema | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    rules: Rules | Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Check ``df`` against a schema (object, dict or JSON file) and rules (object, dict or
    YAML file); every check is listed in the report, passed or failed.

    Bad input (not a DataFrame, unreadable schema or rules) raises a
    :class:`~mlcycle.exceptions.MlcycleError`; failed checks do not raise.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise SchemaError(
            "The 'df' parameter of validate() must be a pandas DataFrame. "
            f"Got {type(df).__name__} instead."
        )
    checks: list[Check] = []
    if schema is not None:
        checks.extend(_schema_checks(df, _load_schema(schema)))
    if rules is not None:
        checks.extend(_rule_checks(df, load_rules(rules)))
    return ValidationReport(tuple(checks), len(df), len(df.columns))


def _load_schema(schema: Any) -> Schema:
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        return Schema.from_dict(schema)
    if isinstance(schema, str | os.PathLike):
        try:
            text = Path(schema).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SchemaError(f"The schema file {schema} cannot be read: {exc}.") from exc
        try:
            return Schema.from_json(text)
        except SchemaError as exc:
            raise SchemaError(f"The schema file {schema} is invalid: {exc}") from exc
    raise SchemaError(
        "The 'schema' parameter of validate() must be a Schema, a dict or a path to a "
        f"schema JSON file. Got {type(schema).__name__} instead."
    )


def _schema_checks(df: pd.DataFrame, schema: Schema) -> list[Check]:
    """One check per column and kind of problem the schema can find; findings fill them in."""
    found: dict[tuple[str | None, str], Any] = {}
    unexpected = []
    for finding in schema.findings(df, examples=EXAMPLES):
        if finding.code == "unexpected_column":
            unexpected.append(finding.column)
        else:
            found[(finding.column, finding.code)] = finding
    present = {str(c) for c in df.columns}
    checks: list[Check] = []
    for column in schema.columns:
        policy = schema.policy(column.name)
        codes = {}
        if column.name != schema.target:
            codes["missing_column"] = "in the data" if column.name in present else "may be absent"
        if column.name in present:
            codes["wrong_type"] = f"{column.dtype} values"
            if policy.missing == "refuse":
                codes["missing_value"] = "a value in every row"
            refusing = policy.unseen == "refuse" or policy.missing == "refuse"
            if column.categories is not None and policy.unseen != "allow" and refusing:
                codes["unseen_category"] = f"one of {', '.join(map(str, column.categories[:10]))}"
            if column.dtype in ("number", "integer"):
                bounded = policy.out_of_range == "refuse" and (column.min, column.max) != (
                    None,
                    None,
                )
                codes["out_of_range"] = "finite" + (
                    f", {_span(column.min, column.max)}" if bounded else ""
                )
        for code, detail in codes.items():
            finding = found.pop((column.name, code), None)
            checks.append(_schema_check(column.name, code, finding, detail))
    if schema.unexpected == "refuse":
        examples = tuple({"row": None, "value": name} for name in unexpected[:EXAMPLES])
        detail = "only the schema's columns" if not unexpected else "columns the model ignores"
        ok = not unexpected
        checks.append(
            Check("schema", "expected columns", None, ok, len(unexpected), examples, detail)
        )
    for (column_name, code), finding in found.items():  # anything not foreseen above
        checks.append(_schema_check(column_name, code, finding, ""))
    return checks


def _schema_check(column: str | None, code: str, finding: Any, detail: str) -> Check:
    name = _SCHEMA_CHECKS.get(code, code)
    if finding is None:
        return Check("schema", name, column, True, 0, (), detail)
    examples = tuple(
        {"row": issue.row, "value": _jsonable(value)}
        for issue, value in zip(finding.examples, finding.values, strict=True)
    )
    detail = finding.examples[0].message if finding.examples else ""
    return Check("schema", name, column, False, finding.count, examples, detail)


def _rule_checks(df: pd.DataFrame, rules: Rules) -> list[Check]:
    import numpy as np
    import pandas as pd

    checks: list[Check] = []
    if rules.rows_min is not None or rules.rows_max is not None:
        low, high = rules.rows_min, rules.rows_max
        ok = (low is None or len(df) >= low) and (high is None or len(df) <= high)
        detail = f"{len(df)} rows; expected {_span(low, high)}"
        checks.append(Check("rules", "rows", None, ok, 0 if ok else 1, (), detail))
    labels = {str(label): i for i, label in reversed(list(enumerate(df.columns)))}
    for name, spec in rules.columns.items():
        if name not in labels:
            detail = f"column '{name}' is not in the data"
            checks.append(Check("rules", "present", name, False, 1, (), detail))
            continue
        series = df.iloc[:, labels[name]].reset_index(drop=True)
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        null = series.isna().to_numpy(dtype=bool)
        failing: list[tuple[str, Any, str]] = []
        if spec.not_null:
            failing.append(("not_null", null, "no missing values"))
        if spec.range is not None:
            failing.append(("range", ~null & ~_within(series, spec.range), _span(*spec.range)))
        if spec.allowed is not None:
            isin = series.isin(list(spec.allowed)).to_numpy(dtype=bool)
            shown = ", ".join(map(str, spec.allowed[:10]))
            failing.append(("allowed", ~null & ~isin, f"one of {shown}"))
        if spec.unique:
            failing.append(("unique", ~null & _duplicated(series), "no duplicate values"))
        if spec.regex is not None:
            text = series[~null].astype(str).astype(object)
            match = np.ones(len(series), dtype=bool)
            match[~null] = text.str.fullmatch(spec.regex).fillna(False).to_numpy(dtype=bool)
            failing.append(("regex", ~match, f"matches {spec.regex}"))
        for rule, mask, detail in failing:
            rows = np.flatnonzero(mask)
            examples = tuple(
                {"row": int(row), "value": _jsonable(series.iloc[row])} for row in rows[:EXAMPLES]
            )
            checks.append(Check("rules", rule, name, not len(rows), len(rows), examples, detail))
    return checks


def _within(series: pd.Series, bounds: tuple[Any, Any]) -> Any:
    """Boolean array: the value lies within the bounds (values of the wrong kind do not)."""
    import numpy as np
    import pandas as pd

    low, high = bounds
    if any(isinstance(b, dt.date) for b in bounds):
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series
            if getattr(series.dt, "tz", None) is not None:
                values = series.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            text = series.astype(object).astype(str)
            values = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
            values = values.dt.tz_localize(None)
        low, high = (None if b is None else pd.Timestamp(_bound_key(b)) for b in bounds)
    elif pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype("float64")
    else:
        values = pd.to_numeric(series, errors="coerce")
    ok = values.notna().to_numpy(dtype=bool, copy=True)
    with np.errstate(invalid="ignore"):
        if low is not None:
            ok &= (values >= low).to_numpy(dtype=bool, na_value=False)
        if high is not None:
            ok &= (values <= high).to_numpy(dtype=bool, na_value=False)
    return ok


def _duplicated(series: pd.Series) -> Any:
    try:
        return series.duplicated(keep=False).to_numpy(dtype=bool)
    except TypeError:  # unhashable values (lists, dicts): compare their text
        return series.map(repr).duplicated(keep=False).to_numpy(dtype=bool)


def _span(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _jsonable(value: Any) -> Any:
    """A JSON-safe stand-in for a value from the data (NaN and inf as text)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return repr(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp (NaT has none worth keeping)
        try:
            return value.isoformat()
        except (ValueError, TypeError):
            return str(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
