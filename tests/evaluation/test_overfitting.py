"""overfitting(): a warning when training scores much better than validation."""

from __future__ import annotations

import pytest

from mlcycle.evaluation import get_metric, overfitting
from mlcycle.exceptions import MlcycleError


def test_a_large_gap_warns() -> None:
    message = overfitting(1.0, 0.7, "accuracy")
    assert message is not None
    assert "accuracy" in message and "1" in message and "0.7" in message
    assert "overfitting" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_a_small_gap_does_not() -> None:
    assert overfitting(0.91, 0.90, "accuracy") is None
    assert overfitting(0.999, 0.951, "auc") is None


def test_a_metric_object_or_a_name_with_its_task() -> None:
    assert overfitting(1.0, 0.7, get_metric("roc_auc", "binary")) is not None
    assert overfitting(1.0, 0.7, "f1_macro", task="multiclass") is not None
    assert overfitting(1.0, 0.7, "roc_auc") is not None


def test_validation_better_than_training_is_not_overfitting() -> None:
    assert overfitting(0.7, 1.0, "accuracy") is None
    assert overfitting(50.0, 30.0, "rmse") is None


def test_lower_is_better_metrics() -> None:
    # RMSE 30 vs 50: the gap is 40 % of validation's distance from 0.
    message = overfitting(30.0, 50.0, "rmse")
    assert message is not None and "40%" in message
    assert overfitting(45.0, 50.0, "rmse") is None
    assert overfitting(0.05, 0.30, "log_loss") is not None
    assert overfitting(0.26, 0.30, "log_loss") is None
    assert overfitting(0.02, 0.10, "brier") is not None  # bounded: absolute gap 0.08
    assert overfitting(0.08, 0.10, "brier") is None


def test_r2_is_measured_against_a_perfect_one() -> None:
    assert overfitting(0.95, 0.80, "r2", task="regression") is not None
    assert overfitting(0.82, 0.80, "r2", task="regression") is None
    assert overfitting(0.9, -0.5, "r2") is not None


def test_undefined_scores_give_no_warning() -> None:
    assert overfitting(float("nan"), 0.7, "auc") is None
    assert overfitting(1.0, float("nan"), "auc") is None


def test_a_metric_that_does_not_fit_the_task() -> None:
    with pytest.raises(MlcycleError, match="'auc' does not fit a regression task"):
        overfitting(1.0, 0.7, "auc", task="regression")


def test_an_unknown_metric() -> None:
    with pytest.raises(MlcycleError, match=r"Unknown metric 'bogus'. Metrics: accuracy"):
        overfitting(1.0, 0.7, "bogus")


def test_scores_must_be_numbers() -> None:
    with pytest.raises(MlcycleError, match="'train_score' parameter of overfitting"):
        overfitting("high", 0.7, "auc")  # type: ignore[arg-type]
