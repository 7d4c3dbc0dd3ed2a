"""Backup and restore: a faithful, consistent copy that restores anywhere, or a clear refusal."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlcycle
from mlcycle.config import load_settings
from mlcycle.exceptions import BackupError
from mlcycle.registry import Workspace, backup, restore

Trained = tuple[Any, Any, Any]
NewWorkspace = Callable[..., Workspace]


def _populate(ws: Workspace, trained: Trained, tmp_path: Path) -> dict[str, Any]:
    """Runs with every kind of value, artifacts, a deleted run, versions and alias history."""
    _, _, model = trained
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on the March extract")
    with mlcycle.start_run(experiment="churn", tags={"team": "growth"}, workspace=ws) as parent:
        parent.log_params({"family": "logistic", "C": 1.0})
        for value in (0.5, math.nan, math.inf):
            parent.log_metric("loss", value)
        parent.log_artifact(notes)
        with mlcycle.start_run(name="child", parent=parent, workspace=ws) as child:
            child.log_metric("auc", 0.9)
        mlcycle.register_model("churn", model, alias="production", workspace=ws, run=parent)
        mlcycle.register_model("churn", model, metrics={"auc": 0.9}, workspace=ws, run=parent)
    ws.store.set_alias("churn", "production", 2, actor="ann")
    ws.store.rollback_alias("churn", "production", actor="bob")
    with mlcycle.start_run(experiment="scratch", workspace=ws) as dead:
        pass
    ws.store.delete_run(dead.id, actor="ann")
    return {"parent": parent.id, "child": child.id, "dead": dead.id}


def _tables(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    return dict(ws.store.dump_tables())


def _blobs(ws: Workspace) -> dict[str, bytes]:
    return {b.digest: ws.artifacts.get_bytes(b.digest) for b in ws.artifacts.iter_blobs()}


def _assert_same(source: Workspace, target: Workspace) -> None:
    expected, actual = _tables(source), _tables(target)
    assert list(actual) == list(expected)
    for name, rows in expected.items():
        assert actual[name] == rows, name
    assert _blobs(target) == _blobs(source)


def _assert_serves(target: Workspace, trained: Trained) -> None:
    X, _, model = trained
    bundle = mlcycle.load_model("churn@production", workspace=target)
    np.testing.assert_array_equal(bundle.predict(X), model.predict(X))
    assert target.store.resolve_alias("churn", "production").version == 1


def test_round_trip_restores_everything(
    workspace: Workspace,
    backend: str,
    new_workspace: NewWorkspace,
    trained: Trained,
    tmp_path: Path,
) -> None:
    ids = _populate(workspace, trained, tmp_path)
    report = backup(tmp_path / "bk", workspace)
    assert report.tables["runs"] == 3
    assert report.tables["model_versions"] == 2
    assert report.blobs == len(_blobs(workspace))
    assert not list(tmp_path.glob(".bk.*"))  # no staging folder left behind

    target = new_workspace(backend)
    restored = restore(tmp_path / "bk", target)
    assert restored.tables == report.tables
    _assert_same(workspace, target)
    _assert_serves(target, trained)
    assert target.store.get_run(ids["dead"]).deleted
    assert target.store.get_run(ids["child"]).parent_run_id == ids["parent"]
    assert math.isnan(target.store.metric_history(ids["parent"], "loss")[1].value)

    # the restored workspace keeps working: new ids do not collide with restored ones
    version = mlcycle.register_model("churn", trained[2], alias="production", workspace=target)
    assert version.version == 3
    assert target.store.rollback_alias("churn", "production", actor="cy").to_version == 1
    with mlcycle.start_run(experiment="after-restore", workspace=target) as run:
        run.log_metric("loss", 0.1)
    assert target.store.get_run(run.id).metrics == {"loss": 0.1}
    assert len(target.store.list_experiments()) == 3


def _serve_traffic(ws: Workspace, trained: Trained) -> None:
    """Predictions, labels and refusals written by the server's own log writers."""
    from mlcycle.predlog import (
        FeedbackRecord,
        RefusalRecord,
        feedback_root,
        predictions_root,
        refused_root,
    )
    from mlcycle.serving import FeedbackLog, PredictionLog
    from mlcycle.serving._predlog import RefusalLog

    X, y, _ = trained
    bundle = mlcycle.load_model("churn@production", workspace=ws)
    rows = X.sample(300, random_state=0)
    outputs = bundle.predict_outputs(rows)
    home, now = ws.settings.home, time.time()
    predictions = PredictionLog(predictions_root(home))
    predictions.append(
        model="churn", version=1, classes=list(outputs.classes),
        requests=[(f"r{i}", 1, 2.0 + i % 7, "production", "primary") for i in range(len(rows))],
        columns={c: rows[c].tolist() for c in rows.columns}, schema=bundle.schema,
        predictions=outputs.labels,
        probabilities=outputs.probabilities, timestamp=now,
    )  # fmt: skip
    feedback = FeedbackLog(feedback_root(home))
    labels = y.loc[rows.index].tolist()
    feedback.append(
        model="churn",
        records=[FeedbackRecord.of(f"r{i}-0", label, now) for i, label in enumerate(labels)],
    )
    refusals = RefusalLog(refused_root(home))
    refused = RefusalRecord.of(
        request_id="bad", timestamp=now, alias="production", role="primary", rows=2,
        issues=[{"code": "missing", "column": "mean radius"}],
    )  # fmt: skip
    refusals.append(model="churn", version=1, record=refused)
    for log in (predictions, feedback, refusals):
        log.close()


def test_restore_brings_back_the_monitoring_history(
    workspace: Workspace,
    backend: str,
    new_workspace: NewWorkspace,
    trained: Trained,
    tmp_path: Path,
) -> None:
    from mlcycle.monitoring import monitor, read_feedback

    X, _, model = trained
    mlcycle.register_model(
        "churn", model, reference_data=X, alias="production", workspace=workspace
    )
    _serve_traffic(workspace, trained)
    before = monitor("churn", notify=False, workspace=workspace)
    assert before.rows == 300 and before.report_path is not None
    moving = ("report", "freshness")  # where it was written; "n s ago" moves with the clock
    expected = {k: v for k, v in before.to_dict().items() if k not in moving}
    assert before.newest is not None
    assert expected["performance"] and expected["refused"]
    report = backup(tmp_path / "bk", workspace)

    target = new_workspace(backend)
    restored = restore(tmp_path / "bk", target)
    after = monitor("churn", report=False, notify=False, workspace=target)
    assert {k: v for k, v in after.to_dict().items() if k not in moving} == expected
    assert after.newest == before.newest
    assert len(read_feedback("churn", workspace=target)) == 300
    home = workspace.settings.home
    restored_report = target.settings.home / before.report_path.relative_to(home)
    assert restored_report.read_bytes() == before.report_path.read_bytes()
    assert restored.files == report.files >= 4  # three logs and the monitor's reports


def test_sqlite_backup_restores_into_postgresql(
    clean_env: Path, new_workspace: NewWorkspace, trained: Trained, tmp_path: Path
) -> None:
    source = Workspace(load_settings())
    assert source.settings.database_url.startswith("sqlite")
    _populate(source, trained, tmp_path)
    backup(tmp_path / "bk", source)
    target = new_workspace("postgresql")
    restore(tmp_path / "bk", target)
    _assert_same(source, target)
    _assert_serves(target, trained)
    target.store.set_alias("churn", "staging", 2, actor="dee")
    assert target.store.audit_events(limit=1)[0].action == "alias.promote"
    source.close()


def test_restore_into_a_non_empty_workspace_is_refused_and_changes_nothing(
    workspace: Workspace, new_workspace: NewWorkspace, trained: Trained, tmp_path: Path
) -> None:
    _populate(workspace, trained, tmp_path)
    backup(tmp_path / "bk", workspace)
    target = new_workspace("sqlite")
    with mlcycle.start_run(experiment="mine", workspace=target) as run:
        run.log_artifact(Path(__file__))
    tables, blobs = _tables(target), _blobs(target)
    with pytest.raises(BackupError, match=r"workspace is not empty.*Nothing was changed"):
        restore(tmp_path / "bk", target)
    assert _tables(target) == tables
    assert _blobs(target) == blobs


def test_backup_never_overwrites(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "precious.txt").write_text("keep")
    with pytest.raises(BackupError, match="already exists and is not empty"):
        backup(tmp_path / "bk", workspace)
    assert [p.name for p in (tmp_path / "bk").iterdir()] == ["precious.txt"]


# -- damaged backups ------------------------------------------------------------------------


@pytest.fixture
def taken(workspace: Workspace, trained: Trained, tmp_path: Path) -> Path:
    _populate(workspace, trained, tmp_path)
    backup(tmp_path / "bk", workspace)
    return tmp_path / "bk"


def _edit_runs_table(bk: Path) -> None:
    path = bk / "tables" / "runs.jsonl"
    path.write_text(path.read_text().replace('"FINISHED"', '"FAILED"', 1))


def _edit_blob(bk: Path) -> None:
    blob = next(p for p in (bk / "blobs" / "sha256").rglob("*") if p.is_file())
    blob.write_bytes(blob.read_bytes() + b"!")


def _drop_blob(bk: Path) -> None:
    next(p for p in (bk / "blobs" / "sha256").rglob("*") if p.is_file()).unlink()


def _edit_revision(bk: Path) -> None:
    meta = json.loads((bk / "backup.json").read_text())
    meta["schema_revision"] = "0000"
    (bk / "backup.json").write_text(json.dumps(meta))


def _drop_meta(bk: Path) -> None:
    (bk / "backup.json").unlink()


def _garble_meta(bk: Path) -> None:
    (bk / "backup.json").write_text("{not json")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_edit_runs_table, "Table file runs.jsonl does not match its SHA-256"),
        (_edit_blob, "The backup is damaged: .*does not match its SHA-256"),
        (_drop_blob, "The backup is damaged: .*is missing"),
        (_edit_revision, "The backup has schema revision 0000; this mlcycle writes 0002"),
        (_drop_meta, "is not an mlcycle backup"),
        (_garble_meta, "backup.json is not valid JSON: the backup is damaged"),
    ],
)
def test_a_damaged_backup_is_refused(
    taken: Path, new_workspace: NewWorkspace, damage: Callable[[Path], None], message: str
) -> None:
    damage(taken)
    target = new_workspace("sqlite")
    with pytest.raises(BackupError, match=message):
        restore(taken, target)
    assert target.store.is_empty()
    assert _tables(target)["audit_events"] == []
    assert _blobs(target) == {}  # checked whole before anything is written


def _unlist(bk: Path, digest: str) -> None:
    """Remove a blob from the backup and from backup.json's list, as if never taken."""
    meta = json.loads((bk / "backup.json").read_text())
    meta["blobs"].remove(digest)
    (bk / "backup.json").write_text(json.dumps(meta))
    (bk / "blobs" / "sha256" / digest[:2] / digest).unlink()


def _run_artifact(bk: Path) -> tuple[str, str]:
    rows = (bk / "tables" / "run_artifacts.jsonl").read_text().splitlines()
    return json.loads(rows[0])["digest"], "artifact 'notes.txt' of run"


def _model_file(bk: Path) -> tuple[str, str]:
    version = json.loads((bk / "tables" / "model_versions.jsonl").read_text().splitlines()[0])
    manifest = bk / "blobs" / "sha256" / version["bundle_digest"][:2] / version["bundle_digest"]
    return json.loads(manifest.read_bytes())["files"]["model/model.skops"]["sha256"], (
        "a file of model version churn/1"
    )


@pytest.mark.parametrize("missing", [_run_artifact, _model_file])
def test_restore_refuses_rows_that_reference_a_blob_the_backup_does_not_hold(
    taken: Path, new_workspace: NewWorkspace, missing: Callable[[Path], tuple[str, str]]
) -> None:
    digest, what = missing(taken)
    _unlist(taken, digest)
    target = new_workspace("sqlite")
    with pytest.raises(BackupError, match=rf"damaged: {what}.*{digest[:12]}.*Nothing was changed"):
        restore(taken, target)
    assert target.store.is_empty() and _blobs(target) == {}


def test_restore_refuses_a_file_entry_outside_the_workspace_folders(
    taken: Path, new_workspace: NewWorkspace, tmp_path: Path
) -> None:
    (taken / "files" / "reports").mkdir(parents=True, exist_ok=True)
    evil = taken / "files" / "reports" / "x"
    evil.write_text("x")
    meta = json.loads((taken / "backup.json").read_text())
    for name in ("../../escaped.txt", "config.toml"):
        meta["files"] = {name: {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}}
        (taken / "backup.json").write_text(json.dumps(meta))
        target = new_workspace("sqlite")
        with pytest.raises(BackupError, match="damaged: file"):
            restore(taken, target)
        assert target.store.is_empty() and not list(target.settings.home.rglob("*.txt"))


# -- consistency under writes ---------------------------------------------------------------

_WRITER = """
import sys, time
from pathlib import Path
import mlcycle
stop, scratch = Path(sys.argv[1]), Path(sys.argv[2])
i = 0
while not stop.exists():
    with mlcycle.start_run(experiment="busy") as run:
        mlcycle.log_param("i", i)
        for step in range(3):
            mlcycle.log_metric("loss", 1 / (i + step + 1))
        note = scratch / f"note-{i}.txt"
        note.write_text(f"run {i}")
        mlcycle.log_artifact(note)
        mlcycle.set_tag("done", "yes")
    print(i, flush=True)
    i += 1
"""


def _check_consistent(bk: Path) -> int:
    meta = json.loads((bk / "backup.json").read_text())
    rows = {
        name: [
            json.loads(line)
            for line in (bk / "tables" / f"{name}.jsonl").read_text().split("\n")
            if line
        ]
        for name in meta["tables"]
    }
    for name, info in meta["tables"].items():
        assert len(rows[name]) == info["rows"], name
    run_ids = {r["id"] for r in rows["runs"]}
    for name in ("params", "tags", "metrics", "latest_metrics", "run_artifacts"):
        assert {r["run_id"] for r in rows[name]} <= run_ids, name
    blobs = {p.name for p in (bk / "blobs" / "sha256").rglob("*") if p.is_file()}
    assert {r["digest"] for r in rows["run_artifacts"]} <= blobs
    assert set(meta["blobs"]) == blobs
    return len(run_ids)


@pytest.mark.slow
def test_backup_while_a_writer_logs_runs_is_consistent(
    workspace: Workspace,
    new_workspace: NewWorkspace,
    child_env: dict[str, str],
    tmp_path: Path,
) -> None:
    (tmp_path / "scratch").mkdir()
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WRITER), str(stop), str(tmp_path / "scratch")],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "0", "the writer did not get going"
        counts = []
        for n in range(3):
            backup(tmp_path / f"bk{n}", workspace)
            counts.append(_check_consistent(tmp_path / f"bk{n}"))
            time.sleep(0.1)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert counts == sorted(counts) and counts[0] >= 1
    assert counts[-1] <= len(out.split()) + 2  # no more runs than were started

    for n in range(3):
        target = new_workspace("sqlite")
        restore(tmp_path / f"bk{n}", target)
        runs = target.store.search_runs(max_results=10_000).runs
        assert len(runs) == counts[n]
        for run in runs:
            for artifact in target.store.list_artifacts(run.id):
                assert target.artifacts.get_bytes(artifact.digest).startswith(b"run ")
