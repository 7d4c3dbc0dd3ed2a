"""Imbalanced classes: class weights by default, resampling (imbalanced-learn) on request.

Resampling must only ever see training rows. :func:`training_pipeline` puts the sampler
between the preparer and the model of an ``imblearn`` pipeline, which resamples in ``fit``
only; so under cross-validation each training fold is resampled and every validation fold,
like every row sent to ``predict``, keeps its real size and class balance::

    model = training_pipeline(preparer, LogisticRegression(), sampler=make_sampler("smote"))
    cross_validate(model, X, y, cv=5)  # SMOTE runs on the 4 training folds of each split

A fitted model keeps its sampler step, which does nothing at prediction time;
:func:`inference_pipeline` returns the same fitted steps without it, as a plain
scikit-learn ``Pipeline`` (what a bundle needs without trusting imbalanced-learn types).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight

from mlcycle.exceptions import BadParameterError, DataError

__all__ = ["SAMPLERS", "class_weights", "inference_pipeline", "make_sampler", "training_pipeline"]

SAMPLERS: dict[str, str] = {
    "smote": "imblearn.over_sampling:SMOTE",
    "adasyn": "imblearn.over_sampling:ADASYN",
    "random_over": "imblearn.over_sampling:RandomOverSampler",
    "random_under": "imblearn.under_sampling:RandomUnderSampler",
}
"""Resampling methods by name: the imbalanced-learn class each one builds."""

_TASKS = ("binary", "multiclass", "regression")


def class_weights(y: Any) -> dict[Any, float]:
    """Weight per class, inversely proportional to its frequency ("balanced").

    ``n_samples / (n_classes * count(class))``: every class then weighs as much in total.
    Keys are the class labels as plain Python values; pass the dict as an estimator's
    ``class_weight``.
    """
    labels = pd.Series(np.asarray(y).ravel() if not isinstance(y, pd.Series) else y)
    if labels.empty:
        raise DataError("class_weights() needs at least one label. Got an empty target.")
    if labels.isna().any():
        raise DataError(
            f"The target has {int(labels.isna().sum())} missing values. Drop those rows "
            "before computing class weights."
        )
    values = labels.to_numpy()
    classes = np.unique(values)
    weights = compute_class_weight("balanced", classes=classes, y=values)
    return {_plain(c): float(w) for c, w in zip(classes, weights, strict=True)}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def make_sampler(method: str | None, *, seed: int = 0, task: str = "binary") -> Any:
    """Build the imbalanced-learn sampler named ``method``, or None for no resampling.

    ``method``: None or "none", "smote", "adasyn", "random_over", "random_under"
    (case and "-" versus "_" do not matter). Resampling exists for classification only.
    SMOTE and ADASYN interpolate between neighbours, so put them after the preparer
    (numeric features); they need more rows in the smallest class than neighbours (5).
    """
    if task not in _TASKS:
        raise BadParameterError(
            "The 'task' parameter of make_sampler() must be 'binary', 'multiclass' or "
            f"'regression'. Got {task!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BadParameterError(
            f"The 'seed' parameter of make_sampler() must be an integer. Got {seed!r} instead."
        )
    if method is None:
        return None
    key = method.strip().lower().replace("-", "_") if isinstance(method, str) else None
    if key == "none":
        return None
    if key not in SAMPLERS:
        raise BadParameterError(
            "The 'method' parameter of make_sampler() must be one of none, "
            f"{', '.join(SAMPLERS)}. Got {method!r} instead."
        )
    if task == "regression":
        raise BadParameterError(
            f"Resampling ({method!r}) balances classes; it does not apply to a regression "
            "target. Use method=None."
        )
    import importlib

    module, name = SAMPLERS[key].split(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(random_state=int(seed))


def training_pipeline(preparer: Any, estimator: Any, *, sampler: Any = None) -> Pipeline:
    """Chain preparer → [sampler] → estimator as steps ``prepare``, ``sample``, ``model``.

    With a sampler the result is an ``imblearn.pipeline.Pipeline``: it resamples in
    ``fit`` only (the training folds under cross-validation), never in ``predict`` or
    ``score``. Without one it is a scikit-learn ``Pipeline``. Steps are used as given (not
    cloned); cross-validation clones the whole pipeline per fold.
    """
    for name, step, method in (
        ("preparer", preparer, "transform"),
        ("estimator", estimator, "fit"),
    ):
        if not hasattr(step, method):
            raise BadParameterError(
                f"The '{name}' parameter of training_pipeline() must be a scikit-learn "
                f"object with {method}(). Got {type(step).__name__} instead."
            )
    if sampler is None:
        return Pipeline([("prepare", preparer), ("model", estimator)])
    if not hasattr(sampler, "fit_resample"):
        raise BadParameterError(
            "The 'sampler' parameter of training_pipeline() must be an imbalanced-learn "
            f"sampler (see make_sampler()) or None. Got {type(sampler).__name__} instead."
        )
    from imblearn.pipeline import Pipeline as ImbPipeline

    return ImbPipeline([("prepare", preparer), ("sample", sampler), ("model", estimator)])


def inference_pipeline(model: Pipeline) -> Pipeline:
    """The fitted ``model`` without its sampler steps, as a scikit-learn ``Pipeline``.

    Samplers only act in ``fit``, so predictions are identical; the result holds the same
    fitted step objects (not copies) and contains no imbalanced-learn type.
    """
    if not isinstance(model, Pipeline):
        raise BadParameterError(
            "The 'model' parameter of inference_pipeline() must be a Pipeline. "
            f"Got {type(model).__name__} instead."
        )
    steps = [(n, s) for n, s in model.steps if not hasattr(s, "fit_resample")]
    return Pipeline(steps, memory=model.memory, verbose=model.verbose)
