"""Crashes, garbage collection and databases that cannot be used: nothing registered is lost."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import mlcycle
from mlcycle.config import reset_settings
from mlcycle.exceptions import ConfigError, SchemaVersionError, StoreUnavailableError
from mlcycle.registry import Workspace, collect_garbage, get_workspace, reset_workspace
from mlcycle.registry._gc import live_blobs

_REGISTER_FOREVER = """
import os, sys
import mlcycle
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
while True:
    # a distinct, large-ish file per version, so that a kill often lands mid-upload
    noise = os.urandom(256 * 1024)
    version = mlcycle.register_model("crashy", model, extra_files={"noise.bin": noise})
    print(version.version, flush=True)
"""


def _register_then_kill(env: dict[str, str], at_least: int, rng: random.Random) -> list[int]:
    """Register versions in a child until ``at_least`` exist, then SIGKILL it at a random moment."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_REGISTER_FOREVER)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[int] = []
    try:
        assert proc.stdout is not None
        while len(seen) < at_least:
            line = proc.stdout.readline()
            assert line, f"the child stopped early: {proc.stderr.read() if proc.stderr else ''}"
            seen.append(int(line))
        time.sleep(rng.uniform(0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rest, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return seen + [int(line) for line in rest.split()]


def _loads_everything(ws: Workspace, X: Any, expected: Any) -> list[int]:
    shutil.rmtree(ws.cache_dir, ignore_errors=True)  # read from the artifact store, not a cache
    numbers = [v.version for v in ws.store.list_versions("crashy")]
    for number in numbers:
        bundle = mlcycle.load_model(f"crashy/{number}")
        assert bundle.files.keys() >= {"model/model.skops", "extra/noise.bin"}
        np.testing.assert_array_equal(bundle.predict(X), expected)
    return numbers


@pytest.mark.slow
def test_kill_during_registration_loses_nothing_and_gc_keeps_what_is_used(
    workspace: Workspace, child_env: dict[str, str], trained: Any, tmp_path: Path
) -> None:
    X, _, model = trained
    rng = random.Random()
    printed = _register_then_kill(child_env, 3, rng)
    printed += _register_then_kill(child_env, 2, rng)  # the store still works after a kill

    ws = workspace
    numbers = _loads_everything(ws, X, model.predict(X))
    assert numbers == list(range(1, len(numbers) + 1))  # gap-free: a killed insert left nothing
    assert set(printed) <= set(numbers)
    assert len(numbers) <= len(printed) + 2  # at most one unreported version per kill

    # unreferenced content that gc must remove: a planted blob, a temp file, a deleted run's file
    orphan = ws.artifacts.put_bytes(b"nobody refers to me")
    incoming = Path(ws.artifacts.root) / "incoming"
    incoming.mkdir(exist_ok=True)
    (incoming / "stale-upload").write_bytes(b"half a blob")
    kept_file, dropped_file = tmp_path / "kept.txt", tmp_path / "dropped.txt"
    kept_file.write_text("a live run's artifact")
    dropped_file.write_text("a deleted run's artifact")
    with mlcycle.start_run(experiment="gc") as live_run:
        mlcycle.log_artifact(kept_file)
    with mlcycle.start_run(experiment="gc") as dead_run:
        mlcycle.log_artifact(dropped_file)
    mlcycle.delete_run(dead_run.id)
    dropped = ws.store.list_artifacts(dead_run.id)[0].digest

    # with the default grace period, young unreferenced blobs are kept (uploads in progress)
    cautious = collect_garbage(ws)
    assert cautious.deleted_blobs == [] and cautious.kept_young >= 1
    assert cautious.purged_runs == [dead_run.id]

    before = {b.digest for b in ws.artifacts.iter_blobs()}
    live = live_blobs(ws)
    assert orphan not in live and dropped not in live
    report = collect_garbage(ws, grace_s=0)
    assert set(report.deleted_blobs) == before - live
    assert {orphan, dropped} <= set(report.deleted_blobs)
    assert report.deleted_temp >= 1
    assert {b.digest for b in ws.artifacts.iter_blobs()} == live
    assert list(ws.artifacts.iter_temp()) == []
    assert ws.store.list_artifacts(live_run.id)[0].digest in live

    assert _loads_everything(ws, X, model.predict(X)) == numbers

    again = collect_garbage(ws, grace_s=0)
    assert (again.purged_runs, again.deleted_blobs, again.deleted_temp) == ([], [], 0)
    assert again.freed_bytes == 0
    assert again.kept_blobs == len(live)


def test_gc_dry_run_changes_nothing(workspace: Workspace) -> None:
    orphan = workspace.artifacts.put_bytes(b"orphan")
    with mlcycle.start_run(experiment="gc") as run:
        pass
    mlcycle.delete_run(run.id)
    report = collect_garbage(workspace, grace_s=0, dry_run=True)
    assert report.deleted_blobs == [orphan] and report.dry_run
    assert workspace.artifacts.exists(orphan)
    assert workspace.store.get_run(run.id).deleted  # not purged
    assert collect_garbage(workspace, grace_s=0).purged_runs == [run.id]


def test_gc_purges_a_deleted_parent_but_keeps_its_restored_child(workspace: Workspace) -> None:
    store = workspace.store
    parent = store.create_run("gc", user="ann")
    child = store.create_run("gc", user="ann", parent_run_id=parent.id)
    store.log_batch(child.id, metrics=[("loss", 0.5, 0, 1)], params={"lr": "0.1"})
    store.delete_run(parent.id, actor="ann")
    store.restore_run(child.id, actor="ann")
    assert collect_garbage(workspace, grace_s=0).purged_runs == [parent.id]
    kept = store.get_run(child.id)
    assert (kept.parent_run_id, kept.deleted, kept.metrics) == (None, False, {"loss": 0.5})
    assert [r.id for r in store.search_runs(include_deleted=True).runs] == [child.id]
    assert [e.action for e in store.audit_events(entity_type="run", limit=1)] == ["run.purge"]


# -- schema versions ------------------------------------------------------------------------


def _open() -> Workspace:
    reset_settings()
    reset_workspace()
    ws = get_workspace()
    ws.store  # noqa: B018 - opening the store checks the schema version
    return ws


def _raw(ws: Workspace) -> sa.Engine:
    return sa.create_engine(ws.settings.database_url)


def _stamp(ws: Workspace, revision: str) -> None:
    engine = _raw(ws)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()


def _state(ws: Workspace) -> tuple[str, int, set[str]]:
    engine = _raw(ws)
    with engine.connect() as conn:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        runs = conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return revision, runs, tables


@pytest.fixture
def used_workspace(workspace: Workspace) -> Workspace:
    with mlcycle.start_run(experiment="old"):
        mlcycle.log_metric("auc", 0.9)
    reset_workspace()
    return workspace


def test_a_database_from_a_newer_mlcycle_is_refused_and_untouched(
    used_workspace: Workspace,
) -> None:
    _stamp(used_workspace, "9999")
    before = _state(used_workspace)
    with pytest.raises(SchemaVersionError, match=r"schema version 9999, written by a newer"):
        _open()
    with pytest.raises(SchemaVersionError, match="left untouched: upgrade mlcycle"):
        get_workspace().upgrade_database()
    assert _state(used_workspace) == before
    assert before[:2] == ("9999", 1)


def test_an_older_database_asks_for_an_upgrade_and_is_untouched(
    used_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcycle.registry import _db

    before = _state(used_workspace)
    monkeypatch.setattr(_db, "head_revision", lambda: "0003")
    monkeypatch.setattr(_db, "known_revisions", lambda: {"0001", "0002", "0003"})
    with pytest.raises(
        SchemaVersionError,
        match=r"schema version 0002; this mlcycle needs 0003. Back it up.*mlcycle db upgrade",
    ):
        _open()
    assert _state(used_workspace) == before
    assert before[0] == "0002"


def test_a_foreign_database_is_not_taken_over(workspace: Workspace) -> None:
    workspace.ensure_home()
    engine = _raw(workspace)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (id INTEGER PRIMARY KEY, payload TEXT)"))
        conn.execute(sa.text("INSERT INTO runs VALUES (1, 'theirs')"))
    with pytest.raises(SchemaVersionError, match="holds tables but no mlcycle schema version"):
        _open()
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"runs"}
        assert conn.execute(sa.text("SELECT payload FROM runs")).scalar_one() == "theirs"
    engine.dispose()


# -- unusable locations ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_unreachable_postgresql_is_reported_without_hanging(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCYCLE_DB_URL", "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test")
    with pytest.raises(
        StoreUnavailableError,
        match=r"Cannot connect to the metadata database at postgresql\+psycopg://postgres:\*\*\*"
        r"@127\.0\.0\.1:1/test: .*Check MLCYCLE_DB_URL",
    ) as info:
        _open()
    assert "s3cret" not in str(info.value)


def test_unwritable_home_is_a_config_error(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLCYCLE_HOME", str(blocker / "home"))
    with pytest.raises(ConfigError, match=r"a-file/home is not writable.*Set MLCYCLE_HOME"):
        _open()
    with pytest.raises(ConfigError, match="not writable"):
        mlcycle.start_run(experiment="x")
    assert blocker.read_text() == "not a folder"
