"""Backup and restore of a whole workspace: metadata and the artifacts it references.

A backup is a folder::

    backup.json              format, versions, schema revision, per-table row counts and SHA-256
    tables/<table>.jsonl     one JSON object per row, from one consistent database snapshot
    blobs/sha256/..          every referenced artifact, laid out as an artifact store

The metadata is read in a single snapshot transaction, so writers may keep running; blobs
are immutable and content-addressed, so copying them afterwards is consistent with it.
The folder is assembled under a temporary name and renamed when complete. A backup taken
from SQLite restores into PostgreSQL and back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcycle._version import __version__
from mlcycle.exceptions import ArtifactError, BackupError, MlcycleError
from mlcycle.registry._artifacts import ArtifactStore
from mlcycle.registry._db import head_revision
from mlcycle.registry._gc import bundle_files
from mlcycle.registry._tables import TABLES_IN_ORDER
from mlcycle.registry._workspace import Workspace, get_workspace

__all__ = ["BackupReport", "backup", "restore"]

FORMAT = 1


@dataclass
class BackupReport:
    path: Path
    tables: dict[str, int]
    blobs: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tables": self.tables,
            "blobs": self.blobs,
            "bytes": self.bytes,
        }


def _referenced(tables: dict[str, list[dict[str, Any]]], ws: Workspace) -> tuple[set[str], int]:
    digests = {row["digest"] for row in tables.get("run_artifacts", [])}
    bundles = {row["bundle_digest"] for row in tables.get("model_versions", [])}
    digests |= bundles
    for digest in bundles:
        digests |= bundle_files(ws.artifacts.get_bytes(digest))
    return digests, len(bundles)


def backup(path: str | Path, workspace: Workspace | None = None) -> BackupReport:
    """Take a consistent snapshot of the workspace into a new folder ``path``."""
    ws = workspace or get_workspace()
    target = Path(path).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(
            f"Backup target {target} already exists and is not empty; choose a new folder."
        )
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        (staging / "tables").mkdir(parents=True)
    except OSError as exc:
        raise BackupError(f"Cannot write the backup to {target}: {exc.strerror}.") from exc
    try:
        tables: dict[str, list[dict[str, Any]]] = {}
        summary: dict[str, dict[str, Any]] = {}
        for name, rows in ws.store.dump_tables():
            tables[name] = rows
            payload = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
            (staging / "tables" / f"{name}.jsonl").write_bytes(payload)
            summary[name] = {"rows": len(rows), "sha256": hashlib.sha256(payload).hexdigest()}
        digests, _ = _referenced(tables, ws)
        blobs = ArtifactStore(staging / "blobs")
        size = 0
        for digest in sorted(digests):
            data = ws.artifacts.get_bytes(digest)  # verified on read
            if blobs.put_bytes(data) != digest:
                raise BackupError(f"Artifact {digest[:12]}… changed while being copied.")
            size += len(data)
        meta = {
            "format": FORMAT,
            "mlcycle_version": __version__,
            "schema_revision": ws.store.schema_version(),
            "created_at": int(time.time() * 1000),
            "source": ws.settings.redacted_db_url(),
            "tables": summary,
            "blobs": sorted(digests),
        }
        (staging / "backup.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except ArtifactError as exc:
        raise BackupError(f"Backup failed, nothing was written to {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BackupReport(target, {k: v["rows"] for k, v in summary.items()}, len(digests), size)


def _read_backup(source: Path) -> tuple[dict[str, Any], list[tuple[str, list[dict[str, Any]]]]]:
    meta_path = source / "backup.json"
    if not meta_path.is_file():
        raise BackupError(f"{source} is not an mlcycle backup (no backup.json).")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise BackupError(f"{meta_path} is not valid JSON: the backup is damaged.") from exc
    _check_meta(meta)
    if meta.get("format") != FORMAT:
        raise BackupError(f"Backup format {meta.get('format')!r} is not supported here.")
    head = head_revision()
    if meta.get("schema_revision") != head:
        raise BackupError(
            f"The backup has schema revision {meta.get('schema_revision')}; this mlcycle "
            f"writes {head}. Restore it with the mlcycle version that took it "
            f"({meta.get('mlcycle_version')}), then upgrade with: mlcycle db upgrade."
        )
    tables = []
    order = [table.name for table in TABLES_IN_ORDER]
    unknown = set(meta["tables"]) - set(order)
    if unknown:
        raise BackupError(f"The backup holds unknown tables: {', '.join(sorted(unknown))}.")
    for table in (t for t in TABLES_IN_ORDER if t.name in meta["tables"]):
        name, info = table.name, meta["tables"][table.name]
        try:
            payload = (source / "tables" / f"{name}.jsonl").read_bytes()
        except OSError as exc:
            raise BackupError(f"Table file {name}.jsonl cannot be read: {exc.strerror}.") from exc
        if hashlib.sha256(payload).hexdigest() != info["sha256"]:
            raise BackupError(f"Table file {name}.jsonl does not match its SHA-256 in backup.json.")
        tables.append((name, _rows(table, payload)))
    return meta, tables


def _check_meta(meta: Any) -> None:
    """BackupError unless ``backup.json`` has the shape :func:`backup` writes; a backup is
    read before anything is restored from it (found by the fuzzing harness)."""
    tables = meta.get("tables") if isinstance(meta, dict) else None
    blobs = meta.get("blobs") if isinstance(meta, dict) else None
    if (
        not isinstance(tables, dict)
        or not all(
            isinstance(i, dict) and isinstance(i.get("sha256"), str) for i in tables.values()
        )
        or not isinstance(blobs, list)
        or not all(isinstance(digest, str) for digest in blobs)
    ):
        raise BackupError(
            "backup.json is damaged: it needs a 'tables' summary (each with its SHA-256) and "
            "a 'blobs' list. Take the backup again."
        )


def _fits(column: Any, value: Any) -> bool:
    """Whether a JSON value can go in ``column`` as :func:`backup` wrote it."""
    kind = column.type.python_type
    if value is None or isinstance(value, bool):
        return value is None or kind is bool
    return isinstance(value, int | float) if kind is float else isinstance(value, kind)


def _rows(table: Any, payload: bytes) -> list[dict[str, Any]]:
    """The rows of one table file, each checked against the table's columns (every column,
    a value for the key, value types), so that a crafted file is refused before the store
    sees it: SQLite would store a list or a text in an integer column."""
    columns = {column.name: column for column in table.columns}
    keys = [column.name for column in table.primary_key.columns]
    try:
        rows = [json.loads(line) for line in payload.decode().splitlines() if line]
    except ValueError as exc:
        raise BackupError(f"Table file {table.name}.jsonl is not JSON lines: {exc}.") from exc
    for number, row in enumerate(rows, 1):
        where = f"Row {number} of {table.name}.jsonl"
        if not isinstance(row, dict) or set(row) != set(columns):  # backup() writes them all
            raise BackupError(f"{where} is not an object of the columns {', '.join(columns)}.")
        if any(row[key] is None for key in keys):
            raise BackupError(f"{where} has no value for its key {', '.join(keys)}.")
        for name, value in row.items():
            if not _fits(columns[name], value):
                raise BackupError(f"{where}: {name} = {value!r:.60} is not of the column's type.")
    return rows


def restore(path: str | Path, workspace: Workspace | None = None) -> BackupReport:
    """Restore a backup into an empty workspace (metadata store and artifact store)."""
    ws = workspace or get_workspace()
    source = Path(path).expanduser().resolve()
    meta, tables = _read_backup(source)
    if not ws.store.is_empty():
        raise BackupError(
            "The workspace is not empty; restore only into a new workspace "
            "(set MLCYCLE_HOME or MLCYCLE_DB_URL to an empty one). Nothing was changed."
        )
    blobs = ArtifactStore(source / "blobs")
    size, added = 0, []
    try:
        for digest in meta["blobs"]:  # blobs first: no restored row may point at a missing one
            data = blobs.get_bytes(digest)
            if not ws.artifacts.exists(digest):
                added.append(digest)
            ws.artifacts.put_bytes(data)
            size += len(data)
        ws.store.load_tables(tables)
    except MlcycleError as exc:  # the tables are one transaction; the blobs it added go too
        for digest in added:
            ws.artifacts.delete(digest)
        raise BackupError(f"The backup is damaged: {exc} Nothing was restored.") from exc
    return BackupReport(
        source, {name: len(rows) for name, rows in tables}, len(meta["blobs"]), size
    )
