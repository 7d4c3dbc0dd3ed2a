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
from mlcycle.exceptions import ArtifactError, BackupError
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
        digests |= bundle_files(ws.artifacts.get_bytes(digest), digest)
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
    for name in (n for n in order if n in meta["tables"]):
        info = meta["tables"][name]
        payload = (source / "tables" / f"{name}.jsonl").read_bytes()
        if hashlib.sha256(payload).hexdigest() != info["sha256"]:
            raise BackupError(f"Table file {name}.jsonl does not match its SHA-256 in backup.json.")
        rows = [json.loads(line) for line in payload.decode().splitlines() if line]
        tables.append((name, rows))
    return meta, tables


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
    size = 0
    for digest in meta["blobs"]:  # blobs first: no restored row may point at a missing one
        try:
            data = blobs.get_bytes(digest)
        except ArtifactError as exc:
            raise BackupError(f"The backup is damaged: {exc}") from exc
        ws.artifacts.put_bytes(data)
        size += len(data)
    ws.store.load_tables(tables)
    return BackupReport(
        source, {name: len(rows) for name, rows in tables}, len(meta["blobs"]), size
    )
