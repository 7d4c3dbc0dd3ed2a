"""The metric table: names, aliases, tasks, and values that agree with scikit-learn's."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from mlcycle.evaluation import DEFAULT_METRICS, METRICS, TASKS, get_metric, loss, score
from mlcycle.exceptions import MlcycleError

# name -> scikit-learn's own value from (y_true, proba, predicted labels, classes)
Reference = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]
REFERENCE: dict[str, Reference] = {
    "auc": lambda y, p, _, c: skm.roc_auc_score(y == c[-1], p[:, -1]),
    "pr_auc": lambda y, p, _, c: skm.average_precision_score(y == c[-1], p[:, -1]),
    "brier": lambda y, p, _, c: skm.brier_score_loss(y == c[-1], p[:, -1]),
    "log_loss": lambda y, p, _, c: skm.log_loss(y, p, labels=c),
    "auc_ovr": lambda y, p, _, c: skm.roc_auc_score(y, p, multi_class="ovr", labels=c),
    "accuracy": lambda y, _, pred, c: skm.accuracy_score(y, pred),
    "balanced_accuracy": lambda y, _, pred, c: skm.balanced_accuracy_score(y, pred),
    "f1": lambda y, _, pred, c: skm.f1_score(y, pred, pos_label=c[-1]),
    "precision": lambda y, _, pred, c: skm.precision_score(y, pred, pos_label=c[-1]),
    "recall": lambda y, _, pred, c: skm.recall_score(y, pred, pos_label=c[-1]),
    "f1_macro": lambda y, _, pred, c: skm.f1_score(y, pred, average="macro"),
    "f1_weighted": lambda y, _, pred, c: skm.f1_score(y, pred, average="weighted"),
    "rmse": lambda y, _, pred, c: math.sqrt(skm.mean_squared_error(y, pred)),
    "mae": lambda y, _, pred, c: skm.mean_absolute_error(y, pred),
    "r2": lambda y, _, pred, c: skm.r2_score(y, pred),
    "mape": lambda y, _, pred, c: skm.mean_absolute_percentage_error(y, pred),
}


def test_every_metric_has_a_reference() -> None:
    assert set(REFERENCE) == set(METRICS)


@pytest.mark.parametrize(
    ("name", "task"),
    [(name, task) for name, metric in METRICS.items() for task in metric.tasks],
)
def test_score_matches_scikit_learn(name: str, task: str, request: pytest.FixtureRequest) -> None:
    case: Any = request.getfixturevalue(task)
    y = case.y_test
    pred = case.model.predict(case.X_test)
    classes = getattr(case.model, "classes_", None)
    proba = case.model.predict_proba(case.X_test) if task != "regression" else np.array([])
    metric = METRICS[name]
    got = score(name, y, proba if metric.needs_proba else pred, task=task, labels=classes)
    assert got == pytest.approx(REFERENCE[name](y, proba, pred, classes), rel=1e-7)


@pytest.mark.parametrize("name", ["f1", "precision", "recall", "auc", "brier"])
def test_string_labels_take_the_last_label_as_positive(name: str, binary_strings: Any) -> None:
    case = binary_strings
    classes = case.model.classes_
    assert classes.tolist() == ["benign", "malignant"]
    proba = case.model.predict_proba(case.X_test)
    pred = case.model.predict(case.X_test)
    metric = METRICS[name]
    got = score(
        name, case.y_test, proba if metric.needs_proba else pred, task="binary", labels=classes
    )
    assert got == pytest.approx(REFERENCE[name](case.y_test, proba, pred, classes))


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("roc_auc", "auc"),
        ("ROC_AUC ", "auc"),
        ("logloss", "log_loss"),
        ("neg_log_loss", "log_loss"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert get_metric(alias, "binary").name == name


def test_mse_alias_means_rmse() -> None:
    assert get_metric("mse", "regression") is METRICS["rmse"]


def test_a_metric_for_another_task_is_refused() -> None:
    with pytest.raises(MlcycleError, match="'auc' does not fit a regression task"):
        get_metric("auc", "regression")
    with pytest.raises(MlcycleError, match=r"does not fit a binary task.*Metrics for binary"):
        get_metric("f1_macro", "binary")


def test_an_unknown_metric_lists_the_metrics_for_the_task() -> None:
    with pytest.raises(
        MlcycleError,
        match=r"Unknown metric 'bogus'\. Metrics for regression: mae, mape, r2, rmse\.",
    ):
        get_metric("bogus", "regression")


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(MlcycleError, match=r"Unknown task 'clustering'. Tasks: binary"):
        get_metric("auc", "clustering")


def test_a_metric_name_must_be_a_string() -> None:
    with pytest.raises(MlcycleError, match=r"must be a string. Got 3"):
        get_metric(3, "binary")  # type: ignore[arg-type]


def test_defaults_fit_their_tasks() -> None:
    assert set(DEFAULT_METRICS) == set(TASKS)
    for task, name in DEFAULT_METRICS.items():
        assert get_metric(name, task).name == name


def test_loss_is_something_to_minimise() -> None:
    assert loss(METRICS["auc"], 0.9) == -0.9
    assert loss(METRICS["rmse"], 3.0) == 3.0
    assert loss(METRICS["auc"], float("nan")) == float("inf")


def test_log_loss_names_an_unknown_label() -> None:
    with pytest.raises(MlcycleError, match=r"The label 2 is not one of the model's classes: 0, 1"):
        score("log_loss", [0, 2], [[0.5, 0.5], [0.5, 0.5]], task="binary", labels=[0, 1])


def test_undefined_values_are_nan() -> None:
    one_class: dict[str, Any] = {"task": "binary", "labels": [0, 1]}
    assert math.isnan(score("auc", [1, 1], [[0.2, 0.8], [0.4, 0.6]], **one_class))
    assert math.isnan(score("pr_auc", [0, 0], [[0.2, 0.8], [0.4, 0.6]], **one_class))
    proba = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]
    assert math.isnan(score("auc_ovr", [0, 1], proba, task="multiclass", labels=[0, 1, 2]))
    assert math.isnan(score("r2", [2.0, 2.0], [1.0, 3.0], task="regression"))
