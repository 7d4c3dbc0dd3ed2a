"""Evaluation: the metric table, scoring a model on held-out data, thresholds, overfitting.

Only NumPy is imported here; scikit-learn, matplotlib and Rich are imported by the
functions that need them, so ``import mlcycle.evaluation`` stays cheap.
"""

from __future__ import annotations

from mlcycle.evaluation._evaluate import Evaluation, choose_threshold, evaluate, overfitting
from mlcycle.evaluation._metrics import (
    DEFAULT_METRICS,
    METRICS,
    TASKS,
    Metric,
    get_metric,
    loss,
    score,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "TASKS",
    "Evaluation",
    "Metric",
    "choose_threshold",
    "evaluate",
    "get_metric",
    "loss",
    "overfitting",
    "score",
]
