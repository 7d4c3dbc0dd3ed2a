"""The flavour contract: how one kind of model becomes files and comes back, never pickled.

A flavour is one small class: :meth:`Flavour.accepts` recognises its models,
:meth:`Flavour.save` turns a fitted model into files, :meth:`Flavour.load` rebuilds a model
with ``predict`` (and ``predict_proba`` and ``classes_`` for classifiers) from those files,
and :meth:`Flavour.describe` says what was saved. Flavours are found by name through one
lazy table, :data:`FLAVOURS`; adding one is a module and a line there, and the contract
suite (``tests/flavours``) covers it without edits.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlcycle.exceptions import BundleError, MissingDependencyError

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.schema import Schema

__all__ = [
    "FLAVOURS",
    "Flavour",
    "SavedModel",
    "canonical_json",
    "detect_flavour",
    "get_flavour",
]

FLAVOURS: dict[str, str] = {
    "lightgbm": "mlcycle.flavours._lightgbm:LightGBMFlavour",
    "xgboost": "mlcycle.flavours._xgboost:XGBoostFlavour",
    "onnx": "mlcycle.flavours._onnx_flavour:OnnxFlavour",
    "torch": "mlcycle.flavours._torch:TorchFlavour",
    "tensor": "mlcycle.flavours.tensor:TensorFlavour",
    "sklearn": "mlcycle.flavours._sklearn:SklearnFlavour",
}
"""Flavour name -> ``module:Class``, imported on first use; detection tries them in order."""

Reader = Callable[[str], bytes]
"""Returns the verified bytes of one bundle file, by its path inside the bundle."""


@dataclass(frozen=True)
class SavedModel:
    """A model as files (paths inside the bundle -> bytes) and the manifest's ``model`` entry."""

    files: dict[str, bytes]
    info: dict[str, Any] = field(default_factory=dict)


class Flavour(ABC):
    """One way to store a model without pickle. Subclasses are stateless.

    Contract: ``load(save(m))`` predicts exactly as ``m`` (same labels, same probabilities
    to the last bit for the native formats); ``load`` reads only files ``save`` wrote (the
    bundle has verified their SHA-256 before) and never unpickles; a missing library raises
    :class:`MissingDependencyError` with the install hint; anything unreadable raises
    :class:`BundleError`.
    """

    name: ClassVar[str]
    format_version: ClassVar[int] = 1
    """Version of this flavour's files; a bundle records it and a newer one is refused."""
    requires: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(import name, what to ``pip install``) of the libraries that load this flavour."""

    @classmethod
    @abstractmethod
    def accepts(cls, model: object) -> bool:
        """Whether ``model`` is one of this flavour's (checked without importing libraries)."""

    @abstractmethod
    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        """The fitted ``model`` as files; BundleError if it cannot be stored."""

    @abstractmethod
    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        """The model rebuilt from the files ``save`` wrote."""

    @abstractmethod
    def example(self, task: str) -> tuple[Any, pd.DataFrame]:
        """A small fitted model of this flavour for ``task`` (binary, multiclass,
        regression) and the rows it takes: what the contract suite checks every flavour
        with, so a new flavour is covered as soon as it is registered."""

    def predictor(self, model: Any, saved: SavedModel, schema: Schema | None) -> Any:
        """What answers for ``model`` (its classes decide the decision rule): the model
        itself, or for a flavour whose models are files (ONNX) the loaded ``saved``."""
        return model

    def describe(self, model: Any) -> dict[str, Any]:
        """What was saved, for people: the model's class and its classes if any."""
        classes = getattr(model, "classes_", None)
        return {
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "classes": None if classes is None else len(classes),
        }

    def check_installed(self) -> None:
        """MissingDependencyError with the install hint when a needed library is absent."""
        for module, package in self.requires:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise MissingDependencyError(
                    f"This bundle's '{self.name}' flavour needs {module}, which is not "
                    f"installed: pip install {package}"
                ) from exc


def get_flavour(name: object) -> Flavour:
    """The flavour called ``name``; BundleError naming the known ones otherwise."""
    target = FLAVOURS.get(name) if isinstance(name, str) else None
    if target is None:
        raise BundleError(
            f"Unknown model flavour {name!r}; this mlcycle knows: {', '.join(sorted(FLAVOURS))}. "
            "A newer mlcycle may read it."
        )
    module, _, attr = target.partition(":")
    cls: type[Flavour] = getattr(importlib.import_module(module), attr)
    return cls()


def detect_flavour(model: object) -> Flavour:
    """The first flavour in :data:`FLAVOURS` that accepts ``model``."""
    for name in FLAVOURS:
        flavour = get_flavour(name)
        if flavour.accepts(model):
            return flavour
    raise BundleError(
        f"Cannot bundle a {type(model).__module__}.{type(model).__qualname__}: mlcycle bundles "
        "scikit-learn estimators and Pipelines, LightGBM models (LGBMClassifier, "
        "LGBMRegressor, Booster), XGBoost models (XGBClassifier, XGBRegressor, Booster), "
        "ONNX graphs (mlcycle.flavours.OnnxGraph) and networks (mlcycle.nn.MLPEstimator; "
        "a torch.nn.Module through mlcycle.register_model(name, module, example=batch))."
    )


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


def canonical_json(obj: Any, what: str) -> bytes:
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


def library_of(model: object) -> set[str]:
    """Top-level package names of ``model``'s class and its bases."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


def example_table(task: str, n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, Any]:
    """Seeded numeric rows (``x0``..``x4``) and a target for :meth:`Flavour.example`:
    text labels ``no``/``yes`` (binary) or ``a``/``b``/``c`` (multiclass), numbers otherwise."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification, make_regression

    if task == "regression":
        X, y = make_regression(n_samples=n, n_features=5, noise=0.5, random_state=seed)
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]), y
    classes = 2 if task == "binary" else 3
    X, codes = make_classification(
        n_samples=n, n_features=5, n_informative=3, n_classes=classes, random_state=seed
    )
    labels = np.asarray(["no", "yes"] if classes == 2 else ["a", "b", "c"], dtype=object)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]), labels[codes]
