"""Train/test splits and cross-validation splitters that cannot leak across the cut.

Four strategies, the same names in :func:`split` and :func:`cv_splitter`:

- ``random``: shuffled with ``seed``;
- ``stratified``: every class of the target keeps its share on both sides;
- ``group``: all rows of a group (a customer, a patient) fall on the same side;
- ``time``: rows ordered by time; every test row is at or after every training row,
  so a model is never trained on the future.

``auto`` picks ``time`` when a time column is given, else ``group`` when a group column
is given, else ``stratified`` when the target is a class label (boolean or categorical)
with at least two rows per class, else ``random``. Splits keep the original index and,
except for ``time``, the original row order within each side; the same ``seed`` gives
the same split on every machine.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError, SchemaError

__all__ = ["STRATEGIES", "cv_splitter", "split"]

STRATEGIES = ("auto", "random", "stratified", "group", "time")
_CLASS_KINDS = ("boolean", "category", "integer_category")
_MISSING_CLASS = "<missing>"


def split(
    df: pd.DataFrame,
    *,
    strategy: str = "auto",
    target: str | None = None,
    group_column: str | None = None,
    time_column: str | None = None,
    test_size: float = 0.25,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into ``(train, test)`` by ``strategy`` (see the module docstring).

    >>> train, test = split(df, target="churned", test_size=0.2, seed=7)  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise BadParameterError(
            "The 'df' parameter of split() must be a pandas DataFrame. "
            f"Got {type(df).__name__} instead."
        )
    _check_strategy(strategy, "split")
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        _bad("test_size", "split", "a number in (0, 1)", test_size)
    if not 0 < float(test_size) < 1:
        _bad("test_size", "split", "a number in (0, 1)", test_size)
    _check_seed(seed, "split")
    for parameter, column in (
        ("target", target),
        ("group_column", group_column),
        ("time_column", time_column),
    ):
        if column is not None:
            _check_column(df, column, parameter)

    n = len(df)
    n_test = math.ceil(float(test_size) * n)
    if n < 2 or n_test >= n:
        raise DataError(
            f"split() needs at least one training and one test row, but {n} rows with "
            f"test_size={test_size} leave {n - n_test} for training. Use more rows or a "
            "smaller test_size."
        )
    chosen = _choose(strategy, df, target, group_column, time_column, "split")
    positions = np.arange(n)
    if chosen == "time":
        assert time_column is not None
        order = _time_order(df[time_column], "time_column")
        train_pos, test_pos = order[: n - n_test], order[n - n_test :]
        return df.iloc[train_pos], df.iloc[test_pos]

    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if chosen == "group":
        assert group_column is not None
        groups = _groups(df[group_column], "group_column")
        n_groups = groups.nunique()
        if n_groups < 2:
            raise DataError(
                f"Group column {group_column!r} has {n_groups} group; a group split needs at "
                "least 2. Use another group column or strategy='random'."
            )
        splitter = GroupShuffleSplit(n_splits=1, test_size=float(test_size), random_state=seed)
        train_pos, test_pos = next(splitter.split(positions, groups=groups.to_numpy()))
    elif chosen == "stratified":
        assert target is not None
        labels = _labels(df[target])
        _check_classes(labels, target, minimum=2, why="a stratified split")
        n_classes = labels.nunique()
        if n_test < n_classes or n - n_test < n_classes:
            raise DataError(
                f"A stratified split of {n} rows with test_size={test_size} leaves {n_test} "
                f"test and {n - n_test} training rows, fewer than the {n_classes} classes of "
                f"{target!r}. Choose a test_size that leaves at least {n_classes} rows on each "
                "side, or use strategy='random'."
            )
        train_pos, test_pos = train_test_split(
            positions, test_size=n_test, random_state=seed, stratify=labels.to_numpy()
        )
    else:
        train_pos, test_pos = train_test_split(positions, test_size=n_test, random_state=seed)
    return df.iloc[np.sort(train_pos)], df.iloc[np.sort(test_pos)]


def cv_splitter(
    strategy: str = "auto",
    *,
    n_splits: int = 5,
    seed: int = 0,
    y: Any = None,
    groups: Any = None,
    times: Any = None,
) -> Any:
    """A scikit-learn splitter for ``cv=``: KFold, StratifiedKFold, GroupKFold or TimeSeriesSplit.

    ``y``, ``groups`` and ``times`` let ``auto`` choose and let the choice be checked
    (rows per class, number of groups, rows sorted by time). A group splitter needs the
    groups again at use: ``cross_val_score(model, X, y, cv=splitter, groups=groups)``.
    A time splitter splits by row position, so the rows must be sorted by time.

    >>> from sklearn.model_selection import cross_val_score  # doctest: +SKIP
    >>> cross_val_score(model, X, y, cv=cv_splitter(y=y, seed=1))  # doctest: +SKIP
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    _check_strategy(strategy, "cv_splitter")
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        _bad("n_splits", "cv_splitter", "an integer >= 2", n_splits)
    _check_seed(seed, "cv_splitter")
    sizes = {
        name: len(value)
        for name, value in (("y", y), ("groups", groups), ("times", times))
        if value is not None
    }
    if len(set(sizes.values())) > 1:
        raise DataError(
            f"cv_splitter() got inputs of different lengths: "
            f"{', '.join(f'{k}={v}' for k, v in sizes.items())}. Pass y, groups and times "
            "for the same rows."
        )
    n = next(iter(sizes.values()), None)
    if n is not None and n < n_splits:
        raise DataError(
            f"cv_splitter() got {n} rows for n_splits={n_splits}; K-fold needs at least one "
            f"row per fold. Lower n_splits to at most {n} or use more rows."
        )

    chosen = strategy
    if strategy == "auto":
        if times is not None:
            chosen = "time"
        elif groups is not None:
            chosen = "group"
        elif y is not None and _is_classes(pd.Series(np.asarray(y))):
            counts = _labels(pd.Series(np.asarray(y))).value_counts()
            chosen = "stratified" if counts.min() >= n_splits else "random"
        else:
            chosen = "random"
    if chosen == "stratified":
        if y is None:
            _required("y", "cv_splitter", "stratified")
        _check_classes(
            _labels(pd.Series(np.asarray(y))), "y", minimum=n_splits, why=f"{n_splits} folds"
        )
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    if chosen == "group":
        if groups is None:
            _required("groups", "cv_splitter", "group")
        n_groups = _groups(pd.Series(np.asarray(groups)), "groups").nunique()
        if n_groups < n_splits:
            raise DataError(
                f"cv_splitter() got {n_groups} distinct groups for n_splits={n_splits}; "
                f"group K-fold needs at least one group per fold. Lower n_splits to at most "
                f"{n_groups}."
            )
        return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    if chosen == "time":
        if times is not None:
            order = _time_order(pd.Series(np.asarray(times)), "times")
            if not np.array_equal(order, np.arange(len(order))):
                raise DataError(
                    "The 'times' passed to cv_splitter() are not sorted ascending, and a time "
                    "splitter cuts by row position: it would train on the future. Sort the "
                    "rows by time first (df.sort_values(time_column))."
                )
        if n is not None and n < n_splits + 1:
            raise DataError(
                f"cv_splitter() got {n} rows for a time split with n_splits={n_splits}; it "
                f"needs at least n_splits + 1 = {n_splits + 1}. Lower n_splits."
            )
        return TimeSeriesSplit(n_splits=n_splits)
    return KFold(n_splits=n_splits, shuffle=True, random_state=seed)


# -- choosing ----------------------------------------------------------------------------


def _choose(
    strategy: str,
    df: pd.DataFrame,
    target: str | None,
    group_column: str | None,
    time_column: str | None,
    function: str,
) -> str:
    needs = {"stratified": ("target", target), "group": ("group_column", group_column)}
    needs["time"] = ("time_column", time_column)
    if strategy in needs and needs[strategy][1] is None:
        _required(needs[strategy][0], function, strategy)
    if strategy != "auto":
        return strategy
    if time_column is not None:
        return "time"
    if group_column is not None:
        return "group"
    if target is not None and _is_classes(df[target]):
        counts = _labels(df[target]).value_counts()
        if counts.min() >= 2:
            return "stratified"
    return "random"


def _is_classes(y: pd.Series) -> bool:
    from mlcycle.data._kinds import infer_kind

    return infer_kind(y) in _CLASS_KINDS


def _labels(y: pd.Series) -> pd.Series:
    """Class labels as text, missing values as a class of their own."""
    return y.astype(object).where(y.notna(), _MISSING_CLASS).astype(str).reset_index(drop=True)


def _groups(values: pd.Series, parameter: str) -> pd.Series:
    missing = int(values.isna().sum())
    if missing:
        raise DataError(
            f"The group column {parameter!r} has {missing} missing values; every row needs a "
            "group. Fill them (for example with a group of their own) or drop those rows."
        )
    return values.reset_index(drop=True)


def _time_order(values: pd.Series, parameter: str) -> np.ndarray:
    """Row positions sorted by time (stable), after checking the times are usable."""
    times = values.reset_index(drop=True)
    if not (
        pd.api.types.is_numeric_dtype(times.dtype) or pd.api.types.is_datetime64_any_dtype(times)
    ):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(times, errors="coerce", format="mixed", utc=True)
        bad = parsed.isna() & times.notna()
        if bad.any():
            raise DataError(
                f"The {parameter!r} values must be dates, times or numbers; "
                f"{int(bad.sum())} are not (for example {times[bad].iloc[0]!r}). Convert the "
                "column to datetimes first."
            )
        times = parsed
    missing = int(times.isna().sum())
    if missing:
        raise DataError(
            f"The {parameter!r} values have {missing} missing entries; a time split must know "
            "when every row happened. Fill or drop those rows."
        )
    return np.argsort(times.to_numpy(), kind="stable")


# -- checks ------------------------------------------------------------------------------


def _check_classes(labels: pd.Series, name: str, *, minimum: int, why: str) -> None:
    counts = labels.value_counts()
    small = counts[counts < minimum]
    if len(small):
        label, count = small.index[0], int(small.iloc[0])
        rows = "row" if count == 1 else "rows"
        raise DataError(
            f"Class {label!r} of {name!r} has only {count} {rows}; {why} needs at least "
            f"{minimum} per class. Drop or merge that class"
            f"{' (and ' + str(len(small) - 1) + ' more this small)' if len(small) > 1 else ''}"
            ", or use strategy='random'."
        )


def _check_strategy(strategy: object, function: str) -> None:
    if strategy not in STRATEGIES:
        _bad("strategy", function, f"one of {', '.join(repr(s) for s in STRATEGIES)}", strategy)


def _check_seed(seed: object, function: str) -> None:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, int | np.integer)
        or not 0 <= int(seed) < 2**32
    ):
        _bad("seed", function, "an integer in [0, 2**32)", seed)


def _check_column(df: pd.DataFrame, column: str, parameter: str) -> None:
    names = [str(c) for c in df.columns]
    if column not in df.columns:
        close = difflib.get_close_matches(str(column), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SchemaError(
            f"Column {column!r} (the {parameter!r} of split()) is not in the data. "
            f"Its columns: {_list(names)}.{hint}"
        )


def _required(parameter: str, function: str, strategy: str) -> NoReturn:
    raise BadParameterError(
        f"The {parameter!r} parameter of {function}() is required for "
        f"strategy={strategy!r}. Got None instead."
    )


def _bad(parameter: str, function: str, expected: str, got: object) -> NoReturn:
    raise BadParameterError(
        f"The {parameter!r} parameter of {function}() must be {expected}. Got {got!r} instead."
    )


def _list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
