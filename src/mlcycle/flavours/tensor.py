"""Tensor models: an ONNX graph fed with arrays encoded from the schema's columns.

A neural network does not take a table; it takes tensors. A :class:`TensorModel` is the
graph plus a JSON description of how a row becomes its inputs (``spec``): each graph input
names its columns and their encoding — ``numeric`` (missing values filled, then
``(x - mean) / scale``, float32) or ``categorical`` (each value's index in a vocabulary,
0 for a value never seen or missing, int64) — and how the output reads: ``logits``
(softmax, or a sigmoid for one binary column), ``probabilities`` or ``values`` (times
``target_scale`` plus ``target_mean``). The description is data, never code; the graph runs
on ONNX Runtime, so serving a neural model needs neither PyTorch nor the code that built it.

Two flavours store tensor models: ``tensor`` (an ONNX file from any framework, registered
with ``register_model(name, "model.onnx", schema=...)``) and ``torch`` (PyTorch networks:
the same graph, plus the weights as safetensors and the architecture, see
:mod:`mlcycle.flavours._torch`).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError
from mlcycle.flavours._base import Flavour, Reader, SavedModel, canonical_json, example_table

if TYPE_CHECKING:
    import numpy as np

    from mlcycle.schema import Schema

__all__ = ["OUTPUTS", "TensorFlavour", "TensorModel", "check_spec"]

GRAPH_FILE = "model/model.onnx"
SPEC_FILE = "model/tensor.json"
OUTPUTS = ("logits", "probabilities", "values")
MISSING_TOKEN = "\x00missing"  # noqa: S105 (a token, not a password)
AGREEMENT = 1e-4
"""Largest difference allowed between the graph and the network it was exported from."""


def _finite_numbers(values: Any, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        and all(math.isfinite(v) for v in values)
    )


def check_spec(spec: Any) -> dict[str, Any]:
    """``spec`` if it is a well-formed tensor description; BundleError naming the fault.
    It is read from a bundle, so every field is checked before NumPy or ONNX Runtime sees it."""

    def fail(why: str) -> BundleError:
        return BundleError(f"The tensor model's description is malformed: {why}.")

    if not isinstance(spec, dict):
        raise fail("not a JSON object")
    task = spec.get("task")
    if task not in ("binary", "multiclass", "regression"):
        raise fail(f"task {task!r} is not binary, multiclass or regression")
    if spec.get("output") not in OUTPUTS:
        raise fail(f"output {spec.get('output')!r} is not one of {', '.join(OUTPUTS)}")
    if spec.get("dtype", "float32") not in ("float32", "float64"):
        raise fail(f"input dtype {spec.get('dtype')!r} is not float32 or float64")
    if not re.fullmatch(r"[<>|=]?[biufUO]\d{0,3}", str(spec.get("classes_dtype", "O"))):
        raise fail(f"classes_dtype {spec.get('classes_dtype')!r} is not a plain label type")
    for key in ("target_mean", "target_scale"):
        if key in spec and not _finite_numbers([spec[key]], 1):
            raise fail(f"{key} is not a finite number")
    classes = spec.get("classes")
    if task == "regression" and classes is not None:
        raise fail("a regression model has no classes")
    if task != "regression":
        plain = isinstance(classes, list) and all(
            isinstance(c, str | int | float | bool) for c in classes
        )
        count = len(classes) if plain else 0  # type: ignore[arg-type]
        if not plain or len(set(map(str, classes))) != count:  # type: ignore[arg-type]
            raise fail("the classes are not distinct plain labels")
        if (task == "binary") != (count == 2) or count < 2:
            raise fail(f"a {task} model cannot have {count} classes")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise fail("no inputs")
    for item in inputs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise fail("an input has no name")
        columns = item.get("columns")
        if not isinstance(columns, list) or not columns:
            raise fail(f"input {item['name']!r} lists no columns")
        if not all(isinstance(c, str) for c in columns):
            raise fail(f"input {item['name']!r} has a column name that is not text")
        kind = item.get("kind")
        if kind == "numeric":
            for key in ("fill", "mean", "scale"):
                values = item.get(key)
                if values is not None and not _finite_numbers(values, len(columns)):
                    raise fail(f"input {item['name']!r}: {key} is not one finite number a column")
            if (item.get("mean") is None) != (item.get("scale") is None):
                raise fail(f"input {item['name']!r} has a mean without a scale or the reverse")
            if item.get("scale") is not None and 0 in item["scale"]:
                raise fail(f"input {item['name']!r} has a scale of 0")
        elif kind == "categorical":
            vocab = item.get("vocab")
            if (
                not isinstance(vocab, list)
                or len(vocab) != len(columns)
                or not all(
                    isinstance(v, list) and all(isinstance(t, str) for t in v) for v in vocab
                )
            ):
                raise fail(f"input {item['name']!r}: vocab is not one list of text per column")
        else:
            raise fail(f"input {item['name']!r} has kind {kind!r}, not numeric or categorical")
    return spec


class TensorModel:
    """An ONNX graph and how rows become its inputs; answers like an estimator.

    ``predict`` / ``predict_proba`` take a typed DataFrame (as :meth:`Schema.coerce`
    returns it); ``classes_`` holds the class labels (None for regression). ``weights``
    (safetensors bytes) and ``architecture`` (JSON) travel with PyTorch networks.
    """

    def __init__(
        self,
        graph: bytes,
        spec: dict[str, Any],
        *,
        weights: bytes | None = None,
        architecture: dict[str, Any] | None = None,
    ) -> None:
        import numpy as np

        self.graph = bytes(graph)
        self.spec = check_spec(spec)
        self.weights = weights
        self.architecture = architecture
        self.task: str = spec["task"]
        classes = spec.get("classes")
        self.classes_ = (
            None
            if classes is None
            else np.asarray(classes, dtype=np.dtype(spec.get("classes_dtype", "O")))
        )
        self.feature_names_in_ = [c for item in spec["inputs"] for c in item["columns"]]
        self._session: Any = None
        if self.classes_ is None:
            del self.classes_  # DecisionRule.for_model: no classes -> regression
        else:
            self.predict_proba = self._predict_proba

    def __repr__(self) -> str:
        return f"TensorModel({self.task}, {len(self.graph)} bytes of graph)"

    # -- running ---------------------------------------------------------------------------

    def session(self) -> Any:
        if self._session is None:
            self._session = open_session(self.graph, self.spec)
        return self._session

    def raw(self, X: Any) -> np.ndarray:
        """The graph's first output for ``X``, float64, one row per input row."""
        import numpy as np

        out = np.asarray(self.session().run(None, encode(self.spec, X))[0], dtype=np.float64)
        return out.reshape(len(out), -1)

    def _predict_proba(self, X: Any) -> np.ndarray:
        return probabilities(self.raw(X), self.spec)

    def predict(self, X: Any) -> np.ndarray:
        import numpy as np

        raw = self.raw(X)
        if self.task == "regression":
            return values(raw, self.spec)
        classes: np.ndarray = self.classes_  # type: ignore[assignment]
        return classes[np.argmax(probabilities(raw, self.spec), axis=1)]

    @classmethod
    def from_onnx(
        cls,
        graph: bytes,
        *,
        columns: list[str],
        task: str,
        classes: list[Any] | None = None,
        output: str | None = None,
    ) -> TensorModel:
        """A graph with one float input of shape (rows, len(columns)), from any framework.

        ``output``: what its first output holds, ``logits`` (default for classifiers),
        ``probabilities`` or ``values`` (regression).
        """
        session = open_session(graph, None)
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise BundleError(
                f"The ONNX graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                "mlcycle feeds a graph from another framework one float tensor of shape "
                "(rows, features). Export the model with a single input."
            )
        shape = list(inputs[0].shape)
        width = shape[-1] if shape else None
        if len(shape) != 2 or (isinstance(width, int) and width != len(columns)):
            raise BundleError(
                f"The ONNX graph's input {inputs[0].name!r} has shape {shape}; mlcycle feeds it "
                f"(rows, {len(columns)}): one value per column of the schema "
                f"({', '.join(columns[:6])}{', ...' if len(columns) > 6 else ''})."
            )
        spec = {
            "task": task,
            "output": output or ("values" if task == "regression" else "logits"),
            "classes": None if classes is None else list(classes),
            "inputs": [{"name": inputs[0].name, "kind": "numeric", "columns": list(columns)}],
            "dtype": _input_dtype(inputs[0].type),
        }
        return cls(graph, spec)


def _input_dtype(onnx_type: str) -> str:
    return "float64" if onnx_type == "tensor(double)" else "float32"


def open_session(graph: bytes, spec: dict[str, Any] | None) -> Any:
    """An ONNX Runtime session on ``graph`` (one thread, tensors inline only); BundleError
    when the graph cannot be loaded or does not take the inputs ``spec`` names."""
    import onnxruntime as ort

    from mlcycle.flavours.onnx import _refuse_external_data

    _refuse_external_data(graph)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BundleError(f"The ONNX graph cannot be loaded: {exc}.") from exc
    if spec is not None:
        have = {i.name for i in session.get_inputs()}
        want = {item["name"] for item in spec["inputs"]}
        if have != want:
            raise BundleError(
                f"The ONNX graph takes inputs {sorted(have)}, its description names "
                f"{sorted(want)}: the two files do not belong together."
            )
    return session


def encode(spec: dict[str, Any], X: Any) -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of ``X``, by the description ``spec``."""
    import numpy as np
    import pandas as pd

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    absent = [c for item in spec["inputs"] for c in item["columns"] if c not in frame.columns]
    if absent:
        raise BundleError(f"The rows lack the model's columns: {', '.join(absent)}.")
    arrays: dict[str, np.ndarray] = {}
    for item in spec["inputs"]:
        columns = item["columns"]
        if item["kind"] == "numeric":
            block = np.column_stack(
                [
                    pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64, na_value=np.nan)
                    for c in columns
                ]
            )
            if item.get("fill") is not None:
                fill = np.asarray(item["fill"], dtype=np.float64)
                gaps = np.isnan(block)
                block[gaps] = np.broadcast_to(fill, block.shape)[gaps]
            if item.get("mean") is not None:
                block = (block - np.asarray(item["mean"])) / np.asarray(item["scale"])
            arrays[item["name"]] = block.astype(spec.get("dtype", "float32"))
        else:
            codes = [
                _indices(frame[c], vocab) for c, vocab in zip(columns, item["vocab"], strict=True)
            ]
            arrays[item["name"]] = np.column_stack(codes).astype(np.int64)
    return arrays


def tokens(values: Any) -> np.ndarray:
    """Each value as the text its category is known by (:func:`~mlcycle.flavours.onnx.
    category_token`: 3, 3.0 and "3" are "3"); missing values are one token that no
    vocabulary holds."""
    import numpy as np
    import pandas as pd

    from mlcycle.flavours.onnx import category_token

    listed = pd.Series(values).astype(object).tolist()
    return np.array([category_token(v, MISSING_TOKEN) for v in listed], dtype=object)


def _indices(values: Any, vocab: list[str]) -> np.ndarray:
    import numpy as np
    import pandas as pd

    lookup = {token: i + 1 for i, token in enumerate(vocab)}
    return pd.Series(tokens(values)).map(lookup).fillna(0).to_numpy(np.int64)


def probabilities(raw: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Class probabilities from the graph's output, by ``spec["output"]``."""
    import numpy as np

    if spec["output"] == "probabilities":
        proba = raw if raw.shape[1] > 1 else np.column_stack([1.0 - raw[:, 0], raw[:, 0]])
        return np.clip(proba, 0.0, 1.0)
    if raw.shape[1] == 1:  # one logit of a binary model
        p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return np.column_stack([1.0 - p, p])
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def values(raw: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Regression values from the graph's output, in the target's own units."""
    out = raw[:, 0] * float(spec.get("target_scale", 1.0)) + float(spec.get("target_mean", 0.0))
    return out


# -- the flavour ---------------------------------------------------------------------------


class TensorFlavour(Flavour):
    """An ONNX graph from any framework with its input description (``TensorModel``)."""

    name = "tensor"
    requires = (("onnxruntime", "onnxruntime"),)

    @classmethod
    def accepts(cls, model: object) -> bool:
        return isinstance(model, TensorModel) and model.weights is None

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        check_columns(model, schema)
        files = {
            GRAPH_FILE: model.graph,
            SPEC_FILE: canonical_json(model.spec, "tensor description"),
        }
        return SavedModel(files, {"loader": "tensor", "path": GRAPH_FILE, "spec": SPEC_FILE})

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        self.check_installed()
        spec = _read_json(read, info, "spec")
        try:
            return TensorModel(read(info["path"]), spec)
        except KeyError as exc:
            raise BundleError(f"The bundle's model entry lacks {exc}.") from exc

    def predictor(self, model: Any, saved: SavedModel, schema: Schema | None) -> Any:
        return self.load(saved.files.__getitem__, saved.info, schema)

    def describe(self, model: Any) -> dict[str, Any]:
        classes = getattr(model, "classes_", None)
        return {
            "class": "onnx graph (tensor input)",
            "classes": None if classes is None else len(classes),
        }

    def example(self, task: str) -> tuple[Any, Any]:
        """A linear model as a hand-built ONNX graph: what another framework would export."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        X, y = example_table(task)
        n = X.shape[1]
        if task == "regression":
            coef, *_ = np.linalg.lstsq(
                np.column_stack([X.to_numpy(), np.ones(len(X))]), y, rcond=None
            )
            W, b = coef[:-1].reshape(n, 1), coef[-1:]
            classes = None
        else:
            from sklearn.linear_model import LogisticRegression

            fitted = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y)
            classes = fitted.classes_.tolist()
            W = fitted.coef_.T
            b = fitted.intercept_
        nodes = [helper.make_node("Gemm", ["input", "W", "b"], ["output"])]
        graph = helper.make_graph(
            nodes,
            "example",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["rows", n])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["rows", W.shape[1]])],
            [
                numpy_helper.from_array(W.astype(np.float32), "W"),
                numpy_helper.from_array(np.asarray(b, dtype=np.float32), "b"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        tensor = TensorModel.from_onnx(
            model.SerializeToString(), columns=list(X.columns), task=task, classes=classes
        )
        return tensor, X


def check_columns(model: TensorModel, schema: Schema | None) -> None:
    """BundleError unless every column the graph is fed from is a feature of ``schema``."""
    if schema is None:
        raise BundleError(
            "A tensor model needs its schema: the schema's columns become the graph's inputs. "
            "Pass schema=... to write_bundle()."
        )
    absent = [c for c in model.feature_names_in_ if c not in schema.feature_names]
    if absent:
        raise BundleError(
            f"The tensor model is fed from columns the schema does not have: {', '.join(absent)}."
        )


def _read_json(read: Reader, info: dict[str, Any], key: str) -> Any:
    try:
        return json.loads(read(info[key]))
    except KeyError as exc:
        raise BundleError(f"The bundle's model entry lacks {exc}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"The bundle's {info[key]} is not valid JSON: {exc}.") from exc
