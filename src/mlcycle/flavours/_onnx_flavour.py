"""The ``onnx`` flavour: one ONNX graph in mlcycle's input layout, run on ONNX Runtime.

:func:`to_onnx` lowers a scikit-learn pipeline, an AutoML ensemble or a booster to a graph
(preparation included) and checks that it answers like the model; the graph bundles,
registers and serves like any other flavour, with no Python model behind it::

    graph = to_onnx(model, schema)              # BundleError saying which step does not convert
    write_bundle(graph, "out/churn-onnx", schema=schema)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError
from mlcycle.flavours._base import Flavour, Reader, SavedModel

if TYPE_CHECKING:
    import numpy as np

    from mlcycle.flavours.onnx import OnnxModel
    from mlcycle.schema import Schema

__all__ = ["OnnxFlavour", "OnnxGraph", "OnnxPredictor", "to_onnx"]

MODEL_FILE = "model/model.onnx"


class OnnxGraph:
    """The bytes of an ONNX graph in mlcycle's input layout, as :func:`to_onnx` makes them."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)

    def __repr__(self) -> str:
        return f"OnnxGraph({len(self.data)} bytes)"


def to_onnx(model: Any, schema: Schema) -> OnnxGraph:
    """``model`` as one ONNX graph that answers like it on rows made from ``schema``."""
    from mlcycle.flavours.onnx import OnnxModel, convert, synthetic_rows, verify

    graph, reason = convert(model, schema)
    if graph is None:
        raise BundleError(f"The model cannot be converted to ONNX: {reason}.")
    problem = verify(OnnxModel(graph, schema), model, synthetic_rows(schema))
    if problem:
        raise BundleError(f"The ONNX graph disagrees with the model: {problem}.")
    return OnnxGraph(graph)


class OnnxPredictor:
    """A bundled ONNX graph with the estimator API: ``predict``/``predict_proba`` take a
    typed DataFrame (as :meth:`Schema.coerce` returns it) or ``{feature: 1-D array}``."""

    def __init__(self, onnx: OnnxModel, schema: Schema) -> None:
        self.onnx = onnx
        self.schema = schema
        self.classes_ = onnx.classes_
        self.feature_names_in_ = list(schema.feature_names)

    def __repr__(self) -> str:
        return f"OnnxPredictor({self.onnx!r})"

    def _columns(self, X: Any) -> Mapping[str, Any]:
        from mlcycle.flavours.onnx import as_columns

        return X if isinstance(X, Mapping) else as_columns(X, self.schema)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.onnx.predict_proba(self._columns(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.onnx.predict(self._columns(X))


class OnnxFlavour(Flavour):
    """Graphs from :func:`to_onnx` (``OnnxGraph``); needs the bundle's schema to run."""

    name = "onnx"
    requires = (("onnxruntime", "onnxruntime"),)

    @classmethod
    def accepts(cls, model: object) -> bool:
        return isinstance(model, OnnxGraph)

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        if schema is None:
            raise BundleError(
                "An ONNX bundle needs the model's schema: its graph takes one input per "
                "column. Pass schema=... to write_bundle()."
            )
        # the graph is checked by loading it once, in predictor(), before anything is written
        return SavedModel({MODEL_FILE: model.data}, {"loader": "onnx", "path": MODEL_FILE})

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        from mlcycle.flavours.onnx import OnnxModel

        self.check_installed()
        if schema is None:
            raise BundleError("This ONNX bundle has no schema.json; its graph cannot be fed.")
        try:
            return OnnxPredictor(OnnxModel(read(info["path"]), schema), schema)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise BundleError(
                f"The ONNX graph cannot be loaded: {exc}. Make it with "
                "mlcycle.flavours.to_onnx(model, schema)."
            ) from exc
        except Exception as exc:  # onnxruntime raises its own exception types
            if type(exc).__module__.startswith("onnxruntime"):
                raise BundleError(f"The ONNX graph cannot be loaded: {exc}.") from exc
            raise

    def example(self, task: str) -> tuple[Any, Any]:
        from mlcycle.flavours._sklearn import SklearnFlavour
        from mlcycle.schema import Schema

        model, X = SklearnFlavour().example(task)
        return to_onnx(model, Schema.from_dataframe(X)), X

    def predictor(self, model: Any, saved: SavedModel, schema: Schema | None) -> Any:
        return self.load(saved.files.__getitem__, saved.info, schema)

    def describe(self, model: Any) -> dict[str, Any]:
        classes = getattr(model, "classes_", None)
        return {"class": "onnx graph", "classes": None if classes is None else len(classes)}
