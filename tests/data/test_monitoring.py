"""monitoring_reference: the three things a bundle carries for monitoring, from one table."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcycle.data import monitoring_reference, score_anomalies
from mlcycle.exceptions import BadParameterError, DataError
from mlcycle.schema import Schema


def _table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "plan": rng.choice(["a", "b"], n)})
    frame["price"] = 3 * frame["x"] + (frame["plan"] == "b") + rng.normal(scale=0.1, size=n)
    return frame


def _regressor(frame: pd.DataFrame) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    return make_pipeline(encode, LinearRegression()).fit(frame[["x", "plan"]], frame["price"])


def test_a_regressor_gets_its_predictions_target_sample_and_detector() -> None:
    frame = _table()
    model = _regressor(frame)
    schema = Schema.from_dataframe(frame, target="price")
    reference = monitoring_reference(model, frame, target="price", schema=schema, seed=3)
    drift = reference.drift
    assert set(drift["features"]) == {"x", "plan"}
    assert drift["features"]["plan"]["kind"] == "category"
    assert drift["prediction"]["kind"] == "numeric"  # no predict_proba: predicted values
    assert drift["target"]["name"] == "price"
    assert reference.sample is not None
    assert list(reference.sample.columns) == ["x", "plan", "price"]
    detector = reference.detector
    far = frame.head(3).assign(x=50.0)
    assert (score_anomalies(detector, far) > score_anomalies(detector, frame.head(3))).all()


def test_without_the_target_column_the_features_are_enough() -> None:
    frame = _table()
    reference = monitoring_reference(_regressor(frame), frame[["x", "plan"]], target="price")
    assert reference.drift["target"] is None
    assert reference.sample is not None and list(reference.sample.columns) == ["x", "plan"]


def test_personal_data_is_kept_out_of_the_sample_drift_reference_and_detector() -> None:
    # a model trained elsewhere that uses an e-mail column (register_model(reference_data=))
    frame = _table().assign(email=lambda f: [f"client{i}@example.com" for i in range(len(f))])
    model = _regressor(frame)
    schema = Schema.from_dataframe(frame, target="price")
    reference = monitoring_reference(model, frame, target="price", schema=schema)
    assert reference.sample is not None and list(reference.sample.columns) == ["x", "plan", "price"]
    assert set(reference.drift["features"]) == {"x", "plan"}
    assert reference.drift["skipped"] == ["email"]
    assert "@example.com" not in json.dumps(reference.drift)
    assert list(reference.detector.feature_names_in_) == ["x", "plan"]


def test_bad_reference_tables_are_refused() -> None:
    frame = _table()
    model = _regressor(frame)
    schema = Schema.from_dataframe(frame, target="price")
    with pytest.raises(DataError, match="Column\\(s\\) plan of the model are not in the reference"):
        monitoring_reference(model, frame.drop(columns="plan"), schema=schema)
    with pytest.raises(BadParameterError, match="'frame' parameter of monitoring_reference"):
        monitoring_reference(model, frame.to_numpy())
