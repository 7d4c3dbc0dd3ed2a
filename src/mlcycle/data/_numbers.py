"""Numbers written as text in a locale's format: decimal commas, digit-group separators.

A file written in much of Europe separates fields with ``;`` and writes ``3,14`` and
``1.234,5``; a spreadsheet export may write ``1,234.5`` or ``12 345``. A CSV parser reads
all of these as text, and a numeric target read as text becomes hundreds of "classes".

:func:`parse_numbers` converts a text column when *every* non-missing value is a number in
the given convention (a column with one word among its numbers is left as text, so no
value is silently turned into a missing one). :func:`decimal_comma_column` is the check the
loader runs on ``;``, tab and ``|`` separated files, where a comma cannot be the delimiter.
:func:`numbers_as_text` names the cause when a text column holds numbers anyway, for the
messages of the loader and of ``train``.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = [
    "DECIMALS",
    "decimal_comma_column",
    "decimal_comma_values",
    "numbers_as_text",
    "parse_numbers",
]

DECIMALS = (",", ".")
_SPACES = "\u00a0\u202f"  # no-break and narrow no-break spaces, as locales group digits
# one pattern per decimal mark: the digit groups are separated by the other mark or a space
_NUMBER = {
    ",": re.compile(r"[+-]?(?:\d{1,3}(?:([. ])\d{3})?(?:\1\d{3})*|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?"),
    ".": re.compile(r"[+-]?(?:\d{1,3}(?:([, ])\d{3})?(?:\1\d{3})*|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?"),
}
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CURRENCY = "$€£¥₹"
_SIGNS = re.compile(rf"^\(?[{_CURRENCY}]?\s?|\s?(?:%|[{_CURRENCY}])?\)?$")
_SAMPLE = 1_000
_WORDS_SCAN = 100_000
_SHARE = 0.9


def parse_numbers(series: pd.Series, decimal: str) -> pd.Series | None:
    """``series`` as float64 when each non-missing value is a number with ``decimal`` as
    its decimal mark (digit groups separated by the other mark or a space), else None."""
    other = "." if decimal == "," else ","
    sample = _text(series, sample=True)
    if sample is None or sample.empty or not sample.str.fullmatch(_NUMBER[decimal]).all():
        return None  # most text columns are ruled out on a sample
    values = _strings(series)
    if values is None:
        return None
    if not values.str.contains(f"[{re.escape(other)} {_SPACES}]", regex=True).any():
        # no digit groups: swapping the mark is all it takes, vectorised (a regex per
        # value costs seconds on a million rows)
        numbers = pd.to_numeric(values.str.replace(decimal, ".", regex=False), errors="coerce")
        if numbers.notna().all():
            return numbers.reindex(series.index).astype("float64")
    text = _text(series)
    if text is None or not text.str.fullmatch(_NUMBER[decimal]).all():
        return None
    plain = text.str.replace(other, "", regex=False).str.replace(" ", "", regex=False)
    numbers = pd.to_numeric(plain.str.replace(decimal, ".", regex=False))
    return numbers.reindex(series.index).astype("float64")


def decimal_comma_column(series: pd.Series) -> bool:
    """Whether a text column looks like numbers written with decimal commas: a sample of
    its values are all such numbers and some value has a comma (digit groups alone,
    ``1.234``, could be either). :func:`parse_numbers` checks every value."""
    sample = _text(series, sample=True)
    if sample is None or sample.empty or not sample.str.fullmatch(_NUMBER[","]).all():
        return False
    values = _strings(series)
    return values is not None and bool(values.str.contains(",", regex=False).any())


def decimal_comma_values(text: pd.Series) -> pd.Series:
    """Each value of ``text`` read as a decimal-comma number (``1.234,5``), NaN where it is
    none: for a column already known to hold numbers, cell by cell."""
    values = text.astype(str).str.strip()
    ok = values.str.fullmatch(_NUMBER[","]).fillna(False).astype(bool)
    plain = values[ok].str.replace(".", "", regex=False).str.replace(" ", "", regex=False)
    numbers = pd.to_numeric(plain.str.replace(",", ".", regex=False), errors="coerce")
    return numbers.reindex(text.index).astype("float64")


def numbers_as_text(series: pd.Series) -> str | None:
    """Why a text column that holds numbers is not read as numbers, or None.

    The sentence names the cause and the fix, e.g. "holds numbers written as text with
    decimal commas ('3,14', '2,5'): pass --decimal ',' ...". A column qualifies when at
    least 90 % of a sample of its values look like numbers in some locale's format.
    """
    sample = _text(series, sample=True)
    if sample is None or sample.empty:
        return None
    looks = _looks_like_numbers(sample)
    if looks.mean() < _SHARE:
        return None
    numbers = sample[looks]
    if numbers.str.fullmatch(_PLAIN).all():
        return None  # plain numbers kept as text (labels such as "1", "2"): no locale at fault
    head = _text(series.iloc[:_WORDS_SCAN])  # rare words beyond the sample, read cheaply
    scanned = sample if head is None else pd.concat([sample, head])
    words = [str(v) for v in pd.unique(scanned[~_looks_like_numbers(scanned)])[:3]]
    rest = f"; {_quoted(words)} are not numbers, blank them" if words else ""
    comma = numbers.str.fullmatch(_NUMBER[","])
    point = numbers.str.fullmatch(_NUMBER["."])
    has_comma = numbers.str.contains(",", regex=False)
    signs = numbers.str.contains(f"[{_CURRENCY}%]", regex=True)
    if signs.any():
        shown = _quoted(numbers[signs])
        cause = f"with currency or percent signs ({shown}): remove the signs{rest}"
    elif comma.mean() >= _SHARE and (comma & has_comma).any():
        cause = (
            f"with decimal commas ({_quoted(numbers[comma & has_comma])}): the file seems to "
            f"use decimal commas{rest}; pass --decimal ',' (decimal=',' to mlcycle.data.load)"
        )
    elif point.all():
        grouped = numbers.str.contains("[, ]", regex=True)
        cause = (
            f"with separators between digit groups ({_quoted(numbers[grouped])}){rest}; pass "
            "--decimal '.' (decimal='.' to mlcycle.data.load) to read them as numbers"
        )
    else:
        cause = (
            f"in more than one format ({_quoted(numbers)}){rest}; write them with one "
            "decimal mark, or pass --decimal for the one the file uses"
        )
    return f"holds numbers written as text {cause}."


def _looks_like_numbers(text: pd.Series) -> pd.Series:
    """Whether each value is a number in either convention, maybe with a currency or percent
    sign. Digit groups are of three, so card and phone numbers are no numbers."""
    core = text.str.replace(_SIGNS, "", regex=True)
    return core.str.fullmatch(_NUMBER[","]) | core.str.fullmatch(_NUMBER["."])


def _strings(series: pd.Series, *, sample: bool = False) -> pd.Series | None:
    """The non-missing values of a text column (a spread sample of about 1,000 of them);
    None for a column of anything but text."""
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return None
    values = series.dropna()
    if sample:
        values = values.iloc[:: max(1, len(values) // _SAMPLE)]
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    return values


def _text(series: pd.Series, *, sample: bool = False) -> pd.Series | None:
    """:func:`_strings` stripped, with locale spaces made plain, blanks left out."""
    values = _strings(series, sample=sample)
    if values is None:
        return None
    text = values.astype(str).str.strip()
    text = text.str.translate({ord(c): " " for c in _SPACES})
    return text[text != ""]


def _quoted(values: object) -> str:
    items = [str(v) for v in pd.unique(pd.Series(values, dtype=object))[:3]]
    return ", ".join(repr(v) for v in items)
