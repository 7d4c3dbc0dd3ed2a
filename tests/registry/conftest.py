"""Helpers for the registry tests: a trained model, child processes, extra PostgreSQL schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlcycle.config import load_settings
from mlcycle.registry import Workspace

PG_URL = os.environ.get("MLCYCLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@cache
def _trained() -> tuple[Any, Any, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return X, y, model


@pytest.fixture
def trained() -> tuple[Any, Any, Any]:
    """(X, y, a scaled LogisticRegression fitted on breast cancer as a DataFrame), built once."""
    return _trained()


@pytest.fixture
def child_env() -> dict[str, str]:
    """The environment of this test (its workspace included) for a child process."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


RunPython = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_python(child_env: dict[str, str]) -> RunPython:
    """Run a snippet of Python in a fresh interpreter with this test's workspace."""

    def run(code: str, *, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=env or child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def new_pg_url() -> Iterator[Callable[[], str]]:
    """Make further throw-away PostgreSQL schemas; each call returns a URL pointing at one."""
    engine = sa.create_engine(PG_URL)
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    yield make
    with engine.begin() as conn:
        for schema in made:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def new_workspace(
    tmp_path: Path, new_pg_url: Callable[[], str]
) -> Iterator[Callable[[str], Workspace]]:
    """Fresh, empty workspaces on either backend, not installed as the process-wide one."""
    made: list[Workspace] = []

    def make(backend: str) -> Workspace:
        env = {"MLCYCLE_HOME": str(tmp_path / f"target-{len(made)}")}
        if backend == "postgresql":
            env["MLCYCLE_DB_URL"] = new_pg_url()
        ws = Workspace(load_settings(env))
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close()
