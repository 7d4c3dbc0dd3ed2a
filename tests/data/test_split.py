"""Splits: reproducible, stratified shares kept, groups kept whole, never training on the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_val_score,
)
from sklearn.tree import DecisionTreeClassifier

from mlcycle.data import cv_splitter, split
from mlcycle.exceptions import MlcycleError, SchemaError


def _events(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
            "patient": rng.integers(0, 40, n),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.permutation(n), unit="h"),
        }
    )


def test_random_split_is_reproducible_and_complete(public):
    df = public("boston").frame
    train, test = split(df, strategy="random", test_size=0.2, seed=7)
    again_train, again_test = split(df, strategy="random", test_size=0.2, seed=7)
    other_train, _ = split(df, strategy="random", test_size=0.2, seed=8)
    assert train.index.equals(again_train.index) and test.index.equals(again_test.index)
    assert not train.index.equals(other_train.index)
    assert len(test) == int(np.ceil(0.2 * len(df)))
    assert set(train.index).isdisjoint(test.index)
    assert sorted([*train.index, *test.index]) == sorted(df.index)
    assert train.index.is_monotonic_increasing  # original order kept within a side


@pytest.mark.parametrize("name", ["birthwt", "wine"])
def test_stratified_split_keeps_class_shares(public, name):
    data = public(name)
    train, test = split(data.frame, strategy="stratified", target=data.target, seed=1)
    overall = data.frame[data.target].value_counts(normalize=True)
    for side in (train, test):
        shares = side[data.target].value_counts(normalize=True).reindex(overall.index)
        assert np.allclose(shares, overall, atol=0.03)


def test_auto_is_stratified_for_classes_and_random_for_numbers(public):
    birthwt = public("birthwt")
    auto = split(birthwt.frame, target="low", seed=4)
    stratified = split(birthwt.frame, strategy="stratified", target="low", seed=4)
    assert auto[1].index.equals(stratified[1].index)
    boston = public("boston")
    auto = split(boston.frame, target="medv", seed=4)
    random = split(boston.frame, strategy="random", seed=4)
    assert auto[1].index.equals(random[1].index)


def test_group_split_keeps_each_group_on_one_side():
    df = _events()
    for strategy in ("group", "auto"):
        train, test = split(df, strategy=strategy, group_column="patient", seed=2)
        assert set(train["patient"]).isdisjoint(test["patient"])
        assert len(train) + len(test) == len(df)


@pytest.mark.parametrize("as_text", [False, True])
def test_time_split_never_trains_on_the_future(as_text):
    df = _events()
    if as_text:
        df["when"] = df["when"].dt.strftime("%d/%m/%Y %H:%M")
    train, test = split(df, time_column="when", test_size=0.3)
    times = pd.to_datetime(df["when"], format="%d/%m/%Y %H:%M") if as_text else df["when"]
    assert times[train.index].max() <= times[test.index].min()
    assert len(test) == 60


def test_time_split_with_ties_puts_no_earlier_row_in_test():
    df = pd.DataFrame({"year": [2001, 2000, 2002, 2001, 2003, 2000], "v": range(6)})
    train, test = split(df, strategy="time", time_column="year", test_size=0.5)
    assert train["year"].max() <= test["year"].min()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"test_size": 1.5},
            r"The 'test_size' parameter of split\(\) must be a number in \(0, 1\)\. "
            r"Got 1\.5 instead\.",
        ),
        ({"test_size": 0}, r"'test_size' .* Got 0 instead"),
        ({"test_size": "0.2"}, r"'test_size' .* Got '0.2' instead"),
        ({"test_size": True}, r"'test_size' .* Got True instead"),
        ({"strategy": "shuffle"}, r"'strategy' parameter of split\(\) must be one of 'auto'"),
        ({"seed": -1}, r"'seed' parameter of split\(\) must be an integer"),
        ({"strategy": "stratified"}, r"'target' parameter of split\(\) is required"),
        ({"strategy": "group"}, r"'group_column' parameter of split\(\) is required"),
        ({"strategy": "time"}, r"'time_column' parameter of split\(\) is required"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(MlcycleError, match=message):
        split(_events(), **kwargs)


def test_missing_column_names_the_columns_and_a_close_match():
    with pytest.raises(SchemaError, match=r"'patiemt'.*Its columns: x, y.*Did you mean 'patient'"):
        split(_events(), group_column="patiemt")


def test_stratified_refuses_a_class_of_one_row_and_names_it():
    df = pd.DataFrame({"x": range(10), "y": ["a"] * 5 + ["b"] * 4 + ["rare"]})
    with pytest.raises(MlcycleError, match=r"Class 'rare' of 'y' has only 1 row"):
        split(df, strategy="stratified", target="y")
    train, test = split(df, target="y")  # auto falls back to random
    assert len(train) + len(test) == 10


def test_too_few_rows_and_too_few_groups():
    with pytest.raises(MlcycleError, match="at least one training and one test row"):
        split(pd.DataFrame({"x": [1]}))
    one_group = pd.DataFrame({"x": range(6), "g": ["a"] * 6})
    with pytest.raises(MlcycleError, match="has 1 group; a group split needs at least 2"):
        split(one_group, group_column="g")


def test_missing_groups_and_unusable_times_are_refused():
    df = _events(20).astype({"patient": "float64"})
    df.loc[3, "patient"] = np.nan
    with pytest.raises(MlcycleError, match="1 missing values; every row needs a group"):
        split(df, group_column="patient")
    df = pd.DataFrame({"t": ["2020-01-01", "soon", "2020-01-03", "2020-01-04"], "v": range(4)})
    with pytest.raises(MlcycleError, match=r"must be dates, times or numbers.*'soon'"):
        split(df, time_column="t")


# -- cv_splitter -------------------------------------------------------------------------


def test_cv_splitter_choices():
    y = np.array([0, 1] * 20)
    assert isinstance(cv_splitter(y=y), StratifiedKFold)
    assert isinstance(cv_splitter(y=np.linspace(0, 1, 40)), KFold)
    assert isinstance(cv_splitter(groups=np.arange(40) % 8), GroupKFold)
    assert isinstance(cv_splitter(times=np.arange(40)), TimeSeriesSplit)
    assert isinstance(cv_splitter(), KFold)
    rare = np.array([0] * 30 + [1] * 3)
    assert type(cv_splitter(y=rare)) is KFold  # too few of class 1 for 5 stratified folds


def test_cv_splitter_is_reproducible():
    x = np.arange(50)
    first = [test.tolist() for _, test in cv_splitter(seed=3).split(x)]
    again = [test.tolist() for _, test in cv_splitter(seed=3).split(x)]
    other = [test.tolist() for _, test in cv_splitter(seed=4).split(x)]
    assert first == again != other


def test_cv_splitters_work_with_cross_val_score(public):
    birthwt = public("birthwt")
    X = birthwt.frame.drop(columns=["low", "bwt"])
    y = birthwt.frame["low"]
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    scores = cross_val_score(tree, X, y, cv=cv_splitter(y=y))
    assert len(scores) == 5 and 0.5 < scores.mean() <= 1

    boston = public("boston").frame
    X, y = boston.drop(columns="medv"), boston["medv"]
    groups = boston["rad"]
    scores = cross_val_score(
        LinearRegression(), X, y, cv=cv_splitter("group", groups=groups), groups=groups
    )
    assert len(scores) == 5
    scores = cross_val_score(LinearRegression(), X, y, cv=cv_splitter("time", n_splits=3))
    assert len(scores) == 3


def test_time_folds_never_train_on_the_future():
    times = np.sort(np.random.default_rng(0).integers(0, 1000, 60))
    for train, test in cv_splitter(times=times, n_splits=4).split(times):
        assert times[train].max() <= times[test].min()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_splits": 1}, r"The 'n_splits' parameter of cv_splitter\(\) must be an integer >= 2"),
        ({"strategy": "loo"}, r"'strategy' parameter of cv_splitter\(\) must be one of"),
        ({"y": [0, 1, 0]}, r"got 3 rows for n_splits=5"),
        ({"strategy": "stratified"}, r"'y' parameter of cv_splitter\(\) is required"),
        (
            {"strategy": "stratified", "y": ["a"] * 10 + ["b"]},
            r"Class 'b' of 'y' has only 1 row; 5 folds needs at least 5 per class",
        ),
        ({"groups": [1, 2, 3, 1, 2, 3]}, r"3 distinct groups for n_splits=5"),
        ({"times": [3, 1, 2, 4, 5, 6]}, r"not sorted ascending.*train on the future"),
        ({"y": [0, 1] * 5, "groups": [1] * 9}, "different lengths"),
    ],
)
def test_cv_splitter_bad_input(kwargs, message):
    with pytest.raises(MlcycleError, match=message):
        cv_splitter(**kwargs)
