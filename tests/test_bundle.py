"""The model bundle contract: every family round-trips exactly, nothing is unpickled,
and any change to a written bundle is refused."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import mlcycle.bundle as bundle_module
from mlcycle.bundle import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    Bundle,
    NativeModel,
    manifest_digest,
    read_bundle,
    verify_bundle,
    write_bundle,
)
from mlcycle.exceptions import BundleError, TamperedBundleError
from mlcycle.schema import Schema

# -- data and models -----------------------------------------------------------------------


def _frame(loader: Callable[..., Any]) -> tuple[pd.DataFrame, pd.Series]:
    X, y = loader(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_").replace("/", "_") for c in X.columns]
    return X, y


@cache
def _data(name: str) -> tuple[pd.DataFrame, pd.Series]:
    if name == "mixed":  # a numeric, a pandas categorical and an integer column
        rng = np.random.default_rng(0)
        X = pd.DataFrame(
            {
                "a": rng.normal(size=300),
                "colour": pd.Categorical(rng.choice(["red", "green", "blue"], 300)),
                "n": rng.integers(0, 5, 300),
            }
        )
        return X, ((X["a"] > 0) ^ (X["colour"] == "green")).astype(int)
    loader = {"cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}
    X, y = _frame(loader[name.removesuffix("-codes")])
    if name == "wine":  # string labels, three classes
        y = y.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return X, y


@dataclass
class Case:
    model: Any
    X: pd.DataFrame
    flavor: str
    predict: Callable[[pd.DataFrame], np.ndarray]
    proba: Callable[[pd.DataFrame], np.ndarray] | None


def _wrapped(model: Any, data: str, flavor: str) -> Case:
    X, y = _data(data)
    model.fit(X, y)
    proba = model.predict_proba if hasattr(model, "predict_proba") else None
    return Case(model, X, flavor, model.predict, proba)


def _lgb_booster() -> Case:
    X, y = _data("cancer")
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=8)

    def proba(X: pd.DataFrame) -> np.ndarray:  # a binary objective gives P(class 1)
        p = booster.predict(X)
        return np.column_stack([1 - p, p])

    return Case(booster, X, "lightgbm", booster.predict, proba)


def _xgb_booster() -> Case:
    X, y = _data("diabetes")
    booster = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, y), num_boost_round=8)
    return Case(booster, X, "xgboost", lambda X: booster.predict(xgb.DMatrix(X)), None)


def _xgb_early_stopping() -> Case:
    X, y = _data("cancer")
    model = xgb.XGBClassifier(n_estimators=40, max_depth=2, early_stopping_rounds=2, n_jobs=1)
    model.fit(X.iloc[:300], y.iloc[:300], eval_set=[(X.iloc[300:], y.iloc[300:])], verbose=False)
    assert model.best_iteration < 39
    return Case(model, X, "xgboost", model.predict, model.predict_proba)


_LGBM = {"n_estimators": 8, "num_leaves": 7, "verbose": -1, "n_jobs": 1}
_XGB = {"n_estimators": 8, "max_depth": 3, "n_jobs": 1}
CASES: dict[str, Callable[[], Case]] = {
    "sklearn-pipeline-logreg": lambda: _wrapped(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)), "cancer", "sklearn"
    ),
    "sklearn-rf-regressor": lambda: _wrapped(
        RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0), "diabetes", "sklearn"
    ),
    "lgbm-binary": lambda: _wrapped(lgb.LGBMClassifier(**_LGBM), "cancer", "lightgbm"),
    "lgbm-multiclass-strings": lambda: _wrapped(lgb.LGBMClassifier(**_LGBM), "wine", "lightgbm"),
    "lgbm-regressor": lambda: _wrapped(lgb.LGBMRegressor(**_LGBM), "diabetes", "lightgbm"),
    "lgbm-booster": _lgb_booster,
    "xgb-binary": lambda: _wrapped(xgb.XGBClassifier(**_XGB), "cancer", "xgboost"),
    "xgb-regressor": lambda: _wrapped(xgb.XGBRegressor(**_XGB), "diabetes", "xgboost"),
    "xgb-multiclass": lambda: _wrapped(xgb.XGBClassifier(**_XGB), "wine-codes", "xgboost"),
    "xgb-multi-softmax": lambda: _wrapped(
        xgb.XGBClassifier(objective="multi:softmax", **_XGB), "wine-codes", "xgboost"
    ),
    "xgb-gblinear": lambda: _wrapped(
        xgb.XGBRegressor(booster="gblinear", n_estimators=8, n_jobs=1), "diabetes", "xgboost"
    ),
    "xgb-categorical": lambda: _wrapped(
        xgb.XGBClassifier(enable_categorical=True, **_XGB), "mixed", "xgboost"
    ),
    "lgbm-categorical": lambda: _wrapped(lgb.LGBMClassifier(**_LGBM), "mixed", "lightgbm"),
    "xgb-early-stopping": _xgb_early_stopping,
    "xgb-booster": _xgb_booster,
    "sklearn-pipeline-lgbm": lambda: _wrapped(
        make_pipeline(StandardScaler(), lgb.LGBMClassifier(**_LGBM)), "wine", "sklearn"
    ),
    "sklearn-pipeline-xgb": lambda: _wrapped(
        make_pipeline(StandardScaler(), xgb.XGBClassifier(**_XGB)), "cancer", "sklearn"
    ),
}


@cache
def case(name: str) -> Case:
    return CASES[name]()


def _assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-9)
    else:
        np.testing.assert_array_equal(actual, expected)


# -- the round-trip contract ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_predicts_exactly_like_the_original(name: str, tmp_path: Path) -> None:
    c = case(name)
    schema = Schema.from_dataframe(c.X)
    written = write_bundle(
        c.model,
        tmp_path / "b",
        schema=schema,
        metrics={"score": np.float64(0.5)},
        params={"n": 8},
        explanation={"top": ["a"]},
        reference_profile={"rows": len(c.X)},
    )
    bundle = read_bundle(tmp_path / "b")

    assert bundle.flavour == written.flavour == c.flavor
    assert bundle.digest == written.digest == verify_bundle(tmp_path / "b")
    assert bundle.schema == schema
    assert bundle.metrics == {"score": 0.5} and bundle.params == {"n": 8}
    assert bundle.explanation == {"top": ["a"]} and bundle.reference_profile == {"rows": len(c.X)}
    _assert_same(bundle.predict(c.X), c.predict(c.X))
    if c.proba is None:
        with pytest.raises(BundleError, match="probabilities"):
            bundle.predict_proba(c.X)
    else:
        _assert_same(bundle.predict_proba(c.X), c.proba(c.X))
    assert bundle.load() is bundle.load()


def test_native_flavours_store_the_booster_format_and_labels(tmp_path: Path) -> None:
    lgb_bundle = write_bundle(case("lgbm-multiclass-strings").model, tmp_path / "lgb")
    xgb_bundle = write_bundle(case("xgb-binary").model, tmp_path / "xgb")

    assert set(lgb_bundle.files) >= {"model/model.txt", "model/meta.json"}
    assert (tmp_path / "lgb/model/model.txt").read_text().startswith("tree")
    meta = json.loads((tmp_path / "lgb/model/meta.json").read_bytes())
    assert meta["classes"] == ["barbera", "barolo", "grignolino"]
    assert meta["wrapper"] == "LGBMClassifier" and meta["objective"] == "multiclass"
    assert "learner" in json.loads((tmp_path / "xgb/model/model.json").read_bytes())
    model = read_bundle(tmp_path / "lgb").load()
    assert isinstance(model, NativeModel) and isinstance(model.booster, lgb.Booster)
    assert isinstance(xgb_bundle.load(), NativeModel)


@pytest.mark.parametrize("name", ["lgbm-binary", "xgb-binary"])
def test_native_models_select_columns_by_name(name: str, tmp_path: Path) -> None:
    c = case(name)
    bundle = write_bundle(c.model, tmp_path / "b")

    _assert_same(bundle.predict_proba(c.X[c.X.columns[::-1]]), c.proba(c.X))  # type: ignore[misc]


def test_manifest_is_canonical_and_lists_every_file(tmp_path: Path) -> None:
    bundle = write_bundle(
        case("lgbm-binary").model,
        tmp_path / "b",
        lineage={"seed": 7, "packages": {"x": "1"}},
        extra_files={"notes.txt": b"hello", "plots/roc.txt": _file(tmp_path, b"roc")},
    )
    raw = (tmp_path / "b" / MANIFEST_NAME).read_bytes()
    manifest = json.loads(raw)

    assert raw == json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    assert bundle.digest == manifest_digest(raw) == hashlib.sha256(raw).hexdigest()
    assert manifest["format"] == BUNDLE_FORMAT and manifest["flavour"] == "lightgbm"
    on_disk = {
        p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file()
    }
    assert on_disk - {MANIFEST_NAME} == set(manifest["files"]) == set(bundle.files)
    assert (tmp_path / "b/extra/plots/roc.txt").read_bytes() == b"roc"
    assert bundle.lineage is not None and bundle.lineage["seed"] == 7
    assert {"python", "mlcycle", "scikit-learn", "numpy", "pandas", "lightgbm", "x"} <= set(
        bundle.lineage["packages"]
    )


def test_lineage_of_a_pipeline_names_its_boosting_library(tmp_path: Path) -> None:
    bundle = write_bundle(case("sklearn-pipeline-lgbm").model, tmp_path / "b")

    assert bundle.lineage is not None
    assert {"skops", "lightgbm"} <= set(bundle.lineage["packages"])
    assert "xgboost" not in bundle.lineage["packages"]


def test_import_is_light() -> None:
    code = (
        "import sys, mlcycle.bundle; "
        "print(sorted({'numpy', 'pandas', 'sklearn', 'skops', 'lightgbm', 'xgboost'} "
        "& set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path


# -- no unpickling, trusted types only -----------------------------------------------------


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = {name: tmp_path / name for name in CASES}
    for name, path in paths.items():
        write_bundle(case(name).model, path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle was used while loading a bundle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    for name, path in paths.items():
        c = case(name)
        _assert_same(read_bundle(path).predict(c.X), c.predict(c.X))


class CustomScaler(TransformerMixin, BaseEstimator):
    """An estimator mlcycle has never heard of: its bundle must not load."""

    def fit(self, X: Any, y: Any = None) -> CustomScaler:
        self.fitted_ = True
        return self

    def transform(self, X: Any) -> Any:
        return X


def test_untrusted_skops_type_is_refused_on_load(tmp_path: Path) -> None:
    X, y = _data("cancer")
    model = make_pipeline(CustomScaler(), StandardScaler(), LogisticRegression()).fit(X, y)
    write_bundle(model, tmp_path / "b")
    bundle = read_bundle(tmp_path / "b")

    with pytest.raises(BundleError, match=r"does not trust: .*CustomScaler"):
        bundle.load()
    with pytest.raises(BundleError, match="CustomScaler"):
        bundle.predict(X)


def test_file_reading_function_inside_trusted_namespace_is_refused(tmp_path: Path) -> None:
    X, y = _data("diabetes")
    model = make_pipeline(FunctionTransformer(np.abs), LinearRegression()).fit(X, y)
    model[0].func = np.load  # what a crafted bundle could ask predict() to call
    write_bundle(model, tmp_path / "b")

    with pytest.raises(BundleError, match=r"numpy\.load"):
        read_bundle(tmp_path / "b").load()


# -- tampering -----------------------------------------------------------------------------


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    X = case("sklearn-pipeline-logreg").X
    path = tmp_path / "b"
    write_bundle(case("sklearn-pipeline-logreg").model, path, schema=Schema.from_dataframe(X))
    return path


def _edit_manifest(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((path / MANIFEST_NAME).read_bytes())
    edit(manifest)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_flipped_byte_is_refused(bundle_path: Path) -> None:
    model_file = bundle_path / "model/model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))

    with pytest.raises(TamperedBundleError, match=r"'model/model\.skops' has SHA-256"):
        read_bundle(bundle_path)


def test_changed_size_is_refused(bundle_path: Path) -> None:
    with (bundle_path / "schema.json").open("ab") as fh:
        fh.write(b" ")

    with pytest.raises(TamperedBundleError, match=r"'schema\.json' has \d+ bytes"):
        verify_bundle(bundle_path)


def test_deleted_file_is_refused(bundle_path: Path) -> None:
    (bundle_path / "schema.json").unlink()

    with pytest.raises(
        TamperedBundleError, match=r"'schema\.json' listed in MANIFEST\.json is missing"
    ):
        read_bundle(bundle_path)


def test_added_file_is_refused(bundle_path: Path) -> None:
    (bundle_path / "model" / "backdoor.py").write_text("print('hi')")

    with pytest.raises(TamperedBundleError, match=r"'model/backdoor\.py' is not listed"):
        read_bundle(bundle_path)


def test_symlink_is_refused(bundle_path: Path, tmp_path: Path) -> None:
    (bundle_path / "link").symlink_to(tmp_path)

    with pytest.raises(TamperedBundleError, match="symbolic link"):
        read_bundle(bundle_path)


def test_edited_manifest_hash_is_refused(bundle_path: Path) -> None:
    _edit_manifest(bundle_path, lambda m: m["files"]["schema.json"].update(sha256="0" * 64))

    with pytest.raises(TamperedBundleError, match=r"'schema\.json' has SHA-256"):
        read_bundle(bundle_path)


def test_edited_manifest_changes_the_digest(bundle_path: Path) -> None:
    before = verify_bundle(bundle_path)
    _edit_manifest(bundle_path, lambda m: m.update(created_at="1999-01-01T00:00:00+00:00"))

    assert verify_bundle(bundle_path) != before


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a\\b", "model/../../x", MANIFEST_NAME])
def test_unsafe_manifest_path_is_refused(bundle_path: Path, bad: str) -> None:
    _edit_manifest(bundle_path, lambda m: m["files"].update({bad: {"sha256": "0", "size": 0}}))

    with pytest.raises(TamperedBundleError, match="unsafe path"):
        read_bundle(bundle_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "no 'files' table"),
    ],
)
def test_broken_manifest_is_refused(bundle_path: Path, content: bytes, message: str) -> None:
    (bundle_path / MANIFEST_NAME).write_bytes(content)

    with pytest.raises(TamperedBundleError, match=message):
        read_bundle(bundle_path)


def test_model_file_changed_after_verification_loads_the_verified_bytes(
    bundle_path: Path,
) -> None:
    bundle = read_bundle(bundle_path)
    (bundle_path / "model/model.skops").write_bytes(b"PK-not-the-model")

    assert hasattr(bundle.load(), "predict")  # the bytes hashed at open time, not the new ones
    with pytest.raises(TamperedBundleError, match=r"model\.skops"):
        read_bundle(bundle_path)


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: p.write_text("x"), lambda p: p])
def test_not_a_bundle(tmp_path: Path, make: Callable[[Path], object]) -> None:
    path = tmp_path / "thing"
    make(path)

    with pytest.raises(BundleError, match="is not a model bundle") as info:
        read_bundle(path)
    assert not isinstance(info.value, TamperedBundleError)


# -- writing: refusals and atomicity -------------------------------------------------------


def test_existing_target_is_refused(tmp_path: Path) -> None:
    model = case("lgbm-regressor").model
    write_bundle(model, tmp_path / "b")
    (tmp_path / "empty").mkdir()

    for target in ("b", "empty"):
        with pytest.raises(BundleError, match="already exists"):
            write_bundle(model, tmp_path / target)


def test_failed_serialisation_leaves_nothing_behind(tmp_path: Path) -> None:
    X, y = _data("diabetes")
    model = LinearRegression().fit(X, y)
    model.source_ = (row for row in range(3))  # skops cannot store a generator

    with pytest.raises(BundleError, match="could not serialise"):
        write_bundle(model, tmp_path / "out" / "b")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_failure_after_model_is_written_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot be stored as JSON"):
        write_bundle(case("lgbm-regressor").model, tmp_path / "b", metrics={"auc": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_crash_before_the_final_move_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module.os, "replace", crash)

    with pytest.raises(BundleError, match="disk full"):
        write_bundle(case("lgbm-regressor").model, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a\\b", "a\x00b", "", "a//b", "./a"])
def test_unsafe_extra_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BundleError, match="extra file name"):
        write_bundle(case("lgbm-regressor").model, tmp_path / "b", extra_files={name: b"x"})
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("model", [{"weights": [1, 2]}, object(), "model"])
def test_unknown_objects_are_refused(tmp_path: Path, model: object) -> None:
    with pytest.raises(BundleError, match=r"Cannot bundle a .*scikit-learn.*LightGBM.*XGBoost"):
        write_bundle(model, tmp_path / "b")


@pytest.mark.parametrize(
    "model", [LogisticRegression(), lgb.LGBMClassifier(), xgb.XGBRegressor()], ids=type
)
def test_unfitted_models_are_refused(tmp_path: Path, model: object) -> None:
    with pytest.raises(BundleError, match="not fitted"):
        write_bundle(model, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_bundle_repr_names_flavour_and_digest(bundle_path: Path) -> None:
    bundle = read_bundle(bundle_path)

    assert isinstance(bundle, Bundle)
    assert "sklearn" in repr(bundle) and bundle.digest[:12] in repr(bundle)
