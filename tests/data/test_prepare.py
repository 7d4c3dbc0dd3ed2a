"""Preparation: an unfitted ColumnTransformer per table, fitted per CV fold, bundled intact."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import TargetEncoder
from sklearn.utils.validation import check_is_fitted

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.data import PrepareOptions, build_preparer
from mlcycle.data._prepare import (
    SKOPS_TYPES,
    ColumnCaster,
    DatetimeFeatures,
    QuantileClipper,
    deduplicate,
)
from mlcycle.estimators import category_tokens
from mlcycle.exceptions import MlcycleError
from mlcycle.flavours._sklearn import trusted_types

SUITE = ["birthwt", "aids2", "housing", "retschool", "heating"]


def _xy(dataset):
    frame = dataset.frame.dropna(subset=[dataset.target]).reset_index(drop=True)
    return frame, frame.drop(columns=dataset.target), frame[dataset.target]


def _model(dataset, **kwargs):
    frame, X, y = _xy(dataset)
    estimator = Ridge() if dataset.task == "regression" else LogisticRegression(max_iter=2000)
    preparer = build_preparer(frame, dataset.target, task=dataset.task, **kwargs)
    return make_pipeline(preparer, estimator), X, y


def _used(routes: dict) -> set[str]:
    return {column for columns in routes.values() for column in columns}


def _outputs(model, X) -> np.ndarray:
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


# -- options -------------------------------------------------------------------------------


def test_options_defaults_and_normalisation() -> None:
    options = PrepareOptions(datetime_features=["year", "hour", "year"])
    assert options.datetime_features == ("year", "hour")
    assert PrepareOptions().max_onehot == 15
    assert PrepareOptions().high_cardinality == "target"
    with pytest.raises(AttributeError):
        options.scale = False  # type: ignore[misc]


def test_bad_option_message_has_the_style_shape() -> None:
    expected = (
        "The 'max_onehot' parameter of PrepareOptions must be an integer >= 2. Got 0 instead."
    )
    with pytest.raises(MlcycleError) as info:
        PrepareOptions(max_onehot=0)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_onehot": 2.5}, r"'max_onehot' .* integer >= 2\. Got 2\.5"),
        ({"max_onehot": True}, r"'max_onehot' .* Got True"),
        ({"high_cardinality": "hash"}, r"'high_cardinality' .* 'target' or 'ordinal'\. Got 'hash'"),
        ({"text_max_features": 0}, r"'text_max_features' .* integer >= 1\. Got 0"),
        ({"datetime_features": ("year", "week")}, r"'datetime_features' .* Got 'week'"),
        ({"datetime_features": "year"}, r"'datetime_features' .* Got 'year'"),
        ({"scale": "yes"}, r"'scale' parameter of PrepareOptions must be True or False"),
        ({"clip_outliers": 1}, r"'clip_outliers' .* True or False\. Got 1"),
    ],
)
def test_bad_options_are_refused(kwargs, match) -> None:
    with pytest.raises(MlcycleError, match=match):
        PrepareOptions(**kwargs)


def test_bad_arguments_of_build_preparer(public) -> None:
    frame = public("birthwt").frame
    with pytest.raises(MlcycleError, match="'df' parameter of build_preparer"):
        build_preparer(frame.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(MlcycleError, match="target column 'weight' is not in the data"):
        build_preparer(frame, "weight")
    with pytest.raises(MlcycleError, match=r"'task' parameter .* Got 'ranking'"):
        build_preparer(frame, "low", task="ranking")
    with pytest.raises(MlcycleError, match=r"'options' parameter .* Got dict"):
        build_preparer(frame, "low", options={"scale": False})  # type: ignore[arg-type]
    with pytest.raises(MlcycleError, match="unknown kind 'float'"):
        build_preparer(frame, "low", kinds={"age": "float"})
    with pytest.raises(MlcycleError, match="names column 'height', which is not in the data"):
        build_preparer(frame, "low", kinds={"height": "numeric"})
    with pytest.raises(MlcycleError, match="Column names must be strings"):
        build_preparer(pd.DataFrame({0: [1.0, 2.0], 1: [3.0, 4.0]}))
    only_ids = pd.DataFrame({"user_id": range(60), "y": [0, 1] * 30})
    with pytest.raises(MlcycleError, match="No column is left to prepare"):
        build_preparer(only_ids, "y", kinds={"user_id": "identifier"})


# -- the public suite ----------------------------------------------------------------------


def test_preparer_is_unfitted_and_leaves_the_data_alone(public) -> None:
    dataset = public("aids2")
    before = dataset.frame.copy()
    preparer = build_preparer(dataset.frame, dataset.target, task=dataset.task)
    assert isinstance(preparer, ColumnTransformer)
    with pytest.raises(NotFittedError):
        check_is_fitted(preparer)
    pd.testing.assert_frame_equal(dataset.frame, before)


@pytest.mark.parametrize("name", SUITE)
def test_public_suite_fits_predicts_and_round_trips(public, name, tmp_path) -> None:
    model, X, y = _model(public(name), options=PrepareOptions(clip_outliers=True))
    model.fit(X, y)
    preparer = model[0]
    width = preparer.transform(X.head(5)).shape[1]
    names = preparer.get_feature_names_out()
    assert len(names) == width == len(set(names))
    assert public(name).target not in {n.split("__", 1)[1] for n in names}
    expected = _outputs(model, X)

    write_bundle(model, tmp_path / "bundle")
    bundle = read_bundle(tmp_path / "bundle")
    loaded = bundle.load()
    np.testing.assert_array_equal(bundle.predict(X), model.predict(X))
    np.testing.assert_allclose(_outputs(loaded, X), expected)


@pytest.mark.parametrize("name", SUITE)
def test_public_suite_survives_unseen_and_missing_values(public, name) -> None:
    model, X, y = _model(public(name))
    model.fit(X, y)
    rows = X.head(4).copy()
    for column in rows.columns:
        if not pd.api.types.is_numeric_dtype(rows[column]):
            rows[column] = ["never-seen", None, "", "zzz"]
    predictions = model.predict(rows)
    assert len(predictions) == 4

    # every column missing, as JSON null would arrive: object columns of None
    empty = pd.DataFrame({c: pd.Series([None] * 3, dtype=object) for c in X.columns})
    assert len(model.predict(empty)) == 3
    # every column missing, as pandas reads an empty CSV column: float NaN
    assert len(model.predict(pd.DataFrame({c: [np.nan] * 3 for c in X.columns}))) == 3
    # columns in another order, plus one the model does not know
    shuffled = X.head(10)[list(reversed(X.columns))].assign(unexpected=1)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(X.head(10)))


def test_many_missing_values_get_indicators_and_medians(public) -> None:
    frame, X, y = _xy(public("retschool"))
    preparer = build_preparer(frame, "wage76", task="regression").fit(X, y)
    names = list(preparer.get_feature_names_out())
    assert "numeric__missingindicator_exp76" in names
    assert "numeric__missingindicator_daded" not in names  # daded has no missing value
    assert not np.isnan(preparer.transform(X)).any()

    no_flags = PrepareOptions(missing_indicators=False)
    plain = build_preparer(frame, "wage76", task="regression", options=no_flags).fit(X, y)
    assert not any("missingindicator" in n for n in plain.get_feature_names_out())


def test_kinds_route_columns_to_their_encoders(public) -> None:
    dataset = public("retschool")
    preparer = build_preparer(dataset.frame, dataset.target, task=dataset.task)
    routes = {name: list(columns) for name, _, columns in preparer.transformers}
    assert "grade76" in routes["target"]  # 19 values > max_onehot: target encoding
    assert "region" in routes["onehot"]
    assert "black" in routes["boolean"]
    assert "exp76" in routes["numeric"]
    assert dataset.target not in _used(routes)

    wide = build_preparer(
        dataset.frame, dataset.target, task=dataset.task, options=PrepareOptions(max_onehot=30)
    )
    assert "grade76" in dict((n, c) for n, _, c in wide.transformers)["onehot"]


def test_given_kinds_win_and_the_rest_is_inferred(public) -> None:
    dataset = public("birthwt")
    preparer = build_preparer(dataset.frame, "low", kinds={"race": "numeric", "bwt": "identifier"})
    routes = {name: list(columns) for name, _, columns in preparer.transformers}
    assert "race" in routes["numeric"]
    assert "bwt" not in _used(routes)  # identifiers are dropped
    assert "smoke" in routes["boolean"]  # inferred


# -- no leakage under cross-validation -----------------------------------------------------


def _noise_with_a_high_cardinality_code(n: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    code = rng.integers(0, n // 3, size=n).astype(str)  # ~200 codes, ~3 rows each
    X = pd.DataFrame({"code": code, "x": rng.normal(size=n)})
    y = pd.Series(rng.integers(0, 2, size=n), name="y")  # independent of everything
    return X, y


def test_target_encoding_is_fitted_inside_each_fold_only() -> None:
    X, y = _noise_with_a_high_cardinality_code()
    preparer = build_preparer(X.assign(y=y), "y", kinds={"code": "category"}, task="binary")
    model = make_pipeline(preparer, LogisticRegression())
    honest = cross_val_score(model, X, y, cv=5, scoring="roc_auc")
    assert honest.mean() < 0.6  # noise stays noise

    # the leak the pipeline prevents: encoding fitted on all rows, validation folds included
    leaked = TargetEncoder().fit(X[["code"]], y).transform(X[["code"]])
    leaky = cross_val_score(LogisticRegression(), leaked, y, cv=5, scoring="roc_auc")
    assert leaky.mean() > 0.7

    folds = cross_validate(model, X, y, cv=5, return_estimator=True, return_indices=True)
    for fitted, train in zip(folds["estimator"], folds["indices"]["train"], strict=True):
        encoder = fitted[0].named_transformers_["target"].named_steps["encode"]
        assert encoder.target_mean_ == pytest.approx(y.iloc[train].mean())
        assert len(encoder.categories_[0]) == X["code"].iloc[train].nunique()


def test_cross_val_score_on_the_public_suite(public) -> None:
    dataset = public("birthwt")
    frame = dataset.frame.drop(columns="bwt")
    model = make_pipeline(build_preparer(frame, "low", task="binary"), LogisticRegression())
    scores = cross_val_score(model, frame.drop(columns="low"), frame["low"], cv=5)
    assert len(scores) == 5
    assert 0.5 < scores.mean() < 0.95  # bwt (the leak) dropped: an honest, imperfect score


def test_target_encoding_is_reproducible_with_a_seed() -> None:
    X, y = _noise_with_a_high_cardinality_code()
    kinds = {"code": "category"}

    def encoded(seed: int) -> np.ndarray:
        preparer = build_preparer(X, kinds=kinds, task="binary", seed=seed)
        return preparer.fit_transform(X, y)

    np.testing.assert_array_equal(encoded(1), encoded(1))
    assert not np.array_equal(encoded(1), encoded(2))


# -- per kind ------------------------------------------------------------------------------


def test_high_cardinality_without_target_is_ordinal_with_unseen_as_minus_one() -> None:
    X, _ = _noise_with_a_high_cardinality_code()
    options = PrepareOptions(scale=False)
    preparer = build_preparer(X, kinds={"code": "category"}, options=options).fit(X)
    assert [name for name, _, _ in preparer.transformers] == ["numeric", "ordinal"]
    out = preparer.transform(pd.DataFrame({"code": ["unseen", None], "x": [0.0, 0.0]}))
    np.testing.assert_array_equal(out[:, 1], [-1.0, -1.0])

    supervised = build_preparer(X, "x", kinds={"code": "category"}, task="regression")
    chosen = PrepareOptions(high_cardinality="ordinal")
    assert supervised.transformers[0][0] == "target"
    assert build_preparer(X, "x", kinds={"code": "category"}, options=chosen).transformers[0][
        0
    ] == ("ordinal")


def test_rare_and_unseen_categories_share_the_infrequent_column() -> None:
    X = pd.DataFrame({"colour": ["red"] * 150 + ["blue"] * 49 + ["teal"]})
    preparer = build_preparer(X, kinds={"colour": "category"}).fit(X)
    names = list(preparer.get_feature_names_out())
    assert names == [
        "onehot__colour_blue",
        "onehot__colour_red",
        "onehot__colour_infrequent_sklearn",
    ]
    # missing was never seen in training: like any unseen value, it counts as infrequent
    out = preparer.transform(pd.DataFrame({"colour": ["teal", "mauve", None, "red"]}))
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 1, 0]])


def test_integer_codes_match_whatever_the_dtype_at_predict_time() -> None:
    train = pd.DataFrame({"race": [1, 2, 3, 1, 2, 3]})
    preparer = build_preparer(train, kinds={"race": "integer_category"}).fit(train)
    assert list(preparer.get_feature_names_out()) == [f"onehot__race_{i}" for i in (1, 2, 3)]
    as_floats = pd.DataFrame({"race": [1.0, 2.0, np.nan]})
    as_text = pd.DataFrame({"race": pd.Series(["1", "2", None], dtype=object)})
    expected = [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    np.testing.assert_array_equal(preparer.transform(as_floats), expected)
    np.testing.assert_array_equal(preparer.transform(as_text), expected)


@given(st.integers(min_value=-(2**52), max_value=2**52))
def test_an_integer_code_has_one_token_in_every_dtype(value: int) -> None:
    tokens = {
        category_tokens(pd.Series([value]))[0],
        category_tokens(pd.Series([float(value)]))[0],
        category_tokens(pd.Series([str(value)], dtype=object))[0],
        category_tokens(pd.Series([value, None], dtype="Int64"))[0],
        category_tokens(pd.Series([np.int64(value)], dtype=object))[0],
    }
    assert tokens == {str(value)}


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        (pd.Series([True, False, True]), "True", [1, 0, 1]),
        (pd.array([True, None, False, True], dtype="boolean"), "True", [1, 1, 0, 1]),
        (pd.Series(["yes", "no", None], dtype="str"), "yes", [1, 0, 0]),
        (pd.Series(["N", "Y", "Y"], dtype=object), "Y", [0, 1, 1]),
        (pd.Series([0.0, 1.0, np.nan]), "1", [0, 1, 0]),
        (pd.Series(["F", "M", "M"]), "M", [0, 1, 1]),  # no known polarity: sorted order
    ],
)
def test_booleans_become_zero_one(values, positive, expected) -> None:
    X = pd.DataFrame({"flag": values})
    preparer = build_preparer(X, kinds={"flag": "boolean"}).fit(X)
    assert list(preparer.get_feature_names_out()) == [f"boolean__flag_{positive}"]
    np.testing.assert_array_equal(preparer.transform(X).ravel(), expected)
    unseen = preparer.transform(pd.DataFrame({"flag": ["maybe", None]})).ravel()
    assert set(unseen) <= {0.0, 1.0}  # unseen and missing: the most frequent value


def test_a_boolean_with_three_values_is_refused() -> None:
    X = pd.DataFrame({"flag": ["yes", "no", "maybe"]})
    with pytest.raises(MlcycleError, match="'flag' is of kind 'boolean' but has 3 distinct"):
        build_preparer(X, kinds={"flag": "boolean"})


def test_clipping_uses_training_quantiles_only() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": np.append(rng.normal(size=999), 1000.0)})
    options = PrepareOptions(clip_outliers=True, scale=False, missing_indicators=False)
    preparer = build_preparer(train, kinds={"x": "numeric"}, options=options).fit(train)
    clipper = preparer.named_transformers_["numeric"].named_steps["clip"]
    assert clipper.upper_[0] == pytest.approx(np.quantile(train["x"], 0.995))
    out = preparer.transform(pd.DataFrame({"x": [1e6, -1e6, 0.5, np.nan]})).ravel()
    assert out[0] == pytest.approx(clipper.upper_[0])
    assert out[1] == pytest.approx(clipper.lower_[0])
    assert out[2] == 0.5
    assert out[3] == pytest.approx(np.median(train["x"]))

    unclipped = build_preparer(train, kinds={"x": "numeric"}, options=PrepareOptions(scale=False))
    assert unclipped.fit(train).transform(pd.DataFrame({"x": [1e6]}))[0, 0] == 1e6


def test_scaling_is_optional(public) -> None:
    frame, X, y = _xy(public("heating"))
    scaled = build_preparer(frame, "depvar", task="multiclass").fit(X, y).transform(X)
    raw = build_preparer(frame, "depvar", task="multiclass", options=PrepareOptions(scale=False))
    raw_out = raw.fit(X, y).transform(X)
    assert np.allclose(scaled[:, 0].mean(), 0.0) and np.allclose(scaled[:, 0].std(), 1.0)
    np.testing.assert_allclose(raw_out[:, 0], X["ic.gc"])


def _dates_frame() -> pd.DataFrame:
    stamps = pd.date_range("2021-01-01 06:00", periods=40, freq="37h")
    return pd.DataFrame(
        {
            "when": stamps,
            "when_tz": stamps.tz_localize("Europe/Paris"),
            "when_text": stamps.strftime("%Y-%m-%d %H:%M"),
            "y": np.arange(40) % 2,
        }
    )


def test_datetimes_become_calendar_parts() -> None:
    frame = _dates_frame()
    X, y = frame.drop(columns="y"), frame["y"]
    kinds = dict.fromkeys(X.columns, "datetime")
    options = PrepareOptions(scale=False, datetime_features=("year", "month", "dayofweek", "hour"))
    preparer = build_preparer(frame, "y", kinds=kinds, options=options).fit(X, y)
    names = list(preparer.get_feature_names_out())
    assert names[:4] == [f"datetime__when_{p}" for p in ("year", "month", "dayofweek", "hour")]
    out = preparer.transform(X)
    stamps = frame["when"]
    np.testing.assert_array_equal(out[:, 0], stamps.dt.year)
    np.testing.assert_array_equal(out[:, 3], stamps.dt.hour)
    np.testing.assert_array_equal(out[:, 4:8], out[:, 0:4])  # wall-clock time kept with a zone
    np.testing.assert_array_equal(out[:, 8:12], out[:, 0:4])  # parsed from text

    later = pd.DataFrame(
        {"when": [pd.NaT], "when_tz": [None], "when_text": ["03/15/2022"]}, dtype=object
    )
    row = preparer.transform(later)[0]
    assert not np.isnan(row).any()
    np.testing.assert_array_equal(row[8:12], [2022, 3, 1, 0])  # another format still parses


def test_no_datetime_features_drops_datetime_columns() -> None:
    frame = _dates_frame()[["when", "y"]].assign(x=1.0)
    options = PrepareOptions(datetime_features=())
    preparer = build_preparer(frame, "y", kinds={"when": "datetime"}, options=options)
    assert [name for name, _, _ in preparer.transformers] == ["numeric"]


def test_text_gets_one_tfidf_per_column() -> None:
    X = pd.DataFrame(
        {
            "review": ["great phone, great battery", "broken screen", None, "battery died"] * 5,
            "note": ["call back later", "no answer", "great", None] * 5,
        }
    )
    y = pd.Series([1, 0, 1, 0] * 5)
    kinds = {"review": "text", "note": "text"}
    options = PrepareOptions(text_max_features=3)
    preparer = build_preparer(X, kinds=kinds, options=options, task="binary").fit(X, y)
    names = list(preparer.get_feature_names_out())
    assert [n for n in names if n.startswith("text_review__")] == [
        "text_review__battery",
        "text_review__broken",
        "text_review__great",
    ]
    assert sum(n.startswith("text_note__") for n in names) == 3
    out = preparer.transform(pd.DataFrame({"review": [None], "note": ["unknown words"]}))
    assert out.shape == (1, 6) and out.sum() == 0


def test_identifiers_are_dropped_unless_asked(public) -> None:
    frame = public("birthwt").frame.assign(
        patient_id=lambda d: [f"P{i:04d}" for i in range(len(d))]
    )
    routes = {n: list(c) for n, _, c in build_preparer(frame, "low").transformers}
    assert "patient_id" not in _used(routes)
    kept = build_preparer(frame, "low", options=PrepareOptions(drop_identifiers=False))
    assert "patient_id" in {n: list(c) for n, _, c in kept.transformers}["target"]


def test_a_column_without_values_is_left_out_with_a_warning(public) -> None:
    frame = public("birthwt").frame.assign(notes=np.nan)
    with pytest.warns(UserWarning, match="'notes' have no values"):
        preparer = build_preparer(frame, "low", kinds={"notes": "text"})
    assert "notes" not in _used({n: c for n, _, c in preparer.transformers})


def test_pandas_output_keeps_the_feature_names(public) -> None:
    frame, X, y = _xy(public("retschool"))
    preparer = build_preparer(frame, "wage76", task="regression").set_output(transform="pandas")
    out = preparer.fit_transform(X, y)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(preparer.get_feature_names_out())
    assert not out.isna().any().any()


def test_numbers_are_coerced_whatever_arrives() -> None:
    caster = ColumnCaster("numeric").fit(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))
    sent = pd.DataFrame(
        {
            "a": pd.Series(["1.5", None, "n/a"], dtype=object),
            "b": pd.to_timedelta([1, 2, None], unit="s"),
            "c": pd.Series([True, False, None], dtype="boolean"),
        }
    )
    np.testing.assert_array_equal(
        caster.transform(sent), [[1.5, 1.0, 1.0], [np.nan, 2.0, 0.0], [np.nan, np.nan, np.nan]]
    )


def test_transformers_refuse_bad_parameters_at_fit() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(MlcycleError, match="'kind' parameter of ColumnCaster"):
        ColumnCaster("decimal").fit(X)
    with pytest.raises(MlcycleError, match="'features' parameter of DatetimeFeatures"):
        DatetimeFeatures(("year", "fortnight")).fit(X)
    with pytest.raises(ValueError, match="0 <= lower < upper <= 1"):
        QuantileClipper(lower=0.9, upper=0.1).fit(X)
    assert clone(QuantileClipper(lower=0.1)).lower == 0.1


# -- bundles -------------------------------------------------------------------------------


def test_only_the_listed_types_need_trust_in_a_bundle() -> None:
    import skops.io as sio

    n = 60
    X = pd.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "flag": ["yes", "no"] * (n // 2),
            "colour": ["red", "blue", "green"] * (n // 3),
            "code": [f"c{i % 25}" for i in range(n)],
            "when": pd.date_range("2020-01-01", periods=n, freq="D"),
            "review": ["good value", "bad screen", "fine"] * (n // 3),
        }
    )
    kinds = {"x": "numeric", "flag": "boolean", "colour": "category", "code": "category"}
    kinds |= {"when": "datetime", "review": "text"}
    y = pd.Series([0, 1] * (n // 2))
    options = PrepareOptions(clip_outliers=True)
    preparer = build_preparer(X, kinds=kinds, options=options, task="binary").fit(X, y)
    assert {name for name, _, _ in preparer.transformers} == {
        "numeric", "boolean", "onehot", "target", "datetime", "text_review"
    }  # fmt: skip
    found = sio.get_untrusted_types(data=sio.dumps(preparer))
    assert {t for t in found if t.startswith("mlcycle.")} == set(SKOPS_TYPES)
    assert set(SKOPS_TYPES) <= trusted_types()  # the bundle's loader builds every one of them


def test_datetime_preparer_round_trips_through_a_bundle(tmp_path: Path) -> None:
    frame = _dates_frame()
    X, y = frame.drop(columns="y"), frame["y"]
    kinds = dict.fromkeys(X.columns, "datetime")
    model = make_pipeline(build_preparer(frame, "y", kinds=kinds), LogisticRegression())
    model.fit(X, y)
    write_bundle(model, tmp_path / "dates")
    np.testing.assert_allclose(
        read_bundle(tmp_path / "dates").predict_proba(X), model.predict_proba(X)
    )


def test_bundle_allowlist_trusts_the_preparer_types(public, tmp_path: Path) -> None:
    model, X, y = _model(public("aids2"), options=PrepareOptions(clip_outliers=True))
    model.fit(X, y)
    write_bundle(model, tmp_path / "aids2")
    np.testing.assert_array_equal(read_bundle(tmp_path / "aids2").predict(X), model.predict(X))


# -- de-duplication ------------------------------------------------------------------------


def test_deduplicate_drops_exact_copies_and_keeps_the_index() -> None:
    df = pd.DataFrame({"a": [1, 1, 2, np.nan, np.nan], "b": ["x", "x", "y", None, None]})
    kept, dropped = deduplicate(df)
    assert dropped == 2  # NaN equals NaN for duplicates
    assert list(kept.index) == [0, 2, 3]
    again, none = deduplicate(kept)
    assert none == 0
    pd.testing.assert_frame_equal(again, kept)


def test_deduplicate_reports_conflicting_targets(public) -> None:
    df = pd.DataFrame({"a": [1, 1, 1, 2, 2], "b": ["x", "x", "x", "y", "y"], "y": [0, 0, 1, 1, 1]})
    with pytest.warns(UserWarning, match=r"2 rows in 1 group\(s\) .* different values of 'y'"):
        kept, dropped = deduplicate(df, target="y")
    assert dropped == 2
    assert list(kept.index) == [0, 2, 3]

    birthwt = public("birthwt").frame  # 5 exact copies, no conflicting labels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept, dropped = deduplicate(pd.concat([birthwt, birthwt.head(3)]), target="low")
    assert dropped == 8 and len(kept) == len(birthwt) - 5

    housing = public("housing").frame  # houses alike in every feature but their price
    with pytest.warns(UserWarning, match="different values of 'price'"):
        kept, dropped = deduplicate(housing, target="price")
    assert dropped == 1


def test_deduplicate_refuses_bad_input() -> None:
    with pytest.raises(MlcycleError, match="target column 'y' is not in the data"):
        deduplicate(pd.DataFrame({"a": [1]}), target="y")
    with pytest.raises(MlcycleError, match="'df' parameter of deduplicate"):
        deduplicate([[1, 2]])  # type: ignore[arg-type]
