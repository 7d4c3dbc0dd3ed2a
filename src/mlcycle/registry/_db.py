"""Engines for the metadata store: SQLite tuned for concurrency, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout and foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead
of failing on a lock upgrade. Transient lock and serialization errors are retried by
:func:`retrying`, so "database is locked" never reaches a user.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from mlcycle.config import redact_url
from mlcycle.exceptions import ConfigError, SchemaVersionError, StoreError, StoreUnavailableError

T = TypeVar("T")

SUPPORTED_SCHEMES = ("sqlite", "postgresql")
_MIGRATIONS = Path(__file__).with_name("_migrations")
_WRITE = "mlcycle_write"


def make_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    """Create an engine for ``url``; raise a clear error for unsupported or malformed URLs."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"Database URL '{redact_url(url)}' is malformed. Expected e.g. "
            "sqlite:///path/mlcycle.db or postgresql+psycopg://user@host/db."
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_SCHEMES:
        raise ConfigError(
            f"Database URL scheme '{backend}' is not supported. "
            f"Use one of: {', '.join(SUPPORTED_SCHEMES)}."
        )
    if backend == "sqlite":
        return _sqlite_engine(parsed.render_as_string(hide_password=False), busy_timeout_s)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        folder = Path(database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the workspace folder {folder}: {exc.strerror}. "
                "Set MLCYCLE_HOME (or MLCYCLE_DB_URL) to a writable location."
            ) from exc
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
    timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        _retry_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive on PostgreSQL; filters must match the same runs on both.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _retry_locked(fn: Callable[[], Any]) -> Any:
    for attempt in range(50):
        try:
            return fn()
        except Exception as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.05 + random.random() * 0.1)
    return None


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite transactions take the write lock up front."""
    return engine.execution_options(**{_WRITE: True})


def is_transient(exc: BaseException) -> bool:
    """Lock contention, serialization failures and deadlocks: safe to retry the transaction."""
    if not isinstance(exc, DBAPIError):
        return False
    message = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    if "database is locked" in message or "database table is locked" in message:
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in {"40001", "40P01", "55P03"}


def retrying(fn: Callable[[], T], *, attempts: int = 60, what: str = "the operation") -> T:
    """Run a whole transaction function, retrying it on transient lock errors with backoff."""
    delay = 0.01
    for attempt in range(attempts):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == attempts - 1:
                if is_transient(exc):
                    raise StoreError(
                        f"The metadata database stayed busy while trying {what}; "
                        "try again, or use PostgreSQL for many concurrent writers."
                    ) from exc
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")


def unavailable(url: str, exc: BaseException) -> StoreUnavailableError:
    """The one message for a database that cannot be reached."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return StoreUnavailableError(
        f"Cannot connect to the metadata database at {redact_url(url)}: {reason}. "
        "Check MLCYCLE_DB_URL and that the database server is running."
    )


# -- schema version -------------------------------------------------------------------------


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this mlcycle writes."""
    from mlcycle.registry._migrations import HEAD

    return HEAD


def known_revisions() -> set[str]:
    """Every revision this mlcycle knows, so older databases can be told from newer ones."""
    from mlcycle.registry._migrations import REVISIONS

    return set(REVISIONS)


def alembic_revisions() -> list[str]:
    """The revisions of the shipped Alembic scripts, oldest first (for consistency checks)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None for a database with no mlcycle schema."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _lock_for_migration(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7263524101)"))


def ensure_schema(engine: Engine, url: str, *, create: bool = True) -> str:
    """Check the database's schema version; create the schema in an empty database.

    Raises SchemaVersionError for an older database (with the upgrade command) and for a
    database written by a newer mlcycle, which is left untouched.
    """
    head = head_revision()

    def check() -> str:
        with writer(engine).begin() as conn:
            _lock_for_migration(conn)
            current = current_revision(conn)
            if current is None:
                names = set(inspect(conn).get_table_names())
                if names & {"runs", "experiments", "models"}:
                    raise SchemaVersionError(
                        f"The database at {redact_url(url)} holds tables but no mlcycle schema "
                        "version; it is not an mlcycle store. Point MLCYCLE_DB_URL elsewhere."
                    )
                if not create:
                    return "none"
                from alembic import command

                command.upgrade(_alembic_config(conn), "head")
                return head
            if current == head:
                return head
            if current in known_revisions():
                raise SchemaVersionError(
                    f"The database at {redact_url(url)} has schema version {current}; this "
                    f"mlcycle needs {head}. Back it up (mlcycle backup PATH), then run: "
                    "mlcycle db upgrade"
                )
            raise SchemaVersionError(
                f"The database at {redact_url(url)} has schema version {current}, written by a "
                f"newer mlcycle (this one knows up to {head}). It was left untouched: "
                "upgrade mlcycle to use it."
            )

    try:
        return retrying(check, what="checking the schema version")
    except OperationalError as exc:
        raise unavailable(url, exc) from exc


def upgrade_schema(engine: Engine, url: str) -> tuple[str | None, str]:
    """Migrate the database to this mlcycle's head revision; returns (before, after)."""
    from alembic import command

    head = head_revision()
    try:
        with writer(engine).begin() as conn:
            _lock_for_migration(conn)
            before = current_revision(conn)
            if before is not None and before not in known_revisions():
                raise SchemaVersionError(
                    f"The database at {redact_url(url)} has schema version {before}, written by a "
                    "newer mlcycle; it was left untouched: upgrade mlcycle to use it."
                )
            command.upgrade(_alembic_config(conn), "head")
    except OperationalError as exc:
        raise unavailable(url, exc) from exc
    return before, head
