"""Backup and restore of a whole workspace: metadata, artifacts, logs and reports.

A backup is a folder::

    backup.json              format, versions, schema revision, per-table row counts and SHA-256,
                             the SHA-256 and size of every file under files/
    tables/<table>.jsonl     one JSON object per row, from one consistent database snapshot
    blobs/sha256/..          every referenced artifact, laid out as an artifact store
    files/<folder>/..        the workspace's prediction, feedback and refusal logs (monitoring's
                             history) and its reports, as they are under $MLCYCLE_HOME

Left out, on purpose: ``cache/`` (rebuilt from the artifacts), ``tmp/`` (work in progress)
and ``config.toml`` (settings, which may name credentials: copy it yourself).

The metadata is read in a single snapshot transaction, so writers may keep running; blobs
are immutable and content-addressed, so copying them afterwards is consistent with it. Log
files are immutable once named (writers rename them into place); one named after the
snapshot may be in the backup or not. The folder is assembled under a temporary name and
renamed when complete. A backup taken from SQLite restores into PostgreSQL and back.

A restore checks everything before it writes anything: every table against its SHA-256,
every artifact the rows reference (run artifacts, bundle manifests and the files they
list) present and matching its digest, every file against backup.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcycle._version import __version__
from mlcycle.exceptions import ArtifactError, BackupError, MlcycleError
from mlcycle.predlog import FEEDBACK_DIR, PREDICTIONS_DIR, REFUSED_DIR
from mlcycle.registry._artifacts import ArtifactStore, resolve_within, safe_relpath
from mlcycle.registry._db import head_revision
from mlcycle.registry._gc import bundle_files
from mlcycle.registry._tables import TABLES_IN_ORDER
from mlcycle.registry._workspace import Workspace, get_workspace

__all__ = ["BackupReport", "backup", "restore"]

FORMAT = 2  # 2: files/ (logs and reports); 1 had none and still restores
_READABLE = (1, 2)

#: The folders of $MLCYCLE_HOME a backup carries besides metadata and artifacts.
WORKSPACE_FOLDERS = (PREDICTIONS_DIR, FEEDBACK_DIR, REFUSED_DIR, "reports")


@dataclass
class BackupReport:
    path: Path
    tables: dict[str, int]
    blobs: int
    bytes: int
    files: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tables": self.tables,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "files": self.files,
        }


Tables = Mapping[str, list[dict[str, Any]]]


def _referenced(tables: Tables, read: Callable[[str, str], bytes]) -> dict[str, str]:
    """Every artifact digest the rows reference, each with what references it (for
    messages); ``read(digest, what)`` returns a bundle manifest's bytes."""
    try:
        refs = {
            row["digest"]: f"artifact '{row['path']}' of run {row['run_id']}"
            for row in tables.get("run_artifacts", [])
        }
        for row in tables.get("model_versions", []):
            version = f"model version {row['model_name']}/{row['version']}"
            digest = row["bundle_digest"]
            refs[digest] = f"the manifest of {version}"
            for file in bundle_files(read(digest, refs[digest]), digest):
                refs.setdefault(file, f"a file of {version}")
    except (KeyError, TypeError) as exc:
        raise BackupError(f"The backup's rows are malformed ({exc!r}).") from exc
    return refs


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _copy_files(home: Path, staging: Path) -> dict[str, dict[str, Any]]:
    """Copy the workspace folders' files into ``staging``: {path under home: sha256, size}.
    Writers' temporary files (dot names) and symbolic links are not copied."""
    files: dict[str, dict[str, Any]] = {}
    for folder in WORKSPACE_FOLDERS:
        for root, _, names in os.walk(home / folder):
            for name in sorted(names):
                path = Path(root) / name
                if name.startswith(".") or path.is_symlink():
                    continue
                relpath = path.relative_to(home).as_posix()
                target = staging / relpath
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(path, target)
                except FileNotFoundError:  # removed since it was listed
                    continue
                files[relpath] = {"sha256": _file_digest(target), "size": target.stat().st_size}
    return files


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
        digests = _referenced(tables, lambda digest, _: ws.artifacts.get_bytes(digest))
        blobs = ArtifactStore(staging / "blobs")
        size = 0
        for digest in sorted(digests):
            data = ws.artifacts.get_bytes(digest)  # verified on read
            if blobs.put_bytes(data) != digest:
                raise BackupError(f"Artifact {digest[:12]}… changed while being copied.")
            size += len(data)
        files = _copy_files(ws.settings.home, staging / "files")
        meta = {
            "format": FORMAT,
            "mlcycle_version": __version__,
            "schema_revision": ws.store.schema_version(),
            "created_at": int(time.time() * 1000),
            "source": ws.settings.redacted_db_url(),
            "tables": summary,
            "blobs": sorted(digests),
            "files": files,
        }
        (staging / "backup.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except ArtifactError as exc:
        raise BackupError(f"Backup failed, nothing was written to {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size += sum(info["size"] for info in files.values())
    return BackupReport(
        target, {k: v["rows"] for k, v in summary.items()}, len(digests), size, len(files)
    )


def _read_backup(source: Path) -> tuple[dict[str, Any], list[tuple[str, list[dict[str, Any]]]]]:
    meta_path = source / "backup.json"
    if not meta_path.is_file():
        raise BackupError(f"{source} is not an mlcycle backup (no backup.json).")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise BackupError(f"{meta_path} is not valid JSON: the backup is damaged.") from exc
    _check_meta(meta)
    if meta.get("format") not in _READABLE:
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


def _verified_blobs(tables: Tables, blobs: ArtifactStore) -> list[str]:
    """Every artifact the rows reference, each present in the backup and matching its
    digest (read and hashed here); BackupError naming the first that is not."""

    def read(digest: str, what: str) -> bytes:
        try:
            return blobs.get_bytes(digest)
        except ArtifactError as exc:
            raise BackupError(
                f"The backup is damaged: {what} cannot be read from it: {exc} Nothing was changed."
            ) from exc

    refs = _referenced(tables, read)
    for digest, what in sorted(refs.items()):
        read(digest, what)
    return sorted(refs)


def _verified_files(source: Path, meta: dict[str, Any], home: Path) -> dict[Path, Path]:
    """{file in the backup: where it goes under ``home``}, each checked against backup.json
    and confined to the workspace folders a backup carries."""
    placed: dict[Path, Path] = {}
    listed = meta.get("files", {})
    if not isinstance(listed, dict):
        raise BackupError("backup.json's 'files' is not a mapping: the backup is damaged.")
    for relpath, info in sorted(listed.items()):
        try:
            clean = safe_relpath(relpath)
            if clean.split("/")[0] not in WORKSPACE_FOLDERS:
                raise ArtifactError(f"{relpath!r} is outside {', '.join(WORKSPACE_FOLDERS)}")
            stored = resolve_within(source / "files", clean)
            ok = stored.is_file() and _file_digest(stored) == info["sha256"]
        except (ArtifactError, OSError, KeyError, TypeError) as exc:
            raise BackupError(f"The backup is damaged: file {relpath!r}: {exc}.") from exc
        if not ok:
            raise BackupError(
                f"The backup is damaged: file {relpath} is missing or does not match its "
                "SHA-256 in backup.json. Nothing was changed."
            )
        placed[stored] = resolve_within(home, clean)
    return placed


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
    """Restore a backup into an empty workspace: metadata, artifacts, logs and reports.

    Everything is checked before anything is written; BackupError, nothing changed, if the
    backup is damaged or the workspace is not empty.
    """
    ws = workspace or get_workspace()
    source = Path(path).expanduser().resolve()
    meta, tables = _read_backup(source)
    home = ws.settings.home
    used = [f for f in WORKSPACE_FOLDERS if (home / f).is_dir() and any((home / f).iterdir())]
    if not ws.store.is_empty() or used:
        raise BackupError(
            f"The workspace is not empty{f' (it holds {used[0]}/)' if used else ''}; restore "
            "only into a new workspace (set MLCYCLE_HOME or MLCYCLE_DB_URL to an empty one). "
            "Nothing was changed."
        )
    blobs = ArtifactStore(source / "blobs")
    digests = _verified_blobs(dict(tables), blobs)
    files = _verified_files(source, meta, home)
    size, added = 0, []
    try:
        # each blob is read (and hashed) again here: _verified_blobs checked them all before
        # anything was written, without holding a whole backup in memory
        for digest in digests:  # blobs first: no restored row may point at a missing one
            data = blobs.get_bytes(digest)
            if not ws.artifacts.exists(digest):
                added.append(digest)
            ws.artifacts.put_bytes(data, digest=digest)
            size += len(data)
        for stored, target in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stored, target)
            size += target.stat().st_size
        ws.store.load_tables(tables)
    except BaseException as exc:  # the tables are one transaction; what came before it goes
        for digest in added:
            ws.artifacts.delete(digest)
        for folder in WORKSPACE_FOLDERS:  # they were empty: the workspace is as it was
            shutil.rmtree(home / folder, ignore_errors=True)
        if isinstance(exc, MlcycleError) and not isinstance(exc, BackupError):
            raise BackupError(f"The backup is damaged: {exc} Nothing was restored.") from exc
        raise
    return BackupReport(
        source, {name: len(rows) for name, rows in tables}, len(digests), size, len(files)
    )
