"""How the explainers see a model: its input columns, its task, and which explainer fits it.

A model is a fitted scikit-learn-compatible object (usually
``Pipeline([("prepare", ColumnTransformer), ("model", estimator)])``), an ensemble with
``estimators_``/``weights_`` and ``predict``/``predict_proba``, or a
:class:`mlcycle.bundle.Bundle` holding one. :func:`describe_model` resolves it once;
:func:`plan_for` says whether SHAP's tree or linear explainer applies to its last step, in
which space ("probability", "log-odds", ...) the values are, and how each prepared feature
folds back into the input column it came from.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, BundleError, DataError, SchemaError
from mlcycle.explanation._json import label_text

TASKS = ("binary", "multiclass", "regression")

# (top-level package, class name) -> the space TreeExplainer's raw output is in.
# Classifiers whose trees hold probabilities are explained as probabilities; boosters as
# their margin; regressors as the prediction (or its log, for log-link objectives).
_TREES: dict[tuple[str, str], str] = {
    ("sklearn", "RandomForestClassifier"): "probability",
    ("sklearn", "ExtraTreesClassifier"): "probability",
    ("sklearn", "DecisionTreeClassifier"): "probability",
    ("sklearn", "RandomForestRegressor"): "value",
    ("sklearn", "ExtraTreesRegressor"): "value",
    ("sklearn", "DecisionTreeRegressor"): "value",
    ("sklearn", "GradientBoostingClassifier"): "margin",
    ("sklearn", "GradientBoostingRegressor"): "value",
    ("sklearn", "HistGradientBoostingClassifier"): "margin",
    ("sklearn", "HistGradientBoostingRegressor"): "value",
    ("lightgbm", "LGBMClassifier"): "margin",
    ("lightgbm", "LGBMRegressor"): "value",
    ("xgboost", "XGBClassifier"): "margin",
    ("xgboost", "XGBRegressor"): "value",
}
_LINEAR_EXTRA = frozenset({"LinearSVC", "LinearSVR"})
_LOG_LINKS = ("poisson", "gamma", "tweedie", "count:poisson", "reg:gamma", "reg:tweedie")
_CHUNK = 256  # rows per SHAP call: bounds the memory of dense (rows x features x classes)


def import_shap() -> Any:
    """SHAP, imported on first use (its import warns about matplotlib colormap APIs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap

    return shap


class Unexplainable(Exception):
    """Internal: SHAP's tree or linear explainer cannot take this model; use another path."""


# -- the model ------------------------------------------------------------------------------


@dataclass
class ModelInfo:
    """A model resolved for explaining: what predicts, on which columns, for which task."""

    model: Any
    columns: list[str]
    task: str
    classes: np.ndarray | None
    name: str

    @property
    def positive(self) -> Any:
        """The class whose probability a binary explanation is about (``classes_[-1]``)."""
        return None if self.classes is None else self.classes[-1]


def _is_bundle(model: Any) -> bool:
    from mlcycle.bundle import Bundle

    return isinstance(model, Bundle)


def _input_columns(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names):
        return [str(n) for n in names]
    members = getattr(model, "estimators_", None)
    if isinstance(members, Sequence) and not isinstance(members, str):
        seen: dict[str, None] = {}
        for member in members:
            for name in _input_columns(member) or []:
                seen.setdefault(name, None)
        return list(seen) or None
    return None


def _check_fitted(model: Any, name: str) -> None:
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    unfitted = BundleError(
        f"The {name} model is not fitted: fit it (or load a trained bundle) before explaining it."
    )
    if not callable(getattr(model, "predict", None)):
        raise BadParameterError(
            f"A {name} cannot be explained: it has no predict() method. Pass a fitted model, "
            "a pipeline or a mlcycle Bundle."
        )
    if isinstance(model, BaseEstimator):
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise unfitted from None
    members = getattr(model, "estimators_", None)
    if members is not None and not isinstance(model, BaseEstimator) and len(members) == 0:
        raise unfitted


def _check_task(task: Any, owner: str) -> None:
    if task not in TASKS:
        raise BadParameterError(
            f"The 'task' parameter of {owner} must be 'binary', 'multiclass' or 'regression'. "
            f"Got {task!r} instead."
        )


def describe_model(model: Any, task: str | None, owner: str) -> ModelInfo:
    """Resolve ``model`` (a Bundle is loaded); infer ``task`` from ``classes_`` when None."""
    columns: list[str] | None = None
    if _is_bundle(model):
        if model.schema is not None:
            columns = list(model.schema.feature_names)
        model = model.load()
    name = type(model).__name__
    if isinstance(model, pd.DataFrame | np.ndarray) or model is None:
        raise BadParameterError(
            f"The 'model' parameter of {owner} must be a fitted model or a mlcycle Bundle. "
            f"Got {name} instead."
        )
    _check_fitted(model, name)
    columns = columns or _input_columns(model)
    if not columns:
        raise BundleError(
            f"Cannot tell which columns the {name} model takes: fit it on a pandas DataFrame "
            "(so it records feature_names_in_) or explain a Bundle with a schema."
        )
    raw_classes = getattr(model, "classes_", None)
    classes = None if raw_classes is None else np.asarray(raw_classes)
    if task is None:
        n_classes = 0 if classes is None else len(classes)
        task = "regression" if n_classes == 0 else "binary" if n_classes == 2 else "multiclass"
    _check_task(task, owner)
    if task != "regression":
        if classes is None:
            raise BadParameterError(
                f"The {name} model has no classes_, so it cannot be explained for a {task} "
                "task. Pass task='regression' or a classifier."
            )
        if (task == "binary") != (len(classes) == 2):
            raise BadParameterError(
                f"The task is {task!r} but the {name} model has {len(classes)} classes. "
                f"Pass task={'binary' if len(classes) == 2 else 'multiclass'!r} or leave it out."
            )
        if not callable(getattr(model, "predict_proba", None)):
            raise BundleError(
                f"The {name} classifier does not predict probabilities, which explaining a "
                f"{task} model needs."
            )
    if task == "regression" and classes is not None:
        raise BadParameterError(
            f"The task is 'regression' but the {name} model is a classifier with "
            f"{len(classes)} classes. Pass task={'binary' if len(classes) == 2 else 'multiclass'!r}"
            " or leave it out."
        )
    return ModelInfo(model=model, columns=columns, task=task, classes=classes, name=name)


def check_frame(data: Any, info: ModelInfo, parameter: str, owner: str) -> pd.DataFrame:
    """``data``'s columns the model needs, in its order; a clear error when it cannot be."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"The '{parameter}' parameter of {owner} must be a pandas DataFrame with the "
            f"model's input columns. Got {type(data).__name__} instead."
        )
    if len(data) == 0:
        raise DataError(
            f"The '{parameter}' DataFrame given to {owner} has no rows: pass at least one row."
        )
    present = {str(c) for c in data.columns}
    missing = [c for c in info.columns if c not in present]
    if missing:
        shown = ", ".join(info.columns[:30]) + (", ..." if len(info.columns) > 30 else "")
        raise SchemaError(
            f"Column '{missing[0]}' is missing from the input. The model expects: {shown}."
        )
    frame = data.set_axis([str(c) for c in data.columns], axis=1)
    return frame.loc[:, info.columns]


def predict_output(info: ModelInfo, frame: pd.DataFrame) -> np.ndarray:
    """What a model-agnostic explainer explains: P(positive), P(each class) or the value."""
    if info.task == "regression":
        return np.asarray(info.model.predict(frame), dtype=np.float64).reshape(len(frame))
    proba = np.asarray(info.model.predict_proba(frame), dtype=np.float64)
    return proba[:, -1] if info.task == "binary" else proba


# -- the explainer plan ---------------------------------------------------------------------


def _key(estimator: Any) -> tuple[str, str] | None:
    for cls in type(estimator).__mro__:
        key = (cls.__module__.split(".")[0], cls.__name__)
        if key in _TREES:
            return key
    return None


def _is_linear(estimator: Any) -> bool:
    module = type(estimator).__module__
    if not module.startswith("sklearn."):
        return False
    if not (hasattr(estimator, "coef_") and hasattr(estimator, "intercept_")):
        return False
    return "linear_model" in module or type(estimator).__name__ in _LINEAR_EXTRA


def _log_link(estimator: Any) -> bool:
    for attribute in ("loss", "objective_", "objective"):
        value = getattr(estimator, attribute, None)
        if isinstance(value, str) and value in _LOG_LINKS:
            return True
    return False


def _logistic(estimator: Any, library: str) -> bool:
    """Whether a margin is a log-odds (binary) / softmax input (multiclass)."""
    if library == "lightgbm":
        return getattr(estimator, "objective_", "binary") in ("binary", "multiclass")
    if library == "xgboost":
        objective = str(getattr(estimator, "objective", None) or "binary:logistic")
        return objective in ("binary:logistic", "multi:softprob", "multi:softmax")
    name = type(estimator).__name__
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        return True
    loss = getattr(estimator, "loss", None)
    if name in ("HistGradientBoostingClassifier", "GradientBoostingClassifier"):
        return loss in ("log_loss", "deviance", "auto")
    return name == "SGDClassifier" and loss == "log_loss"


@dataclass
class Plan:
    """How to explain one model with SHAP's tree or linear explainer, in original columns.

    ``space``: "probability", "log-odds", "score" (a decision function), "value" or
    "log-value" (the log of the prediction). ``origins[j]`` is the input column (index
    into ``columns``) that prepared feature ``j`` came from.
    """

    kind: str
    estimator: Any
    preparer: Any
    space: str
    columns: list[str]
    task: str
    origins: np.ndarray | None = None

    def model_input(self, frame: pd.DataFrame) -> Any:
        """What the last step takes: the prepared matrix, or the frame for a bare model."""
        if self.preparer is None:
            return frame
        prepared = self.preparer.transform(frame)
        if isinstance(prepared, pd.DataFrame):
            prepared = prepared.to_numpy(dtype=np.float64)
        return prepared

    def outputs(self, model_input: Any) -> np.ndarray:
        """The model's own output in the explained space (what the SHAP values sum to)."""
        est, task = self.estimator, self.task
        library = type(est).__module__.split(".")[0]
        if self.space == "probability":
            out = np.asarray(est.predict_proba(model_input), dtype=np.float64)
            return out[:, -1] if task == "binary" else out
        if self.space in ("log-odds", "score"):
            if library == "lightgbm":
                out = est.predict(model_input, raw_score=True)
            elif library == "xgboost":
                out = est.predict(model_input, output_margin=True)
            else:
                out = est.decision_function(model_input)
            out = np.asarray(out, dtype=np.float64)
            if task == "binary" and out.ndim == 2:
                out = out[:, -1]
            return out
        if library == "lightgbm":
            out = est.predict(model_input, raw_score=True)
        elif library == "xgboost":
            out = est.predict(model_input, output_margin=True)
        else:
            out = est.predict(model_input)
            if self.space == "log-value":
                out = np.log(np.asarray(out, dtype=np.float64))
        return np.asarray(out, dtype=np.float64).reshape(-1)


def _decompose(model: Any) -> tuple[Any, Any, str | None]:
    """(preparer or None, last step, why it cannot be traced) of a model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = [s for _, s in model.steps[:-1] if s is not None and s != "passthrough"]
        estimator = model.steps[-1][1]
        if not steps:
            return None, estimator, None
        if len(steps) == 1 and isinstance(steps[0], ColumnTransformer):
            return steps[0], estimator, None
        return (
            None,
            estimator,
            "its preparation is not a single ColumnTransformer, so prepared features cannot "
            "be traced to input columns",
        )
    if hasattr(model, "estimators_") and hasattr(model, "weights_"):
        members = list(model.estimators_)
        if len(members) == 1:  # a one-member ensemble predicts as its member
            return _decompose(members[0])
        return None, None, "it is an ensemble of several models"
    return None, model, None


def plan_for(info: ModelInfo, sample: pd.DataFrame) -> Plan | str:
    """A :class:`Plan` for SHAP's tree or linear explainer, or why neither applies.

    ``sample`` (rows with the model's columns) is used to check the preparation and to
    resolve column names that are ambiguous.
    """
    preparer, estimator, why = _decompose(info.model)
    if why is not None:
        return why
    member_classes = getattr(estimator, "classes_", None)
    if info.classes is not None and (
        member_classes is None or len(member_classes) != len(info.classes)
    ):
        return "its classes cannot be matched to those of its last step"
    key = _key(estimator)
    if key is not None:
        kind, space = "tree", _TREES[key]
        if space == "margin":
            space = "log-odds" if _logistic(estimator, key[0]) else "score"
        elif space == "value" and _log_link(estimator):
            space = "log-value"
    elif _is_linear(estimator):
        kind = "linear"
        if info.task == "regression":
            space = "value"
        else:
            space = "log-odds" if _logistic(estimator, "sklearn") else "score"
    else:
        return f"SHAP has no tree or linear explainer for {type(estimator).__name__}"
    if (info.task == "regression") == (space in ("probability", "log-odds", "score")):
        return f"the {type(estimator).__name__} does not fit a {info.task} task"
    plan = Plan(kind, estimator, preparer, space, info.columns, info.task)
    try:
        prepared = plan.model_input(sample.iloc[: min(len(sample), 50)])
        if preparer is None:
            prepared.to_numpy(dtype=np.float64)
            plan.origins = np.arange(len(info.columns))
        else:
            plan.origins = feature_origins(preparer, info.columns, sample)
            if plan.origins.shape[0] != prepared.shape[1]:
                return "the prepared features could not be traced to input columns"
    except Unexplainable as exc:
        return str(exc)
    except (TypeError, ValueError) as exc:
        return f"the model's input could not be prepared as numbers ({exc})"
    return plan


# -- folding prepared features back into columns ---------------------------------------------


def _transformer_inputs(columns: Any, names_in: list[str]) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        return names_in[columns]
    values = list(np.asarray(columns).reshape(-1)) if not callable(columns) else []
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return [n for n, keep in zip(names_in, values, strict=True) if keep]
    out = []
    for value in values:
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            out.append(names_in[int(value)])
        else:
            out.append(str(value))
    return out


def _candidates(output: str, inputs: list[str]) -> list[str]:
    found = []
    for column in inputs:
        for base in (column, f"missingindicator_{column}"):
            if output == base or output.startswith(base + "_"):
                found.append(column)
                break
    return found


def _changed_outputs(transformer: Any, frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """Which outputs of ``transformer`` change when ``column``'s values are shuffled."""
    if len(frame) < 2:
        return None
    shifted = frame.copy()
    shifted[column] = np.roll(frame[column].to_numpy(), 1)
    try:
        before, after = transformer.transform(frame), transformer.transform(shifted)
    except Exception:
        return None
    if hasattr(before, "toarray"):
        before, after = before.toarray(), after.toarray()
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    return np.asarray(~np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=0))


def feature_origins(preparer: Any, columns: list[str], sample: pd.DataFrame) -> np.ndarray:
    """For each output feature of a fitted ``ColumnTransformer``, the input column's index.

    A transformer of one column gives it all its outputs (one-hot columns, TF-IDF terms,
    calendar parts, missing indicators). For one of several columns, each output is
    matched by scikit-learn's naming (``<column>``, ``<column>_<suffix>``,
    ``missingindicator_<column>``); a name that several columns could own is settled by
    shuffling each candidate in ``sample`` and seeing which one moves it.
    """
    names_in = [str(n) for n in getattr(preparer, "feature_names_in_", columns)]
    index = {name: i for i, name in enumerate(columns)}
    slices = preparer.output_indices_
    width = max((s.stop for s in slices.values()), default=0)
    origins = np.full(width, -1, dtype=np.int64)
    for name, transformer, cols in preparer.transformers_:
        part = slices.get(name, slice(0, 0))
        n_out = part.stop - part.start
        if n_out == 0 or (isinstance(transformer, str) and transformer == "drop"):
            continue
        inputs = _transformer_inputs(cols, names_in)
        unknown = [c for c in inputs if c not in index]
        if unknown:
            raise Unexplainable(f"the preparation uses column '{unknown[0]}', not an input")
        if len(inputs) == 1:
            origins[part] = index[inputs[0]]
            continue
        try:
            if isinstance(transformer, str):  # "passthrough"
                outputs = list(inputs)
            else:
                outputs = [str(o) for o in transformer.get_feature_names_out(inputs)]
        except Exception:
            outputs = list(inputs) if n_out == len(inputs) else []
        if len(outputs) != n_out:
            raise Unexplainable(
                f"the features made by the preparation step '{name}' cannot be traced to "
                "input columns"
            )
        moved: dict[str, np.ndarray | None] = {}
        for j, output in enumerate(outputs):
            found = _candidates(output, inputs)
            if not found and n_out == len(inputs):
                found = [inputs[j]]
            if not found:
                raise Unexplainable(
                    f"the feature '{output}' of preparation step '{name}' cannot be traced to "
                    "an input column"
                )
            if len(found) > 1 and not isinstance(transformer, str):
                for column in found:
                    if column not in moved:
                        moved[column] = _changed_outputs(transformer, sample[inputs], column)
                movers = [c for c in found if (m := moved[c]) is not None and m[j]]
                if len(movers) == 1:
                    found = movers
            origins[part.start + j] = index[max(found, key=len)]
    if (origins < 0).any():
        raise Unexplainable("some prepared features come from no input column")
    return origins


def fold(values: np.ndarray, origins: np.ndarray, n_columns: int) -> np.ndarray:
    """Sum feature contributions (axis 1 of ``values``) into their columns."""
    shape = (values.shape[0], n_columns, *values.shape[2:])
    out = np.zeros(shape, dtype=np.float64)
    for column in np.unique(origins):
        out[:, column] = values[:, origins == column].sum(axis=1)
    return out


# -- running SHAP's tree and linear explainers ----------------------------------------------


@dataclass
class ShapResult:
    """Column-folded SHAP values, their base and the model's own output they add up to."""

    values: np.ndarray  # rows x columns (x classes for multiclass)
    base: np.ndarray  # scalar array, or one per class
    outputs: np.ndarray  # rows (x classes), from the model itself


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def _normalise(phi: Any, base: Any, task: str) -> tuple[np.ndarray, np.ndarray]:
    phi = np.asarray(phi, dtype=np.float64)
    base = np.atleast_1d(np.asarray(base, dtype=np.float64)).reshape(-1)
    if phi.ndim == 3 and phi.shape[2] == 1:
        phi = phi[:, :, 0]
    if task == "multiclass":
        if phi.ndim != 3:
            raise Unexplainable("the explainer did not return one set of values per class")
        return phi, base
    if phi.ndim == 3:  # binary with one column per class: keep the positive class
        phi = phi[:, :, -1]
    return phi, base[-1:].reshape(())


def run_shap(plan: Plan, frame: pd.DataFrame, background: pd.DataFrame | None) -> ShapResult:
    """SHAP values of ``frame``'s rows, folded into ``plan.columns``.

    Tree models use the path-dependent algorithm (no background needed); linear models
    are explained against ``background`` (interventional: the mean of its prepared rows).
    """
    shap = import_shap()
    assert plan.origins is not None
    model_input = plan.model_input(frame)
    outputs = plan.outputs(model_input)
    try:
        if plan.kind == "tree":
            explainer = shap.TreeExplainer(plan.estimator)
        else:
            reference = frame if background is None else background
            reference_input = plan.model_input(reference)
            if plan.preparer is None:
                reference_input = reference_input.to_numpy(dtype=np.float64)
            # the mean prepared row is all interventional LinearSHAP uses of the background;
            # passing it (not the rows) keeps shap from subsampling them to 100
            mean = np.asarray(reference_input.mean(axis=0), dtype=np.float64).reshape(1, -1)
            explainer = shap.LinearExplainer(plan.estimator, mean)
    except Exception as exc:
        raise Unexplainable(
            f"SHAP's {plan.kind} explainer does not take this {type(plan.estimator).__name__} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if plan.preparer is None:
        model_input = model_input.to_numpy(dtype=np.float64)
    parts = []
    base = np.zeros(())
    for start in range(0, model_input.shape[0], _CHUNK):
        chunk = model_input[start : start + _CHUNK]
        with warnings.catch_warnings():  # shap's notes on changed output shapes: handled here
            warnings.simplefilter("ignore", UserWarning)
            if plan.kind == "tree":
                phi = explainer.shap_values(_dense(chunk), check_additivity=False)
            else:
                phi = explainer.shap_values(chunk)
        phi, base = _normalise(phi, explainer.expected_value, plan.task)
        parts.append(fold(phi, plan.origins, len(plan.columns)))
    return ShapResult(values=np.concatenate(parts, axis=0), base=base, outputs=outputs)


def space_name(space: str, task: str) -> str:
    """A space in words: "probability", "log-odds", "predicted value", ..."""
    return {
        "probability": "probability",
        "log-odds": "log-odds" if task == "binary" else "raw score (softmax input)",
        "score": "decision score",
        "value": "predicted value",
        "log-value": "log of the predicted value",
    }[space]


def describe_space(space: str, task: str, label: Any = None) -> str:
    """What an explanation is of: "log-odds of class 'yes'", "predicted value", ...

    Classifiers: of class ``label``, or of each row's predicted class when it is None.
    """
    what = space_name(space, task)
    if task == "regression":
        return what
    if label is None:
        return f"{what} of each row's predicted class"
    return f"{what} of class '{label_text(label)}'"
