"""SQLAlchemy implementation of :class:`~mlcycle.registry._store.Store` (SQLite, PostgreSQL).

Split by concern: ``_sql_base`` (engine, transactions, audit), ``_sql_models`` (models,
versions, aliases), ``_sql_keys`` (API keys), ``_sql_query`` (filters to SQL); this module
holds experiments, runs, search, artifacts and housekeeping.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    func,
    not_,
    or_,
    select,
    text,
    update,
)

from mlcycle.exceptions import BadParameterError, ConflictError, NotFoundError, StoreError
from mlcycle.registry import _tables as t
from mlcycle.registry._entities import (
    Artifact,
    AuditEvent,
    Experiment,
    Metric,
    Run,
    RunPage,
    RunStatus,
)
from mlcycle.registry._filter import And, Compare, Node, Not, Or, parse_filter, parse_order
from mlcycle.registry._names import check_experiment_name, check_key
from mlcycle.registry._sql_base import (
    _END_RUN,
    _Batch,
    _chunks,
    now_ms,
)
from mlcycle.registry._sql_keys import SqlKeys
from mlcycle.registry._sql_models import SqlModels
from mlcycle.registry._sql_query import _as_text, _compare, _decode_token, _encode_token
from mlcycle.registry._store import MetricPoint


class SqlStore(SqlModels, SqlKeys):
    """The metadata store on SQLite (default) or PostgreSQL. See ``Store`` for the contract."""

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

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
        end_time: int | None = None,
    ) -> None:
        if status not in RunStatus.ALL or status == RunStatus.RUNNING:
            raise BadParameterError(
                f"Cannot end a run as {status!r}; use FINISHED, FAILED or KILLED."
            )
        batch = _Batch(run_id, metrics, params, tags)

        def end(conn: Connection) -> None:
            run = self._run_row(conn, run_id)
            if run.status != RunStatus.RUNNING:
                raise ConflictError(f"Run '{run_id}' already ended as {run.status}.")
            self._write_batch(conn, run, batch)
            conn.execute(
                _END_RUN,
                {
                    "b_id": run_id,
                    "b_status": status,
                    "b_end": now_ms() if end_time is None else end_time,
                    "b_error": error,
                },
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
            self._refuse_if_lineage(conn, run_id, ids)
            for chunk in _chunks(ids):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id.in_(chunk), t.runs.c.deleted_at.is_(None))
                    .values(deleted_at=now_ms())
                )
            self._audit(conn, actor, "run.delete", "run", run_id, children=len(ids) - 1)

        self._tx(soft_delete, f"deleting run '{run_id}'")

    def _refuse_if_lineage(self, conn: Connection, run_id: str, ids: list[str]) -> None:
        """ConflictError if a run among ``ids`` produced a model version (its lineage)."""
        v = t.model_versions
        produced = [
            (r.model_name, r.version, r.run_id)
            for chunk in _chunks(ids)
            for r in conn.execute(
                select(v.c.model_name, v.c.version, v.c.run_id)
                .where(v.c.run_id.in_(chunk))
                .order_by(v.c.model_name, v.c.version)
            )
        ]
        if not produced:
            return
        shown = ", ".join(f"{name}/{version}" for name, version, _ in produced[:5])
        which = "It" if produced[0][2] == run_id else f"Its child run {produced[0][2]}"
        raise ConflictError(
            f"Run '{run_id}' was not deleted: {which} produced model version {shown}"
            f"{' …' if len(produced) > 5 else ''}, whose lineage points at it. A run that "
            "produced a registered version is kept."
        )

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
        operand: Any = node.value
        if node.key == "status":
            operand = _as_text(operand)
            operand = (
                tuple(v.upper() for v in operand) if isinstance(operand, tuple) else operand.upper()
            )
        elif not numeric or node.key not in ("start_time", "end_time"):
            operand = _as_text(operand)
        return _compare(column, node.op, operand)

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
            raise BadParameterError(
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

    # -- audit and housekeeping ---------------------------------------------------------
    def record_event(
        self, *, actor: str, action: str, entity_type: str, entity_id: str, **details: Any
    ) -> None:
        self._tx(
            lambda c: self._audit(c, actor, action, entity_type, entity_id, **details),
            "writing the audit log",
        )

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
                    .where(not_(_purgeable()))
                    .distinct()
                )
            }
            bundles = {
                r.bundle_digest
                for r in conn.execute(select(t.model_versions.c.bundle_digest).distinct())
            }
            return artifacts, bundles

        return self._tx(read, "listing live artifacts", write=False)

    def purge_deleted_runs(self, *, actor: str, dry_run: bool = False) -> list[str]:
        def purge(conn: Connection) -> list[str]:
            ids = [
                r.id
                for r in conn.execute(select(t.runs.c.id).where(_purgeable()).order_by(t.runs.c.id))
            ]
            if dry_run:
                return ids
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

        return self._tx(purge, "purging deleted runs", write=not dry_run)

    def is_empty(self) -> bool:
        def read(conn: Connection) -> bool:
            return all(
                conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
                for table in (t.experiments, t.runs, t.models, t.api_keys)
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


def _purgeable() -> ColumnElement[bool]:
    """Soft-deleted runs that no model version names: a version's run is its lineage, kept
    even if it was deleted (before deletion refused it)."""
    produced = select(t.model_versions.c.run_id).where(t.model_versions.c.run_id.is_not(None))
    return and_(t.runs.c.deleted_at.is_not(None), t.runs.c.id.not_in(produced))


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
