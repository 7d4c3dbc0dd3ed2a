"""Global importance of a model's input columns: SHAP where it is exact, permutation elsewhere.

For a pipeline whose last step is a tree ensemble or a linear model, the importance of a
column is the mean absolute SHAP value of the features prepared from it, summed per row
(one-hot columns, missing indicators, calendar parts and TF-IDF terms all fold back into
their column). Any other model (k-nearest neighbours, ensembles, unknown estimators) gets
scikit-learn's permutation importance with the task's metric, and partial-dependence
curves of its top columns so that dependence plots can still be drawn::

    importance = global_importance(model, X_valid, y_valid, task="binary")
    importance.top(5)  # {'income': 0.41, 'age': 0.12, ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError
from mlcycle.exceptions import bad_parameter as _invalid
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.explanation._json import json_float, json_value
from mlcycle.explanation._models import (
    TASKS,
    ModelInfo,
    Plan,
    Unexplainable,
    check_frame,
    describe_model,
    describe_space,
    plan_for,
    predict_output,
    run_shap,
    space_name,
)

__all__ = ["Importance", "PartialDependence", "global_importance"]

METHODS = ("shap", "permutation")
_PD_COLUMNS = 8  # partial-dependence curves kept for the top columns (permutation only)
_PD_ROWS = 200
_PD_GRID = 20
_SAMPLE_ROWS = 200


def _sorted(values: dict[str, float]) -> dict[str, float]:
    """Descending by value (NaN last); ties keep the input order."""

    def key(item: tuple[str, float]) -> tuple[bool, float]:
        missing = bool(np.isnan(item[1]))
        return missing, 0.0 if missing else -item[1]

    return dict(sorted(values.items(), key=key))  # sorted() is stable: ties keep their order


def _list(array: np.ndarray) -> Any:
    """A float array as nested lists, NaN as None."""
    if array.ndim == 0:
        return json_float(array)
    return [_list(a) for a in array] if array.ndim > 1 else [json_float(v) for v in array]


def _array(data: Any) -> np.ndarray:
    return np.asarray(
        np.vectorize(lambda v: np.nan if v is None else v, otypes=[float])(
            np.asarray(data, dtype=object)
        ),
        dtype=np.float64,
    )


# -- partial dependence ----------------------------------------------------------------------


@dataclass
class PartialDependence:
    """The model's average output as one column is set to each value of a grid.

    ``kind`` is "numeric" or "datetime" (a grid of quantiles) or "category" (the most
    frequent values);
    ``average`` has one value per grid point, or one row of class probabilities.
    """

    column: str
    kind: str
    grid: list[Any]
    average: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "grid": [json_value(v) for v in self.grid],
            "average": _list(self.average),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialDependence:
        grid = list(data["grid"])
        if data["kind"] == "datetime":
            grid = list(pd.to_datetime(pd.Series(grid), format="ISO8601"))
        return cls(str(data["column"]), str(data["kind"]), grid, _array(data["average"]))


def _grid(series: pd.Series) -> tuple[str, list[Any]]:
    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        distinct = np.unique(values)
        if len(distinct) <= _PD_GRID:
            return "numeric", distinct.tolist()
        grid = np.unique(np.quantile(values, np.linspace(0.05, 0.95, _PD_GRID)))
        return "numeric", grid.tolist()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = series.dropna()
        if stamps.empty:
            return "datetime", []
        grid = stamps.quantile(np.linspace(0.05, 0.95, _PD_GRID)).drop_duplicates()
        return "datetime", list(grid)
    counts = series.value_counts(dropna=True)
    return "category", list(counts.index[:_PD_GRID])


def _repeat(values: list[Any], times: int, dtype: Any) -> pd.Series:
    objects = np.empty(len(values) * times, dtype=object)
    objects[:] = [v for v in values for _ in range(times)]
    try:
        return pd.Series(objects, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series(objects, dtype=object)


def partial_dependence(
    info: ModelInfo, sample: pd.DataFrame, columns: list[str], seed: int
) -> dict[str, PartialDependence]:
    """Brute-force partial dependence (as ``sklearn.inspection``'s ``method="brute"``).

    Computed here rather than with scikit-learn so that it works on any model that
    predicts from a DataFrame (ensembles and bundles included): one model call per column.
    """
    rows = sample
    if len(rows) > _PD_ROWS:
        rows = rows.sample(_PD_ROWS, random_state=seed)
    rows = rows.reset_index(drop=True)
    curves = {}
    for column in columns:
        kind, grid = _grid(sample[column])
        if not grid:
            continue
        batch = pd.concat([rows] * len(grid), ignore_index=True)
        batch[column] = _repeat(grid, len(rows), sample[column].dtype)
        out = predict_output(info, batch)
        average = out.reshape(len(grid), len(rows), *out.shape[1:]).mean(axis=1)
        curves[column] = PartialDependence(column, kind, grid, average)
    return curves


# -- the result ------------------------------------------------------------------------------


@dataclass
class Importance:
    """How much each input column matters to a model, over a sample of rows.

    ``values`` (column → importance, largest first) are mean absolute SHAP values in the
    space named by ``output`` (``method="shap"``), or the mean loss of the task's metric
    when the column is shuffled (``method="permutation"``, ``std`` over the repeats).
    ``shap_values`` (rows x ``columns``, x classes for multiclass) and ``sample`` (those
    rows' inputs) are kept for dependence plots; ``to_dict`` leaves them out unless asked.
    """

    method: str
    values: dict[str, float]
    task: str
    output: str
    metric: str | None = None
    std: dict[str, float] | None = None
    n_rows: int = 0
    classes: list[Any] | None = None
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shap_values: np.ndarray | None = field(default=None, repr=False)
    sample: pd.DataFrame | None = field(default=None, repr=False)
    partial_dependence: dict[str, PartialDependence] = field(default_factory=dict, repr=False)

    def top(self, k: int = 10) -> dict[str, float]:
        """The ``k`` most important columns and their importance, largest first."""
        if not _is_int(k) or k < 1:
            raise _invalid("k", "Importance.top()", "an integer >= 1", k)
        return dict(list(self.values.items())[:k])

    def to_dict(
        self, *, include_sample: bool = False, max_rows: int = _SAMPLE_ROWS
    ) -> dict[str, Any]:
        """JSON-safe (no NaN); with ``include_sample``, up to ``max_rows`` rows of SHAP values."""
        out: dict[str, Any] = {
            "method": self.method,
            "task": self.task,
            "output": self.output,
            "metric": self.metric,
            "n_rows": int(self.n_rows),
            "values": {k: json_float(v) for k, v in self.values.items()},
            "std": None if self.std is None else {k: json_float(v) for k, v in self.std.items()},
            "classes": None if self.classes is None else [json_value(c) for c in self.classes],
            "columns": list(self.columns),
            "notes": list(self.notes),
            "partial_dependence": {k: v.to_dict() for k, v in self.partial_dependence.items()},
        }
        if include_sample and self.shap_values is not None and self.sample is not None:
            n = min(int(max_rows), len(self.sample))
            frame = self.sample.iloc[:n]
            out["sample"] = {
                "columns": list(self.columns),
                "rows": [[json_value(v) for v in row] for row in frame.itertuples(index=False)],
                "shap_values": _list(self.shap_values[:n]),
            }
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Importance:
        """Rebuild an :class:`Importance` from :meth:`to_dict`'s output."""
        if not isinstance(data, dict) or data.get("method") not in METHODS:
            raise BadParameterError(
                "Not an importance summary: expected a dict from Importance.to_dict() with "
                f"'method' one of {', '.join(METHODS)}."
            )
        try:
            values = {str(k): _float(v) for k, v in data["values"].items()}
            std = data.get("std")
            sample = data.get("sample")
            columns = [str(c) for c in data.get("columns") or values]
            importance = cls(
                method=data["method"],
                values=values,
                task=str(data["task"]),
                output=str(data["output"]),
                metric=data.get("metric"),
                std=None if std is None else {str(k): _float(v) for k, v in std.items()},
                n_rows=int(data.get("n_rows", 0)),
                classes=data.get("classes"),
                columns=columns,
                notes=[str(n) for n in data.get("notes") or []],
                partial_dependence={
                    str(k): PartialDependence.from_dict(v)
                    for k, v in (data.get("partial_dependence") or {}).items()
                },
            )
            if sample:
                names = [str(c) for c in sample["columns"]]
                importance.sample = pd.DataFrame(sample["rows"], columns=names)
                importance.shap_values = _array(sample["shap_values"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadParameterError(f"The importance summary is malformed: {exc!r}.") from exc
        return importance


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


# -- computing it ----------------------------------------------------------------------------


def _target(y: Any, n: int, owner: str) -> np.ndarray:
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise _invalid("y", owner, "one column of true target values", type(y))
        y = y.iloc[:, 0]
    values = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if values.ndim != 1 or len(values) != n:
        raise DataError(
            f"The 'y' parameter of {owner} must have one value per row of X ({n}). "
            f"Got {values.shape[0] if values.ndim else 'a scalar'} instead."
        )
    return values


def _shap_importance(plan: Plan, info: ModelInfo, sample: pd.DataFrame) -> Importance:
    result = run_shap(plan, sample, sample)
    magnitude = np.abs(result.values).mean(axis=0)
    if info.task == "multiclass":
        magnitude = magnitude.mean(axis=1)
        output = f"{space_name(plan.space, 'multiclass')} of each class, averaged over the classes"
    else:
        output = describe_space(plan.space, info.task, info.positive)
    return Importance(
        method="shap",
        values=_sorted(dict(zip(info.columns, map(float, magnitude), strict=True))),
        task=info.task,
        output=output,
        n_rows=len(sample),
        classes=None if info.classes is None else info.classes.tolist(),
        columns=list(info.columns),
        shap_values=result.values,
        sample=sample,
    )


class _Fitted:
    """Stands in for the model in ``permutation_importance``, which insists on a ``fit``.

    The scorer predicts with the real model (an ensemble or a bundle's model need not be a
    scikit-learn estimator); nothing is ever fitted.
    """

    def fit(self, X: Any, y: Any = None) -> _Fitted:
        return self


def _permutation_importance(
    info: ModelInfo,
    sample: pd.DataFrame,
    y: np.ndarray,
    metric: str | None,
    *,
    seed: int,
    n_repeats: int,
) -> Importance:
    from sklearn.inspection import permutation_importance

    from mlcycle.evaluation import DEFAULT_METRICS, get_metric

    chosen = get_metric(metric or DEFAULT_METRICS[info.task], info.task)
    labels = info.classes

    def scorer(_: Any, X: pd.DataFrame, y_true: Any) -> float:
        if chosen.needs_proba:
            predicted = np.asarray(info.model.predict_proba(X), dtype=np.float64)
        else:
            predicted = np.asarray(info.model.predict(X))
        value = chosen(y_true, predicted, labels)
        return value if chosen.greater_is_better else -value

    baseline = scorer(None, sample, y)
    if not np.isfinite(baseline):
        raise DataError(
            f"The metric '{chosen.name}' cannot be computed on the {len(sample)} rows given "
            "(does y hold a single class?). Pass more rows, or another metric=."
        )
    result = permutation_importance(
        _Fitted(), sample, y, scoring=scorer, n_repeats=n_repeats, random_state=seed
    )
    means = dict(zip(info.columns, map(float, result.importances_mean), strict=True))
    stds = dict(zip(info.columns, map(float, result.importances_std), strict=True))
    values = _sorted(means)
    change = "increase in" if not chosen.greater_is_better else "drop in"
    top = list(values)[:_PD_COLUMNS]
    return Importance(
        method="permutation",
        values=values,
        task=info.task,
        output=f"{change} {chosen.name} when the column's values are shuffled",
        metric=chosen.name,
        std={k: stds[k] for k in values},
        n_rows=len(sample),
        classes=None if labels is None else labels.tolist(),
        columns=list(info.columns),
        partial_dependence=partial_dependence(info, sample, top, seed),
        sample=sample,
    )


def global_importance(
    model: Any,
    X: pd.DataFrame,
    y: Any = None,
    *,
    task: str,
    metric: str | None = None,
    seed: int = 0,
    max_rows: int = 1000,
    n_repeats: int = 5,
) -> Importance:
    """Importance of each input column of ``X`` (not of the prepared features) to ``model``.

    ``model``: a fitted pipeline, an ensemble or a :class:`mlcycle.bundle.Bundle`. A seeded
    sample of at most ``max_rows`` rows is used. Tree and linear pipelines get mean |SHAP|
    per column (multiclass: averaged over the classes); others get permutation importance
    with ``metric`` (default: auc, log_loss or rmse for the task) over ``n_repeats``
    shuffles, which needs the true targets ``y``.
    """
    owner = "global_importance()"
    if task not in TASKS:
        raise _invalid("task", owner, "'binary', 'multiclass' or 'regression'", task)
    for name, value in (("max_rows", max_rows), ("n_repeats", n_repeats)):
        if not _is_int(value) or value < 1:
            raise _invalid(name, owner, "an integer >= 1", value)
    if not _is_int(seed):
        raise _invalid("seed", owner, "an integer", seed)
    if metric is not None and not isinstance(metric, str):
        raise _invalid("metric", owner, "a metric name or None", metric)
    info = describe_model(model, task, owner)
    frame = check_frame(X, info, "X", owner)
    target = None if y is None else _target(y, len(frame), owner)
    if len(frame) > max_rows:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
        frame = frame.iloc[chosen]
        target = None if target is None else target[chosen]

    notes = []
    plan = plan_for(info, frame)
    if isinstance(plan, Plan):
        try:
            return _shap_importance(plan, info, frame)
        except Unexplainable as exc:
            notes.append(f"Permutation importance was used instead of SHAP: {exc}.")
            why = str(exc)
    else:
        why = plan
    if target is None:
        raise BadParameterError(
            f"The importance of this {info.name} model is measured by permutation ({why}), "
            "which needs the true target values: pass y=."
        )
    importance = _permutation_importance(
        info, frame, target, metric, seed=int(seed), n_repeats=int(n_repeats)
    )
    importance.notes = notes + importance.notes
    return importance
