"""Load a table from CSV, TSV, Parquet, JSON lines or a DataFrame, with errors a user can act on.

Files are read with pyarrow (multi-threaded, one Arrow table converted column by column
into pandas, so a 1,000,000 x 50 file is not held in several copies). Before reading, a
sample of the first megabyte decides what can be decided cheaply: the encoding (a
byte-order mark, then UTF-8, then charset-normalizer, preferring Western European
code pages when candidates tie, as they do on short samples), the delimiter
(:class:`csv.Sniffer` among ``,`` ``;`` tab ``|``, checked by consistent field counts) and
whether the file is text at all. In a ``;``, tab or ``|`` separated file, a column whose
every value is a number written with a decimal comma (``3,14``, ``1.234,5``) is read as
numbers; ``decimal=`` sets the decimal mark instead of detecting it (see
:mod:`mlcycle.data._numbers`). Every problem is raised as an
:class:`~mlcycle.exceptions.MlcycleError` (:class:`~mlcycle.exceptions.SchemaError` when the
columns are wrong) whose message says what happened, what was expected and what to do.

Problems that do not stop loading (a column mixing numbers with words, an all-missing
column, missing values in the target) are listed in ``df.attrs["mlcycle_warnings"]``;
``strict=True`` turns mixed types into an error. ``df.attrs["mlcycle_source"]`` records
where the table came from: path, format, encoding, delimiter, rows and columns.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from mlcycle.data._kinds import NUMBER, mixed_values
from mlcycle.data._numbers import DECIMALS, decimal_comma_column, numbers_as_text, parse_numbers
from mlcycle.exceptions import DataError, SchemaError

__all__ = ["FORMATS", "SOURCE_ATTR", "WARNINGS_ATTR", "load"]

_DataError = DataError

FORMATS = ("csv", "tsv", "parquet", "jsonl", "json")
SOURCE_ATTR = "mlcycle_source"
WARNINGS_ATTR = "mlcycle_warnings"

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_ALIASES = {"ndjson": "jsonl", "jsonlines": "jsonl", "pq": "parquet", "txt": "csv"}
_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "'\\t'", "|": "'|'"}
_SAMPLE_BYTES = 1 << 20
_SNIFF_CHARS = 32_000
_WESTERN = ("cp1252", "latin_1", "iso8859_15")
_MAX_CHAOS = 0.25
_MAGIC = {
    b"PAR1": "a Parquet file: pass format='parquet' or give it a .parquet extension",
    b"\x1f\x8b": "gzip-compressed: decompress it first (gunzip)",
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one): export the sheet to CSV",
    b"BZh": "bzip2-compressed: decompress it first (bunzip2)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed: decompress it first (unzstd)",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def load(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    target: str | None = None,
    columns: list[str] | None = None,
    strict: bool = False,
    decimal: str | None = None,
) -> pd.DataFrame:
    """Read a table and check it before anything is trained on it.

    ``format`` is taken from the extension when not given; ``encoding`` and
    ``delimiter`` are detected when not given. ``columns`` reads only those columns
    (the target is added to them). ``strict=True`` refuses a column that mixes numbers
    and words instead of keeping it as text with a warning. ``decimal`` (``','`` or
    ``'.'``) is the decimal mark of numbers written as text: text columns whose every value
    is such a number (``1.234,5`` with ``','``; ``1,234.5`` with ``'.'``) are read as
    numbers. Left out, decimal commas are detected in ``;``, tab and ``|`` separated files.

    >>> df = load("data.csv", target="churned")  # doctest: +SKIP
    >>> df.attrs["mlcycle_source"]["delimiter"]  # doctest: +SKIP
    ';'
    """
    fmt = _check_parameters(source, format, encoding, delimiter, target, columns)
    if decimal is not None and decimal not in DECIMALS:
        _bad("decimal", "',' or '.' (the decimal mark), or None to detect it", decimal)
    wanted = None if columns is None else _with_target(columns, target)
    info: dict[str, Any]
    if isinstance(source, pd.DataFrame):
        df, info = _from_frame(source, wanted)
    else:
        path = Path(source).expanduser()
        fmt = fmt or _format_from_extension(path)
        _check_file(path)
        if fmt in ("csv", "tsv"):
            df, info = _read_csv(path, fmt, encoding, delimiter, wanted, decimal)
        elif fmt == "parquet":
            df, info = _read_parquet(path, wanted)
        else:
            df, info = _read_json(path, fmt, encoding, wanted)
    name = info["path"] or "the DataFrame"
    _check_duplicates([str(c) for c in df.columns], name)
    # decimal commas cannot be told apart from the delimiter in a ','-separated file
    detect = decimal is None and info["delimiter"] not in (None, ",")
    info["decimal"] = _read_numbers(df, decimal, detect=detect) if decimal or detect else None
    if len(df) == 0:
        raise _DataError(
            f"{_quote(name)} has columns ({_list(df.columns)}) but no rows. "
            "Expected at least one row of data: check that the right file was given."
        )
    if target is not None:
        _check_target(df, target, name)
    notes = _mixed_type_notes(df, strict=strict)
    notes += _missing_notes(df, target)
    info.update(rows=len(df), columns=df.shape[1])
    df.attrs[SOURCE_ATTR] = info
    df.attrs[WARNINGS_ATTR] = notes
    return df


# -- parameters and paths ---------------------------------------------------------------


def _check_parameters(
    source: object,
    format: str | None,
    encoding: str | None,
    delimiter: str | None,
    target: str | None,
    columns: object,
) -> str | None:
    if not isinstance(source, str | os.PathLike | pd.DataFrame):
        _bad("source", "a file path or a pandas DataFrame", type(source).__name__, quote=False)
    fmt = None
    if format is not None:
        fmt = _ALIASES.get(str(format).lower(), str(format).lower())
        if fmt not in FORMATS:
            _bad("format", f"one of {', '.join(repr(f) for f in FORMATS)} or None", format)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            _bad("encoding", "a known text encoding such as 'utf-8' or 'cp1252'", encoding)
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"'"
    ):
        _bad("delimiter", "a single character such as ',' ';' '\\t' or '|'", delimiter)
    if target is not None and not isinstance(target, str):
        _bad("target", "a column name (a string)", target)
    if columns is not None and (
        not isinstance(columns, list | tuple)
        or not columns
        or not all(isinstance(c, str) for c in columns)
    ):
        _bad("columns", "a non-empty list of column names", columns)
    return fmt


def _bad(parameter: str, expected: str, got: object, *, quote: bool = True) -> NoReturn:
    shown = repr(got) if quote else got
    raise _DataError(
        f"The '{parameter}' parameter of load() must be {expected}. Got {shown} instead."
    )


def _with_target(columns: list[str], target: str | None) -> list[str]:
    wanted = list(dict.fromkeys(columns))
    if target is not None and target not in wanted:
        wanted.append(target)
    return wanted


def _format_from_extension(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    known = ", ".join(sorted(_EXTENSIONS))
    what = f"extension {suffix!r}" if suffix else "no extension"
    raise _DataError(
        f"Cannot tell the format of {_quote(path)}: it has {what}. "
        f"Known extensions: {known}. Pass format= (one of {', '.join(FORMATS)}), "
        "or convert the file to CSV or Parquet."
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise _DataError(
            f"File {_quote(path)} does not exist. Expected a CSV, TSV, Parquet or JSON lines "
            "file: check the path and the current directory."
        )
    if not path.is_file():
        raise _DataError(
            f"{_quote(path)} is not a file (a directory?). Pass the path of one data file."
        )
    if path.stat().st_size == 0:
        raise _DataError(
            f"File {_quote(path)} is empty (0 bytes). Expected a header row and at least one "
            "row of data: check that the export finished."
        )


# -- text files: sample, encoding, delimiter ---------------------------------------------


def _read_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_SAMPLE_BYTES)


def _check_text(head: bytes, path: Path, encoding: str | None) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise _DataError(f"{_quote(path)} is not a text file: it is {what}.")
    has_bom = any(head.startswith(bom) for bom, _ in _BOMS)
    if has_bom or (encoding is not None and codecs.lookup(encoding).name.startswith("utf-16")):
        return
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), *range(14, 27), *range(28, 32)))
    if b"\x00" in head or controls > 0.05 * len(head):
        raise _DataError(
            f"{_quote(path)} is not a text file: it holds binary data (NUL or control bytes). "
            "Expected CSV, TSV or JSON lines text. If it is Parquet, pass format='parquet'; "
            "if it is compressed or a spreadsheet, decompress or export it to CSV first."
        )


def _detect_encoding(head: bytes, path: Path, *, truncated: bool) -> str:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    text_part = head
    if truncated:
        cut = head.rfind(b"\n")
        text_part = head[: cut + 1] if cut > 0 else head
    try:
        text_part.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes

    results = [r for r in from_bytes(text_part) if r.chaos <= _MAX_CHAOS]
    if not results:
        raise _DataError(
            f"Cannot read the text encoding of {_quote(path)}: it is not UTF-8 and no other "
            "encoding decodes it cleanly. Pass encoding= (for example 'latin-1', 'cp1252' "
            "or 'utf-16'), or re-export the file as UTF-8."
        )
    least = min(r.chaos for r in results)
    close = [r for r in results if r.chaos <= least + 0.05]
    if any(set(r.could_be_from_charset) & set(_WESTERN) for r in close):
        # Short samples cannot tell Western from Central European code pages; Western is
        # by far the more common. Latin-1 and cp1252 decode alike outside 0x80-0x9F.
        if any(0x80 <= b <= 0x9F for b in text_part):
            return "cp1252"
        return "latin-1"
    best = min(close, key=lambda r: r.chaos)
    return str(best.encoding)


def _decode_head(head: bytes, encoding: str, path: Path, *, truncated: bool) -> str:
    data = head
    if truncated:
        cut = head.rfind(b"\n")
        data = head[: cut + 1] if cut > 0 else head
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _DataError(
            f"{_quote(path)} is not valid {encoding} text (byte 0x{data[exc.start]:02x} at "
            f"position {exc.start} cannot be decoded). Pass the file's encoding with "
            "encoding=, or leave it out to let mlcycle detect it."
        ) from None
    return text.lstrip("\ufeff")


def _sniff_delimiter(text: str, default: str) -> str:
    lines = text[:_SNIFF_CHARS].splitlines()[:50]
    if len(lines) > 1 and len(text) > _SNIFF_CHARS:
        lines = lines[:-1]  # the last line may be cut
    sample = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
        if dialect.delimiter in _DELIMITERS and _consistent(sample, dialect.delimiter):
            return dialect.delimiter
    except csv.Error:
        pass
    scores = {d: _consistent(sample, d) for d in _DELIMITERS}
    best = max(scores, key=lambda d: scores[d])
    return best if scores[best] else default


def _consistent(sample: str, delimiter: str) -> int:
    """Fields per row when every row of the sample has the same number (> 1), else 0."""
    rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    counts = {len(row) for row in rows}
    return counts.pop() if len(counts) == 1 and rows and len(rows[0]) > 1 else 0


def _header(text: str, delimiter: str) -> list[str]:
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        if row:
            return row
    return []


# -- CSV and TSV -------------------------------------------------------------------------


def _read_csv(
    path: Path,
    fmt: str,
    encoding: str | None,
    delimiter: str | None,
    wanted: list[str] | None,
    decimal: str | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = _read_head(path)
    truncated = path.stat().st_size > len(head)
    _check_text(head, path, encoding)
    enc = encoding or _detect_encoding(head, path, truncated=truncated)
    text = _decode_head(head, enc, path, truncated=truncated)
    if not text.strip():
        raise _DataError(
            f"File {_quote(path)} holds only blank lines. Expected a header row and at least "
            "one row of data."
        )
    sep = delimiter or ("\t" if fmt == "tsv" else _sniff_delimiter(text, ","))
    names = _header(text, sep)
    _check_header(names, sep, path)
    if wanted is not None:
        _check_present(wanted, names, path, what="Column")
    arrow_encoding = "utf8" if codecs.lookup(enc).name in ("utf-8", "ascii") else enc
    read = pacsv.ReadOptions(encoding=arrow_encoding)
    parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert = pacsv.ConvertOptions(include_columns=wanted, strings_can_be_null=True)
    if decimal == ",":  # else "1.234" would be read as 1.234, not as 1234
        convert.decimal_point = ","
    _check_memory(path, _csv_estimate(head, truncated, read, parse, convert, path))
    try:
        # pyarrow re-types a column whose later blocks hold words; it stays text and
        # is reported as mixed below
        table = pacsv.read_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(str(exc), path, enc, sep) from None
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, enc, str(exc)) from None
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise _encoding_error(path, enc, f"column {field.name!r} has bytes that are not text")
    df = table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
    del table
    return df, {"path": str(path), "format": fmt, "encoding": enc, "delimiter": sep}


def _check_header(names: list[str], sep: str, path: Path) -> None:
    if not names:
        raise _DataError(f"File {_quote(path)} has no header row. Expected column names.")
    if len(names) == 1:
        others = {d: names[0].count(d) for d in _DELIMITERS if d != sep and d in names[0]}
        if others:
            likely = max(others, key=lambda d: others[d])
            raise _DataError(
                f"{_quote(path)} reads as a single column named {names[0][:60]!r} with "
                f"delimiter {_DELIMITER_NAMES.get(sep, repr(sep))}, but its header is "
                f"separated by {_DELIMITER_NAMES[likely]}. "
                f"Pass delimiter={_DELIMITER_NAMES[likely]}."
            )
    if all(re.fullmatch(NUMBER, name) for name in names):
        raise _DataError(
            f"The first row of {_quote(path)} looks like data, not column names: "
            f"{_list(names)}. Expected a header row naming the columns: add one as the "
            "first line of the file."
        )
    _check_duplicates(names, str(path))


def _csv_estimate(
    head: bytes, truncated: bool, read: Any, parse: Any, convert: Any, path: Path
) -> int | None:
    """Bytes the table will take in memory, extrapolated from the parsed sample."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    size = path.stat().st_size
    available = _available_memory()
    if available is None or size * 4 < available:
        return None
    data = head[: head.rfind(b"\n") + 1] if truncated else head
    try:
        sample = pacsv.read_csv(
            pa.BufferReader(data), read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return size * 2
    return int(sample.nbytes / max(len(data), 1) * size * 1.3)


def _csv_error(message: str, path: Path, encoding: str, sep: str) -> DataError:
    if "invalid UTF8" in message or "decode" in message.lower():
        return _encoding_error(path, encoding, message)
    found = re.search(r"Expected (\d+) columns, got (\d+): ?(.*)", message)
    delimiter = _DELIMITER_NAMES.get(sep, repr(sep))
    if found:
        expected, got, line = found.groups()
        return _DataError(
            f"A row of {_quote(path)} has {got} fields where the header has {expected} "
            f"(read with delimiter {delimiter}): {line[:80]!r}. Check the delimiter and "
            "that values containing it are quoted; pass delimiter= if it was misdetected."
        )
    return _DataError(
        f"Cannot parse {_quote(path)} as delimited text (delimiter {delimiter}, encoding "
        f"{encoding}): {message.strip().splitlines()[0]}. Check the file, or pass format=, "
        "delimiter= and encoding= explicitly."
    )


def _encoding_error(path: Path, encoding: str, detail: str) -> DataError:
    return _DataError(
        f"{_quote(path)} is not valid {encoding} text beyond the sampled start "
        f"({detail.strip().splitlines()[0][:100]}). Pass the file's encoding with encoding= "
        "(for example 'latin-1' or 'cp1252'), or re-export the file as UTF-8."
    )


# -- Parquet and JSON --------------------------------------------------------------------


def _read_parquet(path: Path, wanted: list[str] | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with path.open("rb") as handle:
        start = handle.read(4)
    if start != b"PAR1":
        hint = "it starts with text: pass format='csv' or 'jsonl'" if start.isascii() else ""
        raise _DataError(
            f"{_quote(path)} is not a Parquet file (no 'PAR1' marker){'; ' + hint if hint else ''}"
            ". Expected a file written by pandas, pyarrow, Spark or another Parquet writer."
        )
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _DataError(
            f"{_quote(path)} is a damaged Parquet file: {exc}. Write it again from its source."
        ) from None
    names = list(parquet.schema_arrow.names)
    _check_duplicates(names, str(path))
    if wanted is not None:
        _check_present(wanted, names, path, what="Column")
    selected = set(wanted or names)
    meta = parquet.metadata
    estimate = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema.split(".")[0] in selected
    )
    _check_memory(path, int(estimate * 1.3))
    table = parquet.read(columns=wanted)
    df = table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
    del table
    return df, {"path": str(path), "format": "parquet", "encoding": None, "delimiter": None}


def _read_json(
    path: Path, fmt: str, encoding: str | None, wanted: list[str] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.json as pajson

    head = _read_head(path)
    truncated = path.stat().st_size > len(head)
    _check_text(head, path, encoding)
    enc = encoding or _detect_encoding(head, path, truncated=truncated)
    text = _decode_head(head, enc, path, truncated=truncated).lstrip()
    if not text:
        raise _DataError(f"File {_quote(path)} holds only blank lines. Expected JSON records.")
    lines = fmt == "jsonl" or not text.startswith("[")
    if lines and not text.startswith("{"):
        raise _DataError(
            f"{_quote(path)} is not JSON lines: the first line does not start with '{{'. "
            "Expected one JSON object per line, or a JSON array of objects."
        )
    _check_memory(path, path.stat().st_size * 2 if lines else path.stat().st_size * 4)
    df: pd.DataFrame | None = None
    if lines and codecs.lookup(enc).name in ("utf-8", "ascii"):
        try:
            table = pajson.read_json(path)
            df = table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
            del table
        except pa.ArrowInvalid:
            df = None  # types change between rows, or a bad line: pandas says which
    if df is None:
        try:
            df = pd.read_json(path, lines=lines, encoding=enc, dtype=False)
        except ValueError as exc:
            raise _DataError(_json_problem(path, enc, lines, exc)) from None
    if not isinstance(df, pd.DataFrame) or df.shape[1] == 0:
        raise _DataError(
            f"{_quote(path)} holds no JSON objects with fields. Expected records such as "
            '{"age": 31, "plan": "pro"}, one per line.'
        )
    if wanted is not None:
        _check_present(wanted, [str(c) for c in df.columns], path, what="Column")
        df = df[wanted]
    return df, {"path": str(path), "format": fmt, "encoding": enc, "delimiter": None}


def _json_problem(path: Path, encoding: str, lines: bool, exc: Exception) -> str:
    if lines:
        with path.open(encoding=encoding, errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    return (
                        f"Line {number} of {_quote(path)} is not valid JSON ({error.msg}): "
                        f"{line.strip()[:80]!r}. Expected one JSON object per line."
                    )
                if not isinstance(record, dict):
                    return (
                        f"Line {number} of {_quote(path)} is not a JSON object: "
                        f"{line.strip()[:80]!r}. Expected one object per line."
                    )
    return f"Cannot read {_quote(path)} as JSON: {exc}. Expected an array of objects."


# -- DataFrames and checks shared by every source ---------------------------------------


def _from_frame(
    frame: pd.DataFrame, wanted: list[str] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    _check_duplicates([str(c) for c in frame.columns], "the DataFrame")
    if wanted is not None:
        _check_present(wanted, [str(c) for c in frame.columns], None, what="Column")
        frame = frame[wanted]
    df = frame.copy(deep=False)  # attrs go on the copy, the caller's frame is left alone
    info = {"path": None, "format": "dataframe", "encoding": None, "delimiter": None}
    return df, info


def _check_duplicates(names: list[str], where: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise SchemaError(
                f"Column name {name!r} appears twice in {_quote(where)} (columns "
                f"{seen[name]} and {position}). Expected unique column names: rename one."
            )
        seen[name] = position


def _check_present(wanted: list[str], names: list[str], path: Path | None, *, what: str) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        where = _quote(path) if path else "the DataFrame"
        hints = [_suggest(c, names) for c in missing]
        raise SchemaError(
            f"{what} {_list(missing)} not found in {where}. "
            f"Its columns: {_list(names)}.{''.join(hints)}"
        )


def _check_target(df: pd.DataFrame, target: str, name: str) -> None:
    names = [str(c) for c in df.columns]
    if target not in names:
        raise SchemaError(
            f"Target column {target!r} is not in {_quote(name)}. "
            f"Its columns: {_list(names)}.{_suggest(target, names)} Pass target= with one of them."
        )


def _suggest(name: str, names: list[str]) -> str:
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def _read_numbers(df: pd.DataFrame, decimal: str | None, *, detect: bool) -> str | None:
    """Text columns of numbers written with ``decimal`` (or detected decimal commas) made
    float, in place; the mark given, else ',' when a column was detected, else None."""
    used = decimal
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        if detect and not decimal_comma_column(series):
            continue
        numbers = parse_numbers(series, decimal or ",")
        if numbers is not None:
            df[column] = numbers
            used = decimal or ","
    return used


def _mixed_type_notes(df: pd.DataFrame, *, strict: bool) -> list[str]:
    notes = []
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
            continue
        offending = mixed_values(series)
        cause = numbers_as_text(series)
        if cause is not None and not (strict and offending is not None):
            notes.append(f"Column {column!r} {cause} It is kept as text.")
            continue
        if offending is None:
            continue
        count, examples = offending
        message = (
            f"Column {column!r} mixes numbers with text: {count} of "
            f"{int(series.notna().sum())} values are not numbers ({_list(examples)})."
        )
        if strict:
            raise SchemaError(
                f"{message} Expected one type per column: fix or blank those values, or "
                "load with strict=False to keep the column as text."
            )
        notes.append(f"{message} The column is kept as text.")
    return notes


def _missing_notes(df: pd.DataFrame, target: str | None) -> list[str]:
    notes = []
    counts = df.isna().sum()
    for position, column in enumerate(df.columns):
        if int(counts.iloc[position]) == len(df):
            notes.append(f"Column {column!r} is empty: every value is missing.")
    if target is not None:
        y = df[target]
        missing = int(y.isna().sum())
        if 0 < missing < len(df):
            notes.append(
                f"Target {target!r} is missing in {missing} of {len(df)} rows; "
                "mlcycle drops those rows before training (it does not impute a target)."
            )
        if missing < len(df) and y.nunique() == 1:
            value = y.dropna().iloc[:1].tolist()[0]
            notes.append(
                f"Target {target!r} has one value ({value!r}) in every row: "
                "a model cannot learn from it."
            )
    return notes


# -- memory ------------------------------------------------------------------------------


def _available_memory() -> int | None:
    """Bytes of memory available now: MemAvailable on Linux, else free pages, else None."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(path: Path, estimate: int | None) -> None:
    available = _available_memory()
    if estimate is None or available is None or estimate <= available:
        return
    raise _DataError(
        f"{_quote(path)} ({_size(path.stat().st_size)} on disk) needs about "
        f"{_size(estimate)} of memory as a table, but only {_size(available)} is available. "
        "Load fewer columns with columns=[...], convert it to Parquet (which reads only the "
        "columns asked for), or split it into smaller files."
    )


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _quote(name: object) -> str:
    text = str(name)
    return text if text == "the DataFrame" else f"'{text}'"


def _list(values: Any, limit: int = 20) -> str:
    items = [str(v) for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
