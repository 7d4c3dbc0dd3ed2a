"""One served model version: its bundle, its checked input rules and the fastest engine.

The engine is ONNX Runtime when the whole model converts and gives the same answers on
rows made from its schema (within 1e-5), else the bundle's own model: a booster fed one
float matrix when every feature is numeric, a scikit-learn pipeline fed a typed DataFrame
otherwise; a bundle stored as ONNX runs its own graph. Labels come from the bundle's
decision rule (:attr:`Bundle.decision`), as at every other door.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import BadParameterError, BundleError
from mlcycle.serving._input import CompiledSchema

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.bundle import Bundle
    from mlcycle.decision import DecisionRule
    from mlcycle.registry import ModelVersion, Workspace
    from mlcycle.schema import Schema

__all__ = ["ENGINES", "Outputs", "ServedModel", "load_served_model"]

ENGINES = ("auto", "onnx", "native")
_TEXT = ("category", "string")
logger = logging.getLogger("mlcycle.serve")

Runner = Callable[[dict[str, list[Any]], int], tuple[np.ndarray | None, np.ndarray]]


@dataclass
class Outputs:
    """A batch's answers: labels or values, and class probabilities for classifiers."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    anomaly: np.ndarray | None = None
    """Anomaly scores (higher is more unusual) when the server scores them."""

    def rows(self, start: int, stop: int) -> Outputs:
        """The answers of rows ``start:stop``."""
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        anomaly = None if self.anomaly is None else self.anomaly[start:stop]
        return Outputs(self.predictions[start:stop], proba, anomaly)


@dataclass
class ServedModel:
    """A loaded version, ready to check inputs and predict; immutable once built."""

    name: str
    version: int
    bundle: Bundle
    schema: Schema
    compiled: CompiledSchema
    classes: list[Any] | None
    decision: DecisionRule
    engine: str
    engine_note: str
    run_raw: Runner
    loaded_at: float = field(default_factory=time.time)
    detector: Any = None
    """The bundle's anomaly detector, when the server scores anomalies (``--anomaly-scores``)."""
    anomaly_threshold: float | None = None

    @property
    def task(self) -> str:
        if self.classes is None:
            return "regression"
        return "binary" if len(self.classes) == 2 else "multiclass"

    def predict(self, columns: dict[str, list[Any]], n_rows: int) -> Outputs:
        """Predict checked columns (see :meth:`CompiledSchema.check`)."""
        proba, values = self.run_raw(columns, n_rows)
        outputs = self._outputs(proba, values)
        if self.detector is not None:
            from mlcycle.data import score_anomalies

            outputs.anomaly = score_anomalies(self.detector, self.frame(columns, n_rows))
        return outputs

    def predict_frame(self, frame: pd.DataFrame) -> Outputs:
        """Predict a frame as :meth:`Schema.coerce` returns it, with the bundle's own model
        (batch scoring: large frames gain nothing from the per-request fast path)."""
        out = self.bundle.predict_outputs(frame, checked=True)
        return self._outputs(out.probabilities, None if self.classes else out.labels)

    def _outputs(self, proba: np.ndarray | None, values: np.ndarray | None) -> Outputs:
        if proba is None:
            return Outputs(np.asarray(values, dtype=float), None)
        proba = np.ascontiguousarray(proba, dtype=np.float64)  # orjson writes C order only
        classes = np.asarray(self.classes, dtype=object)  # Python values, for JSON
        return Outputs(classes[self.decision.indices(proba)], proba)  # the one decision rule

    def frame(self, columns: dict[str, list[Any]], n_rows: int) -> pd.DataFrame:
        """Checked columns as the typed DataFrame the bundle's own model takes."""
        return _frame(self.schema, columns, n_rows)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models/{name}`` shows of this version."""
        return {
            "version": self.version,
            "task": self.task,
            "classes": self.classes,
            "decision_threshold": self.decision.threshold,
            "engine": self.engine,
            "engine_note": self.engine_note,
            "features": self.schema.feature_names,
            "input_schema": _openapi_schema(self.schema),
            "metrics": _finite(self.bundle.metrics or {}),
            "bundle_digest": self.bundle.digest,
            "loaded_at": self.loaded_at,
        }


def load_served_model(
    name: str,
    version: ModelVersion,
    workspace: Workspace,
    *,
    engine: str = "auto",
    anomaly_scores: bool = False,
    one_thread: bool = True,
) -> ServedModel:
    """Load a registered version for serving (verified, nothing unpickled). ``one_thread``:
    predict on one thread (a server worker owns one core); batch scoring keeps the model's
    own thread settings."""
    from mlcycle.registry import load_model

    if engine not in ENGINES:
        raise BadParameterError(f"Unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}.")
    bundle = load_model(f"{name}/{version.version}", workspace=workspace)
    served = build_served_model(name, version.version, bundle, engine=engine, one_thread=one_thread)
    if anomaly_scores:
        from mlcycle.data import anomaly_threshold

        served.detector = bundle.anomaly_detector()
        if served.detector is None:
            logger.warning(
                "%s v%s has no anomaly detector: no anomaly scores", name, served.version
            )
        else:
            _one_thread(served.detector)
            served.anomaly_threshold = anomaly_threshold(served.detector)
    return served


def build_served_model(
    name: str, version: int, bundle: Bundle, *, engine: str, one_thread: bool = True
) -> ServedModel:
    schema = bundle.schema
    if schema is None or not schema.feature_names:
        raise BundleError(
            f"Model '{name}' version {version} has no input schema; serving needs one to check "
            "requests. Register it with schema=Schema.from_dataframe(X)."
        )
    model = bundle.load()
    if one_thread:
        _one_thread(model)
    decision = bundle.decision
    classes = [_python(c) for c in decision.classes] if decision.classes else None
    compiled = CompiledSchema.build(schema)
    runner, chosen, note = (
        _native_runner(model, schema, compiled, classes is not None),
        "native",
        "",
    )
    stored = _stored_onnx_runner(model, classes is not None)
    if stored is not None:
        runner, chosen, note = stored, "onnx", "the bundle's own ONNX graph"
    elif _is_tensor_model(model):  # a network: its predict runs its own graph, whatever engine
        chosen, note = "onnx", "the network's own ONNX graph"
    elif engine in ("auto", "onnx"):
        onnx_runner, note = _onnx_runner(model, schema, classes is not None)
        if onnx_runner is not None:
            runner, chosen = onnx_runner, "onnx"
        elif engine == "onnx":
            raise BundleError(f"Model '{name}' version {version} cannot run on ONNX: {note}")
    logger.info("loaded %s version %s on %s%s", name, version, chosen, f" ({note})" if note else "")
    return ServedModel(
        name, version, bundle, schema, compiled, classes, decision, chosen, note, runner
    )


def _is_tensor_model(model: Any) -> bool:
    from mlcycle.flavours import TensorModel

    return isinstance(model, TensorModel)


def _stored_onnx_runner(model: Any, classifier: bool) -> Runner | None:
    """The runner of a bundle stored in the ``onnx`` flavour: its graph, fed columns."""
    from mlcycle.flavours import OnnxPredictor

    if not isinstance(model, OnnxPredictor):
        return None
    return _graph_runner(model.onnx, model.schema, classifier)


def _graph_runner(onnx_model: Any, schema: Schema, classifier: bool) -> Runner:
    """Run an ONNX graph on checked columns: text as object arrays, everything else float64."""
    dtypes = {
        f: object if schema.column(f).dtype in _TEXT else np.float64 for f in schema.feature_names
    }

    def run(columns: dict[str, list[Any]], n_rows: int) -> tuple[Any, Any]:
        arrays = {f: np.asarray(columns[f], dtype=dtype) for f, dtype in dtypes.items()}
        if classifier:
            return np.asarray(onnx_model.predict_proba(arrays)), None
        return None, np.asarray(onnx_model.predict(arrays), dtype=float)

    return run


def _one_thread(model: Any) -> None:
    """Predict on one thread: a server worker owns one core, and waking a thread pool costs
    more than it saves on micro-batches (LightGBM: ~8 ms a call on a 2-core VM)."""
    from mlcycle.bundle import NativeModel

    if isinstance(model, NativeModel):
        model.set_threads(1)
        return
    parts = [model]
    while parts:
        part = parts.pop()
        steps = getattr(part, "steps", None) or getattr(part, "estimators_", None)
        if isinstance(steps, list):
            parts.extend(s[1] if isinstance(s, tuple) else s for s in steps)
        params = part.get_params(deep=False) if hasattr(part, "get_params") else {}
        if "n_jobs" in params:
            part.set_params(n_jobs=1)


def _native_runner(
    model: Any, schema: Schema, compiled: CompiledSchema, classifier: bool
) -> Runner:
    from mlcycle.bundle import NativeModel

    features = schema.feature_names
    if isinstance(model, NativeModel) and compiled.numeric:

        def matrix(columns: dict[str, list[Any]], n_rows: int) -> tuple[Any, Any]:
            X = np.array([columns[f] for f in features], dtype=np.float64).T
            if classifier:
                return np.asarray(model.predict_proba(X)), None
            return None, np.asarray(model.predict(X))

        return matrix

    def frame(columns: dict[str, list[Any]], n_rows: int) -> tuple[Any, Any]:
        X = _frame(schema, columns, n_rows)
        if classifier:
            return np.asarray(model.predict_proba(X)), None
        return None, np.asarray(model.predict(X))

    return frame


def _onnx_runner(model: Any, schema: Schema, classifier: bool) -> tuple[Runner | None, str]:
    """An ONNX Runtime runner when the model converts and agrees with itself; else a reason."""
    try:
        from mlcycle.flavours import onnx as _onnx
    except ImportError as exc:  # onnxruntime missing: native serving still works
        return None, f"ONNX Runtime is not available ({exc})"
    started = time.perf_counter()
    graph, reason = _onnx.convert(model, schema)
    if graph is None:
        return None, reason
    try:
        onnx_model = _onnx.OnnxModel(graph, schema)
        problem = _onnx.verify(onnx_model, model, _onnx.synthetic_rows(schema))
    except Exception as exc:  # a converter bug must never stop the model being served
        return None, f"the ONNX graph failed its check ({type(exc).__name__}: {exc})"
    if problem:
        return None, f"the ONNX graph disagrees with the model: {problem}"
    runner = _graph_runner(onnx_model, schema, classifier)
    return runner, f"converted in {time.perf_counter() - started:.1f} s"


def _frame(schema: Schema, columns: dict[str, list[Any]], n_rows: int) -> pd.DataFrame:
    """The DataFrame :meth:`Schema.coerce` would give for these checked values."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name in schema.feature_names:
        values = columns[name]
        kind = schema.column(name).dtype
        if kind in ("number", "integer"):
            array = np.asarray(values, dtype=np.float64)
            if kind == "integer" and not np.isnan(array).any():
                array = array.astype(np.int64)
            data[name] = array
        elif kind == "boolean":
            array = np.asarray(values, dtype=np.float64)
            if np.isnan(array).any():
                data[name] = np.array([np.nan if v != v else bool(v) for v in values], dtype=object)
            else:
                data[name] = array.astype(bool)
        elif kind == "datetime":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(n_rows), columns=schema.feature_names)


def _openapi_schema(schema: Schema) -> dict[str, Any]:
    out = schema.to_json_schema()
    out.pop("$schema", None)
    return out


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    import math

    return {k: v for k, v in metrics.items() if not isinstance(v, float) or math.isfinite(v)}
