"""Anonymise personal-data columns: drop, keyed hash, mask, generalise or keep, with a report.

>>> import pandas as pd
>>> df = pd.DataFrame({"email": ["ann@example.com", None], "age": [34, 71]})
>>> out, report = anonymize(df, {"email": "mask", "age": "generalize"})
>>> out.to_dict("list")
{'email': ['a***@example.com', nan], 'age': ['30-39', '70-79']}

Actions:

- ``drop``: the column is removed.
- ``hash``: HMAC-SHA256 of the value's text under a secret key, hex truncated to 16
  characters (64 bits). The text is the value with surrounding whitespace stripped and
  integer-valued floats written as integers, so ``4111111111111111`` hashes alike as
  text, int64 or float64; case is kept. The same key gives the same token, so joins
  across tables still work; without the key a token cannot be reversed or recomputed
  from a guessed value. The key comes from ``key=`` or ``MLCYCLE_ANONYMIZE_KEY``; there
  is no default key.
- ``mask``: format kept, value hidden: ``j***@example.com``, ``**** **** **** 1234``,
  phone ``+** ** **** **58``, SSN ``***-**-6789``, IP ``192.168.*.*``, name ``J*** S***``.
- ``generalize``: numbers to bands (``30-39``; width 10, or the power of ten of the
  column's median when larger, so incomes band by 10,000), dates to ``YYYY-MM``, IP
  addresses to their /24 (IPv4) or /48 (IPv6) network, postcodes to their prefix (UK
  outward code, Canadian FSA, Dutch digits, otherwise the first three digits). Values
  that do not fit the column's rule are masked.
- ``keep``: unchanged, listed in the report so the decision is on record.

Without a plan, columns found by :func:`~mlcycle.data.detect_pii` get a default:
e-mail, phone and national id are hashed when a key is set (joinable pseudonyms) and
masked otherwise; card numbers are masked (last four digits, as printed on receipts);
IP addresses are generalised to their network; person names and street addresses are
dropped, since they rarely carry signal a model should learn and leak the most. An
explicit plan overrides those defaults column by column; pass ``findings=[]`` to apply
the plan alone. Missing values stay missing, and the input frame is never modified.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.data._pii import PiiFinding, as_text, column_tokens, detect_pii, mask_value
from mlcycle.exceptions import BadParameterError, ConfigError, SchemaError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ACTIONS", "DEFAULT_ACTIONS", "AnonymizationReport", "ColumnChange", "anonymize"]

ACTIONS: tuple[str, ...] = ("drop", "hash", "mask", "generalize", "keep")
_ALIASES = {"generalise": "generalize", "remove": "drop"}

# kind -> default action; "hash" falls back to "mask" when no key is configured.
DEFAULT_ACTIONS: dict[str, str] = {
    "email": "hash",
    "phone": "hash",
    "national_id": "hash",
    "credit_card": "mask",
    "ip_address": "generalize",
    "person_name": "drop",
    "street_address": "drop",
}

_HASH_CHARS = 16
_POSTCODE_HINTS = frozenset({"zip", "zipcode", "postcode", "postalcode", "postal", "plz", "cap"})
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})$", re.IGNORECASE)
_CA_POSTCODE = re.compile(r"^([A-Z]\d[A-Z])\s*(\d[A-Z]\d)$", re.IGNORECASE)
_NL_POSTCODE = re.compile(r"^(\d{4})\s*([A-Z]{2})$", re.IGNORECASE)
_DIGIT_POSTCODE = re.compile(r"^\d{4,6}(?:-\d{3,4})?$")
_FIT = 0.9  # share of values a generalisation rule must fit to be chosen
_SAMPLE = 2000  # values read to choose a generalisation rule


@dataclass(frozen=True)
class ColumnChange:
    """What happened to one column: the action, the personal-data kind, rows changed."""

    column: str
    action: str
    kind: str | None
    rows_changed: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "action": self.action,
            "kind": self.kind,
            "rows_changed": self.rows_changed,
            "note": self.note,
        }


@dataclass(frozen=True)
class AnonymizationReport:
    """The record of an :func:`anonymize` call: one :class:`ColumnChange` per planned column.

    ``rows_changed`` counts the non-missing values that were removed or rewritten.
    """

    rows: int
    columns: tuple[ColumnChange, ...] = field(default_factory=tuple)

    def __getitem__(self, column: str) -> ColumnChange:
        for change in self.columns:
            if change.column == column:
                return change
        raise KeyError(column)

    @property
    def dropped(self) -> list[str]:
        return [c.column for c in self.columns if c.action == "drop"]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": [c.to_dict() for c in self.columns]}

    def render(self, console: Console | None = None) -> None:
        """Print the report as a Rich table (to ``console``, else standard output)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        table = Table(title=f"Anonymisation of {self.rows:,} rows")
        table.add_column("column")
        table.add_column("kind")
        table.add_column("action")
        table.add_column("rows changed", justify="right")
        table.add_column("note")
        for change in self.columns:
            table.add_row(
                change.column,
                change.kind or "-",
                change.action,
                f"{change.rows_changed:,}",
                change.note,
            )
        if not self.columns:
            console.print("No personal data found and no plan given: nothing was changed.")
            return
        console.print(table)


def anonymize(
    df: pd.DataFrame,
    plan: dict[str, str] | None = None,
    *,
    key: str | bytes | None = None,
    findings: list[PiiFinding] | None = None,
) -> tuple[pd.DataFrame, AnonymizationReport]:
    """A copy of ``df`` with personal data dropped, hashed, masked or generalised.

    ``plan`` maps a column to one of :data:`ACTIONS` and overrides the defaults chosen
    from ``findings`` (detected with :func:`~mlcycle.data.detect_pii` when not given).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"anonymize() takes a pandas DataFrame. Got {type(df).__name__} instead.")
    if plan is not None and not isinstance(plan, dict):
        raise TypeError(
            "The 'plan' parameter of anonymize() must be a dict of column -> action. "
            f"Got {type(plan).__name__} instead."
        )
    names = {str(c): c for c in df.columns}
    if len(names) != len(df.columns):
        repeated = sorted({str(c) for c in df.columns[df.columns.astype(str).duplicated()]})
        raise SchemaError(
            f"Column names must be unique to anonymise a table; repeated: {', '.join(repeated)}."
        )
    requested = _checked_plan(plan or {}, names)
    if findings is None:
        findings = detect_pii(df)
    kinds = {f.column: f.kind for f in findings if f.column in names}
    secret = _resolve_key(key, required=False)

    actions: dict[str, tuple[str, str]] = {}  # column -> (action, note)
    for column, found in kinds.items():
        action = DEFAULT_ACTIONS[found]
        note = f"default for {found.replace('_', ' ')}"
        if action == "hash" and secret is None:
            action = "mask"
            note += "; masked: set MLCYCLE_ANONYMIZE_KEY to hash instead"
        actions[column] = (action, note)
    for column, action in requested.items():
        actions[column] = (action, "from the plan")
    if any(action == "hash" for action, _ in actions.values()):
        secret = _resolve_key(key, required=True)

    out = df.copy(deep=False)
    changes = []
    for column in (str(c) for c in df.columns):  # report in the frame's column order
        if column not in actions:
            continue
        action, note = actions[column]
        original = df[names[column]]
        present = int(original.notna().sum())
        kind = kinds.get(column)
        if action == "drop":
            out = out.drop(columns=[names[column]])
            changes.append(ColumnChange(column, action, kind, present, note))
            continue
        if action == "keep":
            changes.append(ColumnChange(column, action, kind, 0, note))
            continue
        if action == "hash":
            assert secret is not None
            new, changed = _map_values(original, _hasher(secret))
        elif action == "mask":
            new, changed = _map_values(original, partial(mask_value, kind=kind))
        else:
            rewrite, rule = _generalizer(original, column, kind)
            new, changed = _map_uniques(original, rewrite)
            note = f"{note}; {rule}"
        out[names[column]] = new
        changes.append(ColumnChange(column, action, kind, changed, note))
    return out, AnonymizationReport(rows=len(df), columns=tuple(changes))


# --------------------------------------------------------------------------- plan and key


def _checked_plan(plan: dict[str, str], names: dict[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    unknown = [str(c) for c in plan if str(c) not in names]
    if unknown:
        available = ", ".join(list(names)[:30]) + (", ..." if len(names) > 30 else "")
        raise SchemaError(
            f"Column {', '.join(repr(c) for c in unknown)} of the anonymisation plan "
            f"is not in the data. Columns: {available}."
        )
    for column, action in plan.items():
        normal = str(action).strip().lower()
        normal = _ALIASES.get(normal, normal)
        if normal not in ACTIONS:
            raise BadParameterError(
                f"Unknown anonymisation action {action!r} for column '{column}'. "
                f"Valid actions: {', '.join(ACTIONS)}."
            )
        checked[str(column)] = normal
    return checked


def _resolve_key(key: str | bytes | None, *, required: bool) -> bytes | None:
    if key is None:
        from mlcycle.config import get_settings

        key = get_settings().anonymize_key
    if key is None or len(key) == 0:
        if not required:
            return None
        raise ConfigError(
            "Hashing personal data needs a secret key and none is set: set "
            "MLCYCLE_ANONYMIZE_KEY (or anonymize_key in the config file, or pass key=...). "
            "mlcycle never hashes with a default key, since anyone could recompute it."
        )
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- actions


def _hasher(secret: bytes) -> Callable[[str], str]:
    """HMAC-SHA256 under ``secret``, hex truncated; the keyed state is built once."""
    keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def token(text: str) -> str:
        mac = keyed.copy()
        mac.update(text.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:_HASH_CHARS]

    return token


Rewrite = Callable[[np.ndarray], "list[str] | np.ndarray"]


def _map_uniques(series: pd.Series, rewrite: Rewrite) -> tuple[pd.Series, int]:
    """Apply ``rewrite`` to the distinct non-missing values once; missing stays missing.

    Returns the new column and how many non-missing values changed their text.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    distinct = np.asarray(uniques, dtype=object)
    new = np.empty(len(distinct) + 1, dtype=object)
    new[:-1] = rewrite(distinct)
    new[-1] = None  # code -1 (missing) picks it
    before = [as_text(v) for v in distinct.tolist()]
    differs = np.array([b != a for b, a in zip(before, new[:-1], strict=True)], dtype=bool)
    present = codes[codes >= 0]
    changed = int(np.bincount(present, minlength=len(distinct))[differs].sum())
    out = pd.Series(new[codes], index=series.index, name=series.name, dtype=_text_dtype(series))
    return out, changed


def _map_values(series: pd.Series, function: Callable[[str], str]) -> tuple[pd.Series, int]:
    """``function`` over the text of each distinct non-missing value."""
    return _map_uniques(series, lambda distinct: [function(as_text(v)) for v in distinct])


def _text_dtype(series: pd.Series) -> Any:
    return series.dtype if pd.api.types.is_string_dtype(series.dtype) else object


# --------------------------------------------------------------------------- generalise


def _generalizer(series: pd.Series, column: str, kind: str | None) -> tuple[Rewrite, str]:
    """The rewrite that generalises this column, and its rule in words.

    The rule is chosen on a seeded sample of the values; values that do not fit it are
    masked rather than left as they were.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise BadParameterError(
            f"Column '{column}' is boolean and cannot be generalised; use keep, mask or drop."
        )
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _months, "dates to year-month"
    if column_tokens(column) & _POSTCODE_HINTS:
        return _each(_postcode), "postcodes to their prefix"
    present = series.dropna()
    sample = present.sample(min(len(present), _SAMPLE), random_state=0).map(as_text)
    if kind == "ip_address" or _share(sample, _is_ip) >= _FIT:
        return _each(_network), "IP addresses to their network (/24, /48)"
    numeric = pd.api.types.is_numeric_dtype(dtype)
    numbers = pd.to_numeric(present if numeric else sample, errors="coerce")
    if len(sample) and numbers.notna().mean() >= _FIT:
        width = _band_width(numbers)
        return partial(_bands, width=width), f"numbers to bands of {width:,}"
    if _share(sample, _is_postcode) >= _FIT:
        return _each(_postcode), "postcodes to their prefix"
    if len(sample) and _parse_dates(sample.to_numpy(dtype=object)).notna().mean() >= _FIT:
        return _months, "dates to year-month"
    raise BadParameterError(
        f"Column '{column}' cannot be generalised: generalize works on numbers (bands), "
        "dates (year-month), IP addresses (network) and postcodes (prefix). "
        "Use mask, hash or drop for it instead."
    )


def _each(function: Callable[[str], str]) -> Rewrite:
    return lambda distinct: [function(as_text(v)) for v in distinct]


def _share(sample: pd.Series, test: Callable[[str], bool]) -> float:
    return float(sample.map(test).mean()) if len(sample) else 0.0


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _network(text: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return mask_value(text)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _is_postcode(text: str) -> bool:
    return bool(_UK_POSTCODE.match(text) or _CA_POSTCODE.match(text) or _NL_POSTCODE.match(text))


def _postcode(text: str) -> str:
    for pattern in (_UK_POSTCODE, _CA_POSTCODE, _NL_POSTCODE):
        match = pattern.match(text)
        if match:
            return match.group(1).upper()
    if _DIGIT_POSTCODE.match(text):
        digits = text.split("-")[0]
        if len(digits) == 4:  # a US ZIP read as a number lost its leading zero
            digits = digits.zfill(5)
        return digits[:3] + "*" * (len(digits) - 3)
    return mask_value(text)


def _parse_dates(values: np.ndarray) -> pd.Series:
    texts = [v.strip() if isinstance(v, str) else v for v in values.tolist()]
    return pd.Series(pd.to_datetime(texts, errors="coerce", format="mixed"))


def _months(distinct: np.ndarray) -> list[str]:
    parsed = _parse_dates(distinct)
    months = parsed.dt.strftime("%Y-%m").to_numpy(dtype=object)
    return [
        month if isinstance(month, str) else mask_value(value)  # unparsed text is masked
        for month, value in zip(months.tolist(), distinct.tolist(), strict=True)
    ]


def _band_width(numbers: pd.Series) -> int:
    """10, or the power of ten of the median magnitude when larger (incomes by 10,000)."""
    floats = numbers.to_numpy(dtype="float64", na_value=np.nan)
    finite = floats[np.isfinite(floats)]
    median = float(np.median(np.abs(finite))) if len(finite) else 0.0
    return int(10 ** max(1, math.floor(math.log10(median)))) if median > 0 else 10


def _bands(distinct: np.ndarray, *, width: int) -> np.ndarray:
    texts = [v.strip() if isinstance(v, str) else v for v in distinct.tolist()]
    floats = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    finite = np.isfinite(floats)
    starts, inverse = np.unique(np.floor(floats[finite] / width), return_inverse=True)
    labels = np.array([f"{int(s) * width}-{int(s) * width + width - 1}" for s in starts.tolist()])
    out = np.empty(len(distinct), dtype=object)
    out[finite] = labels.astype(object)[inverse]
    for i in np.flatnonzero(~finite).tolist():
        out[i] = mask_value(distinct[i])  # text that is no number is masked, not kept
    return out
