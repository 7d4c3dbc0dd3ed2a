"""API keys in the registry: hashed storage, roles, revocation, audit, migration, backup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import mlcycle
from mlcycle.exceptions import (
    BackupError,
    ConflictError,
    MlcycleError,
    NotFoundError,
    SchemaVersionError,
)
from mlcycle.registry import (
    ROLES,
    Workspace,
    backup,
    create_key,
    list_keys,
    parse_key,
    reset_workspace,
    restore,
    revoke_key,
    role_allows,
    verify_secret,
)
from mlcycle.registry._db import _alembic_config, head_revision, make_engine
from mlcycle.registry._keys import hash_secret
from mlcycle.registry._tables import metadata

_KEY = re.compile(r"^mlc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


# -- format, hashing and roles ------------------------------------------------------------


def test_roles_are_ordered_by_privilege() -> None:
    assert ROLES == ("read", "predict", "admin")
    allowed = {(have, need) for have in ROLES for need in ROLES if role_allows(have, need)}
    assert allowed == {
        ("read", "read"),
        ("predict", "read"),
        ("predict", "predict"),
        ("admin", "read"),
        ("admin", "predict"),
        ("admin", "admin"),
    }
    with pytest.raises(MlcycleError, match=r"'role' parameter .* read, predict, admin"):
        role_allows("admin", "root")


def test_parse_key_accepts_only_the_key_format() -> None:
    secret = "A" * 43
    assert parse_key(f"mlc_0123456789ab_{secret}") == ("0123456789ab", secret)
    assert parse_key("mlc_0123456789ab_with_under-scores_and-dashes_0123456789") is not None
    for bad in (
        "",
        "mlc_0123456789ab_",
        f"mlc_0123456789AB_{secret}",  # ids are lower-case hex
        f"mlc_0123456789a_{secret}",
        f"xyz_0123456789ab_{secret}",
        f"mlc_0123456789ab_{secret}!",
        f" mlc_0123456789ab_{secret}",
        f"mlc_0123456789ab_{'A' * 200}",
    ):
        assert parse_key(bad) is None, bad


def test_secrets_are_hashed_with_scrypt_and_a_random_salt() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert (first.n, first.r, first.p) == (2**14, 8, 1)
    assert len(first.salt) == 16 and len(first.digest) == 32
    assert first.salt != second.salt and first.digest != second.digest
    assert verify_secret("s3cret", first) and verify_secret("s3cret", second)
    assert not verify_secret("s3cret!", first)
    assert hash_secret("s3cret", salt=first.salt) == first


# -- the store, on SQLite and PostgreSQL ----------------------------------------------------


def test_create_returns_the_plaintext_once_and_stores_only_a_hash(workspace: Workspace) -> None:
    key, plaintext = create_key("predict", "ci pipeline", actor="ann")
    match = _KEY.match(plaintext)
    assert match is not None and match[1] == key.id
    assert plaintext.startswith(key.prefix)
    assert (key.role, key.name, key.created_by) == ("predict", "ci pipeline", "ann")
    assert key.last_used_at is None and not key.revoked

    stored = workspace.store.get_api_key(key.id)
    assert stored == key and stored.secret_hash == key.secret_hash
    assert verify_secret(match[2], stored.secret_hash)
    assert not verify_secret(match[2][:-1] + "x", stored.secret_hash)

    dumped = json.dumps(dict(workspace.store.dump_tables()))
    assert match[2] not in dumped and plaintext not in dumped
    assert "secret_hash" not in key.to_dict() and "salt" not in key.to_dict()
    assert key.secret_hash.digest.hex() not in repr(key)


def test_list_and_revoke(workspace: Workspace) -> None:
    reader, _ = create_key("read", workspace=workspace)
    admin, plaintext = create_key("admin", "ops", workspace=workspace)
    assert [k.id for k in list_keys()] == [reader.id, admin.id]
    assert reader.name == ""

    revoked = revoke_key(admin.id, actor="bob")
    assert revoked.revoked and revoked.revoked_at is not None and revoked.role == "admin"
    assert workspace.store.get_api_key(admin.id).revoked
    assert [k.revoked for k in list_keys()] == [False, True]  # revoked keys stay listed

    with pytest.raises(ConflictError, match=rf"API key '{admin.id}' was already revoked on .*UTC"):
        revoke_key(admin.id)
    with pytest.raises(ConflictError, match="already revoked"):
        revoke_key(plaintext)  # a whole key names its id
    assert revoke_key(plaintext.replace(admin.id, reader.id)).id == reader.id


def test_bad_input_is_refused_with_one_clear_line(workspace: Workspace) -> None:
    with pytest.raises(
        MlcycleError, match=r"^The 'role' parameter of create_key\(\) must be"
    ) as info:
        create_key("owner")
    assert str(info.value).endswith("one of read, predict, admin. Got 'owner' instead.")
    with pytest.raises(MlcycleError, match="'name' parameter"):
        create_key("read", "x" * 257)
    with pytest.raises(MlcycleError, match="'name' parameter"):
        create_key("read", "two\nlines")
    with pytest.raises(NotFoundError, match=r"API key 'nope' does not exist\. List keys with"):
        revoke_key("nope")
    with pytest.raises(NotFoundError, match="does not exist"):
        workspace.store.get_api_key("0123456789ab")
    with pytest.raises(MlcycleError, match="'role' parameter of create_api_key"):
        workspace.store.create_api_key(
            "0123456789ab", role="root", name="", secret_hash=hash_secret("x"), actor="ann"
        )
    assert list_keys() == []
    assert workspace.store.audit_events(entity_type="api_key") == []


def test_creation_and_revocation_are_audited_in_the_same_transaction(
    workspace: Workspace,
) -> None:
    key, _ = create_key("admin", "ops", actor="ann")
    revoke_key(key.id, actor="bob")
    events = workspace.store.audit_events(entity_type="api_key", entity_id=key.id)
    assert [(e.action, e.actor) for e in events] == [
        ("api_key.revoke", "bob"),
        ("api_key.create", "ann"),
    ]
    assert events[1].details == {"role": "admin", "name": "ops"}
    assert events[0].details == {"role": "admin"}
    assert all(key.secret_hash.digest.hex() not in json.dumps(e.to_dict()) for e in events)

    # A create that fails (a duplicate id) leaves neither a row nor an audit event.
    with pytest.raises(ConflictError):
        workspace.store.create_api_key(
            key.id, role="read", name="dup", secret_hash=hash_secret("x"), actor="eve"
        )
    assert workspace.store.get_api_key(key.id).name == "ops"
    assert len(workspace.store.audit_events(entity_type="api_key")) == 2
    # A refused revocation writes nothing either.
    with pytest.raises(ConflictError):
        revoke_key(key.id, actor="eve")
    assert len(workspace.store.audit_events(entity_type="api_key")) == 2


def test_last_use_only_moves_forward(workspace: Workspace) -> None:
    key, _ = create_key("read")
    store = workspace.store
    store.record_api_key_use({key.id: 2_000, "0123456789ab": 5_000})  # unknown ids: ignored
    assert store.get_api_key(key.id).last_used_at == 2_000
    store.record_api_key_use({key.id: 1_000})
    assert store.get_api_key(key.id).last_used_at == 2_000
    store.record_api_key_use({key.id: 3_000})
    store.record_api_key_use({})
    assert store.get_api_key(key.id).last_used_at == 3_000
    assert store.audit_events(entity_type="api_key", limit=10)[0].action == "api_key.create"


# -- migration from 0001 --------------------------------------------------------------------


def _database_at_0001(ws: Workspace) -> None:
    """A database as mlcycle 0001 left it, holding one experiment."""
    from alembic import command

    if ws.settings.db_url is None:
        ws.ensure_home()
    engine = make_engine(ws.settings.database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('old', 1)"))
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("api_keys")
    engine.dispose()


def test_db_upgrade_brings_a_0001_database_to_the_api_key_schema(workspace: Workspace) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert head_revision() == "0002"
    _database_at_0001(workspace)
    with pytest.raises(SchemaVersionError, match=r"schema version 0001; this mlcycle needs 0002"):
        workspace.store  # noqa: B018 - opening the store checks the schema version

    result = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "Upgraded schema 0001 -> 0002" in result.stdout

    reset_workspace()
    ws = mlcycle.registry.get_workspace()
    assert ws.store.schema_version() == "0002"
    assert [e.name for e in ws.store.list_experiments()] == ["old"]
    with ws.store._engine.connect() as conn:  # type: ignore[attr-defined]
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    key, _ = create_key("read", workspace=ws)
    assert list_keys(ws) == [key]
    assert ws.upgrade_database() == ("0002", "0002")  # a second upgrade is a no-op


# -- backup and restore ---------------------------------------------------------------------


def test_backup_and_restore_carry_the_keys(
    workspace: Workspace,
    backend: str,
    new_workspace: Callable[[str], Workspace],
    tmp_path: Path,
) -> None:
    live, plaintext = create_key("predict", "ci", actor="ann")
    gone, _ = create_key("admin", actor="ann")
    revoke_key(gone.id, actor="bob")
    workspace.store.record_api_key_use({live.id: 1234})

    report = backup(tmp_path / "bk", workspace)
    assert report.tables["api_keys"] == 2
    other = "sqlite" if backend == "postgresql" else "postgresql"
    for target in (new_workspace(backend), new_workspace(other)):
        assert restore(tmp_path / "bk", target).tables["api_keys"] == 2
        restored = list_keys(target)
        assert restored == list_keys(workspace)
        assert [k.secret_hash for k in restored] == [live.secret_hash, gone.secret_hash]
        assert restored[0].last_used_at == 1234 and restored[1].revoked
        parsed = parse_key(plaintext)
        assert parsed is not None and verify_secret(parsed[1], restored[0].secret_hash)
        actions = [e.action for e in target.store.audit_events(entity_type="api_key")]
        assert actions == ["api_key.revoke", "api_key.create", "api_key.create"]
        # the restored workspace keeps working
        revoke_key(live.id, workspace=target, actor="cy")
        assert not list_keys(workspace)[0].revoked


def test_restore_is_refused_into_a_workspace_that_has_keys(
    workspace: Workspace, new_workspace: Callable[[str], Workspace], tmp_path: Path
) -> None:
    create_key("read")
    backup(tmp_path / "bk", workspace)
    target = new_workspace("sqlite")
    mine, _ = create_key("admin", workspace=target)
    with pytest.raises(BackupError, match="workspace is not empty"):
        restore(tmp_path / "bk", target)
    assert list_keys(target) == [mine]
