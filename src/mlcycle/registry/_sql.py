"""SQLAlchemy implementation of :class:`~mlcycle.registry._store.Store` (SQLite, PostgreSQL)."""

from __future__ import annotations

import base64
import json
import math
import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from mlcycle.exceptions import ConflictError, FilterError, NotFoundError, StoreError
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
    AliasEvent,
    Artifact,
    AuditEvent,
    Experiment,
    Metric,
    Model,
    ModelVersion,
    Run,
    RunPage,
    RunStatus,
)
from mlcycle.registry._filter import And, Compare, Node, Not, Or, parse_filter, parse_order
from mlcycle.registry._names import check_alias, check_experiment_name, check_key, check_model_name
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
        self.param_rows = []
        for key, value in params.items():
            check_key(key, "param")
            text_value = str(value)
            if len(text_value) > _PARAM_MAX:
                raise StoreError(
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
        for key, value, step, ts in metrics:
            number = float(value)
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


class SqlStore(Store):
    """The metadata store on SQLite (default) or PostgreSQL. See ``Store`` for the contract."""

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
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

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

    # -- experiments --------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> Experiment:
        cached = self._experiments.get(name)
        if cached is not None:
            return cached
        check_experiment_name(name)

        def find(conn: Connection) -> Any:
            return conn.execute(select(t.experiments).where(t.experiments.c.name == name)).first()

        row = self._tx(find, "reading an experiment", write=False)
        if row is None:

            def create(conn: Connection) -> Any:
                stmt = self._insert(t.experiments).values(name=name, created_at=now_ms())
                result = conn.execute(stmt.on_conflict_do_nothing())
                if result.rowcount:
                    self._audit(conn, "system", "experiment.create", "experiment", name)
                return find(conn)

            row = self._tx(create, f"creating experiment '{name}'")
        experiment = Experiment(row.id, row.name, row.created_at)
        self._experiments[name] = experiment
        return experiment

    def list_experiments(self) -> list[Experiment]:
        rows = self._tx(
            lambda c: c.execute(select(t.experiments).order_by(t.experiments.c.id)).all(),
            "listing experiments",
            write=False,
        )
        return [Experiment(r.id, r.name, r.created_at) for r in rows]

    def _experiment_ids(self, conn: Connection, names: Sequence[str]) -> list[int]:
        rows = conn.execute(
            select(t.experiments.c.id, t.experiments.c.name).where(
                t.experiments.c.name.in_(list(names))
            )
        ).all()
        missing = set(names) - {r.name for r in rows}
        if missing:
            known = [r.name for r in conn.execute(select(t.experiments.c.name)).all()]
            raise NotFoundError(
                f"Experiment {sorted(missing)[0]!r} does not exist. "
                f"Known experiments: {', '.join(sorted(known)) or 'none yet'}."
            )
        return [r.id for r in rows]

    # -- runs ---------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str,
        *,
        name: str | None = None,
        user: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        exp = self.get_or_create_experiment(experiment)
        run_id = uuid.uuid4().hex
        run_name = name or f"run-{run_id[:8]}"
        started = start_time or now_ms()
        tag_rows = [
            {"run_id": run_id, "key": check_key(k, "tag"), "value": str(v)}
            for k, v in (tags or {}).items()
        ]

        def create(conn: Connection) -> None:
            if parent_run_id is not None:
                self._run_row(conn, parent_run_id)
            conn.execute(
                t.runs.insert().values(
                    id=run_id,
                    experiment_id=exp.id,
                    name=run_name,
                    status=RunStatus.RUNNING,
                    start_time=started,
                    user=user,
                    parent_run_id=parent_run_id,
                )
            )
            if tag_rows:
                conn.execute(t.tags.insert(), tag_rows)

        self._tx(create, "creating a run")
        return Run(
            run_id,
            exp.name,
            run_name,
            RunStatus.RUNNING,
            started,
            None,
            user,
            parent_run_id,
            tags={r["key"]: r["value"] for r in tag_rows},
        )

    @staticmethod
    def _run_row(conn: Connection, run_id: str) -> Any:
        row = conn.execute(_RUN_ROW, {"run_id": run_id}).first()
        if row is None:
            raise NotFoundError(f"Run '{run_id}' does not exist. List runs with: mlcycle runs")
        return row

    def _runs_from_rows(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        ids = [r.id for r in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        for chunk in _chunks(ids):
            for p in conn.execute(
                select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id.in_(chunk)
                )
            ):
                params[p.run_id][p.key] = p.value
            for g in conn.execute(select(t.tags).where(t.tags.c.run_id.in_(chunk))):
                tags[g.run_id][g.key] = g.value
            for m in conn.execute(
                select(
                    t.latest_metrics.c.run_id,
                    t.latest_metrics.c.key,
                    t.latest_metrics.c.value,
                    t.latest_metrics.c.is_nan,
                ).where(t.latest_metrics.c.run_id.in_(chunk))
            ):
                metrics[m.run_id][m.key] = math.nan if m.is_nan else float(m.value)
        return [
            Run(
                r.id,
                r.experiment,
                r.name,
                r.status,
                r.start_time,
                r.end_time,
                r.user,
                r.parent_run_id,
                r.error,
                r.deleted_at is not None,
                params[r.id],
                metrics[r.id],
                tags[r.id],
            )
            for r in rows
        ]

    def get_run(self, run_id: str) -> Run:
        def read(conn: Connection) -> Run:
            return self._runs_from_rows(conn, [self._run_row(conn, run_id)])[0]

        return self._tx(read, "reading a run", write=False)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        if not (metrics or params or tags):
            return
        batch = _Batch(run_id, metrics, params, tags)

        def write(conn: Connection) -> None:
            self._write_batch(conn, self._run_row(conn, run_id), batch)

        self._tx(write, f"logging to run '{run_id}'")

    def _write_batch(self, conn: Connection, run: Any, batch: _Batch) -> None:
        run_id = batch.run_id
        if run.status != RunStatus.RUNNING and (batch.metric_rows or batch.param_rows):
            raise ConflictError(
                f"Run '{run_id}' is {run.status}; only RUNNING runs accept metrics and params."
            )
        if batch.param_rows:
            inserted = conn.execute(self._insert_params, batch.param_rows).rowcount
            if inserted != len(batch.param_rows):  # some keys existed: same values only
                keys = [r["key"] for r in batch.param_rows]
                existing = {
                    p.key: p.value
                    for p in conn.execute(
                        select(t.params.c.key, t.params.c.value).where(
                            t.params.c.run_id == run_id, t.params.c.key.in_(keys)
                        )
                    )
                }
                for row in batch.param_rows:
                    old = existing.get(row["key"])
                    if old is not None and old != row["value"]:
                        raise ConflictError(
                            f"Param '{row['key']}' of run '{run_id}' is already {old!r}; "
                            f"params cannot change (tried {row['value']!r}). Use a tag or a "
                            "new run."
                        )
        if batch.tag_rows:
            conn.execute(self._upsert_tags, batch.tag_rows)
        if batch.metric_rows:
            conn.execute(t.metrics.insert(), batch.metric_rows)
            conn.execute(self._upsert_latest, list(batch.latest.values()))

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

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        if status not in RunStatus.ALL or status == RunStatus.RUNNING:
            raise StoreError(f"Cannot end a run as {status!r}; use FINISHED, FAILED or KILLED.")
        batch = _Batch(run_id, metrics, params, tags)

        def end(conn: Connection) -> None:
            run = self._run_row(conn, run_id)
            if run.status != RunStatus.RUNNING:
                raise ConflictError(f"Run '{run_id}' already ended as {run.status}.")
            self._write_batch(conn, run, batch)
            conn.execute(
                _END_RUN,
                {"b_id": run_id, "b_status": status, "b_end": now_ms(), "b_error": error},
            )

        self._tx(end, f"ending run '{run_id}'")

    def end_run(self, run_id: str, status: str, *, error: str | None = None) -> Run:
        self.finish_run(run_id, status, error=error)
        return self.get_run(run_id)

    def _descendants(self, conn: Connection, run_id: str) -> list[str]:
        found = [run_id]
        frontier = [run_id]
        while frontier:
            children = [
                r.id
                for chunk in _chunks(frontier)
                for r in conn.execute(select(t.runs.c.id).where(t.runs.c.parent_run_id.in_(chunk)))
            ]
            frontier = [c for c in children if c not in found]
            found.extend(frontier)
        return found

    def delete_run(self, run_id: str, *, actor: str) -> None:
        def soft_delete(conn: Connection) -> None:
            self._run_row(conn, run_id)
            ids = self._descendants(conn, run_id)
            for chunk in _chunks(ids):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id.in_(chunk), t.runs.c.deleted_at.is_(None))
                    .values(deleted_at=now_ms())
                )
            self._audit(conn, actor, "run.delete", "run", run_id, children=len(ids) - 1)

        self._tx(soft_delete, f"deleting run '{run_id}'")

    def restore_run(self, run_id: str, *, actor: str) -> None:
        def undelete(conn: Connection) -> None:
            self._run_row(conn, run_id)
            ids = self._descendants(conn, run_id)
            for chunk in _chunks(ids):
                conn.execute(update(t.runs).where(t.runs.c.id.in_(chunk)).values(deleted_at=None))
            self._audit(conn, actor, "run.restore", "run", run_id)

        self._tx(undelete, f"restoring run '{run_id}'")

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        def read(conn: Connection) -> list[Metric]:
            self._run_row(conn, run_id)
            m = t.metrics
            rows = conn.execute(
                select(m.c.value, m.c.is_nan, m.c.step, m.c.timestamp)
                .where(m.c.run_id == run_id, m.c.key == key)
                .order_by(m.c.step, m.c.timestamp, m.c.id)
            ).all()
            return [Metric.from_row(key, r.value, r.is_nan, r.step, r.timestamp) for r in rows]

        return self._tx(read, "reading metric history", write=False)

    # -- search -------------------------------------------------------------------------
    def _condition(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self._condition(n) for n in node.items))
        if isinstance(node, Or):
            return or_(*(self._condition(n) for n in node.items))
        if isinstance(node, Not):
            return not_(self._condition(node.item))
        assert isinstance(node, Compare)
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        numeric = all(isinstance(v, float) for v in values)
        if node.kind == "metrics":
            lm = t.latest_metrics
            sub = select(lm.c.run_id).where(
                lm.c.key == node.key, _compare(lm.c.value, node.op, node.value)
            )
            return t.runs.c.id.in_(sub)
        if node.kind == "params":
            p = t.params
            column = p.c.value_num if numeric and node.op not in ("like", "ilike") else p.c.value
            value = node.value if column is p.c.value_num else _as_text(node.value)
            sub = select(p.c.run_id).where(p.c.key == node.key, _compare(column, node.op, value))
            return t.runs.c.id.in_(sub)
        if node.kind == "tags":
            g = t.tags
            sub = select(g.c.run_id).where(
                g.c.key == node.key, _compare(g.c.value, node.op, _as_text(node.value))
            )
            return t.runs.c.id.in_(sub)
        if node.key == "experiment":
            return _compare(t.experiments.c.name, node.op, _as_text(node.value))
        column = t.runs.c[node.key]
        value = node.value
        if node.key == "status":
            value = _as_text(value)
            value = tuple(v.upper() for v in value) if isinstance(value, tuple) else value.upper()
        elif not numeric or node.key not in ("start_time", "end_time"):
            value = _as_text(value)
        return _compare(column, node.op, value)

    def search_runs(
        self,
        *,
        experiments: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        if not isinstance(max_results, int) or not 1 <= max_results <= 100_000:
            raise StoreError(
                f"The 'max_results' parameter of search_runs() must be an integer in "
                f"[1, 100000]. Got {max_results!r} instead."
            )
        tree = parse_filter(filter)
        keys = parse_order(order_by)
        offset = _decode_token(page_token)

        def search(conn: Connection) -> RunPage:
            query: Select[Any] = select(t.runs, t.experiments.c.name.label("experiment")).join(
                t.experiments, t.experiments.c.id == t.runs.c.experiment_id
            )
            if experiments:
                query = query.where(
                    t.runs.c.experiment_id.in_(self._experiment_ids(conn, experiments))
                )
            if not include_deleted:
                query = query.where(t.runs.c.deleted_at.is_(None))
            if tree is not None:
                query = query.where(self._condition(tree))
            ordering: list[Any] = []
            for i, key in enumerate(keys):
                if key.kind in ("metrics", "params", "tags"):
                    table = {"metrics": t.latest_metrics, "params": t.params, "tags": t.tags}[
                        key.kind
                    ].alias(f"sort{i}")
                    query = query.outerjoin(
                        table, and_(table.c.run_id == t.runs.c.id, table.c.key == key.key)
                    )
                    columns = [table.c.value]
                    if key.kind == "params":
                        columns = [table.c.value_num, table.c.value]
                else:
                    columns = [
                        t.experiments.c.name if key.key == "experiment" else t.runs.c[key.key]
                    ]
                for column in columns:
                    ordered = column.desc() if key.descending else column.asc()
                    ordering.append(ordered.nulls_last())
            ordering += [t.runs.c.start_time.desc(), t.runs.c.id]
            rows = conn.execute(
                query.order_by(*ordering).limit(max_results + 1).offset(offset)
            ).all()
            more = len(rows) > max_results
            runs = self._runs_from_rows(conn, rows[:max_results])
            token = _encode_token(offset + max_results) if more else None
            return RunPage(runs, token)

        return self._tx(search, "searching runs", write=False)

    # -- artifacts ----------------------------------------------------------------------
    def record_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None:
        rows = [
            {
                "run_id": run_id,
                "path": a.path,
                "digest": a.digest,
                "size": a.size,
                "created_at": now_ms(),
            }
            for a in artifacts
        ]
        if not rows:
            return

        def record(conn: Connection) -> None:
            self._run_row(conn, run_id)
            stmt = self._insert(t.run_artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={
                        "digest": stmt.excluded.digest,
                        "size": stmt.excluded.size,
                        "created_at": stmt.excluded.created_at,
                    },
                ),
                rows,
            )

        self._tx(record, f"recording artifacts of run '{run_id}'")

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        def read(conn: Connection) -> list[Artifact]:
            self._run_row(conn, run_id)
            a = t.run_artifacts
            rows = conn.execute(select(a).where(a.c.run_id == run_id).order_by(a.c.path)).all()
            return [Artifact(r.path, r.digest, r.size) for r in rows]

        return self._tx(read, "listing artifacts", write=False)

    # -- models -------------------------------------------------------------------------
    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        query = select(t.models).where(t.models.c.name == name)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            known = [r.name for r in conn.execute(select(t.models.c.name).limit(20))]
            raise NotFoundError(
                f"Model '{name}' does not exist. Known models: {', '.join(known) or 'none yet'}."
            )
        return row

    def _version_row(self, conn: Connection, model: str, version: int) -> Any:
        self._model_row(conn, model)
        row = conn.execute(
            select(t.model_versions).where(
                t.model_versions.c.model_name == model, t.model_versions.c.version == version
            )
        ).first()
        if row is None:
            latest = conn.execute(
                select(func.max(t.model_versions.c.version)).where(
                    t.model_versions.c.model_name == model
                )
            ).scalar()
            raise NotFoundError(
                f"Model '{model}' has no version {version}; its versions are 1 to {latest}."
                if latest
                else f"Model '{model}' has no versions yet."
            )
        return row

    def _aliases_of(self, conn: Connection, model: str) -> dict[str, int]:
        rows = conn.execute(
            select(t.aliases.c.alias, t.aliases.c.version)
            .where(t.aliases.c.model_name == model)
            .order_by(t.aliases.c.alias)
        )
        return {r.alias: r.version for r in rows}

    @staticmethod
    def _version(row: Any, aliases: Mapping[str, int]) -> ModelVersion:
        return ModelVersion(
            row.model_name,
            row.version,
            row.run_id,
            row.bundle_digest,
            row.description,
            row.creator,
            row.created_at,
            tuple(a for a, v in aliases.items() if v == row.version),
        )

    def create_model_version(
        self,
        model: str,
        *,
        bundle_digest: str,
        creator: str,
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        check_model_name(model)

        def create(conn: Connection) -> ModelVersion:
            if run_id is not None:
                self._run_row(conn, run_id)
            stmt = self._insert(t.models).values(
                name=model,
                description="",
                created_at=now_ms(),
                created_by=creator,
                latest_version=0,
            )
            if conn.execute(stmt.on_conflict_do_nothing()).rowcount:
                self._audit(conn, creator, "model.create", "model", model)
            # The UPDATE takes the model's row lock (PostgreSQL) or the database write lock
            # (SQLite), so concurrent registrations get distinct, gap-free numbers.
            conn.execute(
                update(t.models)
                .where(t.models.c.name == model)
                .values(latest_version=t.models.c.latest_version + 1)
            )
            version = conn.execute(
                select(t.models.c.latest_version).where(t.models.c.name == model)
            ).scalar_one()
            values = dict(
                model_name=model,
                version=version,
                run_id=run_id,
                bundle_digest=bundle_digest,
                description=description,
                creator=creator,
                created_at=now_ms(),
            )
            conn.execute(t.model_versions.insert().values(**values))
            self._audit(
                conn,
                creator,
                "version.create",
                "model_version",
                f"{model}/{version}",
                run_id=run_id,
                bundle_digest=bundle_digest,
            )
            return ModelVersion(
                model, version, run_id, bundle_digest, description, creator, values["created_at"]
            )

        return self._tx(create, f"registering a version of model '{model}'")

    def get_model(self, name: str) -> Model:
        def read(conn: Connection) -> Model:
            row = self._model_row(conn, name)
            return Model(
                row.name,
                row.description,
                row.created_at,
                row.created_by,
                row.latest_version,
                self._aliases_of(conn, name),
            )

        return self._tx(read, "reading a model", write=False)

    def list_models(self) -> list[Model]:
        def read(conn: Connection) -> list[Model]:
            aliases: dict[str, dict[str, int]] = {}
            for a in conn.execute(select(t.aliases).order_by(t.aliases.c.alias)):
                aliases.setdefault(a.model_name, {})[a.alias] = a.version
            return [
                Model(
                    r.name,
                    r.description,
                    r.created_at,
                    r.created_by,
                    r.latest_version,
                    aliases.get(r.name, {}),
                )
                for r in conn.execute(select(t.models).order_by(t.models.c.name))
            ]

        return self._tx(read, "listing models", write=False)

    def get_version(self, model: str, version: int) -> ModelVersion:
        def read(conn: Connection) -> ModelVersion:
            row = self._version_row(conn, model, version)
            return self._version(row, self._aliases_of(conn, model))

        return self._tx(read, "reading a model version", write=False)

    def list_versions(self, model: str) -> list[ModelVersion]:
        def read(conn: Connection) -> list[ModelVersion]:
            self._model_row(conn, model)
            aliases = self._aliases_of(conn, model)
            rows = conn.execute(
                select(t.model_versions)
                .where(t.model_versions.c.model_name == model)
                .order_by(t.model_versions.c.version)
            ).all()
            return [self._version(r, aliases) for r in rows]

        return self._tx(read, "listing versions", write=False)

    def resolve_alias(self, model: str, alias: str) -> ModelVersion:
        def read(conn: Connection) -> ModelVersion:
            self._model_row(conn, model)
            aliases = self._aliases_of(conn, model)
            if alias not in aliases:
                raise NotFoundError(
                    f"Model '{model}' has no alias '{alias}'. Its aliases: "
                    f"{', '.join(f'{a}=v{v}' for a, v in aliases.items()) or 'none'}. "
                    f"Set one with: mlcycle promote {model} VERSION --alias {alias}"
                )
            row = self._version_row(conn, model, aliases[alias])
            return self._version(row, aliases)

        return self._tx(read, "resolving an alias", write=False)

    def _move_alias(
        self, conn: Connection, model: str, alias: str, to: int | None, action: str, actor: str
    ) -> AliasEvent:
        current = self._aliases_of(conn, model).get(alias)
        at = now_ms()
        if to is None:
            conn.execute(
                delete(t.aliases).where(t.aliases.c.model_name == model, t.aliases.c.alias == alias)
            )
        else:
            stmt = self._insert(t.aliases).values(
                model_name=model, alias=alias, version=to, updated_at=at, updated_by=actor
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_name", "alias"],
                    set_={"version": to, "updated_at": at, "updated_by": actor},
                )
            )
        event_id = conn.execute(
            t.alias_history.insert().values(
                model_name=model,
                alias=alias,
                action=action,
                from_version=current,
                to_version=to,
                actor=actor,
                at=at,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        self._audit(
            conn,
            actor,
            f"alias.{action}",
            "alias",
            f"{model}@{alias}",
            from_version=current,
            to_version=to,
        )
        return AliasEvent(event_id, model, alias, action, current, to, actor, at)

    def set_alias(self, model: str, alias: str, version: int, *, actor: str) -> AliasEvent:
        check_alias(alias)

        def promote(conn: Connection) -> AliasEvent:
            self._model_row(conn, model, lock=True)
            self._version_row(conn, model, version)
            return self._move_alias(conn, model, alias, version, "promote", actor)

        return self._tx(promote, f"moving alias '{alias}' of model '{model}'")

    def rollback_alias(self, model: str, alias: str, *, actor: str) -> AliasEvent:
        check_alias(alias)

        def rollback(conn: Connection) -> AliasEvent:
            self._model_row(conn, model, lock=True)
            events = self._history(conn, model, alias)
            if not events:
                raise NotFoundError(f"Model '{model}' has no alias '{alias}' to roll back.")
            # Replay the history as a stack of "held before" versions; a rollback pops one.
            stack: list[int | None] = []
            for event in events:
                if event.action == "rollback":
                    if stack:
                        stack.pop()
                else:
                    stack.append(event.from_version)
            target = stack[-1] if stack else None
            if target is None:
                raise ConflictError(
                    f"Alias '{alias}' of model '{model}' held no earlier version to roll back "
                    f"to. Point it elsewhere with: mlcycle promote {model} VERSION --alias {alias}"
                )
            return self._move_alias(conn, model, alias, target, "rollback", actor)

        return self._tx(rollback, f"rolling back alias '{alias}' of model '{model}'")

    def delete_alias(self, model: str, alias: str, *, actor: str) -> AliasEvent:
        def remove(conn: Connection) -> AliasEvent:
            self._model_row(conn, model, lock=True)
            if alias not in self._aliases_of(conn, model):
                raise NotFoundError(f"Model '{model}' has no alias '{alias}'.")
            return self._move_alias(conn, model, alias, None, "delete", actor)

        return self._tx(remove, f"deleting alias '{alias}' of model '{model}'")

    @staticmethod
    def _history(conn: Connection, model: str, alias: str | None) -> list[AliasEvent]:
        h = t.alias_history
        query = select(h).where(h.c.model_name == model)
        if alias is not None:
            query = query.where(h.c.alias == alias)
        return [
            AliasEvent(
                r.id, r.model_name, r.alias, r.action, r.from_version, r.to_version, r.actor, r.at
            )
            for r in conn.execute(query.order_by(h.c.id))
        ]

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        def read(conn: Connection) -> list[AliasEvent]:
            self._model_row(conn, model)
            return self._history(conn, model, alias)

        return self._tx(read, "reading alias history", write=False)

    # -- audit and housekeeping ---------------------------------------------------------
    def audit_events(
        self, *, entity_type: str | None = None, entity_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        a = t.audit_events
        query = select(a)
        if entity_type is not None:
            query = query.where(a.c.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(a.c.entity_id == entity_id)
        rows = self._tx(
            lambda c: c.execute(query.order_by(a.c.id.desc()).limit(limit)).all(),
            "reading the audit log",
            write=False,
        )
        return [
            AuditEvent(
                r.id, r.at, r.actor, r.action, r.entity_type, r.entity_id, json.loads(r.details)
            )
            for r in rows
        ]

    def live_digests(self) -> tuple[set[str], set[str]]:
        def read(conn: Connection) -> tuple[set[str], set[str]]:
            a = t.run_artifacts
            artifacts = {
                r.digest
                for r in conn.execute(
                    select(a.c.digest)
                    .join(t.runs, t.runs.c.id == a.c.run_id)
                    .where(t.runs.c.deleted_at.is_(None))
                    .distinct()
                )
            }
            bundles = {
                r.bundle_digest
                for r in conn.execute(select(t.model_versions.c.bundle_digest).distinct())
            }
            return artifacts, bundles

        return self._tx(read, "listing live artifacts", write=False)

    def purge_deleted_runs(self, *, actor: str) -> list[str]:
        def purge(conn: Connection) -> list[str]:
            ids = [
                r.id
                for r in conn.execute(select(t.runs.c.id).where(t.runs.c.deleted_at.is_not(None)))
            ]
            for chunk in _chunks(ids):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.parent_run_id.in_(chunk), t.runs.c.deleted_at.is_(None))
                    .values(parent_run_id=None)
                )
                for table in (t.metrics, t.latest_metrics, t.params, t.tags, t.run_artifacts):
                    conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
                conn.execute(
                    update(t.runs).where(t.runs.c.id.in_(chunk)).values(parent_run_id=None)
                )
            for chunk in _chunks(ids):
                conn.execute(delete(t.runs).where(t.runs.c.id.in_(chunk)))
            if ids:
                self._audit(conn, actor, "run.purge", "run", "*", count=len(ids))
            return ids

        return self._tx(purge, "purging deleted runs")

    def is_empty(self) -> bool:
        def read(conn: Connection) -> bool:
            return all(
                conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
                for table in (t.experiments, t.runs, t.models)
            )

        return self._tx(read, "checking the store", write=False)

    def dump_tables(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        engine = self._engine
        if self._dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.begin() as conn:
            for table in t.TABLES_IN_ORDER:
                ordered = conn.execute(select(table).order_by(*table.primary_key.columns))
                yield table.name, [dict(r._mapping) for r in ordered]

    def load_tables(self, tables: Iterable[tuple[str, list[dict[str, Any]]]]) -> None:
        by_name = {table.name: table for table in t.TABLES_IN_ORDER}

        def load(conn: Connection) -> None:
            for name, rows in tables:
                if name not in by_name:
                    raise StoreError(f"Unknown table '{name}' in the data to restore.")
                if name == "runs":
                    rows = _parents_first(rows)
                for chunk in _chunks(rows, 500):
                    conn.execute(by_name[name].insert(), list(chunk))
            if self._dialect == "postgresql":
                for table in t.TABLES_IN_ORDER:
                    if "id" in table.c and table.c.id.autoincrement is True:
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                            )
                        )

        self._tx(load, "restoring tables")


def _parents_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order run rows so that every parent precedes its children (foreign keys)."""
    by_id = {row["id"]: row for row in rows}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    for row in rows:
        chain = []
        node: dict[str, Any] | None = row
        while node is not None and node["id"] not in done:
            chain.append(node)
            done.add(node["id"])
            parent = node.get("parent_run_id")
            node = by_id.get(parent) if parent else None
        ordered.extend(reversed(chain))
    return ordered


def _as_text(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_as_text(v) for v in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "like":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ilike":
        return column.ilike(value)  # type: ignore[no-any-return]
    if op == "in":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "not in":
        return column.not_in(list(value))  # type: ignore[no-any-return]
    raise FilterError(f"Unknown operator '{op}'.")


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError) as exc:
        raise FilterError(
            f"Page token {token!r} is not valid; pass the next_page_token of a previous page."
        ) from exc
