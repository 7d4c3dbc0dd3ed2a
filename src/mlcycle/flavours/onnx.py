"""The ONNX fast path: a served model as one ONNX graph, preparation included.

:func:`convert` lowers what a bundle loads (an mlcycle ``Pipeline`` of preparer and
estimator, a ``WeightedEnsemble`` of them, a bare estimator or a ``NativeModel`` booster) to
one graph, or says which step does not convert. The graph is built here, in float64 end to
end and with each library's own comparison precision: scikit-learn's trees see float32
inputs, histogram boosting and LightGBM float64 ones, XGBoost float32 (through onnxmltools).
skl2onnx is not used: skl2onnx 1.20 with scikit-learn 1.9 fails on histogram boosting and
its k-nearest-neighbour and float64 forest graphs disagree with the models. Category encoders
are converted by asking the fitted encoder what each known category (and one unseen)
becomes, so one-hot's infrequent bucket, ``drop`` and target encodings carry over::

    graph, reason = convert(bundle.load(), bundle.schema)
    if graph is not None:
        fast = OnnxModel(graph, bundle.schema)
        problem = verify(fast, bundle.load(), synthetic_rows(bundle.schema))

:class:`OnnxModel` takes ``{feature: 1-D array}`` (numbers and booleans as float64 with NaN,
categories and text as str with None) and answers like the original model. Nothing is
pickled: the graph carries its input layout and class labels as metadata.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import BundleError, SchemaError
from mlcycle.flavours._native import NativeModel
from mlcycle.flavours._onnx_graph import (
    _NUMERIC,
    _ensemble,
    _Graph,
    _name,
    _native,
    _pipeline,
    _Unsupported,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.schema import Schema

__all__ = ["OnnxModel", "as_columns", "convert", "synthetic_rows", "verify"]


def convert(model: object, schema: Schema) -> tuple[bytes | None, str]:
    """The ONNX graph of ``model`` with its preparation, and ""; or (None, why not).

    Never raises: a step without a conversion gives a one-line reason such as
    "TfidfVectorizer on column 'notes' has no ONNX converter".
    """
    from mlcycle.estimators import WeightedEnsemble

    g, predict = _Graph(schema), "labels"
    try:
        if isinstance(model, NativeModel):
            out, classes, predict = _native(g, model)
        elif isinstance(model, WeightedEnsemble):
            out, classes = _ensemble(g, model)
        elif hasattr(model, "fit") and hasattr(model, "predict"):
            out, classes = _pipeline(g, model)
        else:
            return None, f"A {_name(model)} is not a model mlcycle can convert to ONNX"
        meta: dict[str, Any] = {"format": 1, "classes": None}
        if classes is not None:
            labels = np.asarray(classes)
            meta |= {"classes": labels.tolist(), "classes_dtype": labels.dtype.str}
        meta["predict"] = "values" if classes is None and predict == "labels" else predict
        return g.serialize(out, meta), ""
    except _Unsupported as exc:
        return None, str(exc)[:1].upper() + str(exc)[1:]
    except ImportError as exc:
        return None, f"An ONNX converter is not installed ({exc}): pip install onnx onnxmltools"
    except Exception as exc:  # a converter bug must never stop the model being served
        return None, f"The ONNX conversion failed ({type(exc).__name__}: {exc})"


# -- running -------------------------------------------------------------------------------


def category_token(value: Any, missing: str) -> str:
    """The token mlcycle's ColumnCaster makes of one category value (3, 3.0 and "3" are "3";
    True is "True"), ``missing`` for a missing one. Tensor models' vocabularies use it too."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float | np.floating) and value != value):
        return missing
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return str(bool(value)) if isinstance(value, bool | np.bool_) else str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return missing if str(value) in ("<NA>", "NaT") else str(value)


def _tokenizer(dtype: str, missing: str, fold: bool) -> Callable[[Any], np.ndarray]:
    """A column's values -> the tokens mlcycle's ColumnCaster makes of them
    (:func:`category_token`), with ``missing`` in place of a missing value."""

    def token(value: Any) -> str:
        return category_token(value, missing)

    def booleans(values: Any) -> np.ndarray:  # 0/1 floats of a boolean column
        floats = np.asarray(values, dtype=np.float64).tolist()
        return np.array([token(None if v != v else bool(v)) for v in floats], dtype=object)

    def generic(values: Any) -> np.ndarray:
        return np.array([token(v) for v in np.asarray(values).tolist()], dtype=object)

    def folded(values: Any) -> np.ndarray:  # as ColumnCaster(kind='boolean') reads text
        return np.array(
            [token(v).strip().lower() for v in np.asarray(values).tolist()], dtype=object
        )

    return folded if fold else booleans if dtype == "boolean" else generic


def _refuse_external_data(graph: bytes) -> None:
    """BundleError when a tensor of ``graph`` is stored as external data. ONNX Runtime reads
    such a tensor from the path the graph names, relative to the working directory for a
    graph given as bytes, ``../`` included: a crafted bundle could answer with the server's
    files. Every graph mlcycle writes holds its tensors inline."""
    import onnx

    try:
        model = onnx.load_model_from_string(graph)
    except Exception as exc:  # protobuf's DecodeError
        raise BundleError(f"The ONNX graph cannot be read: {exc}.") from exc
    graphs: list[Any] = [model.graph, *model.functions]  # a function has nodes only
    external = onnx.TensorProto.EXTERNAL
    for g in graphs:
        sparse = getattr(g, "sparse_initializer", ())
        tensors = [
            *getattr(g, "initializer", ()),
            *(t for s in sparse for t in (s.values, s.indices)),
        ]
        for a in (a for node in g.node for a in node.attribute):
            sparse = [a.sparse_tensor, *a.sparse_tensors]
            tensors += [a.t, *a.tensors, *(t for s in sparse for t in (s.values, s.indices))]
        if any(t.data_location == external for t in tensors):
            raise BundleError(
                "The ONNX graph stores a tensor as external data (a file it names); mlcycle "
                "loads only graphs that hold their tensors, as to_onnx() writes them."
            )
        graphs += _subgraphs(g.node)


def _subgraphs(nodes: Any) -> list[Any]:
    return [g for node in nodes for a in node.attribute for g in (a.g, *a.graphs)]


class OnnxModel:
    """A converted model on ONNX Runtime (one thread), answering like the original.

    ``predict_proba(columns)`` and ``predict(columns)`` take ``{feature: 1-D array}``;
    ``classes_`` holds the class labels (None for regressors).
    """

    def __init__(self, graph: bytes, schema: Schema) -> None:
        import onnxruntime as ort

        _refuse_external_data(graph)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        meta = json.loads(session.get_modelmeta().custom_metadata_map["mlcycle"])
        self.schema = schema
        self._num: list[str] = meta["num"]
        self._cat = [(c, _tokenizer(schema.column(c).dtype, m, f)) for c, m, f in meta["cat"]]
        self._predict: str = meta["predict"]
        self.classes_: np.ndarray | None = None
        if meta["classes"] is not None:
            self.classes_ = np.asarray(meta["classes"], dtype=np.dtype(meta["classes_dtype"]))
        self._run = session.run

    def __repr__(self) -> str:
        kind = "regressor" if self.classes_ is None else f"{len(self.classes_)} classes"
        return f"OnnxModel({kind}, {len(self._num)} numeric and {len(self._cat)} category inputs)"

    def _raw(self, columns: Mapping[str, Any]) -> np.ndarray:
        feeds: dict[str, np.ndarray] = {}
        try:
            if self._num:  # the fastest way to a C-ordered matrix for a few rows
                num = np.array([columns[c] for c in self._num], dtype=np.float64)
                feeds["num"] = num.T.copy()
            if self._cat:
                feeds["cat"] = np.column_stack([tokens(columns[c]) for c, tokens in self._cat])
        except KeyError as exc:
            raise SchemaError(
                f"Column {exc} is missing from the input. The model expects: "
                f"{', '.join(self.schema.feature_names)}."
            ) from None
        return self._run(["y"], feeds)[0]

    def predict_proba(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        if self._predict == "values":
            raise AttributeError("This model does not predict probabilities; use predict().")
        return self._raw(columns)

    def predict(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Class labels for classifiers (the most probable class), values for regressors."""
        out = self._raw(columns)
        if self._predict == "labels":
            assert self.classes_ is not None
            return self.classes_[np.argmax(out, axis=1)]
        if self._predict == "positive":
            return out[:, 1]
        return out if self._predict == "matrix" else out.reshape(-1)


# -- checking ------------------------------------------------------------------------------


def as_columns(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """A typed DataFrame (as :meth:`Schema.coerce` returns it) as :class:`OnnxModel` input."""
    import pandas as pd

    out: dict[str, np.ndarray] = {}
    for name in schema.feature_names:
        dtype, series = schema.column(name).dtype, frame[name]
        if dtype in _NUMERIC:
            numbers = pd.to_numeric(series.astype(object), errors="coerce")
            out[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        elif dtype == "datetime":
            out[name] = series.to_numpy()
        else:
            values = series.to_numpy(dtype=object).copy()
            values[pd.isna(values)] = None
            out[name] = values
    return out


def verify(onnx_model: OnnxModel, model: Any, frame: pd.DataFrame, atol: float = 1e-5) -> str:
    """Return "" when ``onnx_model`` answers like ``model`` on ``frame``, else what differs.

    Probabilities must agree within ``atol``; values within ``atol`` relative to their size
    above 1 (tree ensembles sum in float32 on ONNX Runtime: 7 significant digits).
    """
    columns, native = as_columns(frame, onnx_model.schema), model
    classifier = onnx_model.classes_ is not None
    what = "probabilities" if classifier else "predictions"
    try:
        if classifier:
            want = np.asarray(native.predict_proba(frame), dtype=np.float64)
            got = onnx_model.predict_proba(columns)
        else:
            want = np.asarray(native.predict(frame), dtype=np.float64)
            got = np.asarray(onnx_model.predict(columns), dtype=np.float64)
    except Exception as exc:
        return f"the check rows could not be predicted ({type(exc).__name__}: {exc})"
    if got.shape != want.shape:
        return f"{what} have shape {got.shape}, the model's {want.shape}"
    gap = np.abs(got - want)
    excess = np.where(
        np.isnan(got) & np.isnan(want), 0.0, gap - atol * np.maximum(1.0, np.abs(want))
    )
    excess = np.nan_to_num(excess, nan=np.inf)
    if excess.size and excess.max() > 0:
        worst = int(np.argmax(excess))
        row = worst // (got.shape[1] if got.ndim == 2 else 1)
        return f"{what} differ by up to {gap.flat[worst]:.3g} (row {row}); tolerance {atol:g}"
    if classifier:
        labels = np.asarray(native.predict(frame)).astype(str)
        differ = np.flatnonzero(labels != onnx_model.predict(columns).astype(str))
        if len(differ):
            return f"labels differ on {len(differ)} of {len(labels)} rows (first: row {differ[0]})"
    return ""


def synthetic_rows(schema: Schema, n: int = 64, seed: int = 0) -> pd.DataFrame:
    """``n`` valid rows made from ``schema`` alone, typed by :meth:`Schema.coerce`.

    Numbers lie within each column's min and max (both ends appear), categories are known
    ones, and about one value in eight is missing where the missing policy allows it.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for name in schema.feature_names:
        column = schema.column(name)
        low = -1.0 if column.min is None else float(column.min)
        high = low + 2.0 if column.max is None else float(column.max)
        if column.dtype == "number":
            values: Any = rng.uniform(low, high, n)
            values[: min(n, 2)] = [low, high][: min(n, 2)]
        elif column.dtype == "integer":
            values = rng.integers(math.ceil(low), math.floor(high) + 1, n)
        elif column.dtype == "boolean":
            values = rng.random(n) < 0.5
        elif column.dtype == "datetime":
            seconds = pd.to_timedelta(rng.integers(0, 366 * 86400, n), unit="s")
            values = (pd.Timestamp("2024-01-01") + seconds).to_numpy()
        elif column.dtype == "category" and column.categories:
            values = np.asarray(column.categories, dtype=object)[
                rng.integers(0, len(column.categories), n)
            ]
        else:
            words = np.array(["alpha", "beta", "gamma", "delta", "omega"], dtype=object)
            values = np.array([" ".join(rng.choice(words, 3)) for _ in range(n)], dtype=object)
        values = np.asarray(values, dtype=object)
        if schema.policy(name).missing != "refuse" and n > 2:
            holes = rng.random(n) < 0.125
            holes[:2] = False
            values[holes] = None
        data[name] = values
    return schema.coerce(pd.DataFrame(data))
