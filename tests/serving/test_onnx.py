"""The ONNX fast path: each family converts, preparation included, and answers like the
model it came from (probabilities within 1e-5, the same labels); what does not convert
says why."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.pipeline import Pipeline

import mlcycle
from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.data import PrepareOptions, build_preparer
from mlcycle.exceptions import SchemaError
from mlcycle.flavours.onnx import OnnxModel, as_columns, convert, synthetic_rows, verify
from mlcycle.schema import Schema
from mlcycle.training import FAMILIES, WeightedEnsemble

FAMILY_NAMES = ["linear", "rf", "et", "hgb", "lgbm", "xgb", "knn"]
TASKS = ["binary", "multiclass", "regression"]
ATOL = 1e-5
TRAIN = 140  # rows to fit on; the rest are held out


@functools.cache
def dataset(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A small slice of scikit-learn's bundled data: 8 features, one with missing values;
    class labels as strings, so that a model must give the original labels back."""
    loader = {"binary": load_breast_cancer, "multiclass": load_wine, "regression": load_diabetes}
    X, y = loader[task](return_X_y=True, as_frame=True)
    rows = np.random.default_rng(0).permutation(len(X))[:200]
    X = X.iloc[rows, :8].reset_index(drop=True)
    X.columns = [f"x{i}" for i in range(8)]
    X.loc[::9, "x1"] = np.nan
    target = y.to_numpy()[rows]
    return X, target if task == "regression" else np.array([f"class_{v}" for v in target])


def mixed_table(task: str, n: int = 360) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers, a low- and a high-cardinality category, a boolean and an integer category,
    with missing values in every kind of column."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        "plan": rng.choice(["basic", "plus", "pro", "rare"], n, p=[0.5, 0.3, 0.196, 0.004]),
        "city": rng.choice([f"city{i}" for i in range(30)], n),
        "active": (rng.random(n) < 0.5).astype(object),
        "code": rng.choice([1, 2, 3], n),
        "flag": rng.integers(0, 2, n),  # inferred boolean from integers
        "member": rng.choice(["Yes", "no "], n),  # inferred boolean from text
    })  # fmt: skip
    X.loc[::13, "plan"] = None
    X.loc[::17, "city"] = None
    X.loc[::19, "active"] = None
    X.loc[::23, "member"] = None
    score = X["age"] / 10 + X["income"].fillna(50) / 20 + (X["plan"] == "pro") * 3
    score += X["flag"] + (X["member"] == "Yes") * 0.5
    if task == "regression":
        return X, score.to_numpy(dtype=float)
    if task == "binary":
        return X, np.where(score > score.median(), "yes", "no")
    return X, np.where(score > 9, "high", np.where(score > 7.5, "mid", "low"))


def fit(family: str, task: str, X: pd.DataFrame, y: np.ndarray, **options: Any) -> Pipeline:
    """The Pipeline mlcycle.train builds for one configuration (family defaults, fewer trees);
    XGBoost classifiers learn class codes, as inside mlcycle's ensembles."""
    spec = FAMILIES[family]
    params = spec.defaults(task, len(X))
    if family in ("rf", "et", "lgbm", "xgb"):
        params["n_estimators"] = 25
    if family == "xgb" and task != "regression":
        y = np.unique(y, return_inverse=True)[1]
    kinds = options.pop("kinds", None)
    prepare = PrepareOptions(scale=spec.scaled, **options)
    preparer = build_preparer(X, kinds=kinds, options=prepare, task=task)
    model = Pipeline([("prepare", preparer), ("model", spec.build(params, task, 0, 1))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def bare(family: str, task: str, X: pd.DataFrame, y: np.ndarray) -> Any:
    """A family's estimator, without preparation, fitted on ``X`` as it is."""
    spec = FAMILIES[family]
    params = spec.defaults(task, len(X))
    if family in ("rf", "et", "lgbm", "xgb"):
        params["n_estimators"] = 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.build(params, task, 0, 1).fit(X, y)


def served(model: Any, schema: Schema) -> OnnxModel:
    graph, reason = convert(model, schema)
    assert reason == ""
    assert graph is not None
    return OnnxModel(graph, schema)


def assert_same(fast: OnnxModel, model: Any, frame: pd.DataFrame) -> None:
    """The converted model answers like ``model`` on ``frame`` (a typed DataFrame)."""
    columns = as_columns(frame, fast.schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fast.classes_ is not None:
            want = model.predict_proba(frame)
            np.testing.assert_allclose(fast.predict_proba(columns), want, rtol=0, atol=ATOL)
            np.testing.assert_array_equal(fast.predict(columns), model.predict(frame))
        else:  # values: 1e-5 relative above 1 (tree sums are float32 on ONNX Runtime)
            want = model.predict(frame)
            np.testing.assert_allclose(fast.predict(columns), want, rtol=ATOL, atol=ATOL)
        assert verify(fast, model, frame) == ""


# -- every family, every task --------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_answers_like_its_pipeline(family: str, task: str) -> None:
    X, y = dataset(task)
    model = fit(family, task, X.iloc[:TRAIN], y[:TRAIN])
    schema = Schema.from_dataframe(X.iloc[:TRAIN])
    fast = served(model, schema)
    assert_same(fast, model, schema.coerce(X.iloc[TRAIN:]))
    assert_same(fast, model, synthetic_rows(schema, n=50, seed=3))
    if task != "regression":
        np.testing.assert_array_equal(fast.classes_, model.classes_)
    else:
        assert fast.classes_ is None


@pytest.mark.parametrize(
    ("family", "task"),
    [(f, "binary") for f in FAMILY_NAMES]
    + [
        ("linear", "multiclass"),
        ("lgbm", "multiclass"),
        ("rf", "regression"),
        ("hgb", "regression"),
    ],
)
def test_a_table_with_categories_booleans_and_missing_values(family: str, task: str) -> None:
    X, y = mixed_table(task)
    kinds = {"code": "integer_category"}
    model = fit(family, task, X.iloc[:300], y[:300], kinds=kinds, clip_outliers=True)
    schema = Schema.from_dataframe(X.iloc[:300])
    fast = served(model, schema)
    assert "4 category inputs" in repr(fast)  # plan, city (target-encoded), code, member
    assert_same(fast, model, schema.coerce(X.iloc[300:]))
    assert_same(fast, model, synthetic_rows(schema, seed=1))


def test_a_hand_built_preparer_with_passthrough_drop_and_ordinal_codes() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    X, y = mixed_table("binary")
    X = X[["age", "plan", "city"]]
    impute = SimpleImputer(strategy="constant", fill_value="?")
    onehot = OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False)
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    preparer = ColumnTransformer([
        ("plan", Pipeline([("impute", impute), ("encode", onehot)]), ["plan"]),
        ("age", "passthrough", ["age"]),
        ("city", Pipeline([("impute", impute), ("encode", ordinal)]), ["city"]),
    ])  # fmt: skip
    model = Pipeline([("prepare", preparer), ("model", LogisticRegression(max_iter=2000))])
    model.fit(X, y)
    schema = Schema.from_dataframe(X)
    fast = served(model, schema)
    assert_same(fast, model, schema.coerce(X))
    assert_same(fast, model, synthetic_rows(schema, seed=5))


def test_unseen_categories_are_encoded_as_the_encoders_do() -> None:
    X, y = mixed_table("binary")
    model = fit("linear", "binary", X, y)
    fast = served(model, Schema.from_dataframe(X))
    rows = X.iloc[:12].copy()
    rows["plan"] = "brand-new"  # one-hot: the infrequent bucket
    rows["city"] = "nowhere"  # target encoding: the mean of the target
    columns = as_columns(rows, fast.schema)
    np.testing.assert_allclose(fast.predict_proba(columns), model.predict_proba(rows), atol=ATOL)


def test_weighted_ensemble_of_two_families() -> None:
    X, labels = dataset("multiclass")
    classes, codes = np.unique(labels[:TRAIN], return_inverse=True)
    members = [fit(f, "multiclass", X.iloc[:TRAIN], codes) for f in ("rf", "linear")]
    model = WeightedEnsemble("multiclass").set_members(members, [0.25, 0.75], classes=classes)
    schema = Schema.from_dataframe(X)
    fast = served(model, schema)
    assert list(fast.classes_) == list(classes)  # type: ignore[arg-type]
    assert_same(fast, model, schema.coerce(X.iloc[TRAIN:]))


@pytest.mark.parametrize(("family", "task"), [("xgb", "binary"), ("linear", "regression")])
def test_what_mlcycle_train_returns(family: str, task: str, clean_env: Path) -> None:
    X, y = dataset(task)
    frame = X.assign(target=y)
    result = mlcycle.train(
        frame, "target", families=[family], max_trials=1, budget=60, workers=1,
        progress=False, explain=False, card=False,
    )  # fmt: skip
    schema = Schema.from_dataframe(frame, target="target")
    fast = served(result.model, schema)
    if family == "xgb":
        assert isinstance(result.model, WeightedEnsemble)
        assert set(fast.classes_) == set(y)  # type: ignore[arg-type]
    assert_same(fast, result.model, schema.coerce(X))


# -- boosters from bundles and bare estimators ---------------------------------------------


def booster_model(library: str, task: str, **params: Any) -> Any:
    import lightgbm as lgb
    import xgboost as xgb

    regression = task == "regression"
    if library == "lightgbm":
        cls = lgb.LGBMRegressor if regression else lgb.LGBMClassifier
        return cls(n_estimators=40, verbose=-1, **params)
    return (xgb.XGBRegressor if regression else xgb.XGBClassifier)(n_estimators=40, **params)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_bundled_boosters(library: str, task: str, tmp_path: Path) -> None:
    X, y = dataset(task)
    if task != "regression":
        y = np.unique(y, return_inverse=True)[1]
    schema = Schema.from_dataframe(X)
    model = booster_model(library, task).fit(X.iloc[:TRAIN], y[:TRAIN])
    native = read_bundle(write_bundle(model, tmp_path / "b", schema=schema).path).load()
    assert type(native).__name__ in ("_LightGBMModel", "_XGBoostModel")
    fast = served(native, schema)
    assert_same(fast, native, schema.coerce(X.iloc[TRAIN:]))
    assert_same(fast, native, synthetic_rows(schema))


def test_xgboost_keeps_only_the_rounds_early_stopping_chose(tmp_path: Path) -> None:
    X, y = dataset("binary")
    y = np.unique(y, return_inverse=True)[1]
    model = booster_model("xgboost", "binary", early_stopping_rounds=3, learning_rate=0.5)
    model.set_params(n_estimators=300)
    model.fit(X.iloc[:100], y[:100], eval_set=[(X.iloc[100:], y[100:])], verbose=False)
    assert model.best_iteration + 1 < 300
    schema = Schema.from_dataframe(X)
    native = read_bundle(write_bundle(model, tmp_path / "b", schema=schema).path).load()
    assert_same(served(native, schema), native, schema.coerce(X))
    assert_same(served(model, schema), model, schema.coerce(X))


def test_a_raw_lightgbm_booster_predicts_its_probability(tmp_path: Path) -> None:
    import lightgbm as lgb

    X, y = dataset("binary")
    codes = np.unique(y, return_inverse=True)[1]
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, codes), 20)
    schema = Schema.from_dataframe(X)
    native = read_bundle(write_bundle(booster, tmp_path / "b", schema=schema).path).load()
    fast = served(native, schema)
    columns = as_columns(schema.coerce(X), schema)
    np.testing.assert_allclose(fast.predict(columns), native.predict(X), atol=ATOL)
    np.testing.assert_allclose(fast.predict_proba(columns), native.predict_proba(X), atol=ATOL)


def test_lightgbm_thresholds_are_compared_in_float64() -> None:
    """Timestamps in seconds are 128 apart in float32: a float32 graph would merge them."""
    import lightgbm as lgb

    n = 400
    X = pd.DataFrame({"when": 1.7e9 + np.arange(n) * 7.0, "noise": np.arange(n) % 5 * 1.0})
    y = (np.arange(n) // 3) % 2
    model = lgb.LGBMClassifier(n_estimators=30, min_child_samples=2, verbose=-1).fit(X, y)
    schema = Schema.from_dataframe(X)
    assert_same(served(model, schema), model, schema.coerce(X))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_bare_estimators(family: str) -> None:
    X, y = dataset("binary")
    X = X.fillna(0.0)
    codes = np.unique(y, return_inverse=True)[1]
    model = bare(family, "binary", X.iloc[:TRAIN], codes[:TRAIN])
    schema = Schema.from_dataframe(X)
    assert_same(served(model, schema), model, schema.coerce(X.iloc[TRAIN:]))


@pytest.mark.parametrize("family", ["rf", "hgb", "lgbm", "xgb"])
def test_trees_send_missing_values_where_the_model_does(family: str) -> None:
    X, y = dataset("regression")
    X = X.copy()
    X.loc[::4, "x2"] = np.nan  # seen in training: each split learned where NaN goes
    model = bare(family, "regression", X.iloc[:TRAIN], y[:TRAIN])
    schema = Schema.from_dataframe(X)
    assert_same(served(model, schema), model, schema.coerce(X))


# -- what does not convert, and the checks -------------------------------------------------


def test_steps_without_a_converter_say_which() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({
        "amount": rng.normal(size=120),
        "notes": [" ".join(rng.choice(["late", "paid", "call", "ok"], 4)) for _ in range(120)],
    })  # fmt: skip
    y = (X["amount"] > 0).astype(int).to_numpy()
    model = fit("linear", "binary", X, y, kinds={"notes": "text"})
    graph, reason = convert(model, Schema.from_dataframe(X))
    assert graph is None
    assert reason == "TfidfVectorizer on column 'notes' has no ONNX converter"

    X["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, 120), "D")
    model = fit("linear", "binary", X.drop(columns="notes"), y)
    graph, reason = convert(model, Schema.from_dataframe(X))
    assert graph is None
    assert reason == "DatetimeFeatures on column 'signup' has no ONNX converter"


def test_models_without_a_converter_say_so_and_never_raise() -> None:
    from sklearn.naive_bayes import GaussianNB

    X, y = dataset("binary")
    X = X.fillna(0.0)
    schema = Schema.from_dataframe(X)
    assert convert(GaussianNB().fit(X, y), schema) == (None, "GaussianNB has no ONNX converter")
    graph, reason = convert(object(), schema)
    assert graph is None
    assert "not a model" in reason
    unfitted = Pipeline([("prepare", build_preparer(X)), ("model", GaussianNB())])
    graph, reason = convert(unfitted, schema)
    assert graph is None
    assert reason
    other = Schema.from_dataframe(X.rename(columns={"x0": "renamed"}))
    graph, reason = convert(fit("rf", "binary", X, y), other)
    assert graph is None
    assert reason == "The model uses column 'x0', which the schema does not list"


def test_verify_reports_a_disagreement() -> None:
    X, y = dataset("binary")
    schema = Schema.from_dataframe(X)
    first = fit("linear", "binary", X.iloc[:TRAIN], y[:TRAIN])
    second = fit("rf", "binary", X.iloc[:TRAIN], y[:TRAIN])
    problem = verify(served(first, schema), second, synthetic_rows(schema))
    assert problem.startswith("probabilities differ by up to")


def test_synthetic_rows_are_valid_and_respect_the_schema() -> None:
    X, _ = mixed_table("binary")
    schema = Schema.from_dataframe(X)
    schema.column("age").nullable = False
    rows = synthetic_rows(schema, n=200, seed=4)
    assert list(rows.columns) == schema.feature_names
    assert len(rows) == 200
    schema.validate(rows)
    assert rows["age"].notna().all()  # not nullable in training: never missing
    assert rows["income"].isna().any()
    income = schema.column("income")
    assert rows["income"].min() == income.min
    assert rows["income"].max() == income.max
    assert set(rows["plan"].dropna()) <= set(schema.column("plan").categories or [])
    pd.testing.assert_frame_equal(rows, synthetic_rows(schema, n=200, seed=4))


def test_input_mistakes() -> None:
    X, y = dataset("regression")
    model = fit("linear", "regression", X, y)
    schema = Schema.from_dataframe(X)
    fast = served(model, schema)
    columns = as_columns(schema.coerce(X.iloc[:3]), schema)
    del columns["x3"]
    with pytest.raises(SchemaError, match="Column 'x3' is missing"):
        fast.predict(columns)
    with pytest.raises(AttributeError, match="does not predict probabilities"):
        fast.predict_proba(columns)
