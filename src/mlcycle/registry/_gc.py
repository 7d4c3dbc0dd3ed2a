"""Garbage collection: purge soft-deleted runs and remove blobs nothing references.

Blobs younger than the grace period are kept even when unreferenced: they may belong to
a registration in progress (files are written before the version row). Running gc twice
changes nothing the second time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from mlcycle.exceptions import ArtifactError
from mlcycle.registry._workspace import Workspace, get_workspace

__all__ = ["GcReport", "collect_garbage", "live_blobs"]


@dataclass
class GcReport:
    purged_runs: list[str] = field(default_factory=list)
    deleted_blobs: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_blobs: int = 0
    kept_young: int = 0
    deleted_temp: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "purged_runs": len(self.purged_runs),
            "deleted_blobs": len(self.deleted_blobs),
            "freed_bytes": self.freed_bytes,
            "kept_blobs": self.kept_blobs,
            "kept_young": self.kept_young,
            "deleted_temp": self.deleted_temp,
            "dry_run": self.dry_run,
        }


def bundle_files(manifest: bytes) -> set[str]:
    """The blob digests a stored bundle manifest references."""
    try:
        return {info["sha256"] for info in json.loads(manifest)["files"].values()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def live_blobs(workspace: Workspace) -> set[str]:
    """Every digest referenced by a non-deleted run or by any model version."""
    artifacts, bundles = workspace.store.live_digests()
    live = set(artifacts) | set(bundles)
    for digest in bundles:
        try:
            live |= bundle_files(workspace.artifacts.get_bytes(digest))
        except ArtifactError:
            continue  # a missing manifest is reported by `mlcycle doctor`, not fixed by gc
    return live


def collect_garbage(
    workspace: Workspace | None = None, *, grace_s: float = 3600.0, dry_run: bool = False
) -> GcReport:
    """Purge deleted runs, then remove unreferenced blobs older than ``grace_s`` seconds."""
    ws = workspace or get_workspace()
    report = GcReport(dry_run=dry_run)
    if not dry_run:
        report.purged_runs = ws.store.purge_deleted_runs(actor=ws.settings.user)
    live = live_blobs(ws)
    cutoff = time.time() - grace_s
    for blob in ws.artifacts.iter_blobs():
        if blob.digest in live:
            report.kept_blobs += 1
            continue
        if blob.mtime > cutoff:
            report.kept_young += 1
            continue
        report.deleted_blobs.append(blob.digest)
        report.freed_bytes += blob.size
        if not dry_run:
            ws.artifacts.delete(blob.digest)
    for temp in ws.artifacts.iter_temp():
        if temp.mtime <= cutoff:
            report.deleted_temp += 1
            if not dry_run:
                ws.artifacts.delete_temp(temp.digest)
    return report
