"""Registering bundles as model versions, and loading them back by reference.

A version is registered in two steps, in this order: every bundle file and then the
manifest are written to the content-addressed artifact store; only then is the version
row inserted, in one transaction. A crash between the two leaves unreferenced blobs that
garbage collection reclaims, never a version that points at a missing artifact.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, IntegrityError, MlcycleError
from mlcycle.registry._artifacts import resolve_within
from mlcycle.registry._entities import ModelVersion
from mlcycle.registry._names import check_alias, check_model_name
from mlcycle.registry._workspace import Workspace, get_workspace

if TYPE_CHECKING:
    from mlcycle.bundle import Bundle
    from mlcycle.registry._tracking import ActiveRun

__all__ = ["ModelRef", "load_model", "parse_model_ref", "register_model", "resolve_version"]

_REF = re.compile(r"^(?:models:/)?(?P<name>[^@/:]+)(?:@(?P<alias>[^@/]+)|[/:](?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelRef:
    """``name``, ``name@alias`` or ``name/version`` (``models:/`` prefix allowed)."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return self.name


def parse_model_ref(ref: str) -> ModelRef:
    """Parse ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``; raises a clear error otherwise."""
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match is None:
        raise MlcycleError(
            f"Model reference {ref!r} is not understood. Use NAME@ALIAS (e.g. churn@production), "
            "NAME/VERSION (e.g. churn/3) or NAME for the latest version."
        )
    name = check_model_name(match["name"])
    alias = check_alias(match["alias"]) if match["alias"] else None
    version = int(match["version"]) if match["version"] else None
    return ModelRef(name, alias, version)


def resolve_version(ref: str | ModelRef, workspace: Workspace | None = None) -> ModelVersion:
    """The model version a reference names now."""
    ws = workspace or get_workspace()
    parsed = ref if isinstance(ref, ModelRef) else parse_model_ref(ref)
    if parsed.alias:
        return ws.store.resolve_alias(parsed.name, parsed.alias)
    if parsed.version is not None:
        return ws.store.get_version(parsed.name, parsed.version)
    model = ws.store.get_model(parsed.name)
    return ws.store.get_version(parsed.name, model.latest_version)


def upload_bundle(bundle_path: Path, workspace: Workspace) -> str:
    """Copy a verified bundle into the artifact store; returns its digest (the manifest's)."""
    from mlcycle.bundle import MANIFEST_NAME, read_bundle

    bundle = read_bundle(bundle_path)
    for relpath, expected in sorted(bundle.files.items()):
        digest = workspace.artifacts.put_file(bundle_path / relpath)
        if digest != expected:
            raise IntegrityError(
                f"Bundle file {relpath} changed while it was being registered; try again."
            )
    digest = workspace.artifacts.put_bytes((bundle_path / MANIFEST_NAME).read_bytes())
    if digest != bundle.digest:
        raise IntegrityError("The bundle manifest changed while it was being registered.")
    return digest


def materialize_bundle(digest: str, workspace: Workspace) -> Path:
    """A verified local copy of a stored bundle, cached under the workspace by digest."""
    from mlcycle.bundle import MANIFEST_NAME, verify_bundle

    cache = workspace.cache_dir / "bundles"
    target = cache / digest
    if target.is_dir():
        try:
            if verify_bundle(target) == digest:
                return target
        except BundleError:
            pass
        shutil.rmtree(target, ignore_errors=True)
    raw = workspace.artifacts.get_bytes(digest)
    try:
        files = json.loads(raw)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"Stored bundle {digest[:12]}… has an unreadable manifest.") from exc
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".{digest}.{uuid.uuid4().hex}.tmp"
    try:
        staging.mkdir()
        for relpath, info in files.items():
            workspace.artifacts.get_file(info["sha256"], resolve_within(staging, relpath))
        (staging / MANIFEST_NAME).write_bytes(raw)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # lost a race with another loader: theirs is as good
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if verify_bundle(target) != digest:
        raise IntegrityError(f"Bundle {digest[:12]}… did not verify after download.")
    return target


def register_model(
    name: str,
    model: Any = None,
    *,
    bundle: str | Path | None = None,
    run: ActiveRun | str | None = None,
    description: str = "",
    alias: str | None = None,
    workspace: Workspace | None = None,
    **bundle_fields: Any,
) -> ModelVersion:
    """Register a model object (written as a bundle) or an existing bundle folder.

    ``run`` defaults to the active run. ``bundle_fields`` go to
    :func:`mlcycle.bundle.write_bundle` (schema, metrics, params, lineage, ...).

    >>> mlcycle.register_model("churn", pipeline, alias="staging")  # doctest: +SKIP
    """
    from mlcycle.bundle import write_bundle
    from mlcycle.registry._tracking import active_run

    ws = workspace or get_workspace()
    check_model_name(name)
    if alias is not None:
        check_alias(alias)
    if (model is None) == (bundle is None):
        raise MlcycleError("register_model() needs exactly one of: a model object, bundle=PATH.")
    if run is None:
        run = active_run()
    run_id = run if isinstance(run, str) or run is None else run.id
    with tempfile.TemporaryDirectory(prefix="mlcycle-register-") as scratch:
        if model is not None:
            lineage = dict(bundle_fields.pop("lineage", None) or {})
            if run_id:
                lineage.setdefault("run_id", run_id)
            path = Path(scratch) / "bundle"
            write_bundle(model, path, lineage=lineage, **bundle_fields)
        else:
            path = Path(bundle)  # type: ignore[arg-type]
            if bundle_fields:
                raise MlcycleError(
                    f"register_model(bundle=...) takes the bundle as written; "
                    f"unexpected: {', '.join(bundle_fields)}."
                )
        digest = upload_bundle(path, ws)
    version = ws.store.create_model_version(
        name,
        bundle_digest=digest,
        creator=ws.settings.user,
        run_id=run_id,
        description=description,
    )
    if alias is not None:
        ws.store.set_alias(name, alias, version.version, actor=ws.settings.user)
        version = ws.store.get_version(name, version.version)
    return version


def load_model(ref: str, *, workspace: Workspace | None = None) -> Bundle:
    """Load a registered model (``name@production``, ``name/3``, ``name``) without unpickling.

    The result has ``predict`` and ``predict_proba`` on a DataFrame, plus the bundle's
    schema, metrics and lineage.
    """
    from mlcycle.bundle import read_bundle

    ws = workspace or get_workspace()
    version = resolve_version(ref, ws)
    return read_bundle(materialize_bundle(version.bundle_digest, ws))
