"""API keys of the SQL store: the hashed secrets of the model server's keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from mlcycle.exceptions import ConflictError, NotFoundError
from mlcycle.registry import _tables as t
from mlcycle.registry._entities import ApiKey, KeyHash
from mlcycle.registry._keys import check_role
from mlcycle.registry._sql_base import SqlBase, now_ms

_K = t.api_keys
_RECORD_USE = (
    update(_K)
    .where(
        _K.c.id == bindparam("b_id"),
        or_(_K.c.last_used_at.is_(None), _K.c.last_used_at < bindparam("b_at")),
    )
    .values(last_used_at=bindparam("b_at"))
)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.role,
        row.name,
        row.created_at,
        row.created_by,
        KeyHash(
            bytes.fromhex(row.salt),
            bytes.fromhex(row.secret_hash),
            row.scrypt_n,
            row.scrypt_r,
            row.scrypt_p,
        ),
        row.last_used_at,
        row.revoked_at,
    )


class SqlKeys(SqlBase):
    """API key half of :class:`~mlcycle.registry._sql.SqlStore`."""

    @staticmethod
    def _key_row(conn: Connection, key_id: str, *, lock: bool = False) -> Any:
        query = select(_K).where(_K.c.id == key_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(
                f"API key '{key_id}' does not exist. List keys with: mlcycle keys list"
            )
        return row

    def create_api_key(
        self, key_id: str, *, role: str, name: str, secret_hash: KeyHash, actor: str
    ) -> ApiKey:
        check_role(role, "create_api_key()")
        created = now_ms()
        row = {
            "id": key_id,
            "role": role,
            "name": name,
            "secret_hash": secret_hash.digest.hex(),
            "salt": secret_hash.salt.hex(),
            "scrypt_n": secret_hash.n,
            "scrypt_r": secret_hash.r,
            "scrypt_p": secret_hash.p,
            "created_at": created,
            "created_by": actor,
        }

        def create(conn: Connection) -> None:
            conn.execute(_K.insert().values(**row))
            self._audit(conn, actor, "api_key.create", "api_key", key_id, role=role, name=name)

        self._tx(create, f"creating API key '{key_id}'")
        return ApiKey(key_id, role, name, created, actor, secret_hash)

    def list_api_keys(self) -> list[ApiKey]:
        rows = self._tx(
            lambda c: c.execute(select(_K).order_by(_K.c.created_at, _K.c.id)).all(),
            "listing API keys",
            write=False,
        )
        return [_api_key(r) for r in rows]

    def get_api_key(self, key_id: str) -> ApiKey:
        row = self._tx(lambda c: self._key_row(c, key_id), "reading an API key", write=False)
        return _api_key(row)

    def revoke_api_key(self, key_id: str, *, actor: str) -> ApiKey:
        def revoke(conn: Connection) -> ApiKey:
            row = self._key_row(conn, key_id, lock=True)
            if row.revoked_at is not None:
                when = datetime.fromtimestamp(row.revoked_at / 1000, tz=UTC)
                raise ConflictError(
                    f"API key '{key_id}' was already revoked on "
                    f"{when:%Y-%m-%d %H:%M:%S} UTC; there is nothing left to do."
                )
            at = now_ms()
            conn.execute(
                update(_K).where(_K.c.id == key_id, _K.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            self._audit(conn, actor, "api_key.revoke", "api_key", key_id, role=row.role)
            return _api_key(self._key_row(conn, key_id))

        return self._tx(revoke, f"revoking API key '{key_id}'")

    def record_api_key_use(self, used: Mapping[str, int]) -> None:
        if not used:
            return
        rows = [{"b_id": key_id, "b_at": int(at)} for key_id, at in sorted(used.items())]
        self._tx(lambda c: c.execute(_RECORD_USE, rows), "recording API key use")
