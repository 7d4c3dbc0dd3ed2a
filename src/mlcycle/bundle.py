"""The model bundle: a directory holding everything needed to use a model without its code.

Layout (only the files given are written)::

    MANIFEST.json            canonical JSON: format, flavour (and its format version), the
                             decision rule, loader info, SHA-256 of every file
    model/...                the model, in its flavour's files, loaded WITHOUT unpickling
    schema.json  metrics.json  params.json  lineage.json  explanation.json
    reference_profile.json   the drift reference under "drift" (see MonitoringReference)
    extra/<name>             extra files; extra/reference_sample.parquet and
                             extra/anomaly.skops are the monitoring reference's

The model is stored by a flavour (:mod:`mlcycle.flavours`: ``sklearn``, ``lightgbm``,
``xgboost``, ``onnx``). Every door that predicts — ``load_model``, ``TrainResult``, the
server, batch scoring, the retrain gate — answers through :meth:`Bundle.predict_outputs`
and the bundle's :class:`~mlcycle.decision.DecisionRule`, so labels agree everywhere.
A bundle is written under a temporary name and moved into place; reading verifies every
file against the manifest once (the verified bytes are kept), and the manifest's SHA-256
is the bundle's digest::

    bundle = write_bundle(model, "out/churn-v1", schema=schema, decision_threshold=0.4)
    read_bundle("out/churn-v1").predict_outputs(df).labels

Format 2 (this release) adds ``flavour``, ``flavour_format`` and ``decision`` to the
manifest; format-1 bundles (``flavor``, the threshold in ``params.json``) still read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle._version import __version__
from mlcycle.decision import DecisionRule, Predictions
from mlcycle.exceptions import BundleError, TamperedBundleError
from mlcycle.flavours import (
    Flavour,
    NativeModel,
    canonical_json,
    detect_flavour,
    get_flavour,
    load_skops,
)
from mlcycle.schema import Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "ANOMALY_DETECTOR_FILE",
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "REFERENCE_SAMPLE_FILE",
    "Bundle",
    "MonitoringReference",
    "NativeModel",
    "manifest_digest",
    "read_bundle",
    "verify_bundle",
    "write_bundle",
]

MANIFEST_NAME = "MANIFEST.json"
BUNDLE_FORMAT = 2
READABLE_FORMATS = (1, 2)
REFERENCE_SAMPLE_FILE = "reference_sample.parquet"
"""Under ``extra/``: a seeded sample of training rows (the domain classifier's reference)."""
ANOMALY_DETECTOR_FILE = "anomaly.skops"
"""Under ``extra/``: the fitted anomaly detector, stored with skops."""
DRIFT_KEY = "drift"
"""The key of ``reference_profile.json`` that holds the drift reference."""

_SIDECARS = ("metrics", "params", "lineage", "explanation", "reference_profile")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class MonitoringReference:
    """What a bundle carries so that monitoring can compare live inputs with training:
    the drift reference (quantiles, bins, category counts; no rows), a seeded sample of
    training rows, and an anomaly detector. Any part may be absent."""

    drift: dict[str, Any] | None = None
    sample: pd.DataFrame | None = None
    detector: Any = None


# -- hashing and paths ---------------------------------------------------------------------


def manifest_digest(manifest_bytes: bytes) -> str:
    """Return the bundle digest: the SHA-256 (hex) of the exact ``MANIFEST.json`` bytes."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def _check_relpath(name: object) -> str | None:
    """Return why ``name`` is not a safe relative POSIX path inside a bundle, or None."""
    if not isinstance(name, str) or not name:
        return "it is not a non-empty string"
    if "\x00" in name or "\\" in name:
        return "it contains a NUL byte or a backslash"
    if name.startswith("/"):
        return "it is absolute"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "it has an empty, '.' or '..' component"
    return None


def _package_versions(model: Any, flavour: Flavour) -> dict[str, str]:
    """Versions of Python and of every library needed to load and run ``model``."""
    libraries = [module.split(".")[0] for module, _ in flavour.requires]  # skops, lightgbm...
    if flavour.name == "sklearn":  # boosted steps inside a Pipeline need their library too
        steps = {type(v).__module__.split(".")[0] for v in model.get_params(deep=True).values()}
        libraries += sorted(steps & {"lightgbm", "xgboost"})
    versions = {"python": platform.python_version(), "mlcycle": __version__}
    for name in ["scikit-learn", "numpy", "pandas", *libraries]:
        for dist in (name, "xgboost-cpu") if name == "xgboost" else (name,):
            try:
                versions[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


# -- writing -------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_write_args(
    target: Path, schema: Any, sidecars: dict[str, Any], extras: dict[str, Any]
) -> None:
    if target.exists() or target.is_symlink():
        raise BundleError(
            f"Cannot write a bundle to {target}: it already exists. Bundles are immutable; "
            "choose a new path or delete the old bundle first."
        )
    if schema is not None and not isinstance(schema, Schema):
        raise BundleError(
            "The 'schema' parameter of write_bundle() must be a mlcycle.schema.Schema or "
            f"None. Got {type(schema).__name__} instead."
        )
    for name, value in sidecars.items():
        if value is not None and not isinstance(value, dict):
            raise BundleError(
                f"The '{name}' parameter of write_bundle() must be a dict or None. "
                f"Got {type(value).__name__} instead."
            )
    for name in extras:
        reason = _check_relpath(name)
        if reason:
            raise BundleError(
                f"The extra file name {name!r} is refused: {reason}. Use a relative path "
                "like 'report.html' or 'plots/roc.png'."
            )


def _monitoring_files(
    monitoring: MonitoringReference | None, sidecars: dict[str, Any], extras: dict[str, Any]
) -> None:
    """Add the monitoring reference's parts to the sidecars and extra files, by their names."""
    if monitoring is None:
        return
    if not isinstance(monitoring, MonitoringReference):
        raise BundleError(
            "The 'monitoring' parameter of write_bundle() must be a MonitoringReference or "
            f"None. Got {type(monitoring).__name__} instead."
        )
    if monitoring.drift is not None:
        sidecars["reference_profile"] = {
            **(sidecars["reference_profile"] or {}),
            DRIFT_KEY: monitoring.drift,
        }
    if monitoring.sample is not None:
        buffer = io.BytesIO()
        monitoring.sample.to_parquet(buffer, index=False)
        extras[REFERENCE_SAMPLE_FILE] = buffer.getvalue()
    if monitoring.detector is not None:
        saved = get_flavour("sklearn").save(monitoring.detector, None)
        extras[ANOMALY_DETECTOR_FILE] = saved.files[saved.info["path"]]


def _decision(model: Any, decision: DecisionRule | None, threshold: float | None) -> DecisionRule:
    if decision is not None:
        if not isinstance(decision, DecisionRule):
            raise BundleError(
                "The 'decision' parameter of write_bundle() must be a DecisionRule or None. "
                f"Got {type(decision).__name__} instead."
            )
        return decision
    return DecisionRule.for_model(model, threshold)


def write_bundle(
    model: object,
    path: str | os.PathLike[str],
    *,
    schema: Schema | None = None,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    explanation: dict[str, Any] | None = None,
    reference_profile: dict[str, Any] | None = None,
    extra_files: dict[str, bytes | Path] | None = None,
    decision_threshold: float | None = None,
    decision: DecisionRule | None = None,
    monitoring: MonitoringReference | None = None,
) -> Bundle:
    """Write ``model`` and its context as a new bundle at ``path``, atomically.

    The target must not exist. The flavour is detected from the model. The decision rule
    is ``decision`` or the model's classes with ``decision_threshold`` (binary models).
    Lineage gets the package versions merged in.
    """
    target = Path(path)
    given = (metrics, params, lineage, explanation, reference_profile)
    sidecars = dict(zip(_SIDECARS, given, strict=True))
    extras: dict[str, Any] = dict(extra_files or {})
    _check_write_args(target, schema, sidecars, extras)
    flavour = detect_flavour(model)
    _monitoring_files(monitoring, sidecars, extras)
    auto_lineage: dict[str, Any] = {"packages": _package_versions(model, flavour)}
    for key, value in (lineage or {}).items():
        if key == "packages" and isinstance(value, dict):
            auto_lineage["packages"].update(value)
        else:
            auto_lineage[key] = value
    sidecars["lineage"] = auto_lineage
    saved = flavour.save(model, schema)
    rule = _decision(flavour.predictor(model, saved, schema), decision, decision_threshold)
    contents: dict[str, bytes] = dict(saved.files)
    if schema is not None:
        contents["schema.json"] = canonical_json(schema.to_dict(), "schema")
    for name, value in sidecars.items():
        if value is not None:
            contents[f"{name}.json"] = canonical_json(value, name.replace("_", " "))
    for name, source in extras.items():
        contents[f"extra/{name}"] = (
            bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
        )
    files = {
        rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for rel, data in sorted(contents.items())
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "mlcycle_version": __version__,
        "flavour": flavour.name,
        "flavour_format": flavour.format_version,
        "decision": rule.to_dict(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "model": saved.info,
    }
    manifest_bytes = canonical_json(manifest, "manifest")
    _write_atomically(target, contents, manifest_bytes)
    return _open(target, manifest_bytes, manifest, contents)


def _write_atomically(target: Path, contents: dict[str, bytes], manifest_bytes: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for rel, data in sorted(contents.items()):
            _write_file(tmp / rel, data)
        _write_file(tmp / MANIFEST_NAME, manifest_bytes)
        for directory in sorted({p.parent for p in tmp.rglob("*")}, reverse=True):
            _fsync_dir(directory)
        if target.exists():
            raise BundleError(f"Cannot write a bundle to {target}: it appeared while writing.")
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BundleError(f"Could not write the bundle to {target}: {exc}.") from exc
        raise
    _fsync_dir(target.parent)


# -- reading and verifying -----------------------------------------------------------------


def _tampered(root: Path, what: str) -> TamperedBundleError:
    return TamperedBundleError(
        f"The bundle at {root} has been modified or corrupted: {what}. Do not use it; "
        "restore it from its source or write it again."
    )


def _check_manifest(root: Path, manifest: Any) -> None:
    """Refuse a manifest this mlcycle cannot read: newer format, unknown flavour, bad paths."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise _tampered(root, f"{MANIFEST_NAME} has no 'files' table")
    if manifest.get("format") not in READABLE_FORMATS:
        raise BundleError(
            f"The bundle at {root} has format {manifest.get('format')!r}, but this mlcycle "
            f"reads formats {', '.join(map(str, READABLE_FORMATS))}. Upgrade mlcycle to read it."
        )
    if not isinstance(manifest.get("model"), dict):
        raise _tampered(root, f"{MANIFEST_NAME} has no 'model' entry")
    flavour = get_flavour(_flavour_name(manifest))  # BundleError for an unknown flavour
    written = manifest.get("flavour_format", 1)
    if not isinstance(written, int) or written > flavour.format_version:
        raise BundleError(
            f"The bundle at {root} stores its '{flavour.name}' model in flavour format "
            f"{written!r}; this mlcycle reads up to {flavour.format_version}. Upgrade mlcycle."
        )
    for rel, entry in manifest["files"].items():
        reason = _check_relpath(rel) or ("it is the manifest" if rel == MANIFEST_NAME else None)
        if reason:
            raise _tampered(root, f"{MANIFEST_NAME} lists an unsafe path {rel!r} ({reason})")
        if not isinstance(entry, dict) or not {"sha256", "size"} <= set(entry):
            raise _tampered(root, f"{MANIFEST_NAME} has a malformed entry for {rel!r}")
    for key in ("path", "meta"):
        rel = manifest["model"].get(key)
        listed = isinstance(rel, str) and rel in manifest["files"]  # a list or dict is no path
        if (key == "path" or rel is not None) and not listed:
            raise _tampered(root, f"the model file {rel!r} is not listed in {MANIFEST_NAME}")


def _flavour_name(manifest: dict[str, Any]) -> Any:
    return manifest.get("flavour", manifest.get("flavor"))  # format 1 spelled it "flavor"


def _load_manifest(root: Path) -> tuple[bytes, dict[str, Any]]:
    if not root.is_dir() or not (root / MANIFEST_NAME).is_file():
        raise BundleError(
            f"{root} is not a model bundle: expected a directory containing {MANIFEST_NAME}. "
            "Pass the directory that write_bundle() created."
        )
    raw = (root / MANIFEST_NAME).read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise _tampered(root, f"{MANIFEST_NAME} is not valid JSON ({exc})") from exc
    _check_manifest(root, manifest)
    return raw, manifest


def _present_files(root: Path) -> set[str]:
    present: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise _tampered(root, f"{rel!r} is a symbolic link")
            if name in filenames:
                if not full.is_file():
                    raise _tampered(root, f"{rel!r} is not a regular file")
                present.add(rel)
    present.discard(MANIFEST_NAME)
    return present


def _verify(root: Path) -> tuple[bytes, dict[str, Any], dict[str, bytes]]:
    """Check every file once against the manifest; return the verified bytes of each."""
    raw, manifest = _load_manifest(root)
    listed = manifest["files"]
    present = _present_files(root)
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise _tampered(root, f"the file {unlisted[0]!r} is not listed in {MANIFEST_NAME}")
    contents: dict[str, bytes] = {}
    for rel, entry in sorted(listed.items()):
        full = root / rel
        if rel not in present:
            raise _tampered(root, f"the file {rel!r} listed in {MANIFEST_NAME} is missing")
        size = full.stat().st_size
        if size != entry["size"]:
            raise _tampered(root, f"{rel!r} has {size} bytes, the manifest says {entry['size']}")
        data = full.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry["sha256"]:
            raise _tampered(
                root, f"{rel!r} has SHA-256 {actual}, the manifest says {entry['sha256']}"
            )
        contents[rel] = data
    return raw, manifest, contents


def verify_bundle(path: str | os.PathLike[str]) -> str:
    """Check every file of the bundle at ``path`` against its manifest; return the digest."""
    raw, _, _ = _verify(Path(path))
    return manifest_digest(raw)


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Open and verify the bundle at ``path`` (each file hashed once); the model itself is
    loaded on first use, from the verified bytes."""
    root = Path(path)
    raw, manifest, contents = _verify(root)
    return _open(root, raw, manifest, contents)


def _open(root: Path, raw: bytes, manifest: dict[str, Any], contents: dict[str, bytes]) -> Bundle:
    bundle = Bundle(root, manifest, manifest_digest(raw), contents)
    bundle.manifest_bytes = raw
    try:
        if "schema.json" in bundle.files:
            bundle.schema = Schema.from_dict(json.loads(bundle.read("schema.json")))
        for name in _SIDECARS:
            if f"{name}.json" in bundle.files:
                setattr(bundle, name, json.loads(bundle.read(f"{name}.json")))
    except ValueError as exc:
        raise BundleError(f"The bundle at {root} has an unreadable JSON file: {exc}.") from exc
    return bundle


# -- the bundle ----------------------------------------------------------------------------


class Bundle:
    """A verified bundle: its manifest, context files, decision rule and (lazily) model."""

    def __init__(
        self, path: Path, manifest: dict[str, Any], digest: str, contents: dict[str, bytes]
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.digest = digest
        self.format: int = manifest["format"]
        self.flavour: str = _flavour_name(manifest)
        self.files: dict[str, str] = {rel: e["sha256"] for rel, e in manifest["files"].items()}
        self.schema: Schema | None = None
        self.metrics: dict[str, Any] | None = None
        self.params: dict[str, Any] | None = None
        self.lineage: dict[str, Any] | None = None
        self.explanation: dict[str, Any] | None = None
        self.reference_profile: dict[str, Any] | None = None
        self._contents = contents
        self.manifest_bytes = b""
        """The exact ``MANIFEST.json`` bytes (their SHA-256 is :attr:`digest`)."""
        self._model: Any = None
        self._decision: DecisionRule | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"Bundle(path={str(self.path)!r}, flavour={self.flavour!r}, digest={self.digest[:12]})"
        )

    def read(self, rel: str) -> bytes:
        """The verified bytes of one listed file (hashed once, when the bundle was opened)."""
        try:
            return self._contents[rel]
        except KeyError:
            raise BundleError(f"The bundle at {self.path} has no file {rel!r}.") from None

    def load(self) -> object:
        """Return the model (loaded once, then cached); nothing is unpickled."""
        with self._lock:
            if self._model is None:
                flavour = get_flavour(self.flavour)
                self._model = flavour.load(self.read, self.manifest["model"], self.schema)
            return self._model

    @property
    def decision(self) -> DecisionRule:
        """The decision rule: from the manifest, or (format 1) from the model's classes
        and ``params["decision_threshold"]``."""
        with self._lock:
            if self._decision is None:
                stored = self.manifest.get("decision")
                if stored is not None:
                    self._decision = DecisionRule.from_dict(stored)
                else:
                    threshold = (self.params or {}).get("decision_threshold")
                    given = float(threshold) if isinstance(threshold, int | float) else None
                    self._decision = DecisionRule.for_model(self.load(), given)
            return self._decision

    def rows(self, X: Any) -> Any:
        """``X`` as the model's input: checked against the schema (one SchemaError naming
        every problem) and in its column order. A DataFrame keeps its dtypes (a model may
        need pandas categoricals) and may carry other columns (an id, the target), which
        are not model input, as in batch scoring; records and dicts of columns are typed by
        the schema, whose ``unexpected`` policy applies to their keys."""
        import pandas as pd

        schema = self.schema
        if schema is None or not schema.feature_names:
            return X
        if isinstance(X, pd.DataFrame):
            schema.validate(X, carried=True)
            return X[schema.feature_names]
        return schema.coerce(X)

    def predict_outputs(self, X: Any, *, checked: bool = False) -> Predictions:
        """Labels (the decision rule applied), probabilities and class order for ``X``.

        ``checked=True``: ``X`` is already the model's input frame (as :meth:`rows` or the
        server's own checks return it), so the schema is not checked again.
        """
        import numpy as np

        model: Any = self.load()
        rows = X if checked else self.rows(X)
        rule = self.decision
        if rule.is_classifier:
            return rule.outputs(np.asarray(model.predict_proba(rows)))
        return rule.outputs(np.asarray(model.predict(rows)))

    def predict(self, X: Any) -> np.ndarray:
        """Labels or values for ``X``, exactly as every other door answers."""
        return self.predict_outputs(X).labels

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class; BundleError if the model has none.
        (A bare booster with a probability objective has no classes: its own answer.)"""
        import numpy as np

        if self.decision.is_classifier:
            outputs = self.predict_outputs(X)
            assert outputs.probabilities is not None
            return outputs.probabilities
        model: Any = self.load()
        if not hasattr(model, "predict_proba"):
            raise BundleError(
                f"The bundled {type(model).__name__} does not predict probabilities; "
                "use predict() instead."
            )
        return np.asarray(model.predict_proba(self.rows(X)))

    def extra_file(self, name: str) -> bytes | None:
        """The bytes of ``extra/<name>`` (verified), or None if the bundle has none."""
        rel = f"extra/{name}"
        return self.read(rel) if rel in self.files else None

    def load_extra_model(self, name: str) -> object | None:
        """A scikit-learn object stored as ``extra/<name>`` with skops (e.g. the anomaly
        detector), loaded with the same fixed trusted-type list as the model; None if absent."""
        data = self.extra_file(name)
        return None if data is None else load_skops(data, f"extra file {name!r} of {self.path}")

    @property
    def drift_reference(self) -> dict[str, Any] | None:
        """The drift reference of the training data (no rows), if the bundle has one."""
        found = (self.reference_profile or {}).get(DRIFT_KEY)
        return found if isinstance(found, dict) else None

    def reference_sample(self) -> pd.DataFrame | None:
        """The seeded sample of training rows, if the bundle has one."""
        import pandas as pd

        data = self.extra_file(REFERENCE_SAMPLE_FILE)
        return None if data is None else pd.read_parquet(io.BytesIO(data))

    def anomaly_detector(self) -> Any:
        """The anomaly detector fitted on the training rows, if the bundle has one."""
        return self.load_extra_model(ANOMALY_DETECTOR_FILE)

    def monitoring_reference(self) -> MonitoringReference:
        """Everything the bundle carries for monitoring, loaded."""
        return MonitoringReference(
            self.drift_reference, self.reference_sample(), self.anomaly_detector()
        )
