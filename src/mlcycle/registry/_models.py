"""Registering bundles as model versions, and loading them back by reference.

A version is registered in three steps, in this order: the bundle is loaded back the way
``mlcycle serve`` and :func:`load_model` load it (and, given an input example, asked for a
prediction), so that a model that would not load is refused before anything is stored;
every bundle file and then the manifest are written to the content-addressed artifact
store; only then is the version row inserted, in one transaction. A crash between the
last two leaves unreferenced blobs that garbage collection reclaims, never a version that
points at a missing artifact.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import (
    BadParameterError,
    BundleError,
    IntegrityError,
    SchemaError,
    bad_parameter,
)
from mlcycle.registry._artifacts import resolve_within
from mlcycle.registry._entities import ModelVersion
from mlcycle.registry._names import check_alias, check_model_name
from mlcycle.registry._workspace import Workspace, get_workspace

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.bundle import Bundle
    from mlcycle.registry._tracking import ActiveRun
    from mlcycle.schema import Schema

__all__ = [
    "ModelRef",
    "check_schema_matches",
    "load_model",
    "parse_model_ref",
    "register_model",
    "resolve_version",
]

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
        raise BadParameterError(
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


def upload_bundle(bundle: Bundle, workspace: Workspace) -> str:
    """Copy a verified bundle into the artifact store; returns its digest (the manifest's).

    The bytes stored are the ones hashed when the bundle was opened (or written), under
    that hash: a bundle is hashed once per registration, and a file changed on disk since
    then changes nothing that is stored.
    """
    for relpath, expected in sorted(bundle.files.items()):
        workspace.artifacts.put_bytes(bundle.read(relpath), digest=expected)
    return workspace.artifacts.put_bytes(bundle.manifest_bytes, digest=bundle.digest)


def open_stored_bundle(digest: str, workspace: Workspace) -> Bundle:
    """The stored bundle ``digest``, opened from the workspace's cache (each file hashed
    once); downloaded into the cache first when it is not there or does not verify."""
    from mlcycle.bundle import read_bundle

    target = workspace.cache_dir / "bundles" / digest
    if target.is_dir():
        try:
            cached = read_bundle(target)
            if cached.digest == digest:
                return cached
        except BundleError:
            pass
        shutil.rmtree(target, ignore_errors=True)
    opened = read_bundle(materialize_bundle(digest, workspace))
    if opened.digest != digest:
        raise IntegrityError(f"Bundle {digest[:12]}… did not verify after download.")
    return opened


def materialize_bundle(digest: str, workspace: Workspace) -> Path:
    """A local copy of a stored bundle, cached under the workspace by digest (each file is
    checked against its SHA-256 as it is downloaded; :func:`read_bundle` verifies the
    whole)."""
    from mlcycle.bundle import MANIFEST_NAME

    cache = workspace.cache_dir / "bundles"
    target = cache / digest
    if target.is_dir():
        return target
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
    return target


def register_model(
    name: str,
    model: Any = None,
    *,
    bundle: str | Path | None = None,
    input_example: pd.DataFrame | None = None,
    run: ActiveRun | str | None = None,
    description: str = "",
    alias: str | None = None,
    workspace: Workspace | None = None,
    **bundle_fields: Any,
) -> ModelVersion:
    """Register a model object (written as a bundle) or an existing bundle folder.

    Before anything is stored the bundle is loaded back as ``mlcycle serve`` loads it (no
    unpickling, only trusted types) and, given ``input_example``, asked to predict it: a
    model that would not load or predict is refused with :class:`BundleError` and no
    version is recorded.

    The input schema (the contract serving enforces and monitoring compares with) is
    ``schema=`` when given, else inferred like MLflow's signature: from ``input_example``
    (:meth:`Schema.from_dataframe`: types, and the categories, ranges and gaps the example
    shows, so give typical rows), else from the fitted model's ``feature_names_in_``, where
    nothing is known about the values: each column is a ``number`` that must be present.
    ``run`` defaults to the active run. Other ``bundle_fields`` go to
    :func:`mlcycle.bundle.write_bundle` (metrics, params, lineage, ...).
    :func:`mlcycle.register_model` also takes ``reference_data=`` for drift monitoring.

    >>> mlcycle.register_model("churn", pipe, input_example=X.head())  # doctest: +SKIP
    """
    from mlcycle.bundle import read_bundle, write_bundle
    from mlcycle.registry._tracking import active_run

    ws = workspace or get_workspace()
    check_model_name(name)
    if alias is not None:
        check_alias(alias)
    if (model is None) == (bundle is None):
        raise BadParameterError(
            "register_model() needs exactly one of: a model object, bundle=PATH."
        )
    if bundle is not None and bundle_fields:
        raise BadParameterError(
            f"register_model(bundle=...) takes the bundle as written; "
            f"unexpected: {', '.join(bundle_fields)}."
        )
    example = _checked_example(input_example)
    if run is None:
        run = active_run()
    run_id = run if isinstance(run, str) or run is None else run.id
    ws.clean_scratch()  # bundle copies left by registrations that were killed
    with ws.scratch_dir("register") as scratch:
        if model is not None:
            lineage = dict(bundle_fields.pop("lineage", None) or {})
            if run_id:
                lineage.setdefault("run_id", run_id)
            schema = bundle_fields.pop("schema", None) or _infer_schema(model, example, name)
            check_schema_matches(model, schema, name)
            path = scratch / "bundle"
            opened = write_bundle(model, path, schema=schema, lineage=lineage, **bundle_fields)
        else:
            opened = read_bundle(Path(bundle))  # type: ignore[arg-type]
        _check_loads_back(opened, model, example, name)
        digest = upload_bundle(opened, ws)
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


def _checked_example(example: Any) -> pd.DataFrame | None:
    if example is None:
        return None
    import pandas as pd

    if not isinstance(example, pd.DataFrame) or len(example) == 0:
        got = type(example) if not isinstance(example, pd.DataFrame) else "an empty DataFrame"
        raise bad_parameter(
            "input_example", "register_model()", "a pandas DataFrame of typical input rows", got
        )
    return example


def _infer_schema(model: Any, example: pd.DataFrame | None, name: str) -> Schema | None:
    """The schema of a model registered without one: from its input example, else from the
    feature names it was fitted with (values unknown: present numbers); None if neither."""
    from mlcycle.schema import Column, Schema

    if example is not None:
        return Schema.from_dataframe(example)
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) and all(isinstance(n, str) for n in names):
        return Schema([Column(str(n), "number", nullable=False) for n in names])
    warnings.warn(
        f"Model '{name}' is registered without an input schema: it was not fitted on a "
        "DataFrame and no input_example= or schema= was given, so mlcycle serve and "
        "mlcycle monitor will refuse it. Pass input_example=X.head() to give it one.",
        UserWarning,
        stacklevel=3,
    )
    return None


def check_schema_matches(model: Any, schema: Schema | None, name: str) -> None:
    """Refuse (:class:`SchemaError`) a schema whose features are not the columns the model
    was fitted with (``feature_names_in_``), in order: serving hands the model the schema's
    features, and the model would refuse them. Nothing is checked when either is unknown."""
    fitted = getattr(model, "feature_names_in_", None)
    if schema is None or fitted is None:
        return
    fitted = [str(n) for n in fitted]
    if schema.feature_names == fitted:
        return
    extra = [n for n in schema.feature_names if n not in fitted]
    absent = [n for n in fitted if n not in schema.feature_names]
    why = (
        f"the schema has {', '.join(extra)}, which the model was not fitted on (if that is "
        "the target, name it with target=)"
        if extra
        else f"the schema lacks {', '.join(absent)}"
        if absent
        else "the schema lists them in another order"
    )
    raise SchemaError(
        f"Model '{name}' was not registered: its schema's features are not the columns it was "
        f"fitted with: {why}. The model expects: {', '.join(fitted)}."
    )


def _check_loads_back(bundle: Bundle, model: Any, example: pd.DataFrame | None, name: str) -> None:
    """Load the bundle's model as serving will and predict the example; refuse what fails."""
    try:
        bundle.load()
    except BundleError as exc:
        raise BundleError(
            f"Model '{name}' was not registered: it would not load back the way mlcycle serve "
            f"and load_model() load it. {_main_module_hint(model)}{exc}"
        ) from exc
    if example is None:
        return
    rows = example
    if bundle.schema is not None:
        try:
            rows = bundle.schema.coerce(example)
        except SchemaError as exc:
            raise SchemaError(
                f"Model '{name}' was not registered: its input example does not meet its "
                f"schema. {exc}"
            ) from exc
    try:
        predicted = bundle.predict(rows)
    except Exception as exc:  # any failure of the user's model on its own example
        raise BundleError(
            f"Model '{name}' was not registered: loaded back, it could not predict its input "
            f"example ({type(exc).__name__}: {exc}). Check that the example has the columns "
            "the model was fitted with."
        ) from exc
    if len(predicted) != len(example):
        raise BundleError(
            f"Model '{name}' was not registered: loaded back, it gave {len(predicted)} "
            f"predictions for the {len(example)} rows of its input example."
        )


def _main_module_hint(model: Any) -> str:
    """Why a model with parts defined in the running script cannot load elsewhere."""
    parts = [model]
    if hasattr(model, "get_params"):
        parts += list(model.get_params(deep=True).values())
    found = set()
    for part in parts:
        kind = part if isinstance(part, type) or inspect.isfunction(part) else type(part)
        if getattr(kind, "__module__", None) == "__main__":
            found.add(f"__main__.{kind.__qualname__}")
    if not found:
        return ""
    return (
        f"{', '.join(sorted(found))} {'is' if len(found) == 1 else 'are'} defined in the "
        "running script (__main__), which no other process can import, and mlcycle loads only "
        "the types it trusts. Build the model from scikit-learn, LightGBM or XGBoost classes "
        "(for example a Pipeline of standard steps) and register that. "
    )


def load_model(ref: str, *, workspace: Workspace | None = None) -> Bundle:
    """Load a registered model (``name@production``, ``name/3``, ``name``) without unpickling.

    The result has ``predict`` and ``predict_proba`` on a DataFrame, plus the bundle's
    schema, metrics and lineage.
    """

    ws = workspace or get_workspace()
    version = resolve_version(ref, ws)
    return open_stored_bundle(version.bundle_digest, ws)
