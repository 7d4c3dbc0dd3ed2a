"""The drift reference of a training table: small, JSON-safe summaries, computed once.

:func:`build_reference` runs at training time and its dict is stored in the bundle, so that
:func:`mlcycle.monitoring.drift` can compare a window of the prediction log with the training
data without the training rows. It keeps no rows: per numeric column 101 quantiles, decile
bins with their counts, mean and standard deviation; per category column the counts of its
``max_categories`` most frequent values. :func:`reference_sample` keeps a small seeded sample
beside it for the domain classifier of multivariate drift.

Layout (``"format": 1``)::

    {"format": 1, "rows": n, "features": {name: FEATURE}, "skipped": [names],
     "prediction": FEATURE | None, "target": FEATURE | None}

    numeric  {"kind": "numeric", "count": rows, "missing": k, "missing_share": k / rows,
              "quantiles": [101 values at levels 0, 0.01, .., 1 of the non-missing values],
              "mean": m, "std": s (population), "bins": [null, e1, .., ej, null],
              "counts": [non-missing values per bin]}
    category {"kind": "category", "count": rows, "missing": k, "missing_share": k / rows,
              "frequencies": {text: count} (the most frequent max_categories, most frequent
              first), "other": count of all other non-missing values}

Bins are the unique decile edges of the non-missing values; the ends ``null`` stand for -inf
and +inf (JSON has no infinity), and bin ``i`` holds the values ``edges[i] <= x < edges[i+1]``.
NaN, None and ±inf are missing. A column with no value has empty ``quantiles``, ``bins`` and
``counts`` and ``null`` mean and std. Category values are compared as text: ``str(value)``,
except that whole floats are written as integers (``3.0`` -> ``"3"``, as an integer column
with missing values reads back) and booleans as ``"True"`` / ``"False"``.

Which columns are numbers: with a ``schema``, its ``number`` and ``integer`` features (its
``category``, ``boolean`` and ``string`` features are categories); without one, numeric
dtypes other than booleans. Datetime columns are skipped (time always moves on) and listed
under ``"skipped"``.

The prediction: for regression (no ``classes`` and no ``probabilities``) the predicted value
as a numeric feature; for a binary classifier the probability of its last class as a numeric
feature with ``"class"`` (that class as text) and the predicted labels as a category feature
under ``"label"``; for more classes the predicted labels as a category feature. The target
likewise (a category when ``classes`` or ``probabilities`` say the task is classification),
with its column name under ``"name"``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import DataError, bad_parameter, is_integer

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = ["REFERENCE_FORMAT", "build_reference", "category_text", "reference_sample"]

REFERENCE_FORMAT = 1
DECILES = np.linspace(0.1, 0.9, 9)
_NUMERIC_DTYPES = frozenset({"number", "integer"})
_CATEGORY_DTYPES = frozenset({"category", "boolean", "string"})


def build_reference(
    frame: pd.DataFrame,
    *,
    schema: Schema | None = None,
    predictions: Any = None,
    probabilities: Any = None,
    classes: list[Any] | None = None,
    target: pd.Series | None = None,
    quantiles: int = 100,
    max_categories: int = 100,
) -> dict[str, Any]:
    """The drift reference of ``frame`` (the training features): a JSON-safe dict, no rows.

    One sort per numeric column and one ``value_counts`` per category column: a table of
    1,000,000 rows and 100 columns takes a few seconds. See the module docstring for the
    layout; ``json.dumps(reference, allow_nan=False)`` always succeeds.

    >>> ref = build_reference(pd.DataFrame({"age": [31.0, 40.0, None], "plan": ["a", "b", "a"]}))
    >>> ref["features"]["plan"]["frequencies"], ref["features"]["age"]["missing"]
    ({'a': 2, 'b': 1}, 1)
    """
    owner = "build_reference()"
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter("frame", owner, "a pandas DataFrame", type(frame))
    if not is_integer(quantiles) or not 10 <= quantiles <= 1000:
        raise bad_parameter("quantiles", owner, "an integer from 10 to 1000", quantiles)
    if not is_integer(max_categories) or max_categories < 1:
        raise bad_parameter("max_categories", owner, "an integer >= 1", max_categories)
    rows = len(frame)
    if rows == 0:
        raise DataError("The table has no rows; a drift reference needs at least one.")
    levels = np.linspace(0.0, 1.0, int(quantiles) + 1)

    features: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for column, kind in _feature_kinds(frame, schema):
        name, series = str(column), frame[column]
        if kind == "numeric":
            features[name] = numeric_feature(_as_float(series, name), levels)
        elif kind == "category":
            features[name] = category_feature(series, int(max_categories))
        else:
            skipped.append(name)

    classification = classes is not None or probabilities is not None
    prediction = _prediction_feature(
        rows, predictions, probabilities, classes, levels, int(max_categories)
    )
    target_feature = None
    if target is not None:
        target = _same_length(target, rows, "target")
        target_feature = _output_feature(target, classification, levels, int(max_categories))
        if getattr(target, "name", None) is not None:
            target_feature["name"] = str(target.name)
    return {
        "format": REFERENCE_FORMAT,
        "rows": rows,
        "features": features,
        "skipped": skipped,
        "prediction": prediction,
        "target": target_feature,
    }


def reference_sample(frame: pd.DataFrame, rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of at most ``rows`` rows of ``frame``, in their original order.

    The bundle keeps it (``extra/reference_sample.parquet``) so that the domain classifier of
    :func:`mlcycle.monitoring.drift` has reference rows to tell from current ones.
    """
    owner = "reference_sample()"
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter("frame", owner, "a pandas DataFrame", type(frame))
    if not is_integer(rows) or rows < 1:
        raise bad_parameter("rows", owner, "an integer >= 1", rows)
    if not is_integer(seed):
        raise bad_parameter("seed", owner, "an integer", seed)
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(int(seed)).choice(len(frame), int(rows), replace=False))
    return frame.iloc[chosen].reset_index(drop=True)


# -- one feature ----------------------------------------------------------------------------


def numeric_feature(values: np.ndarray, levels: np.ndarray) -> dict[str, Any]:
    """The numeric FEATURE of a float array (NaN and ±inf are missing)."""
    rows = int(values.size)
    finite = np.sort(values[np.isfinite(values)])
    missing = rows - int(finite.size)
    feature: dict[str, Any] = {
        "kind": "numeric",
        "count": rows,
        "missing": missing,
        "missing_share": missing / rows if rows else 0.0,
    }
    if finite.size == 0:
        feature.update(quantiles=[], mean=None, std=None, bins=[], counts=[])
        return feature
    edges = np.unique(np.quantile(finite, DECILES))
    positions = np.r_[0, np.searchsorted(finite, edges, side="left"), finite.size]
    feature.update(
        quantiles=[float(q) for q in np.quantile(finite, levels)],
        mean=_finite_or_none(np.mean(finite)),
        std=_finite_or_none(np.std(finite)),
        bins=[None, *(float(e) for e in edges), None],
        counts=[int(c) for c in np.diff(positions)],
    )
    return feature


def category_feature(series: pd.Series, max_categories: int) -> dict[str, Any]:
    """The category FEATURE of a column: its most frequent values as text, the rest pooled."""
    rows = len(series)
    counts = text_counts(series)
    kept = counts.iloc[:max_categories]
    present = int(counts.sum())
    return {
        "kind": "category",
        "count": rows,
        "missing": rows - present,
        "missing_share": (rows - present) / rows if rows else 0.0,
        "frequencies": {str(k): int(v) for k, v in kept.items()},
        "other": present - int(kept.sum()),
    }


def text_counts(series: pd.Series) -> pd.Series:
    """Counts of a column's non-missing values by their text, most frequent first (ties by
    text), so that the reference and later windows agree on what a category is."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    if counts.empty:
        return pd.Series([], dtype=np.int64)
    texts = [category_text(v) for v in counts.index]
    # grouping sorts by text; a stable sort by count then keeps ties in text order
    merged = pd.Series(counts.to_numpy(dtype=np.int64), index=texts).groupby(level=0).sum()
    return merged.iloc[np.argsort(-merged.to_numpy(), kind="stable")]


def category_text(value: Any) -> str:
    """A category value as text: whole floats as integers, booleans as True/False."""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and float(value) == int(value)
    ):
        return str(int(value))
    return str(value)


# -- which columns, and the model's outputs -------------------------------------------------


def _feature_kinds(frame: pd.DataFrame, schema: Schema | None) -> list[tuple[Any, str]]:
    """``(column, "numeric" | "category" | "skip")`` for the features of ``frame``."""
    if schema is None:
        return [(column, _kind_of(frame[column])) for column in frame.columns]
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise DataError(
            f"Column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} of the "
            f"schema {'are' if len(missing) > 1 else 'is'} not in the table. "
            f"Columns: {', '.join(map(str, frame.columns))}."
        )
    kinds = []
    for name in schema.feature_names:
        dtype = schema.column(name).dtype
        numeric, category = dtype in _NUMERIC_DTYPES, dtype in _CATEGORY_DTYPES
        kinds.append((name, "numeric" if numeric else "category" if category else "skip"))
    return kinds


def _kind_of(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "category"
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        return "skip"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred in ("datetime", "datetime64", "date"):
            return "skip"
    return "category"


def _as_float(series: pd.Series, name: str) -> np.ndarray:
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna() & series.notna()
        if bad.any():
            example = series[bad].iloc[0]
            raise DataError(
                f"Column '{name}' is numeric but holds {example!r}; "
                "convert it or give a schema that marks it as a category."
            ) from None
        return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _same_length(values: Any, rows: int, what: str) -> Any:
    if len(values) != rows:
        raise bad_parameter(
            what, "build_reference()", f"one value per row of the table ({rows:,})", len(values)
        )
    return values


def _output_feature(
    values: Any, classification: bool, levels: np.ndarray, max_categories: int
) -> dict[str, Any]:
    """A model output or target column as a category (classification) or numeric FEATURE."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if classification or not numeric:
        return category_feature(series.reset_index(drop=True), max_categories)
    return numeric_feature(series.to_numpy(dtype=np.float64, na_value=np.nan), levels)


def _prediction_feature(
    rows: int,
    predictions: Any,
    probabilities: Any,
    classes: list[Any] | None,
    levels: np.ndarray,
    max_categories: int,
) -> dict[str, Any] | None:
    classification = classes is not None or probabilities is not None
    label = None
    if predictions is not None:
        predictions = _same_length(predictions, rows, "predictions")
        label = _output_feature(predictions, classification, levels, max_categories)
    if probabilities is None:
        return label
    proba = np.asarray(probabilities, dtype=np.float64)
    proba = proba.reshape(-1, 1) if proba.ndim == 1 else proba
    if proba.ndim != 2 or proba.shape[0] != rows:
        raise bad_parameter(
            "probabilities",
            "build_reference()",
            f"an array of {rows:,} rows, one column per class",
            f"shape {proba.shape}",
        )
    k = proba.shape[1]
    names = list(classes) if classes is not None else list(range(max(k, 2)))
    if len(names) != max(k, 2):
        raise bad_parameter(
            "classes", "build_reference()", f"one class per probability column ({k})", names
        )
    if k > 2:
        if label is None:  # the labels the probabilities pick
            picked = pd.Series(np.asarray(names, dtype=object)[np.argmax(proba, axis=1)])
            label = category_feature(picked, max_categories)
        return label
    feature = numeric_feature(proba[:, -1], levels)
    feature["class"] = category_text(names[-1])
    if label is not None:
        feature["label"] = label
    return feature


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
