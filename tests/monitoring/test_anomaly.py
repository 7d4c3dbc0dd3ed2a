"""The anomaly detector fitted at training time: flags, threshold, bundle round trip, share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import mlcycle
from mlcycle.data import (
    ANOMALY_FILE,
    anomaly_bytes,
    anomaly_threshold,
    fit_anomaly_detector,
    score_anomalies,
)
from mlcycle.exceptions import DataError, MlcycleError
from mlcycle.monitoring import AnomalySummary, anomaly_share
from mlcycle.registry import Workspace
from mlcycle.schema import Schema


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "visits": rng.poisson(5, n).astype(float),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _far(n: int) -> pd.DataFrame:
    rows = _rows(n, 9)
    rows["age"], rows["income"], rows["visits"] = 150.0, 1e7, 80.0
    return rows


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return _rows(3000, 0)


@pytest.fixture(scope="module")
def detector(training: pd.DataFrame) -> Pipeline:
    return fit_anomaly_detector(training, seed=0)


def test_about_one_percent_of_normal_rows_and_most_far_outliers_are_flagged(
    training: pd.DataFrame, detector: Pipeline
) -> None:
    threshold = anomaly_threshold(detector)
    on_training = score_anomalies(detector, training) > threshold
    assert on_training.mean() == pytest.approx(0.01, abs=0.002)
    fresh = score_anomalies(detector, _rows(4000, 1)) > threshold
    assert 0.002 <= fresh.mean() <= 0.03
    far = score_anomalies(detector, _far(200)) > threshold
    assert far.mean() >= 0.9


def test_scores_are_higher_for_unusual_rows_and_extra_columns_are_ignored(
    detector: Pipeline,
) -> None:
    normal = _rows(50, 2)
    scores = score_anomalies(detector, normal.assign(extra="x")[::-1])
    assert np.allclose(scores[::-1], score_anomalies(detector, normal))
    assert np.all((scores > 0) & (scores <= 1))
    assert score_anomalies(detector, _far(5)).min() > scores.max()
    assert score_anomalies(detector, normal.iloc[:0]).shape == (0,)


def test_the_schema_chooses_the_features(training: pd.DataFrame) -> None:
    labelled = training.assign(churned=(training["age"] > 45).astype(int))
    schema = Schema.from_dataframe(labelled, target="churned")
    fitted = fit_anomaly_detector(labelled, schema=schema, contamination=0.05, seed=1)
    assert list(fitted.feature_names_in_) == ["age", "income", "visits", "plan"]
    flagged = score_anomalies(fitted, training) > anomaly_threshold(fitted)
    assert flagged.mean() == pytest.approx(0.05, abs=0.005)
    with pytest.raises(DataError, match=r"Column\(s\) plan of the schema are missing"):
        fit_anomaly_detector(labelled.drop(columns="plan"), schema=schema)


def test_missing_columns_and_bad_parameters_are_named(detector: Pipeline) -> None:
    with pytest.raises(DataError, match=r"Column\(s\) income are missing.*expects: age, income"):
        score_anomalies(detector, _rows(5, 3).drop(columns="income"))
    with pytest.raises(MlcycleError, match="'contamination' parameter of fit_anomaly_detector"):
        fit_anomaly_detector(_rows(50, 3), contamination=0)
    with pytest.raises(MlcycleError, match="'detector' parameter of score_anomalies"):
        score_anomalies(LogisticRegression(), _rows(5, 3))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="at least 2 training rows"):
        fit_anomaly_detector(_rows(1, 3))


def test_the_detector_round_trips_through_a_registered_bundle(
    sqlite_workspace: Workspace, training: pd.DataFrame, detector: Pipeline
) -> None:
    X = training[["age", "visits"]]
    model = LogisticRegression().fit(X, (training["age"] > 45).astype(int))
    data = anomaly_bytes(detector)
    assert len(data) < 2_000_000  # deflated
    mlcycle.register_model(
        "churn", model, extra_files={ANOMALY_FILE: data}, workspace=sqlite_workspace
    )
    bundle = mlcycle.load_model("churn", workspace=sqlite_workspace)
    loaded = bundle.load_extra_model(ANOMALY_FILE)
    assert isinstance(loaded, Pipeline)
    current = _rows(500, 4)
    scores = score_anomalies(loaded, current)
    assert np.array_equal(scores, score_anomalies(detector, current))
    assert anomaly_threshold(loaded) == anomaly_threshold(detector)

    summary = anomaly_share(bundle, pd.concat([current, _far(50)], ignore_index=True))
    assert isinstance(summary, AnomalySummary)
    assert summary.rows == 550 and summary.expected == 0.01
    assert 50 <= summary.flagged <= 60
    assert summary.share == pytest.approx(summary.flagged / 550)
    assert summary.quantiles["p50"] < summary.threshold < summary.quantiles["max"]
    assert summary.summary().startswith(f"anomalies: {summary.flagged} of 550 rows (")


def test_a_bundle_without_a_detector_gives_none_or_a_clear_error(
    sqlite_workspace: Workspace, training: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(training[["age"]], (training["age"] > 45).astype(int))
    mlcycle.register_model("plain", model, workspace=sqlite_workspace)
    bundle = mlcycle.load_model("plain", workspace=sqlite_workspace)
    assert anomaly_share(bundle, training) is None
    with pytest.raises(MlcycleError, match=r"has no anomaly detector.*Retrain the model"):
        anomaly_share(bundle, training, required=True)


def test_logged_inputs_and_arrow_tables_are_accepted(detector: Pipeline) -> None:
    rows = _rows(300, 5)
    logged = rows.add_prefix("input.").assign(prediction="1", latency_ms=2.0)
    direct = anomaly_share(detector, rows)
    assert anomaly_share(detector, logged) == direct
    assert anomaly_share(detector, pa.Table.from_pandas(logged)) == direct
    empty = anomaly_share(detector, rows.iloc[:0])
    assert empty is not None and (empty.rows, empty.share) == (0, None)
    assert empty.summary() == "anomalies: no rows scored"
