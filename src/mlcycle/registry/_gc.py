"""Garbage collection: purge soft-deleted runs and remove blobs nothing references.

Blobs younger than the grace period are kept even when unreferenced: they may belong to
a registration in progress (files are written before the version row). A registration may
also reuse an old unreferenced blob while gc runs: references are read again after the
scan, and each blob is deleted only if no writer claimed it since the scan began
(:meth:`ArtifactStore.delete_unless_claimed`). gc deletes nothing when it cannot read a
version's manifest: that version's files would look unreferenced. It also removes the
scratch folders (bundle copies) that killed registrations left under ``$MLCYCLE_HOME/tmp``.
Running gc twice changes nothing the second time; a dry run reports what the real run
would remove.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from mlcycle.exceptions import ArtifactError, IntegrityError
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


def bundle_files(manifest: bytes, digest: str) -> set[str]:
    """The blob digests a stored bundle manifest references; IntegrityError if unreadable."""
    try:
        return {info["sha256"] for info in json.loads(manifest)["files"].values()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(
            f"The manifest of stored bundle {digest} is not a bundle manifest."
        ) from exc


def live_blobs(workspace: Workspace) -> set[str]:
    """Every digest referenced by a run gc keeps or by any model version.

    Raises ArtifactError (IntegrityError when corrupted) naming a version's manifest that
    cannot be read: without it, that version's files cannot be told from garbage.
    """
    artifacts, bundles = workspace.store.live_digests()
    live = set(artifacts) | set(bundles)
    for digest in sorted(bundles):
        try:
            live |= bundle_files(workspace.artifacts.get_bytes(digest), digest)
        except ArtifactError as exc:
            raise type(exc)(
                f"Garbage collection refused, nothing was deleted: the manifest of stored "
                f"bundle {digest} cannot be read, so the files of its model version cannot be "
                f"told from garbage. {exc} (`mlcycle versions MODEL` lists the bundle digests.)"
            ) from exc
    return live


def collect_garbage(
    workspace: Workspace | None = None, *, grace_s: float = 3600.0, dry_run: bool = False
) -> GcReport:
    """Purge deleted runs, then remove unreferenced blobs older than ``grace_s`` seconds."""
    ws = workspace or get_workspace()
    report = GcReport(dry_run=dry_run)
    cutoff = time.time() - grace_s  # before the scan: a claim after it is seen by its time
    live = live_blobs(ws)
    report.purged_runs = ws.store.purge_deleted_runs(actor=ws.settings.user, dry_run=dry_run)
    candidates = []
    for blob in ws.artifacts.iter_blobs():
        if blob.digest in live:
            report.kept_blobs += 1
        elif blob.mtime > cutoff:
            report.kept_young += 1
        else:
            candidates.append(blob)
    if not dry_run and candidates:
        live = live_blobs(ws)  # versions registered during the scan
    for blob in candidates:
        if blob.digest in live:
            report.kept_blobs += 1
        elif not dry_run and not ws.artifacts.delete_unless_claimed(blob.digest, cutoff):
            report.kept_young += 1  # claimed by a writer since the scan began
        else:
            report.deleted_blobs.append(blob.digest)
            report.freed_bytes += blob.size
    for temp in ws.artifacts.iter_temp():
        if temp.mtime <= cutoff:
            report.deleted_temp += 1
            if not dry_run:
                ws.artifacts.delete_temp(temp.digest)
    report.deleted_temp += ws.clean_scratch(dry_run=dry_run)
    return report
