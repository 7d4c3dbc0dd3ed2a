"""Request bodies: parse JSON and check it against a bundle's schema, fast.

:meth:`Schema.check` works on whole pandas columns and costs milliseconds even for one row;
a server answering thousands of single-row requests a second cannot spend that. A
:class:`CompiledSchema` checks the same rules (same issue codes, same rows and columns)
with one pre-built Python function per column, and returns the cleaned values as lists
that a micro-batch turns into arrays once. Schemas with ``string`` or ``datetime``
columns, which need parsing, go through :meth:`Schema.coerce` instead.

The whole-column rules are :meth:`Schema.column_issues`'s: a required column absent from
the request is refused, an optional one is all missing, an unknown key is refused by the
schema's ``unexpected`` policy (and always when it is a column's name in other case or
spacing). Batch scoring applies the same per-row rules, so a row refused here is refused
there with the same codes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from mlcycle.schema import Issue, Schema, as_category
from mlcycle.schema import show_value as _show

__all__ = ["MAX_ROWS", "CompiledSchema", "RequestError", "parse_json", "rows_of"]

MAX_ROWS = 10_000
"""The most rows one request may carry."""

_MISSING = object()
_INT64_LIMIT = 2.0**63


class RequestError(Exception):
    """A request the server refuses: an HTTP status, a message and field-level details."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "request_id": request_id}
        if self.details:
            out["details"] = self.details
        return out


def parse_json(raw: bytes) -> Any:
    """The JSON value of ``raw``; ``NaN`` and ``Infinity`` (Python's json writes them) are
    read so that the schema can refuse them by name instead of the whole body failing."""
    if not raw:
        raise RequestError(400, "The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(raw)  # NaN, Infinity and huge numbers; still strict otherwise
        except (ValueError, RecursionError):
            raise RequestError(400, f"The request body is not valid JSON: {exc}.") from None


def rows_of(body: Any) -> tuple[dict[str, list[Any]], int, list[str]]:
    """``{"records": [...]}`` or ``{"columns": {...}}`` as (values by column, rows, names).

    Records lacking a column get a missing value for it; a column no record has is absent.
    """
    if not isinstance(body, dict):
        raise RequestError(
            422, 'The body must be a JSON object: {"records": [...]} or {"columns": {...}}.'
        )
    unknown = [k for k in body if k not in ("records", "columns", "key")]
    if unknown or ("records" in body) == ("columns" in body):
        extra = f"; unknown keys: {', '.join(map(str, unknown[:10]))}" if unknown else ""
        raise RequestError(
            422,
            'The body needs exactly one of "records" (a list of objects) or "columns" '
            f"(an object of equal-length lists){extra}.",
        )
    if "records" in body:
        records = body["records"]
        if not isinstance(records, list) or not records:
            raise RequestError(422, '"records" must be a non-empty list of objects.')
        _check_size(len(records))
        bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
        if bad:
            detail = [
                {"row": i, "column": None, "code": "wrong_type", "message": "not an object"}
                for i in bad[:20]
            ]
            raise RequestError(422, f"{len(bad)} record(s) are not objects.", detail)
        names = list(dict.fromkeys(k for r in records for k in r)) if len(records) > 1 else []
        if len(records) == 1:
            only = records[0]
            return {k: [v] for k, v in only.items()}, 1, list(only)
        return {n: [r.get(n) for r in records] for n in names}, len(records), names
    columns = body["columns"]
    if not isinstance(columns, dict) or not columns:
        raise RequestError(422, '"columns" must be a non-empty object of lists.')
    lengths = {n: len(v) if isinstance(v, list) else -1 for n, v in columns.items()}
    if any(n < 0 for n in lengths.values()):
        bad_names = [n for n, k in lengths.items() if k < 0]
        raise RequestError(422, f"Each column must be a list; not: {', '.join(bad_names[:10])}.")
    if len(set(lengths.values())) > 1:
        raise RequestError(
            422, f"All columns must be as long; lengths: {dict(list(lengths.items())[:10])}."
        )
    n_rows = next(iter(lengths.values()))
    if n_rows == 0:
        raise RequestError(422, "The columns are empty; send at least one row.")
    _check_size(n_rows)
    return dict(columns), n_rows, list(columns)


def _check_size(n_rows: int) -> None:
    if n_rows > MAX_ROWS:
        raise RequestError(
            413, f"The request has {n_rows} rows; at most {MAX_ROWS:,} are allowed per request."
        )


Checker = Callable[[list[Any], list[Issue]], list[Any]]


@dataclass
class CompiledSchema:
    """A schema's rules as one Python function per feature, for small requests."""

    schema: Schema
    fast: bool
    checkers: dict[str, Checker]
    defaults: dict[str, Any]
    numeric: bool
    """Every feature is a number, integer or boolean: the model can take one float matrix."""
    known: frozenset[str] = frozenset()
    """Every column name of the schema, the target included."""
    required: tuple[str, ...] = ()
    """The features that must be present (not ``optional``)."""

    @classmethod
    def build(cls, schema: Schema) -> CompiledSchema:
        features = schema.feature_names
        fast = all(schema.column(n).dtype not in ("string", "datetime") for n in features)
        checkers: dict[str, Checker] = {}
        defaults: dict[str, Any] = {}
        for name in features if fast else ():
            checkers[name], defaults[name] = _checker(schema, name)
        numeric = all(schema.column(n).dtype in ("number", "integer", "boolean") for n in features)
        known = frozenset(c.name for c in schema.columns)
        required = tuple(n for n in features if not schema.column(n).optional)
        return cls(schema, fast, checkers, defaults, numeric, known, required)

    def check(
        self, columns: dict[str, list[Any]], n_rows: int, names: list[str]
    ) -> dict[str, list[Any]]:
        """The cleaned values of every feature, or :class:`RequestError` 422 with the issues.

        Each value comes back in its column's one type, whatever JSON number it was sent as:
        numbers as floats (NaN for missing, clipped where the policy says so), integers as
        ints (NaN for missing), booleans as floats, categories in their
        :attr:`~mlcycle.schema.Column.category_type` (``1.0`` is ``1`` where the categories
        are integers; text or mixed categories as given; None for missing or
        mapped-to-missing). The prediction log relies on it: one type per column.
        """
        out, issues = self.scan(columns, n_rows, names)
        if issues:
            raise invalid(issues)
        return out

    def scan(
        self, columns: dict[str, list[Any]], n_rows: int, names: list[str]
    ) -> tuple[dict[str, list[Any]], list[Issue]]:
        """The cleaned values (see :meth:`check`) and every issue, whole-column ones first.

        A row is refused when an issue names it; a whole-column issue refuses every row.
        The values are meaningful only when there are no issues.
        """
        if not self.fast:
            issues = self.schema.check(columns)
            if issues:
                return {}, issues
            frame = self.schema.coerce(columns)
            return {name: frame[name].tolist() for name in frame.columns}, issues
        issues = self._column_issues(columns, names)
        out: dict[str, list[Any]] = {}
        for name, check in self.checkers.items():
            values = columns.get(name, _MISSING)
            if values is _MISSING:
                out[name] = [self.defaults[name]] * n_rows  # optional, or already an issue
                continue
            out[name] = check(values, issues)  # type: ignore[arg-type]
        return out, issues

    def _column_issues(self, columns: dict[str, list[Any]], names: list[str]) -> list[Issue]:
        known, required = self.known, self.required
        if all(name in known for name in names) and all(name in columns for name in required):
            return []  # the usual request: no work beyond these lookups
        return self.schema.column_issues(names)


def invalid(issues: list[Issue]) -> RequestError:
    """A 422 naming the first issues, each with its row, column and code."""
    first = issues[0]
    where = f"row {first.row}, " if first.row is not None else ""
    more = f" ({len(issues) - 1} more in 'details')" if len(issues) > 1 else ""
    message = f"The input does not match the model's schema: {where}{first.message}{more}"
    details = [i.to_dict() for i in issues[:100]]
    return RequestError(422, message, details)


def _checker(schema: Schema, name: str) -> tuple[Checker, Any]:
    """The check-and-clean function of one column, and the value of a missing one."""
    column, policy = schema.column(name), schema.policy(name)
    refuse_missing = policy.missing == "refuse"
    kind = column.dtype

    def missing(row: int, value: Any, issues: list[Issue]) -> None:
        if refuse_missing:
            say = f"{_show(value)}: a value is required, but it is missing."
            issues.append(Issue(row, name, "missing_value", say))

    if kind in ("number", "integer"):
        integer = kind == "integer"
        low = -math.inf if column.min is None else float(column.min)
        high = math.inf if column.max is None else float(column.max)
        refuse_range = policy.out_of_range == "refuse" and (low, high) != (-math.inf, math.inf)
        clip = policy.out_of_range == "clip"
        if integer and clip:  # an integer clipped stays an integer (as Schema.coerce clips)
            low = low if math.isinf(low) else float(math.ceil(low))
            high = high if math.isinf(high) else float(math.floor(high))
        noun = "an integer" if integer else "a number"

        def numbers(values: list[Any], issues: list[Issue]) -> list[Any]:
            out: list[Any] = []
            for row, v in enumerate(values):
                t = type(v)
                if t is float or t is int:
                    f = v if t is float else float(v) if -1e308 < v < 1e308 else math.inf
                    if f != f:  # NaN is missing
                        missing(row, v, issues)
                        out.append(math.nan)
                        continue
                    if f in (math.inf, -math.inf):
                        say = f"{_show(v)} is infinite or too large to be a number."
                        issues.append(Issue(row, name, "out_of_range", say))
                        out.append(math.nan)
                        continue
                    if integer and abs(f) >= _INT64_LIMIT:
                        say = f"{_show(v)} is too large for a 64-bit integer."
                        issues.append(Issue(row, name, "out_of_range", say))
                        out.append(math.nan)
                        continue
                    if integer and t is float and not f.is_integer():
                        issues.append(Issue(row, name, "wrong_type", f"{_show(v)} is not {noun}."))
                        out.append(math.nan)
                        continue
                    if refuse_range and not low <= f <= high:
                        say = (
                            f"{_show(v)} is outside the range seen in training "
                            f"({_span(column.min, column.max)})."
                        )
                        issues.append(Issue(row, name, "out_of_range", say))
                    elif clip:
                        f = min(max(f, low), high)
                    out.append(int(f) if integer else f)
                elif v is None:
                    missing(row, v, issues)
                    out.append(math.nan)
                else:
                    issues.append(Issue(row, name, "wrong_type", f"{_show(v)} is not {noun}."))
                    out.append(math.nan)
            return out

        return numbers, math.nan

    if kind == "boolean":

        def booleans(values: list[Any], issues: list[Issue]) -> list[Any]:
            out: list[Any] = []
            for row, v in enumerate(values):
                if v is True or v is False:
                    out.append(1.0 if v else 0.0)
                elif v is None or (type(v) is float and v != v):
                    missing(row, v, issues)
                    out.append(math.nan)
                else:
                    say = f"{_show(v)} is not true or false."
                    issues.append(Issue(row, name, "wrong_type", say))
                    out.append(math.nan)
            return out

        return booleans, math.nan

    known = set(column.categories) if column.categories is not None else None
    check_unseen = (
        known is not None
        and policy.unseen != "allow"
        and (policy.unseen == "refuse" or refuse_missing)
    )
    to_missing = known is not None and policy.unseen == "map_to_missing"
    value_type = column.category_type
    shown = ", ".join(map(str, (column.categories or [])[:10]))
    if column.categories and len(column.categories) > 10:
        shown += f", … ({len(column.categories)} in all)"

    def categories(values: list[Any], issues: list[Issue]) -> list[Any]:
        out: list[Any] = []
        for row, v in enumerate(values):
            t = type(v)
            if v is None or (t is float and v != v):
                missing(row, v, issues)
                out.append(None)
            elif t is str or t is int or t is float or t is bool:
                if check_unseen and v not in known:  # type: ignore[operator]
                    say = f"{_show(v)} is not a known category (known: {shown})"
                    if policy.unseen == "map_to_missing":
                        say += (
                            "; unknown categories count as missing, and this column needs a value"
                        )
                    issues.append(Issue(row, name, "unseen_category", say + "."))
                    out.append(None)
                elif to_missing and v not in known:  # type: ignore[operator]
                    out.append(None)
                else:
                    out.append(v if value_type is None else as_category(v, value_type))
            else:
                issues.append(
                    Issue(row, name, "wrong_type", f"{_show(v)} is not a category value.")
                )
                out.append(None)
        return out

    return categories, None


def _span(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low!r} to {high!r}"
    return f"at least {low!r}" if low is not None else f"at most {high!r}"
