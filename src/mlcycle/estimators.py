"""mlcycle's own estimator types that model bundles contain: preparers and the ensemble.

A fitted model travels as a skops file, which names each object's type by its import path
(``mlcycle.estimators.ColumnCaster``); ``mlcycle.bundle`` trusts exactly the names in
:data:`BUNDLE_TYPES`. **These import paths are part of the bundle format**: never rename or
move a class out of this module. It sits at the bottom layer and imports only NumPy,
pandas, scikit-learn and :mod:`mlcycle.exceptions`, so loading a bundle imports neither
``mlcycle.data`` nor ``mlcycle.training`` nor ``mlcycle.serving``.

- :class:`ColumnCaster`, :class:`QuantileClipper`, :class:`DatetimeFeatures`: the small
  transformers :func:`mlcycle.data.build_preparer` puts in a preparer;
- :class:`WeightedEnsemble`: the AutoML ensemble, a weighted mean of fitted pipelines
  (its weights are chosen by ``mlcycle.training``).

Bundles of format 1 name the same classes by their former paths (:data:`FORMER_NAMES`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from mlcycle.exceptions import DataError
from mlcycle.exceptions import bad_parameter as _invalid
from mlcycle.exceptions import is_integer as _is_int

__all__ = [
    "BUNDLE_TYPES",
    "DATETIME_FEATURES",
    "FORMER_NAMES",
    "PREPARER_TYPES",
    "ColumnCaster",
    "DatetimeFeatures",
    "QuantileClipper",
    "WeightedEnsemble",
    "boolean_mapping",
    "category_tokens",
    "type_name",
]

DATETIME_FEATURES: tuple[str, ...] = (
    "year",
    "quarter",
    "month",
    "day",
    "dayofweek",
    "dayofyear",
    "hour",
    "minute",
    "second",
)
"""The calendar parts a datetime column can be turned into."""

_CLIP_QUANTILES = (0.005, 0.995)
_PANDAS_PARTS = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
_TRUE_TOKENS = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE_TOKENS = frozenset({"0", "false", "f", "no", "n", "off"})


# -- preparation steps ---------------------------------------------------------------------


def _as_frame(X: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    array = np.asarray(X, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    columns = list(names) if names is not None and len(names) == array.shape[1] else None
    return pd.DataFrame(array, columns=columns)


def _record_columns(est: BaseEstimator, frame: pd.DataFrame) -> None:
    names = [str(c) for c in frame.columns]
    est.n_features_in_ = frame.shape[1]
    if all(isinstance(c, str) for c in frame.columns):
        est.feature_names_in_ = np.asarray(names, dtype=object)


def _check_width(est: BaseEstimator, frame: pd.DataFrame) -> None:
    expected = est.n_features_in_
    if frame.shape[1] != expected:
        raise ValueError(
            f"{type(est).__name__} was fitted on {expected} columns; got {frame.shape[1]}."
        )


def _input_names(est: BaseEstimator, input_features: Any) -> list[str]:
    if input_features is not None:
        return [str(n) for n in input_features]
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(est.n_features_in_)]


def category_tokens(column: pd.Series) -> np.ndarray:
    """One column as an object array of canonical strings, NaN where missing.

    The same value gets the same token whatever the caller's dtype: 3, 3.0, np.int64(3)
    and "3" are all "3"; None, NaN, pd.NA and NaT are all missing.
    """
    dtype = column.dtype
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return column.to_numpy(dtype=object, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = column.to_numpy(dtype=object)
    codes, uniques = pd.factorize(values)  # a token per distinct value, not per row
    tokens = np.asarray([_token(u) for u in uniques] + [np.nan], dtype=object)
    return tokens[codes]  # code -1 (missing) picks the trailing NaN


def _token(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if _is_int(value):
        return str(int(value))  # type: ignore[call-overload]
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return np.nan
        return str(int(number)) if number.is_integer() else str(number)
    return str(value)


def boolean_mapping(tokens: np.ndarray, column: str) -> tuple[dict[str, float], str | None]:
    """Map the (at most two) values of a boolean column to 0/1; return it and the 1 value."""
    seen = sorted(t for t in pd.unique(tokens) if isinstance(t, str))
    if len(seen) > 2:
        shown = ", ".join(repr(v) for v in seen[:5])
        raise DataError(
            f"Column '{column}' is of kind 'boolean' but has {len(seen)} distinct values "
            f"({shown}). Give it the kind 'category' instead."
        )
    known = {t: 1.0 for t in seen if t.strip().lower() in _TRUE_TOKENS}
    known |= {t: 0.0 for t in seen if t.strip().lower() in _FALSE_TOKENS}
    unknown = [t for t in seen if t not in known]
    if len(unknown) == 2:  # two labels of no known polarity, e.g. "M"/"F": sorted order
        known |= {unknown[0]: 0.0, unknown[1]: 1.0}
    elif unknown:  # the complement of the known one, or 1 when it is alone
        other = [known[t] for t in seen if t in known]
        known[unknown[0]] = 1.0 - other[0] if other else 1.0
    positive = next((t for t, v in known.items() if v == 1.0), None)
    return {t.strip().lower(): v for t, v in known.items()}, positive


def _as_number(column: pd.Series) -> pd.Series:
    if pd.api.types.is_timedelta64_dtype(column.dtype):
        return column.dt.total_seconds()
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    return pd.to_numeric(column, errors="coerce")


class ColumnCaster(TransformerMixin, BaseEstimator):
    """Bring columns of one kind to the values their encoder expects, whatever the input dtype.

    ``kind``: ``"numeric"`` (float, NaN for missing or unparsable), ``"category"``
    (canonical strings, NaN for missing), ``"boolean"`` (0.0/1.0 learned in ``fit``, NaN for
    missing or unseen) or ``"text"`` (one column, a 1-D array of strings, "" for missing).
    It keeps a model working when serving sends ``None`` in an object column, a float for
    an integer code, or a column that is entirely missing.
    """

    def __init__(self, kind: str = "category") -> None:
        self.kind = kind

    def fit(self, X: Any, y: Any = None) -> ColumnCaster:
        if self.kind not in ("numeric", "category", "boolean", "text"):
            raise _invalid(
                "kind", "ColumnCaster", "'numeric', 'category', 'boolean' or 'text'", self.kind
            )
        frame = _as_frame(X)
        if self.kind == "text" and frame.shape[1] != 1:
            raise ValueError(f"ColumnCaster(kind='text') takes one column; got {frame.shape[1]}.")
        _record_columns(self, frame)
        if self.kind == "boolean":
            names = _input_names(self, None)
            pairs = [
                boolean_mapping(category_tokens(frame.iloc[:, i]), names[i])
                for i in range(frame.shape[1])
            ]
            self.mappings_ = [mapping for mapping, _ in pairs]
            self.positives_ = [positive for _, positive in pairs]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        frame = _as_frame(X, getattr(self, "feature_names_in_", None))
        _check_width(self, frame)
        columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
        if self.kind == "numeric":
            parsed = [_as_number(c) for c in columns]
            return np.column_stack(
                [c.to_numpy(dtype=np.float64, na_value=np.nan) for c in parsed]
            ).reshape(len(frame), -1)
        tokens = [category_tokens(c) for c in columns]
        if self.kind == "text":
            text = tokens[0]
            text[pd.isna(text)] = ""
            return text
        if self.kind == "category":
            return np.column_stack(tokens).reshape(len(frame), -1)
        out = np.full((len(frame), len(tokens)), np.nan)
        for j, (column, mapping) in enumerate(zip(tokens, self.mappings_, strict=True)):
            codes, uniques = pd.factorize(column)
            values = [mapping.get(str(u).strip().lower(), np.nan) for u in uniques]
            out[:, j] = np.append(np.asarray(values, dtype=np.float64), np.nan)[codes]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        names = _input_names(self, input_features)
        if self.kind == "boolean":
            names = [
                f"{name}_{positive}" if positive is not None else name
                for name, positive in zip(names, self.positives_, strict=True)
            ]
        return np.asarray(names, dtype=object)


class QuantileClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each numeric column to quantiles learned in ``fit`` (NaN stays NaN)."""

    def __init__(self, lower: float = _CLIP_QUANTILES[0], upper: float = _CLIP_QUANTILES[1]):
        self.lower = lower
        self.upper = upper

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        if not 0.0 <= self.lower < self.upper <= 1.0:
            raise ValueError(
                "QuantileClipper needs 0 <= lower < upper <= 1; "
                f"got lower={self.lower!r}, upper={self.upper!r}."
            )
        frame = _as_frame(X)
        _record_columns(self, frame)
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        with warnings.catch_warnings():  # an all-missing column has no quantiles: no clipping
            warnings.simplefilter("ignore", RuntimeWarning)
            self.lower_ = np.nanquantile(values, self.lower, axis=0)
            self.upper_ = np.nanquantile(values, self.upper, axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lower_")
        frame = _as_frame(X)
        _check_width(self, frame)
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        lower = np.where(np.isnan(self.lower_), -np.inf, self.lower_)
        upper = np.where(np.isnan(self.upper_), np.inf, self.upper_)
        return np.clip(values, lower, upper)


def _parse_datetimes(column: pd.Series) -> pd.Series:
    """Wall-clock datetimes without time zone; NaT where missing or unparsable."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(column.dtype):
        return column
    with warnings.catch_warnings():  # "could not infer format": handled just below
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
        failed = parsed.isna() & column.notna()
        if failed.any():  # values in another format than the first one: one by one
            retry = pd.to_datetime(column[failed], errors="coerce", utc=True, format="mixed")
            parsed = parsed.where(~failed, retry)
    return parsed.dt.tz_localize(None)


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Turn each datetime column into numeric calendar parts (``<column>_<part>``).

    Accepts datetime dtypes (time zones are dropped, keeping the wall-clock time) and
    strings (parsed; unparsable values become missing). Missing values stay NaN.
    """

    def __init__(self, features: Sequence[str] = ("year", "month", "day", "dayofweek", "hour")):
        self.features = features

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        unknown = [f for f in self.features if f not in DATETIME_FEATURES]
        if unknown or isinstance(self.features, str):
            raise _invalid(
                "features",
                "DatetimeFeatures",
                f"a sequence of names from {', '.join(DATETIME_FEATURES)}",
                self.features,
            )
        _record_columns(self, _as_frame(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        frame = _as_frame(X, getattr(self, "feature_names_in_", None))
        _check_width(self, frame)
        parts = []
        for i in range(frame.shape[1]):
            stamps = _parse_datetimes(frame.iloc[:, i]).dt
            for feature in self.features:
                values = getattr(stamps, _PANDAS_PARTS.get(feature, feature))
                parts.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if not parts:
            return np.empty((len(frame), 0))
        return np.column_stack(parts)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        names = _input_names(self, input_features)
        return np.asarray([f"{n}_{f}" for n in names for f in self.features], dtype=object)


# -- the ensemble --------------------------------------------------------------------------


class WeightedEnsemble(BaseEstimator):
    """A weighted average of fitted pipelines, for classification or regression.

    ``estimators_``: the fitted members (each a ``Pipeline`` of preparer and estimator,
    trained on class codes 0..k-1); ``weights_``: one per member, summing to 1;
    ``classes_``: the original class labels (None for regression).
    """

    def __init__(self, task: str = "binary") -> None:
        self.task = task

    def set_members(
        self, estimators: list[Any], weights: list[float], classes: Any = None
    ) -> WeightedEnsemble:
        """Install already-fitted members; returns ``self`` like ``fit``."""
        weights_ = np.asarray(weights, dtype=np.float64)
        self.estimators_ = list(estimators)
        self.weights_ = weights_ / weights_.sum()
        self.classes_ = None if classes is None else np.asarray(classes)
        first = self.estimators_[0]
        names = getattr(first, "feature_names_in_", None)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)
        return self

    def fit(self, X: Any, y: Any = None) -> WeightedEnsemble:
        """Members are fitted by the search; fitting again is refused (it would be silent)."""
        raise TypeError(
            "A WeightedEnsemble is assembled from fitted members by mlcycle.train(); "
            "refit it by training again."
        )

    def _member_proba(self, member: Any, X: Any) -> np.ndarray:
        proba = np.asarray(member.predict_proba(X), dtype=np.float64)
        assert self.classes_ is not None
        n = len(self.classes_)
        if proba.shape[1] != n:
            full = np.zeros((proba.shape[0], n))
            full[:, np.asarray(member.classes_, dtype=np.int64)] = proba
            proba = full
        return proba

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted mean of the members' class probabilities (columns: ``classes_``)."""
        if self.classes_ is None:
            raise AttributeError("A regression ensemble has no predict_proba.")
        total = None
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            part = weight * self._member_proba(member, X)
            total = part if total is None else total + part
        assert total is not None
        return total

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (the most probable class) or the weighted mean prediction."""
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        total = None
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            part = weight * np.asarray(member.predict(X), dtype=np.float64)
            total = part if total is None else total + part
        assert total is not None
        return total


# -- the names that are part of the bundle format -------------------------------------------


def type_name(cls: type) -> str:
    """A class's full import path, as skops records it: ``module.QualifiedName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


PREPARER_TYPES: tuple[str, ...] = tuple(
    type_name(cls) for cls in (ColumnCaster, DatetimeFeatures, QuantileClipper)
)
"""The types of this module a fitted preparer may contain."""

BUNDLE_TYPES: tuple[str, ...] = (*PREPARER_TYPES, type_name(WeightedEnsemble))
"""Every type of this module a bundled model may contain; ``mlcycle.bundle`` trusts them."""

FORMER_NAMES: dict[str, str] = {
    "mlcycle.data._prepare.ColumnCaster": type_name(ColumnCaster),
    "mlcycle.data._prepare.DatetimeFeatures": type_name(DatetimeFeatures),
    "mlcycle.data._prepare.QuantileClipper": type_name(QuantileClipper),
    "mlcycle.training._ensemble.WeightedEnsemble": type_name(WeightedEnsemble),
}
"""The paths bundles of format 1 (before mlcycle moved these classes here) name each type
by, mapped to its path now."""
