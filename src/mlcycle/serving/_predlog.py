"""The writers of the prediction, feedback and refusal logs: append-only Parquet.

The format (folders, partition keys, columns and their types) is :mod:`mlcycle.predlog`'s;
this module only writes it. Rows are buffered in memory, turned into Arrow batches by a
background thread twenty times a second and written every ``flush_seconds`` (or sooner when
``flush_rows`` are waiting); each file is written under a temporary name, synced and
renamed, so a reader never sees half a file. :meth:`close` writes what is left: a graceful
stop loses nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from mlcycle.predlog import (
    COLUMNS,
    FeedbackRecord,
    RefusalRecord,
    day_of,
    feedback_schema,
    input_column,
    partition_dir,
    prediction_schema,
    proba_column,
    refusal_schema,
)

__all__ = ["FeedbackLog", "PredictionLog", "RefusalLog"]

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
            "x": _array("x", [1.0, None]),
            "t": _array(COLUMNS.timestamp, [0.0])[:1].take([0, 0]),
        })  # fmt: skip
        pq.write_table(table, pa.BufferOutputStream())
        self._thread = threading.Thread(target=self._loop, name="mlcycle-log", daemon=True)
        self._thread.start()

    def _add(self, key: Key, chunk: dict[str, list[Any]], n: int) -> None:
        entry = (tuple(chunk), list(chunk.values()))
        with self._lock:
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
            except Exception:  # a full disk must not kill the server; the rows stay queued
                logger.exception("could not write the log under %s; will retry", self.root)

    def _convert(self) -> None:
        """Turn the buffered chunks into record batches (one per partition and layout)."""
        import pyarrow as pa

        with self._lock:
            chunks, self._chunks, pending = self._chunks, {}, self._pending
            self._pending = 0
        for key, entries in chunks.items():
            layouts: dict[tuple[str, ...], list[list[list[Any]]]] = {}
            for names, columns in entries:
                layouts.setdefault(names, []).append(columns)
            for names, parts in layouts.items():
                arrays = [
                    _array(name, list(chain.from_iterable(part[j] for part in parts)))
                    for j, name in enumerate(names)
                ]
                batch = pa.RecordBatch.from_arrays(arrays, names=list(names))
                with self._lock:
                    self._batches.setdefault(key, []).append(batch)
        with self._lock:
            self._converted += pending

    def _write_all(self) -> int:
        with self._write_lock:
            with self._lock:
                batches, self._batches, converted = self._batches, {}, self._converted
                self._converted = 0
            written = 0
            try:
                while batches:
                    key, parts = next(iter(batches.items()))
                    self._write(key, parts)
                    written += sum(b.num_rows for b in parts)
                    del batches[key]
            except BaseException:
                with self._lock:  # put back what was not written, ahead of newer rows
                    for key, parts in batches.items():
                        self._batches[key] = parts + self._batches.get(key, [])
                    self._converted += converted - written
                raise
            self.rows_written += written
            return written

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        self._convert()
        return self._write_all()

    def _write(self, key: Key, batches: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pa.Table.from_batches([b]) for b in batches]
        table = (
            pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        )
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
        """Stop the thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


@functools.cache
def _fixed_types() -> dict[str, Any]:
    """The Arrow type of each fixed column of the logs (the contract's schemas)."""
    schemas = (prediction_schema(), feedback_schema(), refusal_schema())
    return {f.name: f.type for schema in schemas for f in schema}


def _array(name: str, values: list[Any]) -> Any:
    import pyarrow as pa

    if name == COLUMNS.timestamp:  # seconds since the epoch, as time.time() gave them
        millis = (np.asarray(values, dtype=np.float64) * 1000).astype(np.int64)
        return pa.array(millis).cast(pa.timestamp("ms", tz="UTC"))
    fixed = _fixed_types().get(name)
    try:
        return pa.array(values, type=fixed, from_pandas=True)  # NaN is a missing value
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep them as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class PredictionLog(_ParquetAppender):
    """The columnar log of every (sampled) prediction the server makes."""

    def __init__(
        self,
        root: Path,
        *,
        sample: float = 1.0,
        flush_seconds: float = 5.0,
        flush_rows: int = 100_000,
        seed: int | None = None,
    ) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=flush_rows)
        self.sample = sample
        self._random = random.Random(seed)

    def sampled(self) -> bool:
        """Whether to log the next request (all of them at ``sample=1``)."""
        return self.sample >= 1.0 or self._random.random() < self.sample

    def append(
        self,
        *,
        model: str,
        version: int,
        classes: Sequence[Any] | None,
        requests: Sequence[tuple[str, int, float, str | None, str]],
        columns: dict[str, list[Any]],
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
        timestamp: float,
        keep: Sequence[bool] | None = None,
        anomaly: np.ndarray | None = None,
    ) -> None:
        """Log one scored batch: ``requests`` holds (request id, rows, latency in ms,
        alias, role) for each request in row order; ``keep`` marks the sampled ones."""
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
        self._add((model, version, day_of(timestamp)), chunk, n)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Records' rows (one dict each, the same keys) as one list per column; the timestamp
    as seconds since the epoch, as the appender takes it."""
    chunk = {name: [row[name] for row in rows] for name in rows[0]}
    chunk[COLUMNS.timestamp] = [moment.timestamp() for moment in chunk[COLUMNS.timestamp]]
    return chunk


class FeedbackLog(_ParquetAppender):
    """True labels sent back for earlier predictions, joined with them by ``prediction_id``."""

    def __init__(self, root: Path, *, flush_seconds: float = 5.0) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=10_000)

    def append(self, *, model: str, records: Sequence[FeedbackRecord]) -> None:
        """Log the labels of one request (their day is the first record's)."""
        if records:
            day = day_of(records[0].timestamp)
            self._add((model, None, day), _columns([r.to_row() for r in records]), len(records))


class RefusalLog(_ParquetAppender):
    """Requests the server refused for their rows (422), counted per issue code and column."""

    convert_seconds = 1.0  # refusals are rare: its thread wakes once a second, not 20 times

    def __init__(self, root: Path, *, flush_seconds: float = 5.0) -> None:
        super().__init__(root, flush_seconds=flush_seconds, flush_rows=10_000)

    def append(self, *, model: str, version: int, record: RefusalRecord) -> None:
        self._add((model, version, day_of(record.timestamp)), _columns([record.to_row()]), 1)
