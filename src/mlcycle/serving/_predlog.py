"""The writers of the prediction, feedback and refusal logs: append-only Parquet.

The format (folders, partition keys, columns and their types) is :mod:`mlcycle.predlog`'s;
this module only writes it. Rows are buffered in memory, turned into Arrow batches by a
background thread twenty times a second and written every ``flush_seconds`` (or sooner when
``flush_rows`` are waiting); each file is written under a temporary name, synced and
renamed, so a reader never sees half a file. :meth:`close` writes what is left: a graceful
stop loses nothing.

Every batch is cast to its partition's one layout (:func:`mlcycle.predlog.prediction_layout`
for a model version, the feedback and refusal schemas otherwise), so two batches of one
partition always concatenate. Rows that still cannot be written (a value that does not fit
its column, a failing disk) are set aside once as JSON lines next to their partition and
logged; they are never retried, so they never hold back the rows after them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.predlog import (
    COLUMNS,
    FLUSH_SECONDS,
    QUARANTINE_PREFIX,
    FeedbackRecord,
    RefusalRecord,
    day_of,
    feedback_schema,
    input_column,
    partition_dir,
    prediction_layout,
    proba_column,
    refusal_schema,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from mlcycle.schema import Schema

__all__ = ["FeedbackLog", "PredictionLog", "RefusalLog", "close_logs"]

logger = logging.getLogger("mlcycle.serve")

Key = tuple[str, int | None, str]
Chunk = tuple[tuple[str, ...], list[list[Any]]]  # column names, one list of values each


class _ParquetAppender:
    """Buffers chunks of rows per partition; a thread turns them into Arrow record batches
    every ``convert_seconds`` (small, frequent holds of the GIL, so requests are not held
    up) and writes each partition's batches as one Parquet file every ``flush_seconds``."""

    convert_seconds = 0.05

    def __init__(self, root: Path, *, flush_seconds: float, flush_rows: int) -> None:
        self.root = root
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.rows_written = 0
        self.files_written = 0
        self.rows_set_aside = 0
        """Rows that could not be written to the log, kept as JSON lines beside it."""
        self.rows_lost = 0
        """Rows that could be neither written nor set aside (the disk refused both)."""
        self._layouts: dict[Key, pa.Schema] = {}
        self._chunks: dict[Key, list[Chunk]] = {}
        self._batches: dict[Key, list[Any]] = {}
        self._pending = 0
        self._converted = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # the first conversion and write load code paths (~0.2 s with the GIL held): pay
        # for them at start-up, not in the middle of the first requests
        table = pa.table({
            "x": _array("x", pa.float64(), [1.0, None]),
            "t": _array(COLUMNS.timestamp, pa.timestamp("ms", tz="UTC"), [0.0])[:1].take([0, 0]),
        })  # fmt: skip
        pq.write_table(table, pa.BufferOutputStream())
        self._thread = threading.Thread(target=self._loop, name="mlcycle-log", daemon=True)
        self._thread.start()

    @property
    def queued_rows(self) -> int:
        """Rows taken but not written yet."""
        with self._lock:
            return self._pending + self._converted

    def _add(self, key: Key, layout: pa.Schema, chunk: dict[str, list[Any]], n: int) -> None:
        entry = (tuple(chunk), list(chunk.values()))
        with self._lock:
            self._layouts.setdefault(key, layout)
            self._chunks.setdefault(key, []).append(entry)
            self._pending += n
            full = self._pending + self._converted >= self.flush_rows
        if full:
            self._wake.set()

    def _loop(self) -> None:
        last_write = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(self.convert_seconds)
            self._wake.clear()
            try:
                self._convert()
                if (
                    time.monotonic() - last_write >= self.flush_seconds
                    or self._converted >= self.flush_rows
                ):
                    self._write_all()
                    last_write = time.monotonic()
            except Exception:  # the writer thread must outlive a bug
                logger.exception("the log writer under %s failed once", self.root)

    def _convert(self) -> None:
        """Turn the buffered chunks into record batches of their partition's layout (one per
        partition and set of columns); rows that do not fit it are set aside."""
        with self._lock:
            chunks, self._chunks, pending = self._chunks, {}, self._pending
            self._pending = 0
        unfit = 0
        for key, entries in chunks.items():
            groups: dict[tuple[str, ...], list[list[list[Any]]]] = {}
            for names, columns in entries:
                groups.setdefault(names, []).append(columns)
            for names, parts in groups.items():
                batches, unfit_parts = self._fit(key, names, parts)
                with self._lock:
                    self._batches.setdefault(key, []).extend(batches)
                unfit += unfit_parts
        with self._lock:
            self._converted += pending - unfit

    def _fit(
        self, key: Key, names: tuple[str, ...], parts: list[list[list[Any]]]
    ) -> tuple[list[Any], int]:
        """The chunks ``parts`` (same columns) as record batches of the partition's layout:
        one batch for all, or when that fails one per chunk, the chunks that do not fit set
        aside (one bad request never takes its neighbours with it). Also the rows set aside."""
        layout = self._layouts[key]
        merged = [list(chain.from_iterable(p[j] for p in parts)) for j in range(len(names))]
        try:
            return [_batch(layout, names, merged)], 0
        except (ValueError, TypeError):  # _Unfit, or a value no conversion expected
            pass
        batches, unfit = [], 0
        for part in parts:
            try:
                batches.append(_batch(layout, names, part))
            except (ValueError, TypeError) as exc:
                rows = _chunk_rows(names, part)
                unfit += len(rows)
                self._set_aside(key, rows, str(exc))
        return batches, unfit

    def _write_all(self) -> int:
        import pyarrow as pa

        with self._write_lock:
            with self._lock:
                batches, self._batches = self._batches, {}
                self._converted = 0
            written = 0
            for key, parts in batches.items():
                try:
                    self._write(key, parts)
                except Exception as exc:  # a full disk must not kill the server
                    self._set_aside(key, pa.Table.from_batches(parts).to_pylist(), repr(exc))
                    continue
                written += sum(b.num_rows for b in parts)
            self.rows_written += written
            return written

    def _set_aside(self, key: Key, rows: list[dict[str, Any]], reason: str) -> None:
        """Keep rows the log cannot take as JSON lines in their partition's folder (named so
        that readers of the log skip them), and say where; never retried."""
        folder = partition_dir(self.root, *key)
        path = folder / f"{QUARANTINE_PREFIX}{time.time_ns()}-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(_plain(row), default=str) + "\n" for row in rows)
                handle.flush()
                os.fsync(handle.fileno())
        except (OSError, TypeError, ValueError) as exc:
            self.rows_lost += len(rows)
            logger.error(
                "could not write %d rows of the log under %s (%s) nor set them aside in %s "
                "(%s): they are lost", len(rows), self.root, reason, path, exc,
            )  # fmt: skip
            return
        self.rows_set_aside += len(rows)
        logger.error(
            "could not write %d rows of the log under %s (%s); they are set aside in %s",
            len(rows), self.root, reason, path,
        )  # fmt: skip

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        self._convert()
        return self._write_all()

    def _write(self, key: Key, batches: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_batches(batches)  # one layout per partition: no type to unify
        folder = partition_dir(self.root, *key)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        tmp = folder / f".{stem}.parquet.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{stem}.parquet")
        self.files_written += 1

    def close(self) -> None:
        """Stop the thread and write what is left; :class:`OSError` when some rows could be
        neither written nor set aside while the log was open (each was logged)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        if self.rows_lost:
            raise OSError(
                f"{self.rows_lost} rows of the log under {self.root} could be neither written "
                "nor set aside; the errors logged say why."
            )


def close_logs(logs: Iterable[_ParquetAppender | None]) -> list[Exception]:
    """Close every log, each even when closing another failed; the errors, in order."""
    errors: list[Exception] = []
    for log in logs:
        if log is None:
            continue
        try:
            log.close()
        except Exception as exc:  # the next log must still write what it holds
            errors.append(exc)
    return errors


class _Unfit(ValueError):
    """Rows whose values do not fit their partition's layout."""


def _batch(layout: pa.Schema, names: Sequence[str], columns: list[list[Any]]) -> pa.RecordBatch:
    """The rows as a record batch with exactly ``layout``'s columns and types (null where
    the rows lack a column), or :class:`_Unfit` naming the column that does not fit."""
    import pyarrow as pa

    given = dict(zip(names, columns, strict=True))
    unknown = [name for name in given if layout.get_field_index(name) < 0]
    if unknown:
        raise _Unfit(f"columns outside the log's layout: {', '.join(unknown)}")
    n = len(columns[0]) if columns else 0
    arrays = [
        _array(f.name, f.type, given[f.name]) if f.name in given else pa.nulls(n, f.type)
        for f in layout
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=layout)


def _array(name: str, kind: pa.DataType, values: list[Any]) -> pa.Array:
    """``values`` as an Arrow array of type ``kind``: any value converts where nothing is
    lost (1.0 to an int64 1, 1 to text "1"); :class:`_Unfit` otherwise."""
    import pyarrow as pa

    if name == COLUMNS.timestamp:  # seconds since the epoch, as time.time() gave them
        millis = (np.asarray(values, dtype=np.float64) * 1000).astype(np.int64)
        return pa.array(millis).cast(kind)
    try:
        return pa.array(values, type=kind, from_pandas=True)  # NaN is a missing value
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    if pa.types.is_string(kind):  # text holds any value: categories sent as numbers
        return pa.array([None if _missing(v) else str(v) for v in values], type=kind)
    try:  # a safe cast: 1.0 becomes 1, 1.5 is refused
        return pa.array(values, from_pandas=True).cast(kind)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise _Unfit(f"column '{name}' does not fit its type {kind}: {exc}") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row for JSON: NaN as null (JSON has no NaN)."""
    return {name: None if _missing(value) else value for name, value in row.items()}


def _chunk_rows(names: Sequence[str], columns: list[list[Any]]) -> list[dict[str, Any]]:
    """Buffered columns as rows, the timestamp as a UTC date-time (it is buffered as
    seconds since the epoch)."""
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    for row in rows:
        if COLUMNS.timestamp in row:
            row[COLUMNS.timestamp] = datetime.fromtimestamp(row[COLUMNS.timestamp], UTC)
    return rows


class PredictionLog(_ParquetAppender):
    """The columnar log of every (sampled) prediction the server makes."""

    def __init__(
        self,
        root: Path,
        *,
        sample: float = 1.0,
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = 100_000,
        seed: int | None = None,
    ) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=flush_rows)
        self.sample = sample
        self._random = random.Random(seed)
        self._version_layouts: dict[tuple[str, int], pa.Schema] = {}

    def sampled(self) -> bool:
        """Whether to log the next request (all of them at ``sample=1``)."""
        return self.sample >= 1.0 or self._random.random() < self.sample

    def append(
        self,
        *,
        model: str,
        version: int,
        schema: Schema,
        classes: Sequence[Any] | None,
        requests: Sequence[tuple[str, int, float, str | None, str]],
        columns: dict[str, list[Any]],
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
        timestamp: float,
        keep: Sequence[bool] | None = None,
        anomaly: np.ndarray | None = None,
    ) -> None:
        """Log one scored batch of a version whose input ``schema`` (and ``classes``) set its
        columns' types: ``requests`` holds (request id, rows, latency in ms, alias, role)
        for each request in row order; ``keep`` marks the sampled ones."""
        if keep is not None and not all(keep):
            rows = [k for (_, n, *_), kept in zip(requests, keep, strict=True) for k in [kept] * n]
            requests = [r for r, kept in zip(requests, keep, strict=True) if kept]
            if not requests:
                return
            positions = np.flatnonzero(rows)
            columns = {name: [values[i] for i in positions] for name, values in columns.items()}
            predictions = predictions[positions]
            probabilities = None if probabilities is None else probabilities[positions]
            anomaly = None if anomaly is None else anomaly[positions]
        n = len(predictions)
        c = COLUMNS
        chunk: dict[str, list[Any]] = {
            c.prediction_id: [f"{rid}-{i}" for rid, count, *_ in requests for i in range(count)],
            c.request_id: [rid for rid, count, *_ in requests for _ in range(count)],
            c.timestamp: [timestamp] * n,
            c.alias: [a for _, count, _, a, _ in requests for _ in range(count)],
            c.role: [r for _, count, _, _, r in requests for _ in range(count)],
            c.latency_ms: [ms for _, count, ms, *_ in requests for _ in range(count)],
        }
        for name, values in columns.items():
            chunk[input_column(name)] = values
        if classes is None:
            values = predictions.astype(float).tolist()
            chunk[c.prediction] = [repr(v) for v in values]
            chunk[c.prediction_value] = values
        else:
            chunk[c.prediction] = [str(v) for v in predictions.tolist()]
            chunk[c.prediction_value] = [None] * n
            if probabilities is not None:
                for j, label in enumerate(classes):
                    chunk[proba_column(label)] = probabilities[:, j].tolist()
        if anomaly is not None:
            chunk[c.anomaly_score] = anomaly.tolist()
        layout = self._version_layouts.get((model, version))
        if layout is None:
            layout = self._version_layouts[(model, version)] = prediction_layout(schema, classes)
        self._add((model, version, day_of(timestamp)), layout, chunk, n)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Records' rows (one dict each, the same keys) as one list per column; the timestamp
    as seconds since the epoch, as the appender takes it."""
    chunk = {name: [row[name] for row in rows] for name in rows[0]}
    chunk[COLUMNS.timestamp] = [moment.timestamp() for moment in chunk[COLUMNS.timestamp]]
    return chunk


class FeedbackLog(_ParquetAppender):
    """True labels sent back for earlier predictions, joined with them by ``prediction_id``."""

    def __init__(self, root: Path, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=10_000)

    def append(self, *, model: str, records: Sequence[FeedbackRecord]) -> None:
        """Log the labels of one request (their day is the first record's)."""
        if records:
            rows = _columns([r.to_row() for r in records])
            key = (model, None, day_of(records[0].timestamp))
            self._add(key, feedback_schema(), rows, len(records))


class RefusalLog(_ParquetAppender):
    """Requests the server refused for their rows (422), counted per issue code and column."""

    convert_seconds = 1.0  # refusals are rare: its thread wakes once a second, not 20 times

    def __init__(self, root: Path, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=10_000)

    def append(self, *, model: str, version: int, record: RefusalRecord) -> None:
        key = (model, version, day_of(record.timestamp))
        self._add(key, refusal_schema(), _columns([record.to_row()]), 1)
