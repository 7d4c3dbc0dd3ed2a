"""The shipped migrations and the revision list used on connect agree with each other."""

from __future__ import annotations

import sqlalchemy as sa

from mlcycle.registry._db import alembic_revisions, head_revision, known_revisions
from mlcycle.registry._tables import metadata
from mlcycle.registry._workspace import Workspace


def test_revision_list_matches_alembic_scripts() -> None:
    assert alembic_revisions()[-1] == head_revision()
    assert set(alembic_revisions()) == known_revisions()


def test_migrated_schema_matches_table_definitions(workspace: Workspace) -> None:
    """A database created by the migrations has every table and column the code uses."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = workspace.store
    engine = store._engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= tables
