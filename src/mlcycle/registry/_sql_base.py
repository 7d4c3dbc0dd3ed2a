"""Shared plumbing of the SQL store: engine, transactions with retries, audit events."""

from __future__ import annotations

import json
import math
import os
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from mlcycle.exceptions import BadParameterError, ConflictError, NotFoundError, StoreError
from mlcycle.registry import _tables as t
from mlcycle.registry._db import (
    current_revision,
    ensure_schema,
    make_engine,
    retrying,
    unavailable,
    writer,
)
from mlcycle.registry._entities import (
    Experiment,
)
from mlcycle.registry._names import check_key
from mlcycle.registry._store import MetricPoint, Store

T = TypeVar("T")
_CHUNK = 900  # rows per IN (...) list: below SQLite's variable limit on every version
_PARAM_MAX = 6000


def now_ms() -> int:
    return int(time.time() * 1000)


def _num(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_RUN_ROW = (
    select(t.runs, t.experiments.c.name.label("experiment"))
    .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
    .where(t.runs.c.id == bindparam("run_id"))
)
_END_RUN = (
    update(t.runs)
    .where(t.runs.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), end_time=bindparam("b_end"), error=bindparam("b_error"))
)


class _Batch:
    """Rows for one write of metrics, params and tags, validated before any transaction."""

    def __init__(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint],
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> None:
        self.run_id = run_id
        self.param_rows: list[dict[str, Any]] = []
        for key, value in params.items():
            check_key(key, "param")
            text_value = str(value)
            if len(text_value) > _PARAM_MAX:
                raise BadParameterError(
                    f"Param '{key}' is {len(text_value)} characters long; the limit is "
                    f"{_PARAM_MAX}. Log long values as an artifact instead."
                )
            self.param_rows.append(
                {"run_id": run_id, "key": key, "value": text_value, "value_num": _num(text_value)}
            )
        self.tag_rows = [
            {"run_id": run_id, "key": check_key(k, "tag"), "value": str(v)} for k, v in tags.items()
        ]
        self.metric_rows: list[dict[str, Any]] = []
        self.latest: dict[str, dict[str, Any]] = {}
        for key, point, step, ts in metrics:
            number = float(point)
            nan = math.isnan(number)
            row = {
                "run_id": run_id,
                "key": key,
                "value": None if nan else number,
                "is_nan": nan,
                "step": int(step),
                "timestamp": int(ts),
            }
            self.metric_rows.append(row)
            best = self.latest.get(key)
            if best is None or (row["step"], row["timestamp"]) >= (best["step"], best["timestamp"]):
                self.latest[key] = row


class SqlBase(Store):
    """Engine, transactions and audit for :class:`~mlcycle.registry._sql.SqlStore`."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, create: bool = True) -> None:
        self.url = url
        self._engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self._writer = writer(self._engine)
        self._dialect = self._engine.dialect.name
        engine_ref = weakref.ref(self._engine)

        def _after_fork() -> None:
            engine = engine_ref()
            if engine is not None:
                engine.dispose(close=False)

        os.register_at_fork(after_in_child=_after_fork)
        self._experiments: dict[str, Experiment] = {}  # experiments are never deleted
        self._build_upserts()
        try:
            self._revision = ensure_schema(self._engine, url, create=create)
        except BaseException:
            self._engine.dispose()
            raise

    # -- plumbing -----------------------------------------------------------------------
    def _tx(self, fn: Callable[[Connection], T], what: str, *, write: bool = True) -> T:
        engine = self._writer if write else self._engine

        def attempt() -> T:
            with engine.begin() as conn:
                return fn(conn)

        try:
            return retrying(attempt, what=what)
        except OperationalError as exc:
            raise unavailable(self.url, exc) from exc
        except DBAPIError as exc:
            if isinstance(exc, IntegrityError):
                raise ConflictError(
                    f"Could not complete {what}: it conflicts with stored data."
                ) from exc
            raise StoreError(f"The metadata database failed during {what}: {exc.orig}") from exc

    def _insert(self, table: Any) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @staticmethod
    def _audit(
        conn: Connection, actor: str, action: str, etype: str, eid: str, **details: Any
    ) -> None:
        conn.execute(
            t.audit_events.insert().values(
                at=now_ms(),
                actor=actor,
                action=action,
                entity_type=etype,
                entity_id=eid,
                details=json.dumps(details, sort_keys=True, default=str),
            )
        )

    def schema_version(self) -> str:
        return self._tx(lambda c: current_revision(c) or "none", "reading the schema", write=False)

    def close(self) -> None:
        self._engine.dispose()

    @staticmethod
    def _run_row(conn: Connection, run_id: str) -> Any:
        row = conn.execute(_RUN_ROW, {"run_id": run_id}).first()
        if row is None:
            raise NotFoundError(f"Run '{run_id}' does not exist. List runs with: mlcycle runs")
        return row

    def _build_upserts(self) -> None:
        """Upserts are built once per store: building them per call costs more than running them."""
        self._insert_params = self._insert(t.params).on_conflict_do_nothing()
        stmt = self._insert(t.tags)
        self._upsert_tags = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
        )
        stmt = self._insert(t.latest_metrics)
        lm = t.latest_metrics
        newer = or_(
            stmt.excluded.step > lm.c.step,
            and_(stmt.excluded.step == lm.c.step, stmt.excluded.timestamp >= lm.c.timestamp),
        )
        self._upsert_latest = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": stmt.excluded.value,
                "is_nan": stmt.excluded.is_nan,
                "step": stmt.excluded.step,
                "timestamp": stmt.excluded.timestamp,
            },
            where=newer,
        )
