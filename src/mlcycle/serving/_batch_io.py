"""Reading and writing the files of batch scoring, one chunk at a time.

Readers give :class:`Chunk` objects: every input column as read (for the output) and the
schema's features with their values as they are in the file (for :meth:`Schema.check`).
CSV and TSV are read by pyarrow in blocks, every column as text; a feature's cells are then
read as the schema's type says, and a cell that does not read stays text, so the schema
reports "'abc' is not a number" where a reader would have made NaN. Parquet is read by
record batches in the file's own types; JSON lines by records, whose values pass as parsed.

Writers append chunk by chunk under a temporary name in the output's folder and rename the
file into place on :meth:`FileSink.commit`: a failed run leaves no half file behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcycle.exceptions import DataError, SchemaError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlcycle.schema import Column, Schema

__all__ = [
    "OUTPUT_FORMATS",
    "Chunk",
    "ErrorsSink",
    "FileSink",
    "MemorySink",
    "Sink",
    "Source",
    "check_duplicates",
    "errors_path",
    "input_format",
    "open_source",
    "output_format",
]

OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl"}
"""Output formats by file suffix."""

_INPUT_FORMATS = {
    **OUTPUT_FORMATS,
    ".txt": "csv",
    ".tab": "tsv",
    ".pq": "parquet",
    ".ndjson": "jsonl",
}
_SAMPLE_BYTES = 1 << 20
_MAGIC = {
    b"PAR1": "a Parquet file: give it a .parquet suffix",
    b"\x1f\x8b": "gzip-compressed: decompress it first (gunzip)",
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one): export the sheet to CSV",
    b"BZh": "bzip2-compressed: decompress it first (bunzip2)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed: decompress it first (unzstd)",
}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def errors_path(output: str | os.PathLike[str]) -> Path:
    """Where the bad rows of a run writing ``output`` are listed: ``<stem>.errors.csv``."""
    out = Path(output)
    return out.with_name(f"{out.stem}.errors.csv")


def input_format(path: Path) -> str:
    """The format of an input file from its suffix, or a DataError listing the known ones."""
    fmt = _INPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise DataError(
            f"Cannot tell the format of '{path}': it has {what}. Batch scoring reads "
            f"{', '.join(sorted(_INPUT_FORMATS))}; convert the file to CSV or Parquet."
        )
    return fmt


def output_format(path: Path) -> str:
    """The format of the output from its suffix (see :data:`OUTPUT_FORMATS`)."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise DataError(
            f"Cannot write scores to '{path}': it has {what}. "
            f"Give the output one of: {', '.join(OUTPUT_FORMATS)}."
        )
    return fmt


def check_duplicates(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError(
                f"Column name {name!r} appears twice in {where}. Expected unique column "
                "names: rename one."
            )
        seen.add(name)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Rows of the input: as read for the output, and their features for the checks."""

    table: pa.Table
    """Every input column, as read: what the output copies."""
    features: pd.DataFrame
    """The schema's features present in the input, values as read: what is checked."""


class Source:
    """One input read in chunks of ``chunk_rows`` rows (the last may be shorter), in order.

    ``names`` (the columns) and ``where`` (the input as messages quote it) are known once
    it is open; ``chunks`` is iterated once; every problem reading it is a DataError.
    Progress is ``done(rows)`` out of ``total``: rows (estimated from the file size for
    CSV), or bytes for JSON lines.
    """

    names: list[str]
    where: str
    total: int | None = None

    def chunks(self) -> Iterator[Chunk]:
        raise NotImplementedError

    def done(self, rows: int) -> int:
        return rows

    def close(self) -> None:
        return None


@contextlib.contextmanager
def open_source(path: Path, schema: Schema, chunk_rows: int) -> Iterator[Source]:
    reader: Source
    fmt = input_format(path)
    if fmt in ("csv", "tsv"):
        reader = _TextSource(path, fmt, schema, chunk_rows)
    elif fmt == "parquet":
        reader = _ParquetSource(path, schema, chunk_rows)
    else:
        reader = _JsonLinesSource(path, schema, chunk_rows)
    try:
        yield reader
    finally:
        reader.close()


def _rechunk(batches: Iterator[Any], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last one shorter) from batches of any size."""
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


def _check_text(head: bytes, where: str) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise DataError(f"{where} is not a text file: it is {what}.")
    if b"\x00" in head:
        raise DataError(
            f"{where} is not a text file: it holds binary data (NUL bytes). Expected CSV, TSV "
            "or JSON lines text, or Parquet with a .parquet suffix."
        )


def _not_utf8(where: str, detail: str) -> DataError:
    return DataError(
        f"{where} is not UTF-8 text ({detail}). Batch scoring reads UTF-8: convert the file "
        "first (for example iconv -f cp1252 -t utf-8), or re-export it as UTF-8."
    )


class _TextSource(Source):
    """CSV or TSV read by pyarrow in blocks, every column as text."""

    def __init__(self, path: Path, fmt: str, schema: Schema, chunk_rows: int) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.where, self.schema, self.chunk_rows = f"'{path}'", schema, chunk_rows
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
        _check_text(head, self.where)
        if len(head) == _SAMPLE_BYTES and b"\n" in head:
            head = head[: head.rfind(b"\n") + 1]
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _not_utf8(self.where, f"byte 0x{head[exc.start]:02x} at {exc.start}") from None
        if not text.strip():
            raise DataError(f"File {self.where} holds only blank lines. Expected a header row.")
        first = text.lstrip("\n\r").splitlines()[0]
        sep = "\t" if fmt == "tsv" else _delimiter(first)
        self.names = next(csv.reader([first], delimiter=sep))
        check_duplicates(self.names, self.where)
        row_bytes = len(head) / max(text.count("\n"), 1)
        self.total = max(round(size / row_bytes) - 1, 1)  # rows, estimated from the sample
        block = int(row_bytes * chunk_rows * 1.2)
        self._stream = pa.OSFile(str(path))
        try:
            self._reader = pacsv.open_csv(
                self._stream,
                read_options=pacsv.ReadOptions(block_size=min(max(block, 1 << 20), 64 << 20)),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(self.names, pa.string()), strings_can_be_null=True
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            self._stream.close()
            raise self._error(str(exc), sep) from None
        self.sep = sep
        if self._reader.schema.names != self.names:
            self.close()
            raise DataError(
                f"Cannot read the header of {self.where}: pyarrow reads "
                f"{self._reader.schema.names} where the first line is {self.names}."
            )

    def chunks(self) -> Iterator[Chunk]:
        import pyarrow as pa

        def batches() -> Iterator[Any]:
            while True:
                try:
                    yield self._reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                    raise self._error(str(exc), self.sep) from None

        columns = {f: self.schema.column(f) for f in self.schema.feature_names}
        for table in _rechunk(batches(), self.chunk_rows):
            # a delimiter other than ',' leaves the comma free to be the decimal mark
            commas = self.sep != ","
            features = {
                n: _from_text(table[n], columns[n], decimal_comma=commas)
                for n in table.column_names
                if n in columns
            }
            yield Chunk(table, _frame(features, table.num_rows))

    def close(self) -> None:
        self._stream.close()

    def _error(self, message: str, sep: str) -> DataError:
        import re

        if "UTF8" in message or "decode" in message.lower():
            return _not_utf8(self.where, message.strip().splitlines()[0][:100])
        found = re.search(r"Expected (\d+) columns, got (\d+): ?(.*)", message)
        if found:
            expected, got, line = found.groups()
            return DataError(
                f"A row of {self.where} has {got} fields where the header has {expected} "
                f"(delimiter {sep!r}): {line[:80]!r}. Check the delimiter and that values "
                "containing it are quoted. Nothing was written."
            )
        return DataError(
            f"Cannot read {self.where} as delimited text (delimiter {sep!r}): "
            f"{message.strip().splitlines()[0]}. Nothing was written."
        )


def _delimiter(header: str) -> str:
    """The header line's delimiter: a comma if it has one, else its most frequent of ; tab |."""
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in ";\t|"}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _texts(array: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(array.to_numpy(zero_copy_only=False), dtype=object)


def _from_text(array: Any, column: Column, *, decimal_comma: bool = False) -> pd.Series:
    """A CSV column's cells as the schema's type reads them; cells that do not read stay text.

    So the schema reports a bad cell with its own value ("'abc' is not a number") instead
    of a reader turning it into NaN.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.dtype
    if kind in ("number", "integer"):
        for target in (pa.int64(), pa.float64()) if kind == "integer" else (pa.float64(),):
            try:
                return pd.Series(pc.cast(array, target).to_numpy(zero_copy_only=False))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        text = _texts(array)
        numbers = pd.to_numeric(text, errors="coerce")
        unread = (numbers.isna() & text.notna()).to_numpy(dtype=bool)
        if decimal_comma and unread.any():
            from mlcycle.data import decimal_comma_values

            numbers[unread] = decimal_comma_values(text[unread])
            unread = (numbers.isna() & text.notna()).to_numpy(dtype=bool)
        values = numbers.to_numpy(dtype=object)
        values[unread] = text.to_numpy()[unread]
        return pd.Series(values, dtype=object)
    text = _texts(array)
    if kind == "boolean":
        lowered = text.str.lower()
        values = text.to_numpy(copy=True)
        values[lowered.isin(_TRUE).to_numpy(dtype=bool)] = True
        values[lowered.isin(_FALSE).to_numpy(dtype=bool)] = False
        return pd.Series(values, dtype=object)
    if kind == "category" and column.categories:
        # Categories learnt from numbers or booleans are matched by their written form.
        spelled: dict[str, Any] = {}
        for value in column.categories:
            if isinstance(value, bool):
                spelled.update({str(value): value, str(value).lower(): value})
            elif isinstance(value, int | float):
                spelled[str(value)] = value
                if isinstance(value, float) and value.is_integer():
                    spelled[str(int(value))] = value
        if spelled:
            words = [c for c in column.categories if isinstance(c, str)]
            mask = (text.isin(list(spelled)) & ~text.isin(words)).to_numpy(dtype=bool)
            values = text.to_numpy(copy=True)
            values[mask] = [spelled[v] for v in values[mask]]
            return pd.Series(values, dtype=object)
    return text


def _frame(columns: dict[str, Any], rows: int) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


class _ParquetSource(Source):
    """Parquet read by record batches, in the file's own types."""

    def __init__(self, path: Path, schema: Schema, chunk_rows: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.where, self.schema, self.chunk_rows = f"'{path}'", schema, chunk_rows
        with path.open("rb") as handle:
            start = handle.read(4)
        if start != b"PAR1":
            hint = (
                "; it starts with text: give it a .csv or .jsonl suffix" if start.isascii() else ""
            )
            raise DataError(f"{self.where} is not a Parquet file (no 'PAR1' marker){hint}.")
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(
                f"{self.where} is a damaged Parquet file: {exc}. Write it again from its source."
            ) from None
        self.names = list(self._file.schema_arrow.names)
        self.total = self._file.metadata.num_rows

    def chunks(self) -> Iterator[Chunk]:
        import pyarrow as pa

        features = set(self.schema.feature_names)
        try:
            batches = self._file.iter_batches(batch_size=self.chunk_rows)
            for table in _rechunk(batches, self.chunk_rows):
                present = [n for n in table.column_names if n in features]
                frame = table.select(present).to_pandas(date_as_object=False)
                yield Chunk(table, frame.reset_index(drop=True))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{self.where} is a damaged Parquet file: {exc}.") from None

    def close(self) -> None:
        self._file.close()


class _JsonLinesSource(Source):
    """JSON lines, one object per line; the first chunk's records name the columns."""

    def __init__(self, path: Path, schema: Schema, chunk_rows: int) -> None:
        self.where, self.schema, self.chunk_rows = f"'{path}'", schema, chunk_rows
        self.total = path.stat().st_size
        self._handle = path.open("rb")
        _check_text(self._handle.read(_SAMPLE_BYTES), self.where)
        self._handle.seek(0)
        if self._handle.read(3) != b"\xef\xbb\xbf":
            self._handle.seek(0)
        self._line = 0
        self._first = self._records()
        self.names = list(dict.fromkeys(key for record in self._first for key in record))
        if not self.names:
            self.close()
            raise DataError(
                f"{self.where} holds no JSON objects with fields. Expected records such as "
                '{"age": 31, "plan": "pro"}, one per line.'
            )

    def _records(self) -> list[dict[str, Any]]:
        import orjson

        records: list[dict[str, Any]] = []
        while len(records) < self.chunk_rows:
            line = self._handle.readline()
            if not line:
                break
            self._line += 1
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(
                    f"Line {self._line} of {self.where} is not valid JSON ({exc}): "
                    f"{line.strip()[:80]!r}. Expected one JSON object per line. Nothing was "
                    "written."
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"Line {self._line} of {self.where} is not a JSON object: "
                    f"{line.strip()[:80]!r}. Expected one object per line. Nothing was written."
                )
            records.append(record)
        return records

    def chunks(self) -> Iterator[Chunk]:
        import pyarrow as pa

        known, features = set(self.names), set(self.schema.feature_names)
        records, self._first = self._first, []
        while records:
            for record in records:
                if not known.issuperset(record):
                    new = sorted(set(record) - known)
                    raise DataError(
                        f"A record of {self.where} before line {self._line + 1} has "
                        f"{', '.join(map(repr, new))}, which the first {self.chunk_rows:,} "
                        "records do not: the output's columns are fixed by the first chunk. "
                        "Give a larger chunk_rows (--chunk-rows) or convert the file to Parquet."
                    )
            columns = {n: [record.get(n) for record in records] for n in self.names}
            table = pa.table({n: _arrow_column(values) for n, values in columns.items()})
            checked = {n: _objects(v) for n, v in columns.items() if n in features}
            yield Chunk(table, _frame(checked, len(records)))
            records = self._records()

    def done(self, rows: int) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


def _objects(values: list[Any]) -> pd.Series:
    import numpy as np
    import pandas as pd

    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object)


def _arrow_column(values: list[Any]) -> pa.Array:
    """JSON values as one Arrow column; a column mixing types, lists or objects as JSON text."""
    import orjson
    import pyarrow as pa

    scalars = (str, int, float, bool)
    if all(v is None or isinstance(v, scalars) for v in values):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array(
        [
            None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
            for v in values
        ]
    )


# -- writing ---------------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...


class FileSink:
    """The output, written chunk by chunk under a temporary name; ``commit`` renames it.

    ``dictionary`` names the columns worth dictionary-encoding in Parquet (few distinct
    values: categories, labels); the others are written plain, which for numbers read as
    text or ids is both faster and smaller than a dictionary that overflows.
    """

    def __init__(self, path: Path, fmt: str, dictionary: list[str] | None = None) -> None:
        self.path, self.fmt, self.dictionary = path, fmt, dictionary
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._handle: Any = None
        self._writer: Any = None
        self._schema: Any = None

    def write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self._write_parquet(table)
            return
        first = self._handle is None
        if first:
            self._handle = self.partial.open("wb")
        if self.fmt == "jsonl":
            import orjson

            rows = table.to_pylist()
            self._handle.write(b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows))
            return
        import pyarrow as pa
        import pyarrow.csv as pacsv

        for i, field in enumerate(table.schema):  # CSV has no dictionaries: write the values
            if pa.types.is_dictionary(field.type):
                table = table.set_column(i, field.name, table[i].cast(field.type.value_type))
        sep = "\t" if self.fmt == "tsv" else ","
        try:
            pacsv.write_csv(
                table, self._handle, pacsv.WriteOptions(include_header=first, delimiter=sep)
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"The scores cannot be written as {self.fmt.upper()} ({exc}): an input column "
                "holds lists or records. Write .parquet or .jsonl, or leave it out with keep."
            ) from None

    def _write_parquet(self, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            # An all-missing first chunk must not fix a column's type to null.
            fields = [
                f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema
            ]
            self._schema = pa.schema(fields)
            encoded: bool | list[str] = True
            if self.dictionary is not None:
                already = [f.name for f in fields if pa.types.is_dictionary(f.type)]
                encoded = [*self.dictionary, *already]
            self._writer = pq.ParquetWriter(self.partial, self._schema, use_dictionary=encoded)
        try:
            table = table.cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"An input column changes type between chunks ({exc}), which a Parquet "
                "output cannot hold. Write .csv or .jsonl, or fix the input's types."
            ) from None
        self._writer.write_table(table)

    def commit(self) -> None:
        self._close()
        if not self.partial.exists():  # nothing was written: an empty table still has a header
            self.partial.touch()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class ErrorsSink:
    """The errors file (row, column, code, message), created at the first bad row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._handle: Any = None
        self._csv: Any = None

    def write(self, rows: list[tuple[int, str, str, str]]) -> None:
        if self._handle is None:
            self._handle = self.partial.open("w", encoding="utf-8", newline="")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(("row", "column", "code", "message"))
        self._csv.writerows(rows)

    def commit(self) -> None:
        if self._handle is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a stale list would contradict this run's output
            return
        self._handle.close()
        self._handle = None
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()


class MemorySink:
    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.tables.append(table)

    def frame(self) -> pd.DataFrame:
        import pyarrow as pa

        return pa.concat_tables(self.tables, promote_options="permissive").to_pandas()
