"""Fuzzing backups: a mutated backup is restored or refused with a project error, and a
refused restore leaves the target workspace as it was (no rows, no blobs).

The mutations reach every file a backup holds: ``backup.json`` (format, schema revision,
the table summary, the blob list), one table's rows (any field of any row, rows moved or
added; then, as a crafted backup would, its SHA-256 in ``backup.json`` made to match) and
the raw bytes of a table or blob file.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from tests.fuzz.strategies import examples, mutated

import mlcycle
from mlcycle.config import load_settings
from mlcycle.exceptions import MlcycleError
from mlcycle.flavours._base import example_table
from mlcycle.registry import Workspace, backup, restore

ROOT = Path(tempfile.mkdtemp(prefix="mlcycle-fuzz-backup-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)


def _workspace(home: Path) -> Workspace:
    return Workspace(load_settings({"MLCYCLE_HOME": str(home)}))


@functools.cache
def real_backup() -> tuple[Path, Path]:
    """A backup of a workspace with a run (params, metrics, an artifact) and a registered
    version with an alias, and the home of an empty workspace (migrated) to restore into."""
    from sklearn.linear_model import LogisticRegression

    ws = _workspace(ROOT / "source")
    X, y = example_table("binary")
    notes = ROOT / "notes.txt"
    notes.write_text("fuzz")
    with mlcycle.start_run(experiment="fuzz", tags={"team": "a"}, workspace=ws) as run:
        run.log_params({"C": 1.0})
        run.log_metric("auc", 0.9)
        run.log_artifact(notes)
        model = LogisticRegression(max_iter=300).fit(X, y)
        mlcycle.register_model("fuzz", model, alias="production", workspace=ws, run=run)
    backup(ROOT / "backup", ws)
    ws.close()
    empty = _workspace(ROOT / "empty")
    assert empty.store.is_empty()
    empty.close()
    return ROOT / "backup", ROOT / "empty"


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


Change = Callable[[Path], str]
"""Changes a copy of the backup in place; returns what it changed, for the statistics."""


@st.composite
def changes(draw: st.DrawFn) -> Change:
    source, _ = real_backup()
    meta = json.loads((source / "backup.json").read_text())
    tables = [name for name, info in meta["tables"].items() if info["rows"]]
    how = draw(st.sampled_from(["rows", "rows", "rows", "meta", "bytes"]))
    if how == "meta":
        changed = draw(mutated(meta))
        return lambda folder: _write(folder / "backup.json", json.dumps(changed), "backup.json")
    if how == "bytes":
        rel = draw(st.sampled_from([f for f in _files(source) if f != "backup.json"]))
        data = (source / rel).read_bytes()
        cut = draw(st.integers(0, len(data)))
        junk = draw(st.binary(max_size=8))
        return lambda folder: _write(folder / rel, data[:cut] + junk + data[cut + 1 :], rel)
    table = draw(st.sampled_from(tables))
    rows = [json.loads(line) for line in (source / "tables" / f"{table}.jsonl").open()]
    changed_rows = draw(mutated(rows))
    rehash = draw(st.sampled_from([True, True, True, False]))
    return lambda folder: _rows(folder, table, changed_rows, rehash)


def _write(path: Path, data: str | bytes, what: str) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return what


def _rows(folder: Path, table: str, rows: Any, rehash: bool) -> str:
    lines = rows if isinstance(rows, list) else [rows]
    payload = "".join(json.dumps(row, sort_keys=True) + "\n" for row in lines).encode()
    (folder / "tables" / f"{table}.jsonl").write_bytes(payload)
    if rehash:  # a crafted backup: the summary agrees with the rows
        meta_path = folder / "backup.json"
        meta = json.loads(meta_path.read_text())
        meta["tables"][table] = {"rows": len(lines), "sha256": hashlib.sha256(payload).hexdigest()}
        meta_path.write_text(json.dumps(meta))
    return f"{table} rows"


def _edit_rows(table: str, edit: Callable[[list[Any]], Any]) -> Change:
    """A crafted backup: ``table``'s rows edited, its SHA-256 in backup.json made to match."""

    def change(folder: Path) -> str:
        rows = [json.loads(line) for line in (folder / "tables" / f"{table}.jsonl").open()]
        return _rows(folder, table, edit(rows), rehash=True)

    return change


def _without(row: dict[str, Any], column: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != column}


def _edit_meta(edit: Callable[[dict[str, Any]], None]) -> Change:
    def change(folder: Path) -> str:
        meta = json.loads((folder / "backup.json").read_text())
        edit(meta)
        return _write(folder / "backup.json", json.dumps(meta), "backup.json")

    return change


def _state(ws: Workspace) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    return dict(ws.store.dump_tables()), sorted(b.digest for b in ws.artifacts.iter_blobs())


@settings(max_examples=examples(40))
@given(changes())
# each found once by this harness: a TypeError, KeyError or SQLAlchemy error, or a refused
# restore that left the backup's blobs in the target
@example(_edit_rows("runs", lambda rows: [{**rows[0], "id": ["x"]}]))
@example(_edit_rows("tags", lambda rows: [[row] for row in rows]))
@example(_edit_rows("metrics", lambda rows: [{**rows[0], "value": [1.0]}]))
@example(_edit_rows("alias_history", lambda rows: [{**rows[0], "action": None}]))
@example(_edit_rows("audit_events", lambda rows: [rows[0], _without(rows[1], "action")]))
@example(_edit_meta(lambda meta: meta.pop("blobs")))
@example(_edit_meta(lambda meta: meta["tables"]["runs"].pop("sha256")))
@example(_edit_meta(lambda meta: meta["blobs"].append({"a": 1})))
def test_a_mutated_backup_is_restored_or_refused_leaving_the_target_unchanged(
    change: Change,
) -> None:
    source, empty = real_backup()
    work = Path(tempfile.mkdtemp(dir=ROOT))
    try:
        shutil.copytree(source, work / "backup")
        shutil.copytree(empty, work / "home")
        what = change(work / "backup")
        target = _workspace(work / "home")
        try:
            before = _state(target)
            try:
                restore(work / "backup", target)
            except MlcycleError as error:
                event(f"{what}: refused ({type(error).__name__})")
                assert _state(target) == before, "a refused restore changed the workspace"
            else:
                event(f"{what}: restored")
        finally:
            target.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
