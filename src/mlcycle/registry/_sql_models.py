"""Models, versions and aliases of the SQL store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    select,
    update,
)

from mlcycle.exceptions import ConflictError, NotFoundError
from mlcycle.registry import _tables as t
from mlcycle.registry._entities import (
    AliasEvent,
    Model,
    ModelVersion,
)
from mlcycle.registry._names import check_alias, check_model_name
from mlcycle.registry._sql_base import SqlBase, now_ms


class SqlModels(SqlBase):
    """Model registry half of :class:`~mlcycle.registry._sql.SqlStore`."""

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
