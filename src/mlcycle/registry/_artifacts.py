"""Content-addressed artifact storage through fsspec.

Blobs live at ``<root>/sha256/<2 hex>/<64 hex>``. A write goes to ``<root>/incoming/`` first
and is renamed into place, so a reader never sees half a blob and a crash leaves only a
temporary file that garbage collection removes. Every read is verified against the
digest it is stored under.

Logical paths (a run's ``plots/roc.png``, a bundle's ``model/model.skops``) are checked
by :func:`safe_relpath`, and materialised only through :func:`resolve_within`, so no
``..``, absolute or percent-encoded path can leave its root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from mlcycle.config import redact_url
from mlcycle.exceptions import ArtifactError, ArtifactPathError, IntegrityError

__all__ = ["ArtifactStore", "BlobInfo", "resolve_within", "safe_relpath"]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    mtime: float


def safe_relpath(path: str) -> str:
    """Normalise a logical artifact path, refusing anything that could leave its root.

    Refused: empty paths, absolute paths, drive letters, ``..`` segments, backslashes,
    control characters, and percent-encoded forms of any of these.

    >>> safe_relpath("plots/./roc.png")
    'plots/roc.png'
    """
    if not isinstance(path, str):
        raise ArtifactPathError(f"Artifact path must be text, got {type(path).__name__}.")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: neither a file name nor storable
        raise ArtifactPathError(f"Artifact path {path!r} is not valid Unicode text.") from exc
    candidates = {path}
    decoded = path
    for _ in range(3):  # catch double and triple encoding too
        decoded = unquote(decoded)
        candidates.add(decoded)
    for candidate in candidates:
        folded = unicodedata.normalize("NFKC", candidate)
        for text in (candidate, folded):
            if (
                not text
                or "\\" in text
                or any(ord(c) < 32 or ord(c) == 127 for c in text)
                or text.startswith(("/", "~"))
                or _WINDOWS_DRIVE.match(text)
                or ".." in text.split("/")
            ):
                raise ArtifactPathError(
                    f"Artifact path {path!r} is not allowed: use a relative path inside the "
                    "store, without '..', backslashes, control characters or a leading '/'."
                )
    normalised = posixpath.normpath(path)
    if normalised in (".", "") or normalised.startswith(("../", "/")) or normalised == "..":
        raise ArtifactPathError(f"Artifact path {path!r} does not name a file inside the store.")
    return normalised


def resolve_within(root: str | Path, path: str) -> Path:
    """The local path of ``path`` under ``root``; ArtifactPathError if it would escape."""
    base = Path(root).resolve()
    target = (base / safe_relpath(path)).resolve()
    if target != base and base not in target.parents:
        raise ArtifactPathError(f"Artifact path {path!r} resolves outside {base}.")
    return target


def symlink_refused(path: Path) -> ArtifactPathError:
    return ArtifactPathError(
        f"{path} is a symbolic link, and artifacts are never read through one: it could "
        "bring in a file from anywhere (such as /etc/passwd). Nothing was stored. Copy the "
        "file it points at into place, or log that file by its own path."
    )


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ArtifactError(f"{digest!r} is not a SHA-256 digest (64 lowercase hex characters).")
    return digest


class ArtifactStore:
    """Immutable blobs addressed by SHA-256, on any fsspec filesystem (local by default)."""

    def __init__(self, url: str | Path) -> None:
        import fsspec
        from fsspec.core import url_to_fs

        self.url = str(url)
        self.shown = redact_url(self.url)  # for messages: no credentials
        try:
            self._fs, root = url_to_fs(self.url)
        except (ValueError, ImportError) as exc:
            raise ArtifactError(
                f"Cannot open the artifact store '{self.shown}': {exc}. Check "
                "MLCYCLE_ARTIFACTS (a local folder or an fsspec URL such as s3://bucket/prefix)."
            ) from exc
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)
        self.root = root.rstrip("/") if root != "/" else root
        del fsspec

    # -- layout -------------------------------------------------------------------------
    def _blob(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/sha256/{digest[:2]}/{digest}"

    def _tmp(self) -> str:
        return f"{self.root}/incoming/{uuid.uuid4().hex}"

    def ensure(self) -> None:
        """Create the store's folders; ArtifactError if the location is not writable."""
        try:
            self._fs.makedirs(f"{self.root}/sha256", exist_ok=True)
            self._fs.makedirs(f"{self.root}/incoming", exist_ok=True)
        except OSError as exc:
            raise ArtifactError(
                f"Cannot create the artifact store at {self.shown}: {exc.strerror or exc}. "
                "Set MLCYCLE_ARTIFACTS (or MLCYCLE_HOME) to a writable location."
            ) from exc

    def check_reachable(self) -> None:
        """Write, read and remove a probe blob; raise ArtifactError if that fails."""
        self.ensure()
        probe = self._tmp()
        try:
            self._fs.pipe_file(probe, b"ok")
            if self._fs.cat_file(probe) != b"ok":
                raise ArtifactError(
                    f"The artifact store at {self.shown} did not read back a probe."
                )
            self._fs.rm_file(probe)
        except OSError as exc:
            raise ArtifactError(
                f"The artifact store at {self.shown} is not usable: {exc}."
            ) from exc

    # -- writing ------------------------------------------------------------------------
    def put_bytes(self, data: bytes, *, digest: str | None = None) -> str:
        """Store ``data``; returns its SHA-256. Idempotent.

        ``digest``: the SHA-256 the caller has just computed from these very bytes (a
        verified bundle's files), so they are not hashed a second time.
        """
        digest = check_digest(digest) if digest is not None else hashlib.sha256(data).hexdigest()
        if self._claim_existing(digest):
            return digest
        self.ensure()
        tmp = self._tmp()
        try:
            if self._local:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                self._fs.pipe_file(tmp, data)
            self._publish(tmp, digest)
        finally:
            self._discard(tmp)
        return digest

    def put_file(self, path: str | Path, *, follow_symlinks: bool = True) -> str:
        """Store a local file, streaming it; returns its SHA-256. Idempotent.

        ``follow_symlinks=False``: a symbolic link is refused (ArtifactPathError), even one
        swapped in for the file since the caller looked at it.
        """
        source = Path(path)
        if not follow_symlinks and source.is_symlink():
            raise symlink_refused(source)
        if not source.is_file():
            raise ArtifactError(f"Cannot store {source}: it is not a readable file.")
        flags = os.O_RDONLY | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
        try:
            fd = os.open(source, flags)
        except OSError as exc:
            if source.is_symlink():
                raise symlink_refused(source) from exc
            raise ArtifactError(f"Cannot store {source}: {exc.strerror or exc}.") from exc
        self.ensure()
        tmp = self._tmp()
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "rb") as src, self._fs.open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
                if self._local:
                    dst.flush()
                    os.fsync(dst.fileno())
            digest = hasher.hexdigest()
            if not self._claim_existing(digest):
                self._publish(tmp, digest)
        finally:
            self._discard(tmp)
        return digest

    def _claim_existing(self, digest: str) -> bool:
        """True if the blob exists; refresh its mtime so gc's grace period protects it."""
        target = self._blob(digest)
        if not self._fs.exists(target):
            return False
        if self._local:
            try:
                os.utime(target)
            except OSError:
                return False
            return True
        return False  # remote stores: rewrite, which refreshes the modification time

    def _publish(self, tmp: str, digest: str) -> None:
        self._move(tmp, self._blob(digest))

    def _move(self, source: str, target: str) -> None:
        self._fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if self._local:
            os.replace(source, target)
        else:
            self._fs.mv(source, target)

    def _discard(self, tmp: str) -> None:
        try:
            if self._fs.exists(tmp):
                self._fs.rm_file(tmp)
        except OSError:
            pass

    # -- reading ------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return bool(self._fs.exists(self._blob(digest)))

    def _missing(self, digest: str) -> ArtifactError:
        return ArtifactError(
            f"Artifact {digest[:12]}… is missing from the store at {self.shown}. "
            "Restore it from a backup (mlcycle restore) or re-register the model."
        )

    def get_bytes(self, digest: str) -> bytes:
        """The blob's content, verified against its digest."""
        try:
            data: bytes = self._fs.cat_file(self._blob(digest))
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(
                f"Artifact {digest[:12]}… in {self.shown} does not match its SHA-256: it was "
                "altered or corrupted on disk. Restore it from a backup."
            )
        return data

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Copy a blob to a local path (atomically), verifying its digest on the way."""
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        hasher = hashlib.sha256()
        try:
            with self._fs.open(self._blob(digest), "rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
            if hasher.hexdigest() != digest:
                raise IntegrityError(
                    f"Artifact {digest[:12]}… in {self.shown} does not match its SHA-256: it was "
                    "altered or corrupted on disk. Restore it from a backup."
                )
            os.replace(tmp, target)
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def open(self, digest: str) -> IO[bytes]:
        """A read handle on the blob (unverified: use get_bytes/get_file for verification)."""
        try:
            handle: IO[bytes] = self._fs.open(self._blob(digest), "rb")
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        return handle

    # -- housekeeping -------------------------------------------------------------------
    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob with its size and modification time."""
        base = f"{self.root}/sha256"
        if not self._fs.exists(base):
            return
        for info in self._fs.find(base, detail=True).values():
            name = posixpath.basename(info["name"])
            if _DIGEST.match(name):
                yield BlobInfo(name, int(info.get("size") or 0), _mtime(info))

    def iter_temp(self) -> Iterator[BlobInfo]:
        base = f"{self.root}/incoming"
        if not self._fs.exists(base):
            return
        for info in self._fs.find(base, detail=True).values():
            yield BlobInfo(info["name"], int(info.get("size") or 0), _mtime(info))

    def delete(self, digest: str) -> bool:
        """Remove a blob; False if it was not there."""
        try:
            self._fs.rm_file(self._blob(digest))
        except FileNotFoundError:
            return False
        return True

    def delete_unless_claimed(self, digest: str, since: float) -> bool:
        """Delete a blob unless a writer stored or claimed it after ``since`` (Unix time).

        Safe against a writer storing the same content at the same moment (a registration
        reusing an old blob): the blob is first moved out of its address, so a writer from
        then on finds it missing and stores it anew, and a writer that claimed it before
        (which refreshes its modification time) is seen by that time and the blob is moved
        back. True if the blob was deleted.
        """
        target = self._blob(digest)
        self.ensure()
        aside = f"{self._tmp()}.gc"
        try:
            self._move(target, aside)
        except FileNotFoundError:
            return False
        if _mtime(self._fs.info(aside)) > since:
            self._move(aside, target)  # identical bytes if a writer stored it anew meanwhile
            return False
        self._fs.rm_file(aside)
        return True

    def delete_temp(self, name: str) -> None:
        if not name.startswith(f"{self.root}/incoming/"):
            raise ArtifactPathError(f"{name!r} is not a temporary file of this store.")
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(name)


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    if value is None:
        return time.time()
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)
