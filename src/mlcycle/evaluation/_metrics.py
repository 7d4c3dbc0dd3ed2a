"""The metrics mlcycle knows: their tasks, direction and what predictions they need.

One table serves the search (every trial is scored with :func:`score`), the evaluation
report and the CLI's validation of ``--metric``. A metric takes the true labels and either
class probabilities (``needs_proba``: one column per class, in ``labels`` order) or
predictions (labels for classes, numbers for regression).

>>> metric = get_metric("auc", "binary")
>>> score("auc", [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], task="binary")
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcycle.exceptions import BadParameterError, DataError

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "TASKS",
    "Metric",
    "get_metric",
    "loss",
    "score",
]

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
_EPS = 1e-15


@dataclass(frozen=True)
class Metric:
    """A named metric: ``fn(y_true, y, labels)`` where ``y`` is what ``needs_proba`` says."""

    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    needs_proba: bool
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]
    description: str

    def __call__(
        self, y_true: Any, y: Any, labels: Sequence[Any] | np.ndarray | None = None
    ) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y), _labels(labels)))

    def from_loss(self, value: float) -> float:
        """The metric's value back from :func:`loss` (the search minimises losses)."""
        return -value if self.greater_is_better else value


def _labels(labels: Sequence[Any] | np.ndarray | None) -> np.ndarray | None:
    return None if labels is None else np.asarray(labels)


def _positive(proba: np.ndarray) -> np.ndarray:
    return proba[:, -1] if proba.ndim == 2 else proba


def _binary_truth(y_true: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    positive = labels[-1] if labels is not None else np.unique(y_true)[-1]
    return (y_true == positive).astype(np.int64)


def _clip(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1 - _EPS)
    if proba.ndim == 2:
        proba = proba / proba.sum(axis=1, keepdims=True)
    return proba


def _auc(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import roc_auc_score

    truth = _binary_truth(y_true, labels)
    if truth.min() == truth.max():
        return float("nan")
    return float(roc_auc_score(truth, _positive(proba)))


def _pr_auc(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import average_precision_score

    truth = _binary_truth(y_true, labels)
    if truth.max(initial=0) == 0:  # no positive: average precision is undefined
        return float("nan")
    return float(average_precision_score(truth, _positive(proba)))


def _brier(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    truth = _binary_truth(y_true, labels)
    return float(np.mean((_positive(proba) - truth) ** 2))


def _log_loss(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    proba = _clip(proba)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    classes = labels if labels is not None else np.unique(y_true)
    index = {value: i for i, value in enumerate(classes.tolist())}
    try:
        columns = np.fromiter((index[v] for v in y_true.tolist()), dtype=np.int64)
    except KeyError as exc:
        raise DataError(
            f"The label {exc.args[0]!r} is not one of the model's classes: "
            f"{', '.join(map(str, classes.tolist()))}."
        ) from None
    return float(-np.mean(np.log(proba[np.arange(len(columns)), columns])))


def _auc_ovr(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import roc_auc_score

    classes = labels if labels is not None else np.unique(y_true)
    if len(np.unique(y_true)) < len(classes):
        return float("nan")
    return float(roc_auc_score(y_true, _clip(proba), multi_class="ovr", labels=classes))


def _label_metric(name: str, **kwargs: Any) -> Callable[..., float]:
    def fn(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
        from sklearn import metrics

        if name == "accuracy_score":
            return float(metrics.accuracy_score(y_true, pred))
        if name == "balanced_accuracy_score":
            return float(metrics.balanced_accuracy_score(y_true, pred))
        extra = dict(kwargs)
        if extra.get("average") == "binary" and labels is not None:
            extra["pos_label"] = labels[-1]
        return float(getattr(metrics, name)(y_true, pred, zero_division=0, **extra))

    return fn


def _rmse(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.sqrt(np.mean((y_true.astype(np.float64) - pred) ** 2)))


def _mae(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.mean(np.abs(y_true.astype(np.float64) - pred)))


def _r2(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    truth = y_true.astype(np.float64)
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((truth - pred) ** 2)) / total


def _mape(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    truth = y_true.astype(np.float64)
    return float(np.mean(np.abs(truth - pred) / np.maximum(np.abs(truth), np.finfo(float).eps)))


_B, _M, _R = ("binary",), ("multiclass",), ("regression",)
_C = ("binary", "multiclass")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", _B, True, True, _auc, "area under the ROC curve"),
        Metric("pr_auc", _B, True, True, _pr_auc, "area under the precision-recall curve"),
        Metric("brier", _B, False, True, _brier, "Brier score (mean squared error of P)"),
        Metric("log_loss", _C, False, True, _log_loss, "logarithmic loss"),
        Metric("auc_ovr", _M, True, True, _auc_ovr, "one-vs-rest ROC-AUC, macro averaged"),
        Metric("accuracy", _C, True, False, _label_metric("accuracy_score"), "accuracy"),
        Metric(
            "balanced_accuracy",
            _C,
            True,
            False,
            _label_metric("balanced_accuracy_score"),
            "mean recall over classes",
        ),
        Metric("f1", _B, True, False, _label_metric("f1_score", average="binary"), "F1"),
        Metric(
            "precision",
            _B,
            True,
            False,
            _label_metric("precision_score", average="binary"),
            "precision",
        ),
        Metric(
            "recall", _B, True, False, _label_metric("recall_score", average="binary"), "recall"
        ),
        Metric("f1_macro", _M, True, False, _label_metric("f1_score", average="macro"), "macro F1"),
        Metric(
            "f1_weighted",
            _M,
            True,
            False,
            _label_metric("f1_score", average="weighted"),
            "weighted F1",
        ),
        Metric("rmse", _R, False, False, _rmse, "root mean squared error"),
        Metric("mae", _R, False, False, _mae, "mean absolute error"),
        Metric("r2", _R, True, False, _r2, "coefficient of determination"),
        Metric("mape", _R, False, False, _mape, "mean absolute percentage error"),
    )
}
"""Every metric by name."""

DEFAULT_METRICS: dict[str, str] = {"binary": "auc", "multiclass": "log_loss", "regression": "rmse"}
"""The metric a search optimises when none is given (the AutoML Benchmark's choices)."""

_ALIASES = {"roc_auc": "auc", "logloss": "log_loss", "neg_log_loss": "log_loss", "mse": "rmse"}


def get_metric(name: str, task: str) -> Metric:
    """The metric called ``name`` (aliases: roc_auc, logloss), checked against ``task``."""
    if task not in TASKS:
        raise BadParameterError(f"Unknown task {task!r}. Tasks: {', '.join(TASKS)}.")
    if not isinstance(name, str):
        raise BadParameterError(f"A metric name must be a string. Got {name!r} instead.")
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    metric = METRICS.get(key)
    fitting = sorted(n for n, m in METRICS.items() if task in m.tasks)
    if metric is None:
        raise BadParameterError(
            f"Unknown metric {name!r}. Metrics for {task}: {', '.join(fitting)}."
        )
    if task not in metric.tasks:
        raise BadParameterError(
            f"The metric {metric.name!r} does not fit a {task} task (it is for "
            f"{' and '.join(metric.tasks)}). Metrics for {task}: {', '.join(fitting)}."
        )
    return metric


def score(
    metric: str | Metric,
    y_true: Any,
    y: Any,
    *,
    task: str,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> float:
    """``metric`` of predictions ``y`` (probabilities when the metric needs them)."""
    chosen = metric if isinstance(metric, Metric) else get_metric(metric, task)
    return chosen(y_true, y, labels)


def loss(metric: Metric, value: float) -> float:
    """``value`` as something to minimise: negated when greater is better; NaN is worst."""
    if value != value:  # NaN
        return float("inf")
    return -value if metric.greater_is_better else value
