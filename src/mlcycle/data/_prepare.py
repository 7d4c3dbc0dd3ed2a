"""Preparation: turn a table into model features with one unfitted scikit-learn transformer.

:func:`build_preparer` looks at the columns once (their kinds and cardinality, never the
target's values) and returns an **unfitted** ``ColumnTransformer``; everything learned from
data (medians, categories, target encodings, clipping bounds) is learned in ``fit``, so
inside cross-validation it is learned on the training folds only::

    preparer = build_preparer(df, target="churned", task="binary")
    model = make_pipeline(preparer, LogisticRegression())
    cross_val_score(model, df.drop(columns="churned"), df["churned"], cv=5)

The fitted transformer travels inside the model bundle (skops). Besides scikit-learn it
uses three small transformers of :mod:`mlcycle.estimators` (``ColumnCaster``,
``QuantileClipper``, ``DatetimeFeatures``), whose import paths are part of the bundle
format; they are imported here too, so ``mlcycle.data._prepare.ColumnCaster`` still works.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from mlcycle.estimators import (
    DATETIME_FEATURES,
    PREPARER_TYPES,
    ColumnCaster,
    DatetimeFeatures,
    QuantileClipper,
    boolean_mapping,
    category_tokens,
)
from mlcycle.exceptions import BadParameterError, DataError
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

SKOPS_TYPES: tuple[str, ...] = PREPARER_TYPES
"""Types a fitted preparer may contain (from :mod:`mlcycle.estimators`, where their import
paths are part of the bundle format); ``mlcycle.bundle`` must trust them."""

MISSING_CATEGORY = "__missing__"
_MIN_FREQUENCY = 0.01  # one-hot: rarer categories share one "infrequent" column
_TEXT_NAME_LIMIT = 40
_TASKS = ("binary", "multiclass", "regression")


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
            raise BadParameterError(
                f"The 'kinds' parameter of build_preparer() names column '{absent[0]}', which "
                f"is not in the data. Columns: {', '.join(map(str, df.columns))}."
            )
        rest = [c for c in features if c not in resolved]
        if rest:  # kinds for some columns only: infer the others
            resolved |= _infer_kinds(df[rest], ())
    bad = {c: k for c, k in resolved.items() if k not in KINDS}
    if bad:
        column, kind = next(iter(bad.items()))
        raise BadParameterError(
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
        raise DataError(
            f"Column names must be strings; got {not_str[0]!r}. Rename the columns first, "
            "e.g. df.columns = df.columns.astype(str)."
        )
    if target is not None and target not in df.columns:
        raise DataError(
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
            boolean_mapping(category_tokens(df[column]), column)  # raises the clear error
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
        raise DataError(
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
        raise DataError(
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
