"""The tracking SDK as users' training code sees it: runs, buffered metrics, artifacts."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlcycle
from mlcycle.config import reset_settings
from mlcycle.exceptions import ArtifactPathError, MlcycleError
from mlcycle.registry import Workspace, get_workspace, reset_workspace

RunPython = Callable[..., Any]


def _reopen(monkeypatch: pytest.MonkeyPatch, **env: str) -> Workspace:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    reset_workspace()
    return get_workspace()


def _points(ws: Workspace, run_id: str, key: str = "loss") -> int:
    return len(ws.store.metric_history(run_id, key))


# -- buffering ------------------------------------------------------------------------------


def test_metrics_are_written_in_batches_and_all_on_exit(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _reopen(monkeypatch, MLCYCLE_METRIC_BATCH_SIZE="10", MLCYCLE_METRIC_FLUSH_S="3600")
    with mlcycle.start_run(experiment="batched") as run:
        mlcycle.log_param("family", "lgbm")
        seen = []
        for i in range(25):
            mlcycle.log_metric("loss", 1.0 / (i + 1))
            seen.append(_points(ws, run.id))
        assert seen == [0] * 9 + [10] * 10 + [20] * 6
        assert ws.store.get_run(run.id).params == {"family": "lgbm"}  # went with a batch
    assert _points(ws, run.id) == 25
    history = ws.store.metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(25))
    assert ws.store.get_run(run.id).metrics == {"loss": 1.0 / 25}


def test_metrics_are_flushed_after_the_flush_interval(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _reopen(monkeypatch, MLCYCLE_METRIC_BATCH_SIZE="1000", MLCYCLE_METRIC_FLUSH_S="0.2")
    with mlcycle.start_run(experiment="timed") as run:
        mlcycle.log_metric("loss", 1.0)
        assert _points(ws, run.id) == 0
        time.sleep(0.3)
        mlcycle.log_metric("loss", 0.5)
        assert _points(ws, run.id) == 2


def test_buffered_metrics_are_flushed_when_the_block_raises(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), mlcycle.start_run(experiment="e") as run:
        for i in range(5):
            mlcycle.log_metric("loss", float(i))
        mlcycle.set_tag("phase", "train")
        _ = 1 / 0
    stored = workspace.store.get_run(run.id)
    assert stored.status == "FAILED"
    assert stored.error is not None and stored.error.startswith("ZeroDivisionError")
    assert _points(workspace, run.id) == 5
    assert stored.tags == {"phase": "train"}


def test_info_flushes_first(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="e") as run:
        run.log_metrics({"a": 1, "b": 2.5}, step=3)
        run.set_tags({"t": 1})
        info = run.info
        assert info.metrics == {"a": 1.0, "b": 2.5}
        assert info.tags == {"t": "1"}
        assert info.status == "RUNNING"
    assert workspace.store.metric_history(run.id, "a")[0].step == 3


def test_explicit_steps_and_automatic_steps_continue(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="e") as run:
        run.log_metric("loss", 0.9, step=10)
        run.log_metric("loss", 0.8)
        run.log_metric("loss", 0.7, timestamp=123)
    history = workspace.store.metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(10, 0.9), (11, 0.8), (12, 0.7)]
    assert history[-1].timestamp == 123


# -- process exit ---------------------------------------------------------------------------


def test_a_run_left_open_is_finished_with_all_metrics_at_exit(
    workspace: Workspace, run_python: RunPython
) -> None:
    result = run_python(
        """
        import mlcycle
        run = mlcycle.start_run(experiment="script")
        mlcycle.log_param("lr", 0.1)
        for i in range(37):
            mlcycle.log_metric("loss", 1 / (i + 1))
        print(run.id)
        """
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    stored = workspace.store.get_run(run_id)
    assert (stored.status, stored.error) == ("FINISHED", None)
    assert stored.params == {"lr": "0.1"}
    assert _points(workspace, run_id) == 37


def test_an_uncaught_exception_fails_the_open_run(
    workspace: Workspace, run_python: RunPython
) -> None:
    result = run_python(
        """
        import mlcycle
        run = mlcycle.start_run(experiment="script")
        mlcycle.log_metric("loss", 0.3)
        print(run.id, flush=True)
        raise RuntimeError("disk full")
        """
    )
    assert result.returncode == 1
    assert "RuntimeError: disk full" in result.stderr  # the traceback is still shown
    stored = workspace.store.get_run(result.stdout.strip())
    assert (stored.status, stored.error) == ("FAILED", "RuntimeError: disk full")
    assert stored.metrics == {"loss": 0.3}


# -- refused input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [("high", "'high' \\(str\\)"), (None, "None \\(NoneType\\)"), (True, "True \\(bool\\)")],
)
def test_metric_values_must_be_numbers(workspace: Workspace, value: object, shown: str) -> None:
    with mlcycle.start_run(experiment="e") as run:
        with pytest.raises(MlcycleError, match=f"Metric 'loss' must be a number. Got {shown}"):
            mlcycle.log_metric("loss", value)  # type: ignore[arg-type]
        with pytest.raises(MlcycleError, match="step of metric 'loss' must be an integer"):
            mlcycle.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]
    assert _points(workspace, run.id) == 0


def test_numpy_numbers_are_accepted(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="e") as run:
        run.log_metric("a", np.float32(0.5), step=np.int64(2))  # type: ignore[arg-type]
        run.log_metric("b", np.int64(7))  # type: ignore[arg-type]
    assert workspace.store.get_run(run.id).metrics == {"a": 0.5, "b": 7.0}


def test_logging_without_an_active_run_is_refused(workspace: Workspace) -> None:
    calls = [
        lambda: mlcycle.log_metric("loss", 1.0),
        lambda: mlcycle.log_param("lr", 1),
        lambda: mlcycle.set_tag("a", "b"),
        lambda: mlcycle.log_artifact(__file__),
    ]
    for call in calls:
        with pytest.raises(MlcycleError, match="No active run: start one with"):
            call()


def test_logging_to_an_ended_run_is_refused(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="e") as run:
        pass
    with pytest.raises(MlcycleError, match=f"Run {run.id} has ended; start a new run"):
        run.log_metric("loss", 1.0)
    run.end()  # idempotent
    assert workspace.store.get_run(run.id).status == "FINISHED"


# -- artifacts ------------------------------------------------------------------------------


def test_log_artifact_file_and_folder(workspace: Workspace, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("auc 0.93")
    plots = tmp_path / "plots"
    (plots / "sub").mkdir(parents=True)
    (plots / "roc.png").write_bytes(b"\x89PNG roc")
    (plots / "sub" / "pr.png").write_bytes(b"\x89PNG pr")
    with mlcycle.start_run(experiment="e") as run:
        assert mlcycle.log_artifact(report) == ["report.txt"]
        assert mlcycle.log_artifact(report, "reports/final.txt") == ["reports/final.txt"]
        assert mlcycle.log_artifact(plots) == ["plots/roc.png", "plots/sub/pr.png"]
        assert run.log_dict({"a": 1}, "meta/info.json") == "meta/info.json"
    stored = {a.path: a for a in workspace.store.list_artifacts(run.id)}
    assert sorted(stored) == [
        "meta/info.json",
        "plots/roc.png",
        "plots/sub/pr.png",
        "report.txt",
        "reports/final.txt",
    ]
    for path, source in [("report.txt", report), ("plots/sub/pr.png", plots / "sub" / "pr.png")]:
        data = source.read_bytes()
        assert stored[path].digest == hashlib.sha256(data).hexdigest()
        assert stored[path].size == len(data)
        assert workspace.artifacts.get_bytes(stored[path].digest) == data
    assert stored["report.txt"].digest == stored["reports/final.txt"].digest


def test_log_artifact_refuses_missing_files_and_escaping_paths(
    workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    with mlcycle.start_run(experiment="e") as run:
        with pytest.raises(MlcycleError, match="no such file or folder"):
            mlcycle.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(ArtifactPathError, match="is not allowed"):
            mlcycle.log_artifact(source, "../outside.txt")
    assert workspace.store.list_artifacts(run.id) == []


@pytest.mark.parametrize("link", ["file", "folder"])
def test_log_artifact_never_follows_a_symlink_inside_a_folder(
    workspace: Workspace, tmp_path: Path, link: str
) -> None:
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "roc.png").write_bytes(b"\x89PNG roc")
    if link == "file":
        (plots / "passwd").symlink_to(secret)
    else:
        (plots / "more").symlink_to(secret.parent, target_is_directory=True)
    with (
        mlcycle.start_run(experiment="e") as run,
        pytest.raises(ArtifactPathError, match=r"symbolic link.*Nothing was stored"),
    ):
        mlcycle.log_artifact(plots)
    assert workspace.store.list_artifacts(run.id) == []
    stored = {workspace.artifacts.get_bytes(b.digest) for b in workspace.artifacts.iter_blobs()}
    assert secret.read_bytes() not in stored
    # a file named on its own is read where its link points: the caller chose that file
    chosen = tmp_path / "chosen.png"
    chosen.symlink_to(plots / "roc.png")
    with mlcycle.start_run(experiment="e") as run:
        assert mlcycle.log_artifact(chosen) == ["chosen.png"]
    digest = workspace.store.list_artifacts(run.id)[0].digest
    assert workspace.artifacts.get_bytes(digest) == b"\x89PNG roc"
