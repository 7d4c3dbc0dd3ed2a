"""Preparation: turn a table into model features with one unfitted scikit-learn transformer.

:func:`build_preparer` looks at the columns once (their kinds and cardinality, never the
target's values) and returns an **unfitted** ``ColumnTransformer``; everything learned from
data (medians, categories, target encodings, clipping bounds) is learned in ``fit``, so
inside cross-validation it is learned on the training folds only::

    preparer = build_preparer(df, target="churned", task="binary")
    model = make_pipeline(preparer, LogisticRegression())
    cross_val_score(model, df.drop(columns="churned"), df["churned"], cv=5)

The fitted transformer travels inside the model bundle (skops). Besides scikit-learn it
uses three small transformers defined here; their import paths are part of the bundle
format, so they are listed in :data:`SKOPS_TYPES` and trusted by ``mlcycle.bundle``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

from mlcycle.exceptions import MlcycleError
from mlcycle.exceptions import bad_parameter as _invalid
from mlcycle.exceptions import is_integer as _is_int

__all__ = [
    "DATETIME_FEATURES",
    "KINDS",
    "SKOPS_TYPES",
    "ColumnCaster",
    "DatetimeFeatures",
    "PrepareOptions",
    "QuantileClipper",
    "build_preparer",
    "deduplicate",
]

KINDS: tuple[str, ...] = (
    "numeric",
    "integer_category",
    "category",
    "boolean",
    "datetime",
    "text",
    "identifier",
)
"""The column kinds :func:`build_preparer` understands (those of ``infer_kinds``)."""

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

SKOPS_TYPES: tuple[str, ...] = (
    "mlcycle.data._prepare.ColumnCaster",
    "mlcycle.data._prepare.DatetimeFeatures",
    "mlcycle.data._prepare.QuantileClipper",
)
"""Types of this module a fitted preparer may contain; ``mlcycle.bundle`` must trust them."""

MISSING_CATEGORY = "__missing__"
_MIN_FREQUENCY = 0.01  # one-hot: rarer categories share one "infrequent" column
_CLIP_QUANTILES = (0.005, 0.995)
_TEXT_NAME_LIMIT = 40
_PANDAS_PARTS = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
_TASKS = ("binary", "multiclass", "regression")
_TRUE_TOKENS = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE_TOKENS = frozenset({"0", "false", "f", "no", "n", "off"})


# -- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareOptions:
    """How :func:`build_preparer` turns each kind of column into features.

    - ``scale``: standardise numeric, datetime and high-cardinality encoded features.
    - ``max_onehot``: a category with at most this many distinct values is one-hot
      encoded; above it, target-encoded (supervised) or ordinal-encoded.
    - ``high_cardinality``: ``"target"`` (cross-fitted target encoding; ordinal when there
      is no target) or ``"ordinal"``.
    - ``missing_indicators``: add a 0/1 column per numeric or datetime feature that had
      missing values in training.
    - ``clip_outliers``: clip numeric columns to their 0.5 % and 99.5 % training quantiles.
    - ``text_max_features``: vocabulary size of the TF-IDF of each free-text column.
    - ``datetime_features``: calendar parts of each datetime column (see
      :data:`DATETIME_FEATURES`); empty to leave datetime columns out.
    - ``drop_identifiers``: leave identifier columns out (else: high-cardinality categories).
    """

    scale: bool = True
    max_onehot: int = 15
    high_cardinality: str = "target"
    missing_indicators: bool = True
    clip_outliers: bool = False
    text_max_features: int = 5000
    datetime_features: tuple[str, ...] = ("year", "month", "day", "dayofweek", "hour")
    drop_identifiers: bool = True

    def __post_init__(self) -> None:
        owner = "PrepareOptions"
        for name in ("scale", "missing_indicators", "clip_outliers", "drop_identifiers"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise _invalid(name, owner, "True or False", value)
        if not _is_int(self.max_onehot) or self.max_onehot < 2:
            raise _invalid("max_onehot", owner, "an integer >= 2", self.max_onehot)
        if self.high_cardinality not in ("target", "ordinal"):
            raise _invalid(
                "high_cardinality", owner, "'target' or 'ordinal'", self.high_cardinality
            )
        if not _is_int(self.text_max_features) or self.text_max_features < 1:
            raise _invalid("text_max_features", owner, "an integer >= 1", self.text_max_features)
        features = self.datetime_features
        expected = f"a sequence of names from {', '.join(DATETIME_FEATURES)}"
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise _invalid("datetime_features", owner, expected, features)
        unknown = [f for f in features if f not in DATETIME_FEATURES]
        if unknown:
            raise _invalid("datetime_features", owner, expected, unknown[0])
        # frozen: normalise a list to a tuple (hashable, safe to share) and drop repeats
        object.__setattr__(self, "datetime_features", tuple(dict.fromkeys(features)))


# -- transformers (part of the bundle format: see SKOPS_TYPES) ----------------------------


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


def _category_tokens(column: pd.Series) -> np.ndarray:
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


def _boolean_mapping(tokens: np.ndarray, column: str) -> tuple[dict[str, float], str | None]:
    """Map the (at most two) values of a boolean column to 0/1; return it and the 1 value."""
    seen = sorted(t for t in pd.unique(tokens) if isinstance(t, str))
    if len(seen) > 2:
        shown = ", ".join(repr(v) for v in seen[:5])
        raise MlcycleError(
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
                _boolean_mapping(_category_tokens(frame.iloc[:, i]), names[i])
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
        tokens = [_category_tokens(c) for c in columns]
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


# -- the preparer --------------------------------------------------------------------------


def _infer_kinds(df: pd.DataFrame, exclude: Sequence[str]) -> dict[str, str]:
    from mlcycle.data._kinds import infer_kinds

    return {
        str(c): str(getattr(k, "value", k)) for c, k in infer_kinds(df, exclude=exclude).items()
    }


def _resolve_kinds(
    df: pd.DataFrame, target: str | None, kinds: Mapping[str, Any] | None
) -> dict[str, str]:
    exclude = (target,) if target is not None else ()
    features = [c for c in df.columns if c != target]
    if kinds is None:
        resolved = _infer_kinds(df, exclude)
    else:
        if not isinstance(kinds, Mapping):
            raise _invalid("kinds", "build_preparer()", "a dict of column -> kind or None", kinds)
        resolved = {str(c): str(getattr(k, "value", k)) for c, k in kinds.items()}
        absent = [c for c in resolved if c not in df.columns]
        if absent:
            raise MlcycleError(
                f"The 'kinds' parameter of build_preparer() names column '{absent[0]}', which "
                f"is not in the data. Columns: {', '.join(map(str, df.columns))}."
            )
        rest = [c for c in features if c not in resolved]
        if rest:  # kinds for some columns only: infer the others
            resolved |= _infer_kinds(df[rest], ())
    bad = {c: k for c, k in resolved.items() if k not in KINDS}
    if bad:
        column, kind = next(iter(bad.items()))
        raise MlcycleError(
            f"Column '{column}' has an unknown kind {kind!r}. Kinds: {', '.join(KINDS)}."
        )
    return {c: resolved[c] for c in features if c in resolved}


def _target_encoder(task: str | None, seed: int) -> TargetEncoder:
    import inspect

    target_type = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}
    params: dict[str, Any] = {"target_type": target_type.get(task or "", "auto")}
    if inspect.signature(TargetEncoder).parameters["shuffle"].default == "deprecated":
        from sklearn.model_selection import KFold, StratifiedKFold

        splitter = StratifiedKFold if task in ("binary", "multiclass") else KFold
        params["cv"] = splitter(n_splits=5, shuffle=True, random_state=seed)
    else:  # scikit-learn < 1.9: shuffling is set on the encoder itself
        params |= {"shuffle": True, "random_state": seed}
    return TargetEncoder(**params)


def _text_names(columns: Sequence[str]) -> list[str]:
    names: list[str] = []
    for column in columns:
        base = "text_" + "".join(ch if ch.isalnum() else "_" for ch in column)[:_TEXT_NAME_LIMIT]
        base = base.rstrip("_") or "text"
        while "__" in base:
            base = base.replace("__", "_")
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def build_preparer(
    df: pd.DataFrame,
    target: str | None = None,
    *,
    kinds: Mapping[str, str] | None = None,
    options: PrepareOptions | None = None,
    task: str | None = None,
    seed: int = 0,
) -> ColumnTransformer:
    """Return an unfitted ``ColumnTransformer`` that turns ``df``'s columns into features.

    Kinds come from ``kinds`` (column -> kind; columns left out are inferred) or from
    :func:`mlcycle.data.infer_kinds`. ``df`` is only looked at for its columns' kinds and
    cardinality; all learning happens in ``fit``. Per kind:

    - numeric: [clip] → median imputation with missing indicators → [standard scaling];
    - boolean: 0/1 → most-frequent imputation;
    - category / integer_category, at most ``max_onehot`` values: "__missing__" imputation →
      one-hot (rare and unseen categories share an "infrequent" column);
    - more values: "__missing__" → cross-fitted target encoding when there is a target
      (``target`` or ``task`` given), else ordinal codes (-1 for unseen) → [scaling];
    - datetime: calendar parts → median imputation with indicators → [scaling];
    - text: one TF-IDF per column (the output may then be a sparse matrix);
    - identifiers, the target and columns with no values at all are left out.

    ``seed`` fixes the folds of the target encoder's cross-fitting.
    """
    owner = "build_preparer()"
    if not isinstance(df, pd.DataFrame):
        raise _invalid("df", owner, "a pandas DataFrame", type(df))
    if task is not None and task not in _TASKS:
        raise _invalid("task", owner, "'binary', 'multiclass', 'regression' or None", task)
    if options is None:
        options = PrepareOptions()
    elif not isinstance(options, PrepareOptions):
        raise _invalid("options", owner, "a PrepareOptions or None", type(options))
    if not _is_int(seed):
        raise _invalid("seed", owner, "an integer", seed)
    not_str = [c for c in df.columns if not isinstance(c, str)]
    if not_str:
        raise MlcycleError(
            f"Column names must be strings; got {not_str[0]!r}. Rename the columns first, "
            "e.g. df.columns = df.columns.astype(str)."
        )
    if target is not None and target not in df.columns:
        raise MlcycleError(
            f"The target column '{target}' is not in the data. "
            f"Columns: {', '.join(map(str, df.columns))}."
        )

    column_kinds = _resolve_kinds(df, target, kinds)
    empty = [c for c in column_kinds if df[c].isna().all()]
    if empty:
        warnings.warn(
            f"Column(s) {', '.join(repr(c) for c in empty)} have no values; they are left out "
            "of the features.",
            UserWarning,
            stacklevel=2,
        )
    groups: dict[str, list[str]] = {}
    for column, kind in column_kinds.items():
        if column in empty:
            continue
        if kind == "identifier":
            if options.drop_identifiers:
                continue
            kind = "category"
        if kind in ("category", "integer_category"):
            many = df[column].nunique(dropna=True) > options.max_onehot
            kind = "high" if many else "onehot"
        if kind == "boolean" and df[column].nunique(dropna=True) > 2:
            _boolean_mapping(_category_tokens(df[column]), column)  # raises the clear error
        if kind == "datetime" and not options.datetime_features:
            continue
        groups.setdefault(kind, []).append(column)

    supervised = target is not None or task is not None
    steps: list[tuple[str, Any, Any]] = []
    if "numeric" in groups:
        numeric: list[tuple[str, Any]] = [("cast", ColumnCaster("numeric"))]
        if options.clip_outliers:
            numeric.append(("clip", QuantileClipper()))
        numeric.append(("impute", _median_imputer(options)))
        if options.scale:
            numeric.append(("scale", StandardScaler()))
        steps.append(("numeric", Pipeline(numeric), groups["numeric"]))
    if "boolean" in groups:
        boolean = Pipeline(
            [
                ("cast", ColumnCaster("boolean")),
                ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ]
        )
        steps.append(("boolean", boolean, groups["boolean"]))
    if "onehot" in groups:
        onehot = Pipeline(
            [
                ("cast", ColumnCaster("category")),
                ("impute", _missing_imputer()),
                (
                    "encode",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        min_frequency=_MIN_FREQUENCY,
                        sparse_output=False,
                    ),
                ),
            ]
        )
        steps.append(("onehot", onehot, groups["onehot"]))
    if "high" in groups:
        encoder: Any
        if supervised and options.high_cardinality == "target":
            name, encoder = "target", _target_encoder(task, seed)
        else:
            name, encoder = (
                "ordinal",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
            )
        high: list[tuple[str, Any]] = [
            ("cast", ColumnCaster("category")),
            ("impute", _missing_imputer()),
            ("encode", encoder),
        ]
        if options.scale:
            high.append(("scale", StandardScaler()))
        steps.append((name, Pipeline(high), groups["high"]))
    if "datetime" in groups:
        dates: list[tuple[str, Any]] = [
            ("parts", DatetimeFeatures(options.datetime_features)),
            ("impute", _median_imputer(options)),
        ]
        if options.scale:
            dates.append(("scale", StandardScaler()))
        steps.append(("datetime", Pipeline(dates), groups["datetime"]))
    texts = groups.get("text", [])
    for name, column in zip(_text_names(texts), texts, strict=True):
        text = Pipeline(
            [
                ("cast", ColumnCaster("text")),
                ("tfidf", TfidfVectorizer(max_features=options.text_max_features)),
            ]
        )
        steps.append((name, text, [column]))

    if not steps:
        raise MlcycleError(
            "No column is left to prepare: every feature is an identifier, empty, or the "
            f"target. Kinds: {column_kinds or 'none'}. Add feature columns or pass kinds=."
        )
    return ColumnTransformer(steps, remainder="drop")


def _median_imputer(options: PrepareOptions) -> SimpleImputer:
    return SimpleImputer(
        strategy="median", add_indicator=options.missing_indicators, keep_empty_features=True
    )


def _missing_imputer() -> SimpleImputer:
    return SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)


# -- de-duplication ------------------------------------------------------------------------


def deduplicate(df: pd.DataFrame, target: str | None = None) -> tuple[pd.DataFrame, int]:
    """Drop exact duplicate rows (the first one is kept); return the rest and how many went.

    With a ``target``, rows whose features are identical but whose targets differ are
    kept (neither label is provably wrong) and reported in a ``UserWarning``: no model can
    fit both, so they cap the reachable score. The index of the kept rows is preserved.
    """
    if not isinstance(df, pd.DataFrame):
        raise _invalid("df", "deduplicate()", "a pandas DataFrame", type(df))
    if target is not None and target not in df.columns:
        raise MlcycleError(
            f"The target column '{target}' is not in the data. "
            f"Columns: {', '.join(map(str, df.columns))}."
        )
    duplicated = df.duplicated(keep="first")
    kept = df.loc[~duplicated]
    n_dropped = int(duplicated.sum())
    features = [c for c in df.columns if c != target]
    if target is not None and features:
        clash = kept.duplicated(subset=features, keep=False)
        if clash.any():
            groups = kept.loc[clash].groupby(features, dropna=False, sort=False).ngroups
            warnings.warn(
                f"{int(clash.sum())} rows in {groups} group(s) have identical features but "
                f"different values of '{target}'. They are kept; check their labels, or add "
                "a feature that tells them apart.",
                UserWarning,
                stacklevel=2,
            )
    return kept, n_dropped
