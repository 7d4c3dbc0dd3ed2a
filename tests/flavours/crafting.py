"""Crafted bundles for the security tests: a file of a real bundle rewritten, and the
manifest re-hashed so that the bundle verifies and only the file itself is what is refused."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from mlcycle.bundle import MANIFEST_NAME


def rehash(bundle: Path, rel: str) -> None:
    """Record the current bytes of ``bundle/rel`` in its manifest (a valid, crafted bundle)."""
    manifest = json.loads((bundle / MANIFEST_NAME).read_bytes())
    data = (bundle / rel).read_bytes()
    manifest["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))


def rewrite(bundle: Path, rel: str, data: bytes) -> None:
    """Replace ``bundle/rel`` with ``data`` and re-hash it."""
    (bundle / rel).write_bytes(data)
    rehash(bundle, rel)


def zip_members(data: bytes) -> dict[str, bytes]:
    """The files of a zip archive (a skops file), by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(files: dict[str, bytes]) -> bytes:
    """A zip archive of ``files`` (a skops file rebuilt after an edit)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()
