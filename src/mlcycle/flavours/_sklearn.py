"""The ``sklearn`` flavour: estimators and Pipelines through ``skops.io``, never pickle.

Loading trusts a type list written here, never one read from the bundle. mlcycle's own
types that bundles contain moved once, to :mod:`mlcycle.estimators`; a format-1 bundle
names them by their former paths, which ``FORMER_NAMES`` maps to today's before skops
sees the file, so loading a bundle never imports ``mlcycle.data`` or ``mlcycle.training``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, require
from mlcycle.flavours._base import Flavour, Reader, SavedModel, example_table, library_of

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = ["TRUSTED_NAMES", "SklearnFlavour", "load_skops"]

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
TRUSTED_NAMES = frozenset(
    {
        "collections.OrderedDict",
        "collections.defaultdict",
        "builtins.slice",
        # mlcycle's own types (mlcycle.estimators.BUNDLE_TYPES): array transforms and a
        # weighted mean, no file or code access. Their paths are part of the bundle format.
        "mlcycle.estimators.ColumnCaster",
        "mlcycle.estimators.DatetimeFeatures",
        "mlcycle.estimators.QuantileClipper",
        "mlcycle.estimators.WeightedEnsemble",
    }
)
# Names inside the trusted namespaces that read or write files or load code: refused anyway.
_DENIED = re.compile(
    r"^(numpy\.(lib\.npyio|lib\.format|ctypeslib|f2py|testing|distutils)"
    r"|sklearn\.(datasets|externals|utils\._testing))"
    r"|\.(loads?|save\w*|loadtxt|genfromtxt|fromfile|tofile|memmap|fromregex)$"
)

MODEL_FILE = "model/model.skops"


class SklearnFlavour(Flavour):
    """Fitted scikit-learn estimators and Pipelines (boosted final steps included)."""

    name = "sklearn"
    requires = (("skops.io", "skops"),)

    @classmethod
    def accepts(cls, model: object) -> bool:
        return "sklearn" in library_of(model) and hasattr(model, "get_params")

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
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
        info = {"loader": "skops", "path": MODEL_FILE, "estimator": estimator}
        return SavedModel({MODEL_FILE: data}, info)

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        self.check_installed()
        return load_skops(read(info["path"]), "model")

    def example(self, task: str) -> tuple[Any, Any]:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = example_table(task)
        estimator = Ridge() if task == "regression" else LogisticRegression(max_iter=500)
        return make_pipeline(StandardScaler(), estimator).fit(X, y), X


def _refused(name: str) -> bool:
    if name in TRUSTED_NAMES:
        return False
    if _DENIED.search(name):
        return True
    return not name.startswith(_TRUSTED_PREFIXES)


def _renamed(data: bytes) -> bytes:
    """``data`` with the former type paths of format-1 bundles rewritten to today's (a
    bundle that names none is returned as is)."""
    if b"mlcycle.data._prepare" not in data and b"mlcycle.training._ensemble" not in data:
        # skops stores schema.json deflated: look inside before deciding
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as source:
                text = source.read("schema.json")
        except (zipfile.BadZipFile, KeyError):
            return data  # not a skops archive: skops says so in its own words
        if b"mlcycle.data._prepare" not in text and b"mlcycle.training._ensemble" not in text:
            return data
    from mlcycle.estimators import FORMER_NAMES

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            old = f"{node.get('__module__')}.{node.get('__class__')}"
            if old in FORMER_NAMES:
                node["__module__"], node["__class__"] = FORMER_NAMES[old].rsplit(".", 1)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            schema = json.loads(source.read("schema.json"))
            walk(schema)
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
                for item in source.infolist():
                    body = source.read(item.filename)
                    if item.filename == "schema.json":
                        body = json.dumps(schema).encode("utf-8")
                    target.writestr(item, body)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BundleError(f"The skops file is not a valid skops archive: {exc}.") from exc
    return out.getvalue()


def load_skops(data: bytes, what: str) -> object:
    """A scikit-learn object from skops bytes, loaded with the fixed trusted-type list."""
    sio: Any = require("skops.io", "sklearn")
    data = _renamed(data)
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise BundleError(f"The skops {what} cannot be read: {exc}.") from exc
    refused = sorted(name for name in found if _refused(name))
    if refused:
        raise BundleError(
            f"The {what} contains types mlcycle does not trust: {', '.join(refused)}. "
            "Only scikit-learn, NumPy, SciPy sparse, LightGBM, XGBoost and mlcycle's own "
            "preparation types are loaded; rebuild the model from those (a class defined in "
            "a script's __main__ can never be loaded back)."
        )
    try:
        return sio.loads(data, trusted=found)
    except Exception as exc:
        raise BundleError(f"The skops {what} cannot be loaded: {exc}.") from exc
