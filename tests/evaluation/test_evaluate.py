"""evaluate(): metrics, confusion matrix and curve data, on real models and held-out rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.evaluation import Evaluation, evaluate
from mlcycle.exceptions import MlcycleError


def _ece(outcome: np.ndarray, prob: np.ndarray) -> float:
    """Expected calibration error written out bin by bin: (lo, hi] bins, the first from 0."""
    total = 0.0
    for lo in np.linspace(0.0, 0.9, 10):
        inside = (prob > lo) & (prob <= lo + 0.1) if lo > 0 else prob <= 0.1
        if inside.any():
            total += inside.sum() * abs(outcome[inside].mean() - prob[inside].mean())
    return total / len(prob)


# -- binary ------------------------------------------------------------------------------


def test_binary_metrics_match_scikit_learn(binary: Any) -> None:
    y, proba = binary.y_test, binary.model.predict_proba(binary.X_test)
    pred = (proba[:, 1] >= 0.5).astype(int)
    result = evaluate(binary.model, binary.X_test, y, task="binary")
    expected = {
        "auc": skm.roc_auc_score(y, proba[:, 1]),
        "pr_auc": skm.average_precision_score(y, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba),
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "brier": skm.brier_score_loss(y, proba[:, 1]),
        "ece": _ece(y.astype(float), proba[:, 1]),
    }
    assert list(result.metrics) == list(expected)
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-7), name
    assert result.task == "binary"
    assert result.threshold == 0.5
    assert result.labels == [0, 1]
    assert result.n_rows == len(y)
    assert result.confusion == skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    assert np.array_equal(pred, binary.model.predict(binary.X_test))


def test_label_metrics_use_the_given_threshold(binary: Any) -> None:
    y, proba = binary.y_test, binary.model.predict_proba(binary.X_test)
    low = evaluate(binary.model, binary.X_test, y, task="binary", threshold=0.05)
    pred = (proba[:, 1] >= 0.05).astype(int)
    assert low.threshold == 0.05
    assert low.metrics["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert low.metrics["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert low.confusion == skm.confusion_matrix(y, pred).tolist()
    default = evaluate(binary.model, binary.X_test, y, task="binary")
    assert low.metrics["recall"] > default.metrics["recall"]
    assert low.metrics["auc"] == default.metrics["auc"]  # probabilities do not move


def test_string_labels_and_an_ensemble(binary_strings: Any) -> None:
    case = binary_strings
    result = evaluate(case.model, case.X_test, case.y_test, task="binary")
    pred = np.where(case.model.predict_proba(case.X_test)[:, 1] >= 0.5, "malignant", "benign")
    assert result.labels == ["benign", "malignant"]
    assert result.metrics["f1"] == pytest.approx(
        skm.f1_score(case.y_test, pred, pos_label="malignant")
    )
    assert (
        result.confusion
        == skm.confusion_matrix(case.y_test, pred, labels=["benign", "malignant"]).tolist()
    )
    assert result.curves["calibration"]["of"] == "positive class malignant"


def test_a_bundle_scores_like_the_model_it_holds(binary: Any, tmp_path: Path) -> None:
    bundle = read_bundle(write_bundle(binary.model, tmp_path / "bundle").path)
    direct = evaluate(binary.model, binary.X_test, binary.y_test, task="binary")
    bundled = evaluate(bundle, binary.X_test, binary.y_test, task="binary")
    assert bundled.labels == direct.labels
    assert bundled.metrics == pytest.approx(direct.metrics)
    assert bundled.confusion == direct.confusion


def test_calibration_curve_matches_scikit_learn(binary: Any) -> None:
    y, prob = binary.y_test, binary.model.predict_proba(binary.X_test)[:, 1]
    for strategy in ("uniform", "quantile"):
        result = evaluate(binary.model, binary.X_test, y, task="binary", calibration=strategy)
        curve = result.curves["calibration"]
        prob_true, prob_pred = calibration_curve(y, prob, n_bins=10, strategy=strategy)
        assert curve["strategy"] == strategy
        assert curve["prob_true"] == pytest.approx(prob_true, abs=1e-6)
        assert curve["prob_pred"] == pytest.approx(prob_pred, abs=1e-6)
        assert sum(curve["count"]) == len(y)


def test_calibration_copes_with_few_rows(binary: Any) -> None:
    X, y = binary.X_test.iloc[:4], binary.y_test[:4]
    result = evaluate(binary.model, X, y, task="binary")
    curve = result.curves["calibration"]
    assert curve["n_bins"] == 1
    assert curve["count"] == [4]
    assert curve["prob_true"] == [pytest.approx(float(np.mean(y == 1)))]


def test_roc_and_pr_curves_are_thinned_to_points_on_the_full_curve() -> None:
    X, y = make_classification(n_samples=6000, flip_y=0.3, random_state=0)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    result = evaluate(model, X[3000:], y[3000:], task="binary")
    prob = model.predict_proba(X[3000:])[:, 1]
    fpr, tpr, _ = skm.roc_curve(y[3000:], prob)
    assert len(fpr) > 400  # the test needs a curve worth thinning
    roc = result.curves["roc"]
    assert 100 < len(roc["fpr"]) <= 200
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    full = set(zip(np.round(fpr, 6).tolist(), np.round(tpr, 6).tolist(), strict=True))
    assert set(zip(roc["fpr"], roc["tpr"], strict=True)) <= full
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(result.metrics["auc"], abs=0.005)
    pr = result.curves["pr"]
    assert len(pr["precision"]) <= 200
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["threshold"])
    assert pr["positive_rate"] == pytest.approx(float(np.mean(y[3000:])))


def test_one_class_leaves_auc_undefined_and_draws_no_roc(binary: Any) -> None:
    positives = binary.y_test == 1
    result = evaluate(
        binary.model, binary.X_test[positives], binary.y_test[positives], task="binary"
    )
    assert math.isnan(result.metrics["auc"])
    assert not math.isnan(result.metrics["pr_auc"])  # positives only: AP is defined
    assert "roc" not in result.curves
    assert "pr" not in result.curves
    assert set(result.plots()) == {"calibration", "confusion"}


# -- multiclass --------------------------------------------------------------------------


def test_multiclass_metrics_match_scikit_learn(multiclass: Any) -> None:
    y, proba = multiclass.y_test, multiclass.model.predict_proba(multiclass.X_test)
    pred = multiclass.model.predict(multiclass.X_test)
    result = evaluate(multiclass.model, multiclass.X_test, y, task="multiclass")
    top = proba.max(axis=1)
    expected = {
        "log_loss": skm.log_loss(y, proba),
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "f1_weighted": skm.f1_score(y, pred, average="weighted"),
        "auc_ovr": skm.roc_auc_score(y, proba, multi_class="ovr"),
        "ece": _ece((pred == y).astype(float), top),
    }
    assert list(result.metrics) == list(expected)
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-7), name
    assert result.threshold is None
    assert result.labels == [0, 1, 2]
    assert result.confusion == skm.confusion_matrix(y, pred).tolist()
    assert result.curves["calibration"]["of"] == "top class"
    assert "roc" not in result.curves


def test_auc_ovr_is_left_out_when_a_class_is_missing(multiclass: Any) -> None:
    keep = multiclass.y_test != 2
    result = evaluate(
        multiclass.model, multiclass.X_test[keep], multiclass.y_test[keep], task="multiclass"
    )
    assert "auc_ovr" not in result.metrics
    assert len(result.confusion) == 3
    assert sum(result.confusion[2]) == 0


def test_named_metrics_only(binary: Any) -> None:
    result = evaluate(
        binary.model, binary.X_test, binary.y_test, task="binary", metrics=["roc_auc", "f1", "ece"]
    )
    assert list(result.metrics) == ["auc", "f1", "ece"]


# -- regression --------------------------------------------------------------------------


def test_regression_metrics_match_scikit_learn(regression: Any) -> None:
    y, pred = regression.y_test, regression.model.predict(regression.X_test)
    result = evaluate(regression.model, regression.X_test, y, task="regression")
    expected = {
        "rmse": math.sqrt(skm.mean_squared_error(y, pred)),
        "mae": skm.mean_absolute_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
    }
    assert list(result.metrics) == list(expected)
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-9), name
    residual = y - pred
    summary = result.curves["residuals"]["summary"]
    assert summary["mean"] == pytest.approx(residual.mean())
    assert summary["median"] == pytest.approx(np.median(residual))
    assert summary["max"] == pytest.approx(residual.max())
    assert sum(result.curves["residuals"]["counts"]) == len(y)
    sample = result.curves["predicted_vs_actual"]
    assert sample["actual"] == pytest.approx(y.tolist())  # few rows: all are kept
    assert result.labels is None and result.confusion is None and result.threshold is None


def test_predicted_vs_actual_is_a_seeded_sample_of_real_rows() -> None:
    X, y = make_regression(n_samples=3000, n_features=5, noise=10.0, random_state=0)
    model = LinearRegression().fit(X, y)
    first = evaluate(model, X, y, task="regression").curves["predicted_vs_actual"]
    again = evaluate(model, X, y, task="regression").curves["predicted_vs_actual"]
    assert len(first["actual"]) == 500
    assert first["n_total"] == 3000
    assert first == again
    pairs = dict(zip(y.tolist(), model.predict(X).tolist(), strict=True))
    for actual, predicted in zip(first["actual"], first["predicted"], strict=True):
        assert pairs[actual] == predicted


# -- storage and rendering ----------------------------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_to_dict_is_json_and_round_trips(task: str, request: pytest.FixtureRequest) -> None:
    case = request.getfixturevalue(task)
    result = evaluate(case.model, case.X_test, case.y_test, task=task)
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = Evaluation.from_dict(json.loads(text))
    assert back.to_dict() == data
    assert back.metrics == pytest.approx(result.metrics)
    assert back.labels == result.labels
    assert back.confusion == result.confusion
    assert back.n_rows == result.n_rows


def test_undefined_metrics_are_stored_as_null_and_read_back_as_nan(binary: Any) -> None:
    positives = binary.y_test == 1
    result = evaluate(
        binary.model, binary.X_test[positives], binary.y_test[positives], task="binary"
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["metrics"]["auc"] is None
    assert math.isnan(Evaluation.from_dict(data).metrics["auc"])


def test_to_dict_turns_numpy_and_infinity_into_json() -> None:
    result = Evaluation(
        task="binary",
        metrics={"auc": np.float64(0.5), "log_loss": float("inf")},
        threshold=np.float32(0.25),  # type: ignore[arg-type]
        labels=list(np.array(["a", "b"])),
        confusion=np.array([[1, 2], [3, 4]]).tolist(),
        curves={"roc": {"fpr": np.array([0.0, 1.0]), "threshold": np.array([np.inf, 0.1])}},
        n_rows=10,
    )
    data = result.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["metrics"] == {"auc": 0.5, "log_loss": None}
    assert data["threshold"] == 0.25
    assert data["labels"] == ["a", "b"]
    assert data["curves"]["roc"] == {"fpr": [0.0, 1.0], "threshold": [None, 0.1]}


def test_from_dict_refuses_what_is_not_an_evaluation() -> None:
    with pytest.raises(MlcycleError, match="not an evaluation"):
        Evaluation.from_dict({"metrics": {}})
    with pytest.raises(MlcycleError, match=r"'task' parameter of Evaluation.from_dict"):
        Evaluation.from_dict({"task": "ranking", "metrics": {}})


def test_render_prints_the_metrics_and_the_confusion_matrix(binary: Any) -> None:
    result = evaluate(binary.model, binary.X_test, binary.y_test, task="binary")
    console = Console(record=True, width=120)
    result.render(console)
    text = console.export_text()
    assert "Evaluation: binary, 171 rows, threshold 0.5" in text
    assert f"{result.metrics['auc']:.4f}" in text
    assert "expected calibration error" in text
    assert "true \\ predicted" in text
    assert f"{result.confusion[1][1]:,}" in text


# -- bad input -----------------------------------------------------------------------------


def test_lengths_must_match(binary: Any) -> None:
    with pytest.raises(MlcycleError, match="X has 171 rows but y has 170 values"):
        evaluate(binary.model, binary.X_test, binary.y_test[:-1], task="binary")


def test_x_must_have_rows(binary: Any) -> None:
    with pytest.raises(MlcycleError, match="X has no rows"):
        evaluate(binary.model, binary.X_test.iloc[:0], binary.y_test[:0], task="binary")


def test_x_must_be_a_table(binary: Any) -> None:
    with pytest.raises(MlcycleError, match="X must be a table of rows"):
        evaluate(binary.model, 5, binary.y_test, task="binary")


def test_y_must_be_one_column(binary: Any) -> None:
    y = np.column_stack([binary.y_test, binary.y_test])
    with pytest.raises(MlcycleError, match="y must be one column"):
        evaluate(binary.model, binary.X_test, y, task="binary")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_regression_targets_must_be_finite(bad: float, regression: Any) -> None:
    y = regression.y_test.astype(float).copy()
    y[3] = bad
    with pytest.raises(MlcycleError, match=r"y has 1 missing or infinite values .* position 3"):
        evaluate(regression.model, regression.X_test, y, task="regression")


def test_regression_targets_must_be_numbers(regression: Any) -> None:
    y = np.array(["high"] * len(regression.y_test), dtype=object)
    with pytest.raises(MlcycleError, match="not numbers"):
        evaluate(regression.model, regression.X_test, y, task="regression")


def test_unknown_task(binary: Any) -> None:
    with pytest.raises(
        MlcycleError, match=r"'task' parameter of evaluate.*binary, multiclass, regression"
    ):
        evaluate(binary.model, binary.X_test, binary.y_test, task="clustering")


def test_labels_the_model_never_saw(binary: Any) -> None:
    y = binary.y_test.copy()
    y[0] = 7
    with pytest.raises(MlcycleError, match=r"never saw: 7\. The model's classes are: 0, 1"):
        evaluate(binary.model, binary.X_test, y, task="binary")


def test_string_labels_for_a_model_trained_on_numbers(binary: Any) -> None:
    y = binary.y_test.astype(str)
    with pytest.raises(MlcycleError, match="never saw: '0', '1'"):
        evaluate(binary.model, binary.X_test, y, task="binary")


def test_missing_labels(binary: Any) -> None:
    y = pd.Series(binary.y_test, dtype="Int64")
    y.iloc[2] = pd.NA
    with pytest.raises(MlcycleError, match="y has 1 missing labels"):
        evaluate(binary.model, binary.X_test, y, task="binary")


def test_binary_task_needs_two_classes(multiclass: Any) -> None:
    with pytest.raises(MlcycleError, match=r"binary task needs a model with two classes.*3"):
        evaluate(multiclass.model, multiclass.X_test, multiclass.y_test, task="binary")


def test_classification_needs_probabilities(regression: Any) -> None:
    y = (regression.y_test > 150).astype(int)
    with pytest.raises(MlcycleError, match="has no predict_proba"):
        evaluate(regression.model, regression.X_test, y, task="binary", labels=[0, 1])


def test_a_model_without_classes_needs_labels(regression: Any) -> None:
    y = (regression.y_test > 150).astype(int)
    with pytest.raises(MlcycleError, match="no classes_; pass labels="):
        evaluate(regression.model, regression.X_test, y, task="binary")


@pytest.mark.parametrize("threshold", [1.5, -0.1, "0.5", True])
def test_threshold_must_be_a_probability(threshold: Any, binary: Any) -> None:
    with pytest.raises(MlcycleError, match=r"'threshold' parameter of evaluate.*between 0 and 1"):
        evaluate(binary.model, binary.X_test, binary.y_test, task="binary", threshold=threshold)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_threshold_is_for_binary_tasks(task: str, request: pytest.FixtureRequest) -> None:
    case = request.getfixturevalue(task)
    with pytest.raises(MlcycleError, match=f"applies to binary tasks only. Got 0.3 for a {task}"):
        evaluate(case.model, case.X_test, case.y_test, task=task, threshold=0.3)


def test_metrics_must_fit_the_task(binary: Any) -> None:
    with pytest.raises(MlcycleError, match="'rmse' does not fit a binary task"):
        evaluate(binary.model, binary.X_test, binary.y_test, task="binary", metrics=["rmse"])
    with pytest.raises(MlcycleError, match=r"Unknown metric 'bogus'. Metrics for binary: accuracy"):
        evaluate(binary.model, binary.X_test, binary.y_test, task="binary", metrics=["bogus"])


def test_calibration_strategy_is_checked(binary: Any) -> None:
    with pytest.raises(MlcycleError, match="'calibration' parameter of evaluate"):
        evaluate(binary.model, binary.X_test, binary.y_test, task="binary", calibration="kmeans")
