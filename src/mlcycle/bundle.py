"""The model bundle: a directory holding everything needed to use a model without its code.

Layout (only the files given are written)::

    MANIFEST.json            canonical JSON: format, flavour, loader info, SHA-256 of every file
    model/...                the model, in a format loaded WITHOUT unpickling
    schema.json  metrics.json  params.json  lineage.json  explanation.json
    reference_profile.json   extra/<name>

Flavours: ``sklearn`` (estimators and Pipelines, boosted final steps included, through
``skops.io`` with a trusted-type allowlist defined here, never read from the bundle),
``lightgbm`` (the booster's text format) and ``xgboost`` (the booster's JSON format).
A bundle is written under a temporary name and moved into place; reading verifies every
file against the manifest, whose SHA-256 is the bundle's digest::

    bundle = write_bundle(model, "out/churn-v1", schema=schema, metrics={"auc": 0.91})
    read_bundle("out/churn-v1").predict(df)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle._version import __version__
from mlcycle.exceptions import BundleError, TamperedBundleError, require
from mlcycle.schema import Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "Bundle",
    "NativeModel",
    "manifest_digest",
    "read_bundle",
    "verify_bundle",
    "write_bundle",
]

MANIFEST_NAME = "MANIFEST.json"
BUNDLE_FORMAT = 1
FLAVORS = ("sklearn", "lightgbm", "xgboost")

_SIDECARS = ("metrics", "params", "lineage", "explanation", "reference_profile")
_CHUNK = 1 << 20

# Types skops may rebuild beyond its own defaults. Decided here, never read from a bundle.
_TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.sparse.",
    "lightgbm.sklearn.",
    "lightgbm.basic.Booster",
    "xgboost.sklearn.",
    "xgboost.core.Booster",
    "xgboost.callback.",
)
_TRUSTED_NAMES = frozenset(
    {
        "collections.OrderedDict",
        "collections.defaultdict",
        "builtins.slice",
        # mlcycle's own preparation steps: array transforms only, no file or code access.
        # Their import paths are part of the bundle format: never rename or move them.
        "mlcycle.data._prepare.ColumnCaster",
        "mlcycle.data._prepare.DatetimeFeatures",
        "mlcycle.data._prepare.QuantileClipper",
        # the AutoML ensemble: a weighted mean of trusted pipelines
        "mlcycle.training._ensemble.WeightedEnsemble",
    }
)
# Names inside the trusted namespaces that read or write files or load code: refused anyway.
_DENIED = re.compile(
    r"^(numpy\.(lib\.npyio|lib\.format|ctypeslib|f2py|testing|distutils)"
    r"|sklearn\.(datasets|externals|utils\._testing))"
    r"|\.(loads?|save\w*|loadtxt|genfromtxt|fromfile|tofile|memmap|fromregex)$"
)


# -- JSON and hashing ----------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    raise TypeError(f"{type(obj).__qualname__} is not JSON serialisable")


def _canonical_json(obj: Any, what: str) -> bytes:
    """Encode ``obj`` as canonical JSON: sorted keys, compact, UTF-8, no NaN."""
    try:
        text = json.dumps(
            obj,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:
        raise BundleError(
            f"The {what} cannot be stored as JSON: {exc}. Pass plain numbers, strings, "
            "lists and dicts (NaN and infinity are not valid JSON)."
        ) from exc
    return text.encode("utf-8")


def manifest_digest(manifest_bytes: bytes) -> str:
    """Return the bundle digest: the SHA-256 (hex) of the exact ``MANIFEST.json`` bytes."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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


# -- flavours: writing ---------------------------------------------------------------------


def _unsupported(model: object) -> BundleError:
    return BundleError(
        f"Cannot bundle a {type(model).__module__}.{type(model).__qualname__}: mlcycle bundles "
        "scikit-learn estimators and Pipelines, LightGBM models (LGBMClassifier, "
        "LGBMRegressor, Booster) and XGBoost models (XGBClassifier, XGBRegressor, Booster)."
    )


def _detect_flavor(model: object) -> str:
    families = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    for flavor in ("lightgbm", "xgboost"):
        if flavor in families:
            return flavor
    if "sklearn" in families and hasattr(model, "get_params"):
        return "sklearn"
    raise _unsupported(model)


def _wrapper_meta(model: Any, library: str, classifier: Any) -> dict[str, Any]:
    """Describe a LightGBM/XGBoost scikit-learn wrapper: kind, class name, class labels."""
    import numpy as np

    if callable(getattr(model, "objective", None)):
        raise BundleError(
            f"This {type(model).__name__} uses a custom objective function, which cannot be "
            "stored without its code. Train with a built-in objective to bundle it."
        )
    wrapper = next(c for c in type(model).__mro__ if c.__module__.startswith(f"{library}."))
    meta: dict[str, Any] = {"kind": "regressor", "wrapper": wrapper.__name__}
    if isinstance(model, classifier):
        classes = np.asarray(model.classes_)
        labels = json.loads(_canonical_json(classes.tolist(), "class labels"))
        meta.update(kind="classifier", classes=labels, classes_dtype=classes.dtype.str)
    return meta


def _booster_of(model: Any, getter: Callable[[], Any]) -> Any:
    try:
        return getter()
    except Exception as exc:
        raise BundleError(f"The {type(model).__name__} is not fitted. Fit it first.") from exc


def _write_sklearn(model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    sio: Any = require("skops.io", "sklearn")
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise BundleError(f"The model is not fitted: {exc} Fit it before bundling.") from exc
    try:
        data = sio.dumps(model)
    except Exception as exc:
        raise BundleError(
            f"skops could not serialise the {type(model).__name__}: {exc}. Only objects "
            "skops can persist without pickle can be bundled."
        ) from exc
    estimator = f"{type(model).__module__}.{type(model).__qualname__}"
    info = {"loader": "skops", "path": "model/model.skops", "estimator": estimator}
    return {"model/model.skops": data}, info


def _write_lightgbm(model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    lgb: Any = require("lightgbm", "lightgbm")
    meta: dict[str, Any]
    if isinstance(model, lgb.Booster):
        booster, meta = model, {"kind": "booster", "wrapper": "Booster"}
    elif isinstance(model, lgb.LGBMModel):
        booster = _booster_of(model, lambda: model.booster_)
        meta = _wrapper_meta(model, "lightgbm", lgb.LGBMClassifier)
    else:
        raise _unsupported(model)
    text = booster.model_to_string()  # best iteration only, as the wrapper predicts
    objective = next((ln for ln in text.splitlines() if ln.startswith("objective=")), "=")
    meta.update(
        library_version=lgb.__version__,
        objective=objective.split("=", 1)[1].split(" ")[0],
        feature_names=list(booster.feature_name()),
    )
    info = {"loader": "lightgbm-text", "path": "model/model.txt", "meta": "model/meta.json"}
    meta_bytes = _canonical_json(meta, "model metadata")
    return {"model/model.txt": text.encode("utf-8"), "model/meta.json": meta_bytes}, info


def _write_xgboost(model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    xgb: Any = require("xgboost", "xgboost")
    meta: dict[str, Any]
    if isinstance(model, xgb.Booster):
        booster, meta = model, {"kind": "booster", "wrapper": "Booster", "missing": None}
        best = None
    elif isinstance(model, xgb.XGBModel):
        booster = _booster_of(model, model.get_booster)
        meta = _wrapper_meta(model, "xgboost", xgb.XGBClassifier)
        missing = float(model.missing)
        meta["missing"] = None if missing != missing else missing  # NaN is not JSON
        best = getattr(model, "best_iteration", None)
    else:
        raise _unsupported(model)
    learner = json.loads(booster.save_config())["learner"]
    meta.update(
        library_version=xgb.__version__,
        objective=learner["objective"]["name"],
        booster=learner["gradient_booster"]["name"],
        feature_names=list(booster.feature_names or []),
    )
    linear = meta["booster"] == "gblinear"  # as the wrapper's predict(): best rounds only
    meta["iteration_range"] = [0, 0 if best is None or linear else int(best) + 1]
    info = {"loader": "xgboost-json", "path": "model/model.json", "meta": "model/meta.json"}
    meta_bytes = _canonical_json(meta, "model metadata")
    return {
        "model/model.json": bytes(booster.save_raw("json")),
        "model/meta.json": meta_bytes,
    }, info


_WRITERS = {"sklearn": _write_sklearn, "lightgbm": _write_lightgbm, "xgboost": _write_xgboost}


def _package_versions(model: Any, flavor: str) -> dict[str, str]:
    """Versions of Python and of every library needed to load and run ``model``."""
    libraries = {"sklearn": ["skops"], "lightgbm": ["lightgbm"], "xgboost": ["xgboost"]}[flavor]
    if flavor == "sklearn":  # boosted steps inside a Pipeline need their library too
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
) -> Bundle:
    """Write ``model`` and its context as a new bundle at ``path``, atomically.

    The target must not exist. Lineage gets the package versions merged in.
    """
    target = Path(path)
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
    flavor = _detect_flavor(model)
    given = (metrics, params, lineage, explanation, reference_profile)
    sidecars = dict(zip(_SIDECARS, given, strict=True))
    for name, value in sidecars.items():
        if value is not None and not isinstance(value, dict):
            raise BundleError(
                f"The '{name}' parameter of write_bundle() must be a dict or None. "
                f"Got {type(value).__name__} instead."
            )
    extras = dict(extra_files or {})
    for name in extras:
        reason = _check_relpath(name)
        if reason:
            raise BundleError(
                f"The extra file name {name!r} is refused: {reason}. Use a relative path "
                "like 'report.html' or 'plots/roc.png'."
            )
    auto_lineage: dict[str, Any] = {"packages": _package_versions(model, flavor)}
    for key, value in (lineage or {}).items():
        if key == "packages" and isinstance(value, dict):
            auto_lineage["packages"].update(value)
        else:
            auto_lineage[key] = value
    sidecars["lineage"] = auto_lineage

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        model_files, model_info = _WRITERS[flavor](model)
        contents: dict[str, bytes] = dict(model_files)
        if schema is not None:
            contents["schema.json"] = _canonical_json(schema.to_dict(), "schema")
        for name, value in sidecars.items():
            if value is not None:
                contents[f"{name}.json"] = _canonical_json(value, name.replace("_", " "))
        for name, source in extras.items():
            contents[f"extra/{name}"] = (
                bytes(source)
                if isinstance(source, bytes | bytearray)
                else Path(source).read_bytes()
            )
        files = {}
        for rel, data in sorted(contents.items()):
            _write_file(tmp / rel, data)
            files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        manifest = {
            "format": BUNDLE_FORMAT,
            "mlcycle_version": __version__,
            "flavor": flavor,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": files,
            "model": model_info,
        }
        manifest_bytes = _canonical_json(manifest, "manifest")
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
    return _open(target, manifest_bytes, manifest)


# -- reading and verifying -----------------------------------------------------------------


def _tampered(root: Path, what: str) -> TamperedBundleError:
    return TamperedBundleError(
        f"The bundle at {root} has been modified or corrupted: {what}. Do not use it; "
        "restore it from its source or write it again."
    )


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
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise _tampered(root, f"{MANIFEST_NAME} has no 'files' table")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise _tampered(
            root,
            f"{MANIFEST_NAME} declares bundle format {manifest.get('format')!r}, but this "
            f"mlcycle reads format {BUNDLE_FORMAT} (a newer mlcycle may read it)",
        )
    if manifest.get("flavor") not in FLAVORS or not isinstance(manifest.get("model"), dict):
        raise _tampered(root, f"{MANIFEST_NAME} names an unknown flavor {manifest.get('flavor')!r}")
    for rel, entry in manifest["files"].items():
        reason = _check_relpath(rel) or ("it is the manifest" if rel == MANIFEST_NAME else None)
        if reason:
            raise _tampered(root, f"{MANIFEST_NAME} lists an unsafe path {rel!r} ({reason})")
        if not isinstance(entry, dict) or not {"sha256", "size"} <= set(entry):
            raise _tampered(root, f"{MANIFEST_NAME} has a malformed entry for {rel!r}")
    for key in ("path", "meta"):
        rel = manifest["model"].get(key)
        if (key == "path" or rel is not None) and rel not in manifest["files"]:
            raise _tampered(root, f"the model file {rel!r} is not listed in {MANIFEST_NAME}")
    return raw, manifest


def _verify(root: Path) -> tuple[bytes, dict[str, Any]]:
    raw, manifest = _load_manifest(root)
    listed = manifest["files"]
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
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise _tampered(root, f"the file {unlisted[0]!r} is not listed in {MANIFEST_NAME}")
    for rel, entry in sorted(listed.items()):
        full = root / rel
        if rel not in present:
            raise _tampered(root, f"the file {rel!r} listed in {MANIFEST_NAME} is missing")
        size = full.stat().st_size
        if size != entry["size"]:
            raise _tampered(root, f"{rel!r} has {size} bytes, the manifest says {entry['size']}")
        actual = _sha256_file(full)
        if actual != entry["sha256"]:
            raise _tampered(
                root, f"{rel!r} has SHA-256 {actual}, the manifest says {entry['sha256']}"
            )
    return raw, manifest


def verify_bundle(path: str | os.PathLike[str]) -> str:
    """Check every file of the bundle at ``path`` against its manifest; return the digest."""
    raw, _ = _verify(Path(path))
    return manifest_digest(raw)


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Open and verify the bundle at ``path``; the model itself is loaded on first use."""
    root = Path(path)
    raw, manifest = _verify(root)
    return _open(root, raw, manifest)


def _open(root: Path, raw: bytes, manifest: dict[str, Any]) -> Bundle:
    bundle = Bundle(root, manifest, manifest_digest(raw))
    if "schema.json" in bundle.files:
        bundle.schema = Schema.from_dict(json.loads(bundle._read("schema.json")))
    for name in _SIDECARS:
        if f"{name}.json" in bundle.files:
            setattr(bundle, name, json.loads(bundle._read(f"{name}.json")))
    return bundle


# -- the bundle ----------------------------------------------------------------------------


class Bundle:
    """A verified bundle on disk: its manifest, context files and (lazily) its model."""

    def __init__(self, path: Path, manifest: dict[str, Any], digest: str) -> None:
        self.path = path
        self.manifest = manifest
        self.digest = digest
        self.flavor: str = manifest["flavor"]
        self.files: dict[str, str] = {rel: e["sha256"] for rel, e in manifest["files"].items()}
        self.schema: Schema | None = None
        self.metrics: dict[str, Any] | None = None
        self.params: dict[str, Any] | None = None
        self.lineage: dict[str, Any] | None = None
        self.explanation: dict[str, Any] | None = None
        self.reference_profile: dict[str, Any] | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Bundle(path={str(self.path)!r}, flavor={self.flavor!r}, digest={self.digest[:12]})"

    def _read(self, rel: str) -> bytes:
        """Read one listed file and check it again, so nothing changed since verification."""
        try:
            data = (self.path / rel).read_bytes()
        except OSError as exc:
            raise _tampered(self.path, f"the file {rel!r} cannot be read ({exc})") from exc
        if hashlib.sha256(data).hexdigest() != self.files[rel]:
            raise _tampered(self.path, f"{rel!r} changed after the bundle was verified")
        return data

    def load(self) -> object:
        """Return the model (loaded once, then cached); nothing is unpickled."""
        with self._lock:
            if self._model is None:
                info = self.manifest["model"]
                data = self._read(info["path"])
                if self.flavor == "sklearn":
                    self._model = _load_skops(data, self.path)
                else:
                    meta = json.loads(self._read(info["meta"]))
                    cls = _LightGBMModel if self.flavor == "lightgbm" else _XGBoostModel
                    self._model = cls(data, meta)
            return self._model

    def extra_file(self, name: str) -> bytes | None:
        """The bytes of ``extra/<name>`` (verified again), or None if the bundle has none."""
        rel = f"extra/{name}"
        return self._read(rel) if rel in self.files else None

    def load_extra_model(self, name: str) -> object | None:
        """A scikit-learn object stored as ``extra/<name>`` with skops (e.g. the anomaly
        detector), loaded with the same fixed trusted-type list as the model; None if absent."""
        data = self.extra_file(name)
        return None if data is None else _load_skops(data, self.path)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict with the bundled model exactly as the original model would."""
        import numpy as np

        return np.asarray(self.load().predict(X))  # type: ignore[attr-defined]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class; BundleError if the model has none."""
        import numpy as np

        model = self.load()
        if not hasattr(model, "predict_proba"):
            raise BundleError(
                f"The bundled {type(model).__name__} does not predict probabilities; "
                "use predict() instead."
            )
        return np.asarray(model.predict_proba(X))


def _refused(name: str) -> bool:
    if name in _TRUSTED_NAMES:
        return False
    if _DENIED.search(name):
        return True
    return not name.startswith(_TRUSTED_PREFIXES)


def _load_skops(data: bytes, root: Path) -> object:
    sio: Any = require("skops.io", "sklearn")
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise BundleError(f"The skops model in {root} cannot be read: {exc}.") from exc
    refused = sorted(name for name in found if _refused(name))
    if refused:
        raise BundleError(
            f"The model in {root} contains types mlcycle does not trust: {', '.join(refused)}. "
            "Only scikit-learn, NumPy, SciPy sparse, LightGBM, XGBoost and mlcycle's own "
            "preparation types are loaded; "
            "rebuild the model from those."
        )
    try:
        return sio.loads(data, trusted=found)
    except Exception as exc:
        raise BundleError(f"The skops model in {root} cannot be loaded: {exc}.") from exc


# -- native booster models -----------------------------------------------------------------

# Objectives whose raw booster output is a probability (LightGBM's, then XGBoost's).
_PROBA_OBJECTIVES = frozenset(
    {"binary", "multiclass", "multiclassova", "binary:logistic", "multi:softprob", "multi:softmax"}
)


class NativeModel:
    """A LightGBM or XGBoost booster loaded from its native format, with the wrapper's API.

    ``predict`` and ``predict_proba`` reproduce the scikit-learn wrapper the model was
    trained with; ``booster`` is the library's own object for anything else.
    """

    booster: Any
    threads: int | None = None
    """Threads per prediction (None: the library's default, all cores)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        import numpy as np

        self.meta = meta
        self.kind: str = meta["kind"]
        self.objective: str = meta.get("objective", "")
        self.feature_names_in_: list[str] = list(meta.get("feature_names") or [])
        self.classes_ = (
            np.asarray(meta["classes"], dtype=np.dtype(meta["classes_dtype"]))
            if "classes" in meta
            else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.meta.get('wrapper')}, objective={self.objective!r})"

    def _columns(self, X: Any) -> Any:
        """Select the trained feature columns by name when the input has them all."""
        names = self.feature_names_in_
        columns = getattr(X, "columns", None)
        if names and columns is not None and list(columns) != names and set(names) <= set(columns):
            return X[names]
        return X

    def _raw(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def set_threads(self, threads: int) -> None:
        """Predict on ``threads`` threads (one is fastest for small batches)."""
        self.threads = threads

    def _check_proba(self) -> None:
        if self.kind == "classifier" or self.objective in _PROBA_OBJECTIVES:
            return
        raise BundleError(
            f"This {self.meta.get('wrapper')} model (objective {self.objective!r}) does not "
            "predict probabilities; use predict() instead."
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class, as the wrapper's ``predict_proba``."""
        import numpy as np

        self._check_proba()
        raw = self._raw(self._columns(X))
        return raw if raw.ndim == 2 else np.vstack((1.0 - raw, raw)).transpose()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions as the wrapper's ``predict``: class labels for classifiers."""
        import numpy as np

        if self.kind != "classifier":
            return self._raw(self._columns(X))
        assert self.classes_ is not None
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _LightGBMModel(NativeModel):
    def __init__(self, data: bytes, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        lgb: Any = require("lightgbm", "lightgbm")
        self.booster = lgb.Booster(model_str=data.decode("utf-8"))

    def _raw(self, X: Any) -> np.ndarray:
        if self.threads is not None:
            return self.booster.predict(X, num_threads=self.threads)
        return self.booster.predict(X)


class _XGBoostModel(NativeModel):
    def __init__(self, data: bytes, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        xgb: Any = require("xgboost", "xgboost")
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(data))

    def set_threads(self, threads: int) -> None:
        """Predict on ``threads`` threads (one is fastest for small batches)."""
        self.threads = threads
        self.booster.set_param({"nthread": threads})

    def _raw(self, X: Any, margin: bool = False) -> np.ndarray:
        import numpy as np

        missing = np.nan if self.meta.get("missing") is None else self.meta["missing"]
        rounds = tuple(self.meta["iteration_range"])
        if self.meta.get("booster") == "gblinear":  # no in-place prediction for linear models
            xgb: Any = require("xgboost", "xgboost")
            data = xgb.DMatrix(X, missing=missing, enable_categorical=True)
            return self.booster.predict(data, output_margin=margin, iteration_range=rounds)
        predict_type = "margin" if margin else "value"
        return self.booster.inplace_predict(
            X, iteration_range=rounds, predict_type=predict_type, missing=missing
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, as ``XGBClassifier.predict_proba`` computes them."""
        if self.objective != "multi:softmax":
            return super().predict_proba(X)
        from scipy.special import softmax

        self._check_proba()
        return softmax(self._raw(self._columns(X), margin=True), axis=1)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions as ``XGBClassifier.predict``: ``> 0.5`` for binary, argmax otherwise."""
        import numpy as np

        raw = self._raw(self._columns(X))
        if self.kind != "classifier":
            return raw
        assert self.classes_ is not None
        if self.objective == "multi:softmax":
            return self.classes_[raw.astype(np.int64)]
        if raw.ndim == 2:
            return self.classes_[np.argmax(raw, axis=1)]
        return self.classes_[(raw > 0.5).astype(np.int64)]
