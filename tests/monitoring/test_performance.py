"""Live performance from feedback labels, and the confidence-based estimate without them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from mlcycle.exceptions import DataError, MlcycleError
from mlcycle.monitoring import estimate_performance, live_performance

DAY1 = pd.Timestamp("2026-12-01", tz="UTC")
DAY2 = pd.Timestamp("2026-12-02", tz="UTC")
Z95 = 1.959963984540054


def _wilson(k: int, n: int) -> tuple[float, float]:
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def _log(rows: list[tuple[str, pd.Timestamp, str, float]]) -> pd.DataFrame:
    """A prediction log of a yes/no classifier: (id, time, predicted label, P(yes))."""
    return pd.DataFrame(
        {
            "prediction_id": [r[0] for r in rows],
            "request_id": [r[0].split("-")[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "role": "primary",
            "latency_ms": 1.0,
            "input.x": 0.0,
            "prediction": [r[2] for r in rows],
            "prediction_value": np.nan,
            "proba.no": [1 - r[3] for r in rows],
            "proba.yes": [r[3] for r in rows],
        }
    )


Logs = tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]


@pytest.fixture
def logs() -> Logs:
    """Day 1: 10 labelled predictions, 7 right, and 2 without a label; day 2: 4 labelled,
    1 right. The truth per day is returned for exact checks."""
    rng = np.random.default_rng(0)
    rows, labels, truth = [], [], {}
    for day, n, right in ((DAY1, 10, 7), (DAY2, 4, 1)):
        p_yes = rng.uniform(0.05, 0.95, n).round(3)
        predicted = np.where(p_yes >= 0.5, "yes", "no")
        wrong = {"yes": "no", "no": "yes"}
        actual = np.array([p if i < right else wrong[p] for i, p in enumerate(predicted)])
        truth[str(day.date())] = np.c_[actual, p_yes]
        for i in range(n):
            pid = f"{day.day}{i}-0"
            rows.append((pid, day + pd.Timedelta(minutes=30 * i + 1), predicted[i], p_yes[i]))
            labels.append((pid, actual[i]))
    rows += [("x1-0", DAY1 + pd.Timedelta(hours=20), "yes", 0.9)]
    rows += [("x2-0", DAY1 + pd.Timedelta(hours=21), "no", 0.2)]
    feedback = pd.DataFrame(
        {
            "prediction_id": [p for p, _ in labels],
            "timestamp": DAY2 + pd.Timedelta(days=1),
            "label": [label for _, label in labels],
            "label_value": np.nan,
        }
    )
    return _log(rows), feedback, truth


def test_labelled_windows_give_exact_metrics(logs: Logs) -> None:
    log, feedback, truth = logs
    windows = live_performance(log, feedback, task="binary", classes=["no", "yes"])
    assert [(w.start, w.end, w.rows, w.labelled) for w in windows] == [
        (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC), 12, 10),
        (datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC), 4, 4),
    ]
    first, second = windows
    assert first.metrics["accuracy"] == 0.7 and second.metrics["accuracy"] == 0.25
    assert first.intervals["accuracy"] == pytest.approx(_wilson(7, 10))
    assert second.intervals["accuracy"] == pytest.approx(_wilson(1, 4))
    assert first.std["accuracy"] == pytest.approx(math.sqrt(0.7 * 0.3 / 10))
    actual, p_yes = truth["2026-12-01"][:, 0], truth["2026-12-01"][:, 1].astype(float)
    assert first.metrics["auc"] == pytest.approx(roc_auc_score(actual == "yes", p_yes))
    assert first.metrics["log_loss"] == pytest.approx(
        log_loss(actual, np.c_[1 - p_yes, p_yes], labels=["no", "yes"])
    )
    for window in windows:
        for name in ("auc", "log_loss"):
            low, high = window.intervals[name]
            assert low <= window.metrics[name] <= high
        assert not window.estimated
    assert first.std["auc"] > 0 and first.std["log_loss"] > 0
    assert first.to_dict()["intervals"]["accuracy"] == list(first.intervals["accuracy"])


def test_the_latest_label_counts_and_windows_can_be_hours(logs: Logs) -> None:
    log, feedback, _ = logs
    first_id = feedback["prediction_id"].iloc[0]  # right on day 1; a later label says wrong
    wrong = "no" if feedback["label"].iloc[0] == "yes" else "yes"
    later = pd.DataFrame(
        {"prediction_id": [first_id], "timestamp": [DAY2 + pd.Timedelta(days=2)],
         "label": [wrong], "label_value": [np.nan]}
    )  # fmt: skip
    windows = live_performance(
        log, pd.concat([later, feedback]), task="binary", window="1d", bootstrap=0
    )
    assert windows[0].metrics["accuracy"] == 0.6
    assert "auc" not in windows[0].intervals  # no bootstrap asked
    hourly = live_performance(log, feedback, task="binary", window="1h", bootstrap=0)
    assert sum(w.rows for w in hourly) == len(log)
    assert all(w.end - w.start == pd.Timedelta(hours=1) for w in hourly)
    assert hourly[0].start == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_window_without_labels_has_no_metrics(logs: Logs) -> None:
    log, feedback, _ = logs
    windows = live_performance(log, feedback.iloc[:10], task="binary")
    assert (windows[1].rows, windows[1].labelled, windows[1].metrics) == (4, 0, {})


def test_extra_metrics_have_bootstrap_intervals_and_a_seed(logs: Logs) -> None:
    log, feedback, _ = logs
    one = live_performance(log, feedback, task="binary", metric=["f1", "brier"], seed=3)
    two = live_performance(log, feedback, task="binary", metric=["f1", "brier"], seed=3)
    assert one == two
    assert {"accuracy", "auc", "log_loss", "f1", "brier"} <= set(one[0].metrics)
    low, high = one[0].intervals["f1"]
    assert low <= one[0].metrics["f1"] <= high


def test_a_metric_needing_probabilities_needs_the_proba_columns(logs: Logs) -> None:
    log, feedback, _ = logs
    bare = log.drop(columns=["proba.no", "proba.yes"])
    windows = live_performance(bare, feedback, task="binary", classes=["no", "yes"])
    assert set(windows[0].metrics) == {"accuracy"}  # defaults that need them are left out
    with pytest.raises(MlcycleError, match="'pr_auc' needs class probabilities"):
        live_performance(bare, feedback, task="binary", classes=["no", "yes"], metric="pr_auc")


def test_labels_are_matched_to_the_classes_as_sent() -> None:
    log = pd.DataFrame(
        {"prediction_id": ["a", "b", "c", "d"], "timestamp": [DAY1] * 4,
         "prediction": ["1", "0", "True", "1"]}
    )  # fmt: skip
    feedback = pd.DataFrame({"prediction_id": list("abcd"), "label": ["1.0", "0", "true", "2"]})
    (window,) = live_performance(log, feedback, task="multiclass", classes=[0, 1, True])
    assert window.metrics == {"accuracy": 0.75}  # "2" is no class: a wrong prediction


def test_regression_windows_give_rmse_and_mae() -> None:
    log = pd.DataFrame(
        {"prediction_id": ["a", "b", "c", "d", "e"], "timestamp": [DAY1] * 4 + [DAY2],
         "prediction": ["1.0", "2.0", "3.0", "4.0", "5.0"],
         "prediction_value": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )  # fmt: skip
    feedback = pd.DataFrame(
        {"prediction_id": list("abcde"), "label": ["2", "2", "1", "4", "x"],
         "label_value": [2.0, 2.0, 1.0, None, None]}
    )  # fmt: skip
    first, second = live_performance(log, feedback, task="regression", metric="r2")
    # errors 1, 0, 2, 0 ("4" comes from the text label)
    assert first.labelled == 4
    assert first.metrics["rmse"] == pytest.approx(math.sqrt(5 / 4))
    assert first.metrics["mae"] == pytest.approx(0.75)
    assert "r2" in first.metrics
    low, high = first.intervals["mae"]
    assert 0 <= low <= 0.75 <= high <= 2
    assert (second.rows, second.labelled, second.metrics) == (1, 0, {})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking"}, r"'task' parameter of live_performance\(\) must be 'binary'"),
        ({"task": "binary", "window": "soon"}, r"'window' .* a positive duration"),
        ({"task": "binary", "window": "-1h"}, r"'window' .* a positive duration"),
        ({"task": "binary", "confidence": 95}, r"'confidence' .* a level in \(0, 1\)"),
        ({"task": "binary", "metric": "rmse"}, r"does not fit a binary task"),
    ],
)
def test_bad_parameters_are_refused(logs: Logs, kwargs: dict[str, Any], message: str) -> None:
    log, feedback, _ = logs
    with pytest.raises(MlcycleError, match=message):
        live_performance(log, feedback, **kwargs)


def test_missing_columns_are_named(logs: Logs) -> None:
    log, feedback, _ = logs
    with pytest.raises(DataError, match="The predictions table has no 'timestamp' column"):
        live_performance(log.drop(columns="timestamp"), feedback, task="binary")
    with pytest.raises(DataError, match="The feedback has no label column"):
        live_performance(log, feedback.drop(columns="label"), task="binary")
    with pytest.raises(DataError, match="needs the predicted probabilities"):
        estimate_performance(log.drop(columns="proba.yes"), classes=["no", "yes"])


# -- estimate without labels --------------------------------------------------------------


def _stream(
    temperature: float, windows: int = 40, rows: int = 500, seed: int = 7
) -> tuple[pd.DataFrame, np.ndarray]:
    """Three-class predictions whose true labels are drawn from the probabilities raised to
    ``temperature`` and renormalised: 1 is calibrated, above 1 the model is over-confident
    (its top class is right less often than it says)."""
    rng = np.random.default_rng(seed)
    n = windows * rows
    logits = rng.normal(size=(n, 3)) * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tempered = proba ** (1 / temperature)
    tempered /= tempered.sum(axis=1, keepdims=True)
    truth = (rng.random(n)[:, None] > np.cumsum(tempered, axis=1)).sum(axis=1)
    classes = np.array(["a", "b", "c"])
    log = pd.DataFrame(
        {
            "prediction_id": [f"r{i}-0" for i in range(n)],
            "timestamp": DAY1 + pd.to_timedelta(np.repeat(np.arange(windows), rows), unit="h"),
            "prediction": classes[proba.argmax(axis=1)],
            **{f"proba.{c}": proba[:, j] for j, c in enumerate(classes)},
        }
    )
    correct = (truth == proba.argmax(axis=1)).reshape(windows, rows).mean(axis=1)
    return log, correct


def test_the_estimate_covers_the_real_accuracy_when_calibrated() -> None:
    log, actual = _stream(temperature=1.0)
    estimates = estimate_performance(log, window="1h")
    assert len(estimates) == 40
    inside = [
        w.intervals["accuracy"][0] <= a <= w.intervals["accuracy"][1]
        for w, a in zip(estimates, actual, strict=True)
    ]
    assert 0.85 <= np.mean(inside) <= 1.0  # a 95 % interval, over 40 windows
    first = estimates[0]
    assert first.estimated and first.labelled == 0 and first.rows == 500
    p = np.max(log[["proba.a", "proba.b", "proba.c"]].iloc[:500].to_numpy(), axis=1)
    assert first.metrics["accuracy"] == pytest.approx(p.mean())
    assert first.std["accuracy"] == pytest.approx(np.sqrt(np.sum(p * (1 - p))) / 500)


def test_the_estimate_is_wrong_when_the_model_is_over_confident() -> None:
    """Documented limitation: the interval assumes calibration. With labels drawn from
    flattened probabilities the estimate stays high while the real accuracy drops."""
    log, actual = _stream(temperature=3.0)
    estimates = estimate_performance(log, window="1h")
    above = [w.intervals["accuracy"][0] > a for w, a in zip(estimates, actual, strict=True)]
    assert np.mean(above) >= 0.9
    assert np.mean([w.metrics["accuracy"] for w in estimates]) - actual.mean() > 0.1


def test_the_estimate_uses_the_probability_of_the_predicted_class() -> None:
    """A binary model with a tuned threshold may predict a class below 0.5."""
    log = _log([("a-0", DAY1, "yes", 0.3), ("b-0", DAY1, "no", 0.2)])
    (window,) = estimate_performance(log, classes=["no", "yes"])
    assert window.metrics["accuracy"] == pytest.approx((0.3 + 0.8) / 2)


@pytest.mark.parametrize(
    ("name", "task"),
    [("auc", "binary"), ("log_loss", "binary"), ("brier", "binary"), ("f1", "binary"),
     ("precision", "binary"), ("recall", "binary"), ("rmse", "regression"),
     ("mae", "regression")],
)  # fmt: skip
def test_vectorised_bootstrap_statistics_equal_the_metrics_on_the_resamples(
    name: str, task: str
) -> None:
    """The intervals come from statistics computed on row counts, without a call per
    resample: each must equal mlcycle.evaluation's metric on the resampled rows."""
    from mlcycle.evaluation import get_metric
    from mlcycle.monitoring._performance import _FAST, _resamples

    rng = np.random.default_rng(0)
    n, labels = 300, np.array(["a", "b"], dtype=object)
    if task == "binary":
        y_true = np.where(rng.random(n) < 0.4, "b", "a").astype(object)
        p = rng.random(n).round(2)  # ties, which AUC counts as half
        y = np.c_[1 - p, p] if get_metric(name, task).needs_proba else np.where(p > 0.5, "b", "a")
    else:
        y_true = rng.normal(size=n)
        y = y_true + rng.normal(size=n)
    counts = next(_resamples(n, 6, np.random.default_rng(1)))
    fast = _FAST[name](y_true, y, labels, iter([counts]))
    metric = get_metric(name, task)
    slow = [
        metric(np.repeat(y_true, c.astype(int)), np.repeat(y, c.astype(int), axis=0), labels)
        for c in counts
    ]
    assert fast == pytest.approx(slow)
