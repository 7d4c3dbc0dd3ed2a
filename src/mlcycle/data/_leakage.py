"""Leakage suspects: columns that give the target away before any model is trained.

Also :func:`association`, the profiler's feature-target association: both ask how much one
column says about the target, and share the sampling and encodings.

A column that leaks scores wonderfully in validation and is useless (or unavailable) when
the model is used: ``bwt`` (birth weight in grams) next to the target ``low`` (birth weight
below 2,500 g), a refund date next to "churned", a row id of a table sorted by outcome, the
price of the option a person chose next to the price of every option.
:func:`leakage_suspects` runs six checks on a seeded sample of at most ``sample`` rows
whose target is known:

``predicts_target``
    The column alone predicts the target almost perfectly. Each column gets its own
    single-feature model, scored out of fold (5-fold, stratified for classes, on 20,000 of
    the sampled rows): a shallow
    decision tree for numbers and dates (depth 3 for classes, 6 for regression, where a
    step function needs more steps to reach R² 0.98; missing values routed by the tree), and
    for categories, booleans and integer-coded categories the out-of-fold lookup of the
    target per value, which is the best any model can do with that column alone. Flagged at
    ROC-AUC >= 0.98 (binary), balanced accuracy >= 0.98 (multiclass) or R² >= 0.98
    (regression). Legitimate strong features of the public suite stay below: the best of
    breast_cancer reaches an out-of-fold AUC of about 0.95.
``near_perfect_association``
    A number or date whose :func:`association` with the target is >= 0.95: it says nearly
    all there is to know about the target even where no shallow tree reproduces it (a
    column correlated 0.97 with a numeric target has a tree R² near 0.93; Fishing's
    ``catch``, association 0.966, a tree balanced accuracy of 0.38). Discrete columns are
    left to ``predicts_target``, whose out-of-fold lookup does not rise with the number of
    values as their counted association does.
``predicts_target_jointly``
    Two columns together predict the target almost perfectly: its value is computed from
    them (a mean, a difference, a product, a ratio, a threshold on their sum). The six
    columns with the best single-feature scores not already flagged form 15 pairs; each pair
    gets the best of least squares on ``a, b`` and on ``a, b, a*b, a/b, b/a`` and a depth-6
    tree on ``a, b`` (the lookup per pair of values for two discrete columns), out of fold on
    the same rows and folds, flagged at the same 0.98: R² for regression, balanced accuracy
    for classes, binary ones too, since two honest strong features rank well
    (breast_cancer's and biopsy's best pairs reach an out-of-fold AUC of 0.987) while a
    computed target is also *classified* right on nearly every row. Both columns are
    suspects, each naming the other.
``chosen_by_target``
    A numeric column that equals, row by row, one of several other columns, which one
    depending on the class: for each class, its partners are the columns equal to it on
    >= 99 % of the class's rows (where it varies: its commonest value fills at most half of
    them). Flagged when such classes cover >= 95 % of the rows and no one column is a partner
    in all of them (that would be a copy); ``partners`` lists the columns. On 2,000 sampled
    rows, classification only.
``missing_tied_to_target``
    Whether a value is missing says the target: the missing indicator alone has a large
    effect (Cramér's V for classes, the point-biserial correlation for regression, both
    >= 0.5) at p < 1e-6 (chi-square test, Pearson's test).
``identifier_order``
    An identifier (:mod:`mlcycle.data._kinds`) whose order follows the target, as when rows
    were numbered after sorting by outcome: |Somers' D| (binary), the correlation ratio of
    the id's rank (multiclass) or |Spearman's rho| (regression) >= 0.5 at p < 1e-6.

Free-text columns are not checked. ``score`` is always in [0, 1]: the metric for the model
checks, the association, the share of rows covered for ``chosen_by_target``, the effect size
for the last two.

The thresholds were set on the public and extra suites of ``benchmarks/_suite.py`` (24
tables; birthwt with ``bwt`` and Fishing with ``price`` and ``catch`` kept). Before the three
new checks the suspects were mroz ``hoursw`` and ``hearnw``, aids2 ``death`` and birthwt
``bwt``; after, the same, plus Fishing's ``price`` (chosen_by_target) and ``catch``
(chosen_by_target, near_perfect_association), its two genuine leaks. The largest honest
values stay clear of the floors: association 0.92 (Computers ``hd``), pair balanced accuracy
0.946 (breast_cancer), pair R² 0.73 (Boston ``lstat``, ``rm``); no per-option column of
Heating or Fishing and no pixel of digits is chosen by the target.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError

__all__ = ["LeakageSuspect", "association", "leakage_suspects", "task_of"]

PREDICTS_THRESHOLD = 0.98
ASSOCIATION_THRESHOLD = 0.95
JOINT_CANDIDATES = 6
CHOSEN_SHARE = 0.99
CHOSEN_COVERAGE = 0.95
CHOSEN_ROWS = 2_000
MISSING_EFFECT = 0.5
IDENTIFIER_EFFECT = 0.5
P_VALUE = 1e-6
SAMPLE = 100_000
MODEL_ROWS = 20_000
ASSOCIATION_ROWS = 20_000
FOLDS = 5
_CLASS_KINDS = frozenset({"boolean", "category", "integer_category"})
_DISCRETE_KINDS = _CLASS_KINDS
_ORDERED_KINDS = frozenset({"numeric", "datetime"})
_MODEL_KINDS = _ORDERED_KINDS | _DISCRETE_KINDS
_METRIC = {"binary": "ROC-AUC", "multiclass": "balanced accuracy", "regression": "R²"}


@dataclass(frozen=True)
class LeakageSuspect:
    """One column suspected of leaking the target.

    ``reason`` is one of the checks of :mod:`mlcycle.data._leakage` (``predicts_target``,
    ``predicts_target_jointly``, ``near_perfect_association``, ``chosen_by_target``,
    ``missing_tied_to_target``, ``identifier_order``); ``score`` is in [0, 1] (higher is
    more suspicious); ``detail`` says why, in words; ``partners`` are the other columns the
    check needed (the pair's other column, the per-option columns), empty for one-column checks.
    """

    column: str
    reason: str
    score: float
    detail: str
    partners: tuple[str, ...] = ()


def task_of(target: pd.Series, kind: str) -> str | None:
    """``binary``, ``multiclass`` or ``regression`` for a target of this kind, else None."""
    if kind in _CLASS_KINDS:
        return "binary" if target.nunique(dropna=True) <= 2 else "multiclass"
    if kind == "numeric":
        return "regression"
    return None


def leakage_suspects(
    df: pd.DataFrame,
    target: str,
    kinds: Mapping[str, str] | None = None,
    *,
    task: str | None = None,
    sample: int = SAMPLE,
    seed: int = 0,
    associations: Mapping[str, float] | None = None,
) -> list[LeakageSuspect]:
    """Columns of ``df`` that look like they leak ``target``, most suspicious first.

    ``kinds`` maps columns to kinds (inferred when None); ``task`` is inferred from the
    target's kind when None. Rows with a missing target are left out. ``associations`` is
    :func:`association` of the same sample when the caller has it (the profiler does);
    computed when None.

    >>> from mlcycle.data._leakage import leakage_suspects
    >>> frame = pd.DataFrame({"grams": range(100, 300), "low": [1] * 80 + [0] * 120})
    >>> [s.column for s in leakage_suspects(frame, "low")]
    ['grams']
    """
    if target not in df.columns:
        raise DataError(
            f"The target column '{target}' is not in the data. "
            f"Columns: {', '.join(map(str, df.columns))}."
        )
    if not isinstance(sample, int) or sample < 10:
        raise BadParameterError(
            f"The 'sample' parameter of leakage_suspects() must be an integer >= 10. "
            f"Got {sample!r} instead."
        )
    if kinds is None:
        from mlcycle.data._kinds import infer_kinds

        kinds = infer_kinds(df)
    kinds = {str(column): kind for column, kind in kinds.items()}
    frame = sample_rows(df, target, sample, seed)
    if task is None:
        task = task_of(frame[target], kinds.get(str(target), "numeric"))
    if task is None or len(frame) < 20:
        return []
    y = encode_target(frame[target], task)
    if task != "regression" and len(np.unique(y)) < 2:
        return []
    if task != "regression":
        frame, y = _drop_rare_classes(frame, y)
    # the single-feature models read fewer rows: 20,000 pin an AUC near 0.98 to +-0.003
    positions = _subsample(len(frame), MODEL_ROWS, seed)
    model_frame, model_y = frame.iloc[positions], y[positions]
    folds = _folds(model_y, task, seed)
    if associations is None:
        associations = association(frame, target, kinds, task, seed=seed)
    suspects: list[LeakageSuspect] = []
    singles: dict[str, float] = {}
    for label in frame.columns:
        if label == target:
            continue
        column, series = str(label), frame[label]
        kind = kinds.get(column, "category")
        if kind in _MODEL_KINDS:
            score = _single_score(model_frame[label], kind, model_y, task, folds, seed)
            if score is not None:
                singles[column] = score
                if score >= PREDICTS_THRESHOLD:
                    suspects.append(_predicts(column, score, kind, task, len(model_y), len(folds)))
        missing = _missing_tied(column, series, y, task)
        if missing is not None:
            suspects.append(missing)
        if kind == "identifier":
            found = _identifier_order(column, series, y, task)
            if found is not None:
                suspects.append(found)
    suspects += _near_perfect(associations, kinds, {s.column for s in suspects})
    flagged = {s.column for s in suspects}
    candidates = [c for c in sorted(singles, key=lambda c: -singles[c]) if c not in flagged]
    labels = {str(label): label for label in frame.columns}
    pair_columns = {c: model_frame[labels[c]] for c in candidates[:JOINT_CANDIDATES]}
    suspects += _jointly(pair_columns, kinds, model_y, task, folds, seed)
    if task != "regression":
        suspects += _chosen_by_target(frame.drop(columns=[target]), frame[target], kinds, seed)
    return sorted(suspects, key=lambda s: -s.score)


# -- shared with the profiler ------------------------------------------------------------


def sample_rows(df: pd.DataFrame, target: str | None, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows of ``df`` (seeded), only rows whose target is known."""
    if target is not None:
        known = df[target].notna()
        if not known.all():
            df = df.loc[known.to_numpy()]
    if len(df) > n:
        df = df.iloc[_subsample(len(df), n, seed)]
    return df


def _subsample(rows: int, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most ``n`` of ``rows`` rows."""
    if rows <= n:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))


def encode_target(target: pd.Series, task: str) -> np.ndarray:
    """Class codes 0..k-1 for classification, floats for regression (no missing values)."""
    if task == "regression":
        return pd.to_numeric(target, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    codes, _ = pd.factorize(target, sort=True)
    return codes.astype(np.int64)


def encode_feature(series: pd.Series, kind: str) -> np.ndarray:
    """A column as one float array: codes for discrete kinds (missing is a code of its own),
    ranks for numbers and dates (NaN stays NaN), so trees and estimators see small finite
    floats whatever the scale."""
    if kind in _DISCRETE_KINDS:
        try:
            codes, _ = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists, dicts): their text
            codes, _ = pd.factorize(series.map(repr).where(series.notna()), use_na_sentinel=True)
        codes = codes.astype(np.float64)
        codes[codes < 0] = codes.max() + 1 if len(codes) else 0
        return codes
    if kind == "datetime":
        values = as_datetime(series)
        numbers = pd.Series(values.to_numpy(dtype="datetime64[ns]").astype(np.int64), dtype=float)
        numbers[values.isna().to_numpy()] = np.nan
    else:
        numbers = pd.Series(
            pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        )
    return numbers.rank(method="dense").to_numpy(dtype=np.float64)


def as_datetime(series: pd.Series) -> pd.Series:
    """A datetime column from datetimes or date-like text, naive UTC; unparsable -> NaT."""
    if isinstance(series.dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        tz = getattr(series.dtype, "tz", None)
        return series.dt.tz_convert(None) if tz is not None else series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for form in (None, "ISO8601"):
            try:
                parsed = pd.to_datetime(series, errors="coerce", utc=True, format=form)
            except (ValueError, TypeError, OverflowError):
                continue
            if parsed.notna().sum() >= 0.5 * series.notna().sum():
                return parsed.dt.tz_convert(None)
        head = series.dropna().iloc[:10_000]
        parsed = pd.to_datetime(head, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_convert(None)


# -- the checks --------------------------------------------------------------------------


def _single_score(
    series: pd.Series,
    kind: str,
    y: np.ndarray,
    task: str,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> float | None:
    x = encode_feature(series, kind)
    if np.isnan(x).all():
        return None
    return oof_score(x, kind in _DISCRETE_KINDS, y, task, folds, seed)


def _predicts(
    column: str, score: float, kind: str, task: str, rows: int, folds: int
) -> LeakageSuspect:
    model = "a lookup per value" if kind in _DISCRETE_KINDS else "a shallow decision tree"
    detail = (
        f"'{column}' alone predicts the target with {_METRIC[task]} {score:.3f} "
        f"({folds}-fold, {model}, {rows:,} rows); a feature this good is usually "
        "computed from the target or recorded after it"
    )
    return LeakageSuspect(column, "predicts_target", round(score, 4), detail)


def oof_score(
    x: np.ndarray,
    discrete: bool,
    y: np.ndarray,
    task: str,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> float:
    """Out-of-fold score of the single-feature model, clipped to [0, 1]."""
    prediction = np.zeros(len(y), dtype=np.float64)
    for train, test in folds:
        if discrete:
            prediction[test] = _lookup(x[train], y[train], x[test], task)
        else:
            prediction[test] = _tree(x[train], y[train], x[test], task, seed)
    return _metric_score(y, prediction, task)


def _metric_score(y: np.ndarray, prediction: np.ndarray, task: str) -> float:
    """ROC-AUC (binary), balanced accuracy (multiclass) or R², clipped to [0, 1]."""
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score

    if task == "binary":
        score = float(roc_auc_score(y, prediction))
    elif task == "multiclass":
        score = float(balanced_accuracy_score(y, prediction.astype(np.int64)))
    else:
        score = float(r2_score(y, prediction))
    return min(max(score, 0.0), 1.0)


def _lookup(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, task: str) -> np.ndarray:
    """Predict from the target per value of a discrete column (unseen values: the prior)."""
    size = int(max(x_train.max(), x_test.max())) + 1
    codes_train = x_train.astype(np.int64)
    codes_test = x_test.astype(np.int64)
    counts = np.bincount(codes_train, minlength=size).astype(np.float64)
    if task == "multiclass":
        n_classes = int(y_train.max()) + 1
        flat = np.bincount(codes_train * n_classes + y_train, minlength=size * n_classes)
        class_prior = np.bincount(y_train, minlength=n_classes) / len(y_train)  # smoothing
        table = flat.reshape(size, n_classes).astype(np.float64) + class_prior
        return table.argmax(axis=1)[codes_test].astype(np.float64)
    prior = float(y_train.mean())
    sums = np.bincount(codes_train, weights=y_train.astype(np.float64), minlength=size)
    return ((sums + prior) / (counts + 1.0))[codes_test]


def _tree(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, task: str, seed: int
) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    leaf = max(5, len(x_train) // 1000)
    X_train, X_test = x_train.reshape(-1, 1), x_test.reshape(-1, 1)
    if task == "regression":
        model = DecisionTreeRegressor(max_depth=6, min_samples_leaf=leaf, random_state=seed)
        return model.fit(X_train, y_train).predict(X_test)
    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=leaf, random_state=seed)
    tree.fit(X_train, y_train)
    if task == "binary":
        proba = tree.predict_proba(X_test)
        return proba[:, -1] if proba.shape[1] > 1 else np.zeros(len(x_test))
    return tree.predict(X_test).astype(np.float64)


def _missing_tied(
    column: str, series: pd.Series, y: np.ndarray, task: str
) -> LeakageSuspect | None:
    from scipy import stats

    missing = series.isna().to_numpy()
    n_missing = int(missing.sum())
    if n_missing == 0 or n_missing == len(missing):
        return None
    if task == "regression":
        if np.std(y) == 0:
            return None
        r, p = stats.pearsonr(missing.astype(np.float64), y)
        effect, test = abs(float(r)), "point-biserial r"
    else:
        table = pd.crosstab(missing, y).to_numpy()
        if table.shape[1] < 2:
            return None
        chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
        effect, test = float(np.sqrt(chi2 / len(y))), "Cramér's V"
    if not (effect >= MISSING_EFFECT and p < P_VALUE):
        return None
    detail = (
        f"whether '{column}' is missing says the target ({test} {effect:.2f}, p = {p:.1e}; "
        f"{n_missing:,} of {len(y):,} sampled rows missing): the gap may be filled only "
        "after the outcome is known"
    )
    return LeakageSuspect(column, "missing_tied_to_target", round(min(effect, 1.0), 4), detail)


def _identifier_order(
    column: str, series: pd.Series, y: np.ndarray, task: str
) -> LeakageSuspect | None:
    from scipy import stats

    known = series.notna().to_numpy()
    if known.sum() < 50:
        return None
    values = series[known]
    numbers = pd.to_numeric(values, errors="coerce")
    order = numbers if numbers.notna().all() else values.astype(str)
    rank = order.rank(method="average").to_numpy(dtype=np.float64)
    target = y[known]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            rho, p = stats.spearmanr(rank, target)
            effect, measure = abs(float(rho)), "Spearman's rho"
        elif task == "binary":
            positive = target == target.max()
            if positive.all() or not positive.any():
                return None
            u, p = stats.mannwhitneyu(rank[positive], rank[~positive])
            auc = float(u) / (positive.sum() * (~positive).sum())
            effect, measure = abs(2 * auc - 1), "Somers' D"
        else:
            groups = [rank[target == c] for c in np.unique(target)]
            _, p = stats.kruskal(*groups)
            total = ((rank - rank.mean()) ** 2).sum()
            between = sum(len(g) * (g.mean() - rank.mean()) ** 2 for g in groups)
            effect, measure = float(np.sqrt(between / total)) if total else 0.0, "eta"
    if not (np.isfinite(effect) and effect >= IDENTIFIER_EFFECT and p < P_VALUE):
        return None
    detail = (
        f"the order of identifier '{column}' follows the target ({measure} {effect:.2f}, "
        f"p = {p:.1e}): rows were probably numbered after sorting by outcome"
    )
    return LeakageSuspect(column, "identifier_order", round(min(effect, 1.0), 4), detail)


def _near_perfect(
    associations: Mapping[str, float], kinds: Mapping[str, str], flagged: set[str]
) -> list[LeakageSuspect]:
    """Numbers and dates whose association with the target is near-perfect. Discrete columns
    are left to ``predicts_target``: their association counts values, which rises with the
    number of distinct values, and the out-of-fold lookup is the honest measure for them."""
    suspects = []
    for column, value in associations.items():
        if column in flagged or kinds.get(column) not in _ORDERED_KINDS:
            continue
        if value >= ASSOCIATION_THRESHOLD:
            detail = (
                f"'{column}' has a near-perfect association with the target (normalised "
                f"mutual information {value:.3f}): it determines the target almost entirely, "
                "as a column computed from it does"
            )
            suspects.append(LeakageSuspect(column, "near_perfect_association", value, detail))
    return suspects


def _jointly(
    columns: Mapping[str, pd.Series],
    kinds: Mapping[str, str],
    y: np.ndarray,
    task: str,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> list[LeakageSuspect]:
    """Pairs of ``columns`` whose two-feature model predicts the target almost perfectly; one
    suspect per column of a flagged pair (its best pair), naming the partner."""
    from itertools import combinations

    features = {c: _pair_feature(series, kinds[c]) for c, series in columns.items()}
    metric = _METRIC["regression" if task == "regression" else "multiclass"]
    best: dict[str, LeakageSuspect] = {}
    for a, b in combinations(features, 2):
        both_discrete = kinds[a] in _DISCRETE_KINDS and kinds[b] in _DISCRETE_KINDS
        score = _pair_score(features[a], features[b], both_discrete, y, task, folds, seed)
        if score < PREDICTS_THRESHOLD:
            continue
        for column, partner in ((a, b), (b, a)):
            if column in best and best[column].score >= score:
                continue
            detail = (
                f"'{column}' together with '{partner}' predicts the target with "
                f"{metric} {score:.3f} ({len(folds)}-fold, the better of a linear model "
                f"and a decision tree on the pair, {len(y):,} rows) though neither does alone: "
                "the target is probably computed from the two"
            )
            best[column] = LeakageSuspect(
                column, "predicts_target_jointly", round(score, 4), detail, (partner,)
            )
    return list(best.values())


def _pair_feature(series: pd.Series, kind: str) -> np.ndarray:
    """A column for the pair models: codes for discrete kinds, values for numbers and dates
    in days (sums and ratios need the values, not their ranks); missing at the mean."""
    if kind in _DISCRETE_KINDS:
        return encode_feature(series, kind)
    if kind == "datetime":
        values = as_datetime(series)
        x = values.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 86_400e9
        x[values.isna().to_numpy()] = np.nan
    else:
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    x = np.where(np.isfinite(x), x, np.nan)
    if np.isnan(x).all():
        return np.zeros(len(x))
    return np.nan_to_num(x, nan=float(np.nanmean(x)))


def _pair_score(
    a: np.ndarray,
    b: np.ndarray,
    both_discrete: bool,
    y: np.ndarray,
    task: str,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> float:
    """Out-of-fold score of the best two-feature model: for two discrete columns the lookup per
    pair of values, else the best of least squares on ``a, b`` and on ``a, b, a*b, a/b, b/a``
    (sums, means, differences, products, ratios; one-hot classes for classification) and a
    depth-6 decision tree on ``a, b`` (steps, thresholds). Classes are scored by balanced
    accuracy, binary ones too."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    classify = task != "regression"
    scored_as = "multiclass" if classify else "regression"
    if both_discrete:
        codes, _ = pd.factorize(pd.Series(list(zip(a, b, strict=True))))
        return oof_score(codes.astype(np.float64), True, y, scored_as, folds, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.column_stack([a, b, a * b, a / b, b / a])
    terms = np.where(np.isfinite(terms), terms, 0.0)  # a ratio to zero
    spread = terms.std(axis=0)
    terms = (terms - terms.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    design = np.column_stack([np.ones(len(a)), terms])
    ridge = 1e-9 * np.eye(design.shape[1])  # for collinear terms: a constant or a copy
    response = np.eye(int(y.max()) + 1)[y] if classify else y
    pair = np.column_stack([a, b])
    linear = np.zeros((2, len(y)), dtype=np.float64)  # on 1, a, b and on all terms
    tree = np.zeros(len(y), dtype=np.float64)
    for train, test in folds:
        for row, width in enumerate((3, design.shape[1])):
            # normal equations: lstsq's SVD is no more exact for six terms, and far slower
            # when BLAS threads compete for the cores
            X_train = design[train, :width]
            gram = X_train.T @ X_train + len(train) * ridge[:width, :width]
            fitted = design[test, :width] @ np.linalg.solve(gram, X_train.T @ response[train])
            linear[row, test] = fitted.argmax(axis=1) if classify else fitted
        leaf = max(5, len(train) // 1000)
        model = DecisionTreeClassifier if classify else DecisionTreeRegressor
        fitted_tree = model(max_depth=6, min_samples_leaf=leaf, random_state=seed)
        tree[test] = fitted_tree.fit(pair[train], y[train]).predict(pair[test])
    return max(_metric_score(y, prediction, scored_as) for prediction in (*linear, tree))


def _chosen_by_target(
    features: pd.DataFrame, target: pd.Series, kinds: Mapping[str, str], seed: int
) -> list[LeakageSuspect]:
    """Numeric columns that equal, row by row, one of several other columns, which one
    depending on the class: the price of the option the person chose, next to the price of
    every option. Per class, the partners are the columns equal to it on >= 99 % of the
    class's rows (where it varies: its commonest value covers at most half of them); flagged
    when such classes cover >= 95 % of the rows and no one column is a partner in all."""
    names = [c for c in features.columns if kinds.get(str(c)) == "numeric"]
    if len(names) < 3:
        return []
    positions = _subsample(len(features), CHOSEN_ROWS, seed)
    values = np.column_stack(
        [
            pd.to_numeric(features[c].iloc[positions], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            for c in names
        ]
    )
    classes = target.iloc[positions].to_numpy()
    groups = [(label, classes == label) for label in pd.unique(classes)]
    suspects = []
    for j, name in enumerate(names):
        equal = np.isclose(values, values[:, j : j + 1], rtol=1e-9, atol=0.0)
        equal[:, j] = False
        partners: dict[object, list[str]] = {}
        covered = 0
        for label, rows in groups:
            shares = equal[rows].mean(axis=0)
            if shares.max() < CHOSEN_SHARE or _mostly_one_value(values[rows, j]):
                continue
            partners[label] = [str(names[k]) for k in np.flatnonzero(shares >= CHOSEN_SHARE)]
            covered += int(rows.sum())
        if not partners or covered < CHOSEN_COVERAGE * len(classes):
            continue
        if set.intersection(*(set(m) for m in partners.values())):
            continue  # one column is equal in every class: a copy, not a choice
        per_class = "; ".join(
            f"{' or '.join(repr(m) for m in matched)} where the target is {label!s}"
            for label, matched in partners.items()
        )
        detail = (
            f"'{name}' equals, row by row, one of several columns, which one depending on the "
            f"target ({per_class}; {covered:,} of {len(classes):,} sampled rows): it is the value "
            "of the option the target chose, known only once the choice is made"
        )
        found = sorted({m for matched in partners.values() for m in matched})
        score = round(covered / len(classes), 4)
        suspects.append(LeakageSuspect(str(name), "chosen_by_target", score, detail, tuple(found)))
    return suspects


def _mostly_one_value(x: np.ndarray) -> bool:
    """Whether one value (missing included) fills more than half of ``x``: equal to another
    column there says little (two pixels blank on the same rows, two zero counts)."""
    return bool(pd.Series(x).value_counts(dropna=False).iloc[0] > 0.5 * len(x))


# -- association -------------------------------------------------------------------------


def association(
    frame: pd.DataFrame, target: str, kinds: Mapping[str, str], task: str, *, seed: int = 0
) -> dict[str, float]:
    """Association of each feature with the target in [0, 1], strongest first.

    Mutual information by scikit-learn's estimators (k-NN for numbers and dates, counts for
    discrete kinds; missing values form a value of their own) on at most 20,000 rows,
    normalised: divided by the target's entropy for classes (the share of the target's
    uncertainty the feature removes), ``sqrt(1 - exp(-2 MI))`` for regression (Linfoot's
    informational coefficient, ``|r|`` for a Gaussian pair). Text and identifiers get none.
    """
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    frame = sample_rows(frame, None, ASSOCIATION_ROWS, seed)
    names = [c for c in frame.columns if str(c) != target and kinds[str(c)] in _MODEL_KINDS]
    y = encode_target(frame[target], task)
    if not names or len(frame) < 10:
        return {}
    if task != "regression" and len(np.unique(y)) < 2:
        return {}
    columns = [encode_feature(frame[c], kinds[str(c)]) for c in names]
    X = np.column_stack([np.nan_to_num(x, nan=0.0) for x in columns])  # missing: rank 0
    discrete = np.array([kinds[str(c)] in _DISCRETE_KINDS for c in names])
    neighbors = min(3, len(frame) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            mi = mutual_info_regression(
                X, y, discrete_features=discrete, n_neighbors=neighbors, random_state=seed
            )
            scores = np.sqrt(1.0 - np.exp(-2.0 * np.maximum(mi, 0.0)))
        else:
            mi = mutual_info_classif(
                X, y, discrete_features=discrete, n_neighbors=neighbors, random_state=seed
            )
            shares = np.bincount(y) / len(y)
            shares = shares[shares > 0]
            entropy = float(-(shares * np.log(shares)).sum())
            scores = np.clip(mi / entropy, 0.0, 1.0) if entropy > 0 else np.zeros(len(mi))
    ranked = sorted(zip(names, scores, strict=True), key=lambda kv: -kv[1])
    return {str(name): round(float(score), 4) for name, score in ranked}


# -- helpers -----------------------------------------------------------------------------


def _drop_rare_classes(frame: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Leave out classes too small to appear in two folds; re-code the rest 0..k-1."""
    counts = np.bincount(y)
    keep = counts[y] >= 2
    if keep.all():
        return frame, y
    codes = np.unique(y[keep], return_inverse=True)[1]
    return frame.iloc[np.flatnonzero(keep)], codes.astype(np.int64)


def _folds(y: np.ndarray, task: str, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "regression":
        return list(KFold(FOLDS, shuffle=True, random_state=seed).split(y))
    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    splits = max(2, min(FOLDS, smallest))
    splitter = StratifiedKFold(splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))
