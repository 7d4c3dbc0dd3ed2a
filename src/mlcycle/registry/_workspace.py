"""The workspace: the settings in force, the metadata and artifact stores, opened lazily."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from mlcycle.config import Settings, get_settings, redact_url
from mlcycle.exceptions import ConfigError
from mlcycle.registry._artifacts import ArtifactStore
from mlcycle.registry._names import slug
from mlcycle.registry._store import BACKENDS, Store, store_class

__all__ = ["Workspace", "get_workspace", "reset_workspace"]


class Workspace:
    """Everything one mlcycle process talks to, built from :class:`~mlcycle.config.Settings`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def ensure_home(self) -> Path:
        """Create the workspace folder; ConfigError if it cannot be created or written."""
        home = self.settings.home
        try:
            home.mkdir(parents=True, exist_ok=True)
            probe = home / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"The workspace {home} is not writable: {exc.strerror or exc}. "
                "Set MLCYCLE_HOME to a writable directory."
            ) from exc
        return home

    @cached_property
    def store(self) -> Store:
        url = self.settings.database_url
        try:
            scheme = make_url(url).get_backend_name()
        except ArgumentError as exc:
            raise ConfigError(
                f"MLCYCLE_DB_URL '{redact_url(url)}' is malformed. Expected e.g. "
                "postgresql+psycopg://user@host/db or sqlite:///path/mlcycle.db."
            ) from exc
        if scheme not in BACKENDS:
            raise ConfigError(
                f"MLCYCLE_DB_URL uses '{scheme}', which mlcycle does not support. "
                f"Use one of: {', '.join(sorted(BACKENDS))}."
            )
        if self.settings.db_url is None:
            self.ensure_home()
        return store_class(scheme)(url, busy_timeout_s=self.settings.busy_timeout_s)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        if self.settings.artifacts is None:
            self.ensure_home()
        return ArtifactStore(self.settings.artifacts_url)

    def report_folder(self, label: str) -> Path:
        """The folder ``reports/<label>`` in the workspace, created, ``label`` made a safe
        file name first: labels come from model names, file stems and column names, and a
        column may well be called ``../../x``. ConfigError if the folder resolves elsewhere
        (a symbolic link planted there)."""
        reports = self.settings.home / "reports"
        folder = reports / slug(label, "report")
        if not folder.resolve().is_relative_to(reports.resolve()):
            raise ConfigError(
                f"The report folder {folder} leads outside {reports} (a symbolic link?). "
                "Remove it and run again."
            )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def cache_dir(self) -> Path:
        return self.settings.home / "cache"

    @property
    def scratch_root(self) -> Path:
        return self.settings.home / "tmp"

    @contextlib.contextmanager
    def scratch_dir(self, purpose: str) -> Iterator[Path]:
        """A new private folder under ``$MLCYCLE_HOME/tmp`` for the block, removed after it.

        Work files (a bundle being registered) stay in the workspace, never in a shared
        ``/tmp``. The folder is locked while in use, by an ``flock`` on ``<folder>.lock``
        that the kernel releases when its process dies (even by ``kill -9``), so
        :meth:`clean_scratch` removes what a killed process left and never a folder in use.
        """
        root = self.ensure_home() / "tmp"
        root.mkdir(exist_ok=True)
        name = f"{purpose}-{uuid.uuid4().hex}"
        folder, lock_path = root / name, root / f"{name}.lock"
        pending = root / f".{name}.lock.new"  # locked before it gets a name cleaners look at
        with pending.open("wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pending.rename(lock_path)
            try:
                folder.mkdir()
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                lock_path.unlink(missing_ok=True)

    def clean_scratch(self, *, dry_run: bool = False) -> int:
        """Remove the scratch folders of processes that died using them; returns how many."""
        root = self.scratch_root
        if not root.is_dir():
            return 0
        removed = 0
        for entry in sorted(root.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                folder = entry
            elif entry.suffix == ".lock" and not entry.with_suffix("").exists():
                folder = entry.with_suffix("")  # a lock whose folder is already gone
            else:
                continue
            lock_path = root / f"{folder.name}.lock"
            if lock_path.exists() and not _unlocked(lock_path):
                continue  # in use
            removed += folder is entry
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
        return removed

    def database_revision(self) -> tuple[str | None, str]:
        """(the database's schema revision or None if empty, the revision this mlcycle writes).

        Works on databases too old or too new to open as a store.
        """
        from mlcycle.registry._db import current_revision, head_revision, make_engine, unavailable

        if self.settings.db_url is None:
            self.ensure_home()
        url = self.settings.database_url
        engine = make_engine(url, busy_timeout_s=self.settings.busy_timeout_s)
        try:
            with engine.connect() as conn:
                return current_revision(conn), head_revision()
        except OperationalError as exc:
            raise unavailable(url, exc) from exc
        finally:
            engine.dispose()

    def upgrade_database(self) -> tuple[str | None, str]:
        """Migrate the database to this mlcycle's schema; returns (before, after)."""
        from mlcycle.registry._db import make_engine, upgrade_schema

        if self.settings.db_url is None:
            self.ensure_home()
        url = self.settings.database_url
        engine = make_engine(url, busy_timeout_s=self.settings.busy_timeout_s)
        try:
            return upgrade_schema(engine, url)
        finally:
            engine.dispose()

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]


def _unlocked(lock_path: Path) -> bool:
    """True if no process holds the scratch folder's lock (its owner died)."""
    try:
        with lock_path.open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # closing the file releases the lock at once
    except BlockingIOError:
        return False
    except FileNotFoundError:  # its owner finished meanwhile
        return False


_lock = threading.Lock()
_current: Workspace | None = None


def get_workspace() -> Workspace:
    """The process-wide workspace for the settings in force."""
    global _current
    with _lock:
        if _current is None or _current.settings is not get_settings():
            _current = Workspace(get_settings())
        return _current


def reset_workspace() -> None:
    """Close and forget the process-wide workspace (tests, settings changes)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None


def _after_fork() -> None:
    global _current
    _current = None


os.register_at_fork(after_in_child=_after_fork)
