"""Boosters loaded from their own formats (LightGBM text, XGBoost JSON) with the wrapper's API.

Shared by the ``lightgbm`` and ``xgboost`` flavours: :class:`NativeModel` reproduces the
scikit-learn wrapper a booster was trained with, from the metadata saved beside it.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError
from mlcycle.flavours._base import Flavour, Reader, SavedModel, canonical_json, library_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlcycle.schema import Schema

__all__ = ["BoosterFlavour", "NativeModel", "booster_of", "wrapper_meta"]


class BoosterFlavour(Flavour):
    """A booster library's flavour: its own model file plus the wrapper's metadata
    (``model/meta.json``), loaded as the library's :class:`NativeModel` subclass."""

    library: str
    title: str

    @classmethod
    def accepts(cls, model: object) -> bool:
        return cls.library in library_of(model)

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        files, info = self.write(model)
        return SavedModel(files, info)

    @abstractmethod
    def write(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
        """The booster's files and the manifest's ``model`` entry."""

    @abstractmethod
    def native(self, data: bytes, meta: dict[str, Any]) -> NativeModel:
        """The :class:`NativeModel` of the saved booster bytes and metadata."""

    @abstractmethod
    def check(self, data: bytes) -> None:
        """BundleError when the saved booster's trees could crash the library that reads
        them (issue 14, finding 2): checked before the library sees the bytes."""

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        self.check_installed()
        try:
            data = read(info["path"])
            self.check(data)
            return self.native(data, json.loads(read(info["meta"])))
        except BundleError:
            raise
        except Exception as exc:  # the library's own error too (LightGBMError, XGBoostError)
            raise BundleError(f"The {self.title} model cannot be read: {exc}.") from exc


def wrapper_meta(model: Any, library: str, classifier: Any) -> dict[str, Any]:
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
        labels = json.loads(canonical_json(classes.tolist(), "class labels"))
        meta.update(kind="classifier", classes=labels, classes_dtype=classes.dtype.str)
    return meta


def booster_of(model: Any, getter: Callable[[], Any]) -> Any:
    """The booster inside a fitted wrapper; BundleError when the wrapper is not fitted."""
    try:
        return getter()
    except Exception as exc:
        raise BundleError(f"The {type(model).__name__} is not fitted. Fit it first.") from exc


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
