"""Garbage collection deletes only what it knows is garbage: never on incomplete knowledge,
never a blob a concurrent registration reuses, never a version's run; a dry run says
exactly what the real run removes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import mlcycle
from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.exceptions import ConflictError, IntegrityError
from mlcycle.registry import Workspace, collect_garbage
from mlcycle.registry._models import upload_bundle
from mlcycle.schema import Schema


def _blob_path(ws: Workspace, digest: str) -> Path:
    return Path(ws.artifacts.root) / "sha256" / digest[:2] / digest


def _age_every_blob(ws: Workspace, seconds: float) -> None:
    then = time.time() - seconds
    for blob in ws.artifacts.iter_blobs():
        os.utime(_blob_path(ws, blob.digest), (then, then))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_gc_refuses_to_run_when_a_manifest_is_corrupted(workspace: Workspace, trained: Any) -> None:
    X, _, model = trained
    version = mlcycle.register_model("churn", model, input_example=X.head())
    with mlcycle.start_run(experiment="gc") as dead:
        pass
    mlcycle.delete_run(dead.id)
    manifest = _blob_path(workspace, version.bundle_digest)
    manifest.write_bytes(manifest.read_bytes().replace(b'"files"', b'"filez"'))
    before = {b.digest for b in workspace.artifacts.iter_blobs()}

    with pytest.raises(IntegrityError, match=f"refused.*{version.bundle_digest}"):
        collect_garbage(workspace, grace_s=0)
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == before
    assert workspace.store.get_run(dead.id).deleted  # not purged either

    result = _cli("gc", "--grace", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert version.bundle_digest in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == before


def test_gc_refuses_to_run_when_a_manifest_is_missing(workspace: Workspace, trained: Any) -> None:
    _, _, model = trained
    version = mlcycle.register_model("churn", model)
    _blob_path(workspace, version.bundle_digest).unlink()
    before = {b.digest for b in workspace.artifacts.iter_blobs()}
    with pytest.raises(mlcycle.exceptions.ArtifactError, match=version.bundle_digest):
        collect_garbage(workspace, grace_s=0)
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == before


@pytest.fixture
def orphaned_bundle(workspace: Workspace, trained: Any, tmp_path: Path) -> Path:
    """A bundle whose files were stored two hours ago by a registration that never inserted
    its version (killed): old, unreferenced blobs that a new registration will reuse."""
    X, _, model = trained
    path = tmp_path / "bundle"
    write_bundle(model, path, schema=Schema.from_dataframe(X.head()))
    upload_bundle(read_bundle(path), workspace)
    _age_every_blob(workspace, 7200)
    return path


@pytest.mark.parametrize("row_lands", ["before gc deletes", "after gc deletes"])
def test_gc_racing_a_registration_never_deletes_a_reused_blob(
    workspace: Workspace,
    orphaned_bundle: Path,
    trained: Any,
    row_lands: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """register_model runs between gc's scan and its deletions (a hook on the real store's
    listing), storing the same files again; its version row lands before gc deletes, or
    only after gc has finished."""
    X, _, model = trained
    uploaded, release = threading.Event(), threading.Event()
    store = workspace.store
    create_version = store.create_model_version

    def create_when_released(*args: Any, **kwargs: Any) -> Any:
        uploaded.set()
        assert release.wait(60)
        return create_version(*args, **kwargs)

    monkeypatch.setattr(store, "create_model_version", create_when_released)
    registered: list[Any] = []
    register = threading.Thread(
        target=lambda: registered.append(mlcycle.register_model("churn", bundle=orphaned_bundle))
    )
    scan = workspace.artifacts.iter_blobs

    def scan_then_register() -> Iterator[Any]:
        listed = list(scan())  # gc has seen every blob as old and unreferenced
        register.start()
        assert uploaded.wait(60)  # the registration has stored (claimed) every file
        if row_lands == "before gc deletes":
            release.set()
            register.join(60)
        yield from listed

    monkeypatch.setattr(workspace.artifacts, "iter_blobs", scan_then_register)
    report = collect_garbage(workspace)  # default grace: the blobs are two hours old
    release.set()
    register.join(60)
    monkeypatch.undo()

    assert registered and report.deleted_blobs == []
    bundle = mlcycle.load_model("churn/1")
    np.testing.assert_array_equal(bundle.predict(X), model.predict(X))
    assert collect_garbage(workspace, grace_s=0).deleted_blobs == []


def test_a_run_that_produced_a_version_cannot_be_deleted(
    workspace: Workspace, trained: Any
) -> None:
    _, _, model = trained
    with mlcycle.start_run(experiment="churn") as parent:
        with mlcycle.start_run(name="trial") as child:
            pass
        mlcycle.register_model("churn", model, run=parent)
    for run_id in (parent.id, child.id):
        assert not workspace.store.get_run(run_id).deleted

    with pytest.raises(ConflictError, match=rf"{parent.id}.*churn/1.*lineage"):
        mlcycle.delete_run(parent.id)
    result = _cli("delete-run", parent.id)
    assert result.returncode == 2 and "churn/1" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    mlcycle.delete_run(child.id)  # a trial that produced nothing may go
    report = collect_garbage(workspace, grace_s=0)
    assert report.purged_runs == [child.id]
    assert workspace.store.get_run(parent.id).id == parent.id
    assert mlcycle.load_model("churn/1").lineage["run_id"] == parent.id


def _soft_delete_directly(ws: Workspace, run_id: str) -> None:
    """A version's run deleted before deletion refused it (a database from older mlcycle)."""
    engine = sa.create_engine(ws.settings.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET deleted_at = 1 WHERE id = :id"), {"id": run_id})
    engine.dispose()


def test_gc_dry_run_lists_exactly_what_the_real_run_removes(
    workspace: Workspace, trained: Any, tmp_path: Path
) -> None:
    _, _, model = trained
    notes = tmp_path / "notes.txt"
    for n in range(3):
        notes.write_text(f"artifact of a deleted run {n}")
        with mlcycle.start_run(experiment="gc") as dead, mlcycle.start_run(name="trial"):
            mlcycle.log_artifact(notes)
        mlcycle.delete_run(dead.id)
    with mlcycle.start_run(experiment="gc") as producer:
        notes.write_text("the producing run's artifact")
        mlcycle.log_artifact(notes)
        mlcycle.register_model("churn", model, run=producer)
    _soft_delete_directly(workspace, producer.id)
    workspace.artifacts.put_bytes(b"an orphan")

    dry = collect_garbage(workspace, grace_s=0, dry_run=True)
    real = collect_garbage(workspace, grace_s=0)
    assert len(real.purged_runs) == 6 and len(real.deleted_blobs) == 4
    assert dry.purged_runs == real.purged_runs
    assert sorted(dry.deleted_blobs) == sorted(real.deleted_blobs)
    assert {**dry.to_dict(), "dry_run": False} == real.to_dict()
    # the version's run and its artifact are kept, so its lineage stays whole
    assert producer.id not in real.purged_runs
    kept = workspace.store.list_artifacts(producer.id)[0].digest
    assert workspace.artifacts.exists(kept)


def test_gc_cli_dry_run_reports_the_runs_it_would_purge(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="gc") as dead, mlcycle.start_run(name="trial"):
        pass
    mlcycle.delete_run(dead.id)
    dry = json.loads(_cli("gc", "--grace", "0", "--dry-run", "--json").stdout)
    real = json.loads(_cli("gc", "--grace", "0", "--json").stdout)
    assert dry["purged_runs"] == real["purged_runs"] == 2


_REGISTER_FOREVER = """
import mlcycle
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=50).fit(X, y)
while True:
    mlcycle.register_model("crashy", model)
"""


def _kill_mid_registration(env: dict[str, str], scratch_root: Path) -> Path:
    """SIGKILL a child while its bundle copy sits in a scratch folder of the workspace; the
    folder it leaves behind."""
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_REGISTER_FOREVER)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not list(scratch_root.glob("register-*/bundle")):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                if time.monotonic() > deadline:
                    pytest.fail(f"no registration used a scratch folder under {scratch_root}")
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        left = [p for p in scratch_root.glob("register-*") if p.is_dir()]
        if left:  # else the registration finished between the look and the kill: again
            return left[0]
    pytest.fail("the child was never killed while registering")


def test_gc_removes_the_bundle_copy_a_killed_registration_left_but_not_one_in_use(
    sqlite_workspace: Workspace, child_env: dict[str, str]
) -> None:
    workspace = sqlite_workspace
    stale = _kill_mid_registration(child_env, workspace.scratch_root)
    with workspace.scratch_dir("register") as in_use:
        (in_use / "bundle").mkdir()
        assert collect_garbage(workspace, dry_run=True).deleted_temp == 1
        assert stale.is_dir()
        assert collect_garbage(workspace).deleted_temp == 1
        assert not stale.exists() and in_use.is_dir()
    assert list(workspace.scratch_root.iterdir()) == []  # locks gone too


def test_the_next_registration_removes_a_killed_ones_bundle_copy(
    sqlite_workspace: Workspace, child_env: dict[str, str], trained: Any
) -> None:
    _, _, model = trained
    workspace = sqlite_workspace
    stale = _kill_mid_registration(child_env, workspace.scratch_root)
    with workspace.scratch_dir("register") as in_use:
        mlcycle.register_model("churn", model, workspace=workspace)
        assert not stale.exists() and in_use.is_dir()
