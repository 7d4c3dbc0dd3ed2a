"""Imbalance: class weights, samplers, and resampling inside training folds only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

import mlcycle.flavours._sklearn
from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.data import build_preparer, class_weights, make_sampler, training_pipeline
from mlcycle.data._balance import inference_pipeline
from mlcycle.exceptions import BundleError, MlcycleError


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and remembers what ``fit`` was given."""

    def fit(self, X, y):
        self.n_fit_ = X.shape[0]
        self.width_ = X.shape[1]
        self.counts_ = Counter(np.asarray(y).tolist())
        self.classes_ = np.unique(y)
        self.majority_ = self.counts_.most_common(1)[0][0]
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.majority_)


def _aids2(public):
    dataset = public("aids2")  # status: 1,082 A(live) versus 1,761 D(ead); 3 categorical columns
    return dataset.frame, dataset.frame.drop(columns="status"), dataset.frame["status"]


# -- class weights -------------------------------------------------------------------------


def test_class_weights_are_balanced(public) -> None:
    y = public("birthwt").frame["low"]  # 130 zeros, 59 ones
    weights = class_weights(y)
    assert weights == pytest.approx({0: 189 / (2 * 130), 1: 189 / (2 * 59)})
    assert all(type(k) is int for k in weights)  # plain Python labels: JSON and params safe
    counts = y.value_counts()
    assert weights[0] * counts[0] == pytest.approx(weights[1] * counts[1])
    assert class_weights(["b", "a", "a", "a"]) == pytest.approx({"a": 4 / 6, "b": 2.0})


def test_class_weights_work_as_estimator_parameters(public) -> None:
    _, X, y = _aids2(public)
    model = LogisticRegression(class_weight=class_weights(y), max_iter=500)
    model.fit(X[["age", "diag"]], y)
    assert set(model.classes_) == {"A", "D"}


def test_class_weights_refuse_missing_or_empty_labels() -> None:
    with pytest.raises(MlcycleError, match="2 missing values"):
        class_weights(pd.Series([1.0, None, 0.0, np.nan]))
    with pytest.raises(MlcycleError, match="at least one label"):
        class_weights([])


# -- samplers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "cls"),
    [
        ("smote", SMOTE),
        ("adasyn", ADASYN),
        ("random_over", RandomOverSampler),
        ("Random-Under", RandomUnderSampler),
    ],
)
def test_make_sampler_builds_seeded_samplers(method, cls) -> None:
    sampler = make_sampler(method, seed=7, task="multiclass")
    assert type(sampler) is cls
    assert sampler.random_state == 7


def test_no_sampler() -> None:
    assert make_sampler(None) is None
    assert make_sampler("none") is None
    assert make_sampler(None, task="regression") is None


def test_make_sampler_refuses_what_it_cannot_do() -> None:
    with pytest.raises(MlcycleError, match=r"'method' .* none, smote, adasyn, .* Got 'tomek'"):
        make_sampler("tomek")
    with pytest.raises(MlcycleError, match="does not apply to a regression target"):
        make_sampler("smote", task="regression")
    with pytest.raises(MlcycleError, match=r"'task' parameter of make_sampler.* Got 'ranking'"):
        make_sampler("smote", task="ranking")
    with pytest.raises(MlcycleError, match=r"'seed' parameter .* integer. Got 1.5"):
        make_sampler("smote", seed=1.5)  # type: ignore[arg-type]


# -- pipelines -----------------------------------------------------------------------------


def test_training_pipeline_kinds(public) -> None:
    frame, _, _ = _aids2(public)
    preparer = build_preparer(frame, "status", task="binary")
    plain = training_pipeline(preparer, LogisticRegression())
    assert type(plain) is Pipeline
    assert [name for name, _ in plain.steps] == ["prepare", "model"]
    sampled = training_pipeline(preparer, LogisticRegression(), sampler=make_sampler("smote"))
    assert isinstance(sampled, ImbPipeline)
    assert [name for name, _ in sampled.steps] == ["prepare", "sample", "model"]


def test_training_pipeline_refuses_wrong_steps(public) -> None:
    frame, _, _ = _aids2(public)
    preparer = build_preparer(frame, "status")
    with pytest.raises(MlcycleError, match=r"'sampler' parameter .* Got LogisticRegression"):
        training_pipeline(preparer, LogisticRegression(), sampler=LogisticRegression())
    with pytest.raises(MlcycleError, match=r"'estimator' parameter .* with fit"):
        training_pipeline(preparer, "logistic")
    with pytest.raises(MlcycleError, match=r"'preparer' parameter .* with transform"):
        training_pipeline(LogisticRegression(), LogisticRegression())


@pytest.mark.parametrize("method", ["random_over", "smote", "random_under"])
def test_resampling_happens_in_training_folds_only(public, method) -> None:
    frame, X, y = _aids2(public)
    scored: list[int] = []

    def size(estimator, X_val, y_val) -> float:
        scored.append(len(X_val))
        return 0.0

    model = training_pipeline(
        build_preparer(frame, "status", task="binary"),
        Recorder(),
        sampler=make_sampler(method, seed=0),
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    folds = cross_validate(
        model, X, y, cv=cv, scoring=size, return_estimator=True, return_indices=True
    )
    for fitted, train, test in zip(
        folds["estimator"], folds["indices"]["train"], folds["indices"]["test"], strict=True
    ):
        original = Counter(y.iloc[train])
        seen = fitted.named_steps["model"].counts_
        assert seen["A"] == seen["D"]  # the training fold was balanced ...
        target = max(original.values()) if method != "random_under" else min(original.values())
        assert seen["A"] == target  # ... by adding or removing rows of one class
        assert len(fitted.predict(X.iloc[test])) == len(test)  # predict never resamples
    # validation folds are scored at their real size: every row exactly once
    assert scored == [len(t) for t in folds["indices"]["test"]]
    assert sum(scored) == len(X)


def test_smote_after_the_preparer_with_one_hot_categories(public) -> None:
    frame, X, y = _aids2(public)
    preparer = build_preparer(frame, "status", task="binary")
    assert "onehot" in dict((n, c) for n, _, c in preparer.transformers)
    model = training_pipeline(preparer, Recorder(), sampler=make_sampler("smote", seed=3))
    model.fit(X, y)
    recorder = model.named_steps["model"]
    assert recorder.counts_ == Counter({"A": 1761, "D": 1761})
    assert recorder.width_ == len(model.named_steps["prepare"].get_feature_names_out())

    real = training_pipeline(
        build_preparer(frame, "status", task="binary"),
        LogisticRegression(max_iter=1000),
        sampler=make_sampler("smote", seed=3),
    ).fit(X, y)
    assert real.predict(X.head(7)).shape == (7,)
    assert set(real.predict(X)) == {"A", "D"}


def test_samplers_on_a_multiclass_table(public) -> None:
    dataset = public("heating")  # 5 classes, from 573 down to 50 rows
    X, y = dataset.frame.drop(columns="depvar"), dataset.frame["depvar"]
    model = training_pipeline(
        build_preparer(dataset.frame, "depvar", task="multiclass"),
        Recorder(),
        sampler=make_sampler("adasyn", seed=0, task="multiclass"),
    ).fit(X, y)
    counts = model.named_steps["model"].counts_
    assert len(counts) == 5 and min(counts.values()) > 50  # minorities grown


def test_same_seed_same_resampling(public) -> None:
    frame, X, y = _aids2(public)

    def fitted(seed: int) -> np.ndarray:
        model = training_pipeline(
            build_preparer(frame, "status", task="binary"),
            LogisticRegression(max_iter=1000),
            sampler=make_sampler("smote", seed=seed),
        )
        return model.fit(X, y).named_steps["model"].coef_

    np.testing.assert_array_equal(fitted(1), fitted(1))


# -- bundles -------------------------------------------------------------------------------


def test_a_fitted_pipeline_bundles_without_its_sampler(public, tmp_path: Path) -> None:
    frame, X, y = _aids2(public)
    model = training_pipeline(
        build_preparer(frame, "status", task="binary"),
        LogisticRegression(max_iter=1000),
        sampler=make_sampler("smote", seed=0),
    ).fit(X, y)
    plain = inference_pipeline(model)
    assert type(plain) is Pipeline
    assert [name for name, _ in plain.steps] == ["prepare", "model"]
    assert plain.named_steps["model"] is model.named_steps["model"]
    np.testing.assert_array_equal(plain.predict_proba(X), model.predict_proba(X))

    write_bundle(plain, tmp_path / "plain")
    bundle = read_bundle(tmp_path / "plain")
    np.testing.assert_array_equal(bundle.predict(X), model.predict(X))
    np.testing.assert_allclose(bundle.predict_proba(X), model.predict_proba(X))

    with pytest.raises(MlcycleError, match="must be a Pipeline"):
        inference_pipeline(LogisticRegression())  # type: ignore[arg-type]


def test_an_imblearn_pipeline_needs_imblearn_types_trusted(
    public, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, X, y = _aids2(public)
    model = training_pipeline(
        build_preparer(frame, "status", task="binary"),
        LogisticRegression(max_iter=1000),
        sampler=make_sampler("smote", seed=0),
    ).fit(X, y)
    write_bundle(model, tmp_path / "imb")
    imblearn_types = ["imblearn.over_sampling._smote.base.SMOTE", "imblearn.pipeline.Pipeline"]
    with pytest.raises(BundleError, match=r"imblearn\.pipeline\.Pipeline"):
        read_bundle(tmp_path / "imb").predict(X)
    names = mlcycle.flavours._sklearn.TRUSTED_NAMES | frozenset(imblearn_types)
    monkeypatch.setattr(mlcycle.flavours._sklearn, "TRUSTED_NAMES", names)
    # exactly these two names are enough for a SMOTE pipeline to load
    np.testing.assert_array_equal(read_bundle(tmp_path / "imb").predict(X), model.predict(X))
