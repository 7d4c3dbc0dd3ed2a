"""The tracking API for users' own training code: runs, params, metrics, tags, artifacts.

Metric points are buffered and written in one transaction per batch (``metric_batch_size``
points, or after ``metric_flush_s`` seconds), and flushed when the run ends, on error and at
interpreter exit.

>>> import mlcycle
>>> with mlcycle.start_run(experiment="demo") as run:  # doctest: +SKIP
...     mlcycle.log_param("family", "lgbm")
...     for step, loss in enumerate([0.9, 0.5, 0.3]):
...         mlcycle.log_metric("loss", loss)
"""

from __future__ import annotations

import atexit
import json
import numbers
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mlcycle.exceptions import BadParameterError, ConflictError, MlcycleError, NotFoundError
from mlcycle.registry._artifacts import safe_relpath, symlink_refused
from mlcycle.registry._entities import Artifact, Run, RunStatus
from mlcycle.registry._names import check_key
from mlcycle.registry._workspace import Workspace, get_workspace

__all__ = [
    "ActiveRun",
    "active_run",
    "delete_run",
    "get_run",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]

_local = threading.local()
_open_runs: set[ActiveRun] = set()
_open_lock = threading.Lock()


def _stack() -> list[ActiveRun]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    stack: list[ActiveRun] = _local.stack
    return stack


class ActiveRun:
    """A run being logged to; use it as a context manager (``with start_run() as run``)."""

    def __init__(self, workspace: Workspace, run: Run, end_time: int | None = None) -> None:
        self._ws = workspace
        self._run = run
        self._end_time = end_time
        self._lock = threading.Lock()
        self._metrics: list[tuple[str, float, int, int]] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._logged_params: dict[str, str] = {}
        self._steps: dict[str, int] = {}
        self._oldest: float | None = None
        self._ended = False

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def info(self) -> Run:
        """The run as stored now (flushes buffered values first)."""
        self.flush()
        return self._ws.store.get_run(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} experiment={self._run.experiment!r}>"

    # -- logging ------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._check_open()
        with self._lock:
            for key, value in params.items():
                check_key(key, "param")
                text = str(value)
                old = self._logged_params.get(key)
                if old is not None and old != text:
                    raise ConflictError(
                        f"Param '{key}' is already {old!r} in run {self.id}; params cannot "
                        f"change (tried {text!r}). Use a tag or start a new run."
                    )
                self._logged_params[key] = text
                self._params[key] = text
            self._touch()
        self._maybe_flush()

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        self._check_open()
        check_key(key, "metric")
        number = _as_number(key, value)
        if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
            raise BadParameterError(f"The step of metric '{key}' must be an integer. Got {step!r}.")
        with self._lock:
            if step is None:
                step = self._steps.get(key, -1) + 1
            self._steps[key] = max(int(step), self._steps.get(key, -1))
            ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
            self._metrics.append((key, number, int(step), ts))
            self._touch()
        self._maybe_flush()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._check_open()
        with self._lock:
            for key, value in tags.items():
                self._tags[check_key(key, "tag")] = str(value)
            self._touch()
        self._maybe_flush()

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> list[str]:
        """Store a file (or every file under a folder); returns the logical paths recorded.

        A folder holding a symbolic link is refused, nothing stored: the link could bring
        in a file from outside it.
        """
        self._check_open()
        source = Path(local_path)
        in_folder = source.is_dir()
        if in_folder:
            files = _folder_files(source)
            prefix = artifact_path or source.name
            items = [(p, f"{prefix}/{p.relative_to(source).as_posix()}") for p in files]
        elif source.is_file():
            items = [(source, artifact_path or source.name)]
        else:
            raise NotFoundError(f"Cannot log artifact {source}: no such file or folder.")
        records = []
        for path, logical in items:
            logical = safe_relpath(logical)
            digest = self._ws.artifacts.put_file(path, follow_symlinks=not in_folder)
            records.append(Artifact(logical, digest, path.stat().st_size))
        self._ws.store.record_artifacts(self.id, records)
        return [r.path for r in records]

    def log_dict(self, data: Any, artifact_path: str) -> str:
        """Store a JSON-serialisable object as a JSON artifact."""
        self._check_open()
        logical = safe_relpath(artifact_path)
        payload = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
        digest = self._ws.artifacts.put_bytes(payload)
        self._ws.store.record_artifacts(self.id, [Artifact(logical, digest, len(payload))])
        return logical

    # -- buffering ----------------------------------------------------------------------
    def _touch(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()

    def _maybe_flush(self) -> None:
        settings = self._ws.settings
        if len(self._metrics) >= settings.metric_batch_size or (
            self._oldest is not None and time.monotonic() - self._oldest >= settings.metric_flush_s
        ):
            self.flush()

    def flush(self) -> None:
        """Write buffered metrics, params and tags now, in one transaction."""
        with self._lock:
            metrics, params, tags = self._metrics, self._params, self._tags
            self._metrics, self._params, self._tags = [], {}, {}
            self._oldest = None
            if metrics or params or tags:
                try:
                    self._ws.store.log_batch(self.id, metrics=metrics, params=params, tags=tags)
                except BaseException:
                    # keep the points for a retry; nothing is lost on a transient failure
                    self._metrics = metrics + self._metrics
                    self._params = {**params, **self._params}
                    self._tags = {**tags, **self._tags}
                    raise

    # -- lifecycle ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._ended:
            raise ConflictError(f"Run {self.id} has ended; start a new run to log more.")

    def end(self, status: str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush and mark the run final in one transaction; idempotent."""
        if self._ended:
            return
        with self._lock:
            metrics, params, tags = self._metrics, self._params, self._tags
            self._metrics, self._params, self._tags = [], {}, {}
            self._ended = True
        with _open_lock:
            _open_runs.discard(self)
        stack = _stack()
        if self in stack:
            stack.remove(self)
        store = self._ws.store
        try:
            store.finish_run(
                self.id,
                status,
                error=error,
                metrics=metrics,
                params=params,
                tags=tags,
                end_time=self._end_time,
            )
        except MlcycleError as exc:
            # the last batch was refused (e.g. a param conflict): the run still ends, FAILED
            store.finish_run(self.id, RunStatus.FAILED, error=error or f"final flush failed: {exc}")
            raise

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error="interrupted")
        else:
            self.end(RunStatus.FAILED, error=f"{exc_type.__name__}: {exc}")


def _folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted; ArtifactPathError naming a symbolic link in it
    (linked folders are not entered either)."""
    files = []
    for root, dirs, names in os.walk(folder):
        for name in sorted([*dirs, *names]):
            path = Path(root) / name
            if path.is_symlink():
                raise symlink_refused(path)
            if name in names and path.is_file():
                files.append(path)
    return sorted(files)


def _as_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadParameterError(
            f"Metric '{key}' must be a number. Got {value!r} ({type(value).__name__}) instead."
        )
    return float(value)


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    parent: ActiveRun | str | None = None,
    workspace: Workspace | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
) -> ActiveRun:
    """Start a run; inside another active run it becomes that run's child.

    ``experiment`` defaults to the parent's experiment, else ``"default"``.
    ``start_time`` and ``end_time`` (Unix ms) record work that began, or ended, before
    its run was opened (a trial logged after the search); by default the run starts now
    and ends when it is ended.
    """
    ws = workspace or get_workspace()
    stack = _stack()
    if parent is None and stack:
        parent = stack[-1]
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    if experiment is None:
        experiment = parent._run.experiment if isinstance(parent, ActiveRun) else "default"
    run = ws.store.create_run(
        experiment,
        name=name,
        user=ws.settings.user,
        parent_run_id=parent_id,
        tags={k: str(v) for k, v in (tags or {}).items()},
        start_time=start_time,
    )
    active = ActiveRun(ws, run, end_time)
    stack.append(active)
    with _open_lock:
        _open_runs.add(active)
    _install_exit_hooks()
    return active


def active_run() -> ActiveRun | None:
    """The innermost run started in this thread and not ended, if any."""
    stack = _stack()
    return stack[-1] if stack else None


def _current() -> ActiveRun:
    run = active_run()
    if run is None:
        raise ConflictError(
            "No active run: start one with `with mlcycle.start_run():` before logging."
        )
    return run


def log_param(key: str, value: Any) -> None:
    _current().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _current().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _current().log_metric(key, value, step=step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _current().log_metrics(metrics, step=step)


def set_tag(key: str, value: Any) -> None:
    _current().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _current().set_tags(tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[str]:
    return _current().log_artifact(local_path, artifact_path)


def get_run(run_id: str) -> Run:
    return get_workspace().store.get_run(run_id)


def delete_run(run_id: str) -> None:
    ws = get_workspace()
    ws.store.delete_run(run_id, actor=ws.settings.user)


def search_runs(
    experiment: str | Iterable[str] | None = None,
    filter: str | None = None,
    order_by: str | Iterable[str] | None = None,
    max_results: int = 1000,
    include_deleted: bool = False,
) -> list[Run]:
    """Runs matching ``filter``, e.g. ``"metrics.auc > 0.9 and params.family = 'lgbm'"``."""
    store = get_workspace().store
    experiments = [experiment] if isinstance(experiment, str) else experiment
    orders = [order_by] if isinstance(order_by, str) else order_by
    runs: list[Run] = []
    token: str | None = None
    while len(runs) < max_results:
        page = store.search_runs(
            experiments=list(experiments) if experiments else None,
            filter=filter,
            order_by=list(orders) if orders else None,
            max_results=min(max_results - len(runs), 10_000),
            page_token=token,
            include_deleted=include_deleted,
        )
        runs.extend(page.runs)
        token = page.next_page_token
        if token is None:
            break
    return runs


# -- process exit ---------------------------------------------------------------------------
_hooks_installed = False


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _end_all(RunStatus.FAILED, f"{kind.__name__}: {exc}")
        previous(kind, exc, tb)

    sys.excepthook = excepthook
    atexit.register(_end_all, RunStatus.FINISHED, None)


def _end_all(status: str, error: str | None) -> None:
    with _open_lock:
        runs = list(_open_runs)
    for run in runs:
        try:
            run.end(status, error)
        except Exception as exc:  # exiting: report, never raise
            print(f"mlcycle: could not close run {run.id}: {exc}", file=sys.stderr)
