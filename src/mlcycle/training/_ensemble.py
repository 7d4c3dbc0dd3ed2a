"""The ensemble selection that weighs the trials' pipelines into one model.

The ensemble itself, :class:`WeightedEnsemble`, lives in :mod:`mlcycle.estimators` (its
import path is part of the bundle format); it is imported here too, so
``mlcycle.training._ensemble.WeightedEnsemble`` still works.

The weights come from greedy ensemble selection with replacement (Caruana et al., 2004) on
the trials' out-of-fold predictions: start from the best trial, then repeatedly add the
trial (again, possibly) whose addition lowers the out-of-fold loss most.
"""

from __future__ import annotations

import numpy as np

from mlcycle.estimators import WeightedEnsemble
from mlcycle.evaluation import Metric, loss

__all__ = ["WeightedEnsemble", "select_ensemble"]


def select_ensemble(
    oofs: list[np.ndarray],
    y: np.ndarray,
    mask: np.ndarray,
    metric: Metric,
    labels: np.ndarray | None,
    *,
    rounds: int = 40,
) -> tuple[np.ndarray, float]:
    """Greedy selection with replacement; returns (weights per candidate, out-of-fold loss).

    ``oofs[0]`` must be the best single candidate; the result never scores worse than it.
    """
    y_valid = y[mask]
    preds = [o[mask] for o in oofs]

    def value(pred: np.ndarray) -> float:
        return loss(metric, metric(y_valid, pred, labels))

    counts = np.zeros(len(preds))
    counts[0] = 1
    current = preds[0].copy()
    best_value = value(current)
    best_counts = counts.copy()
    size = 1
    for _ in range(rounds):
        scores = [value((current * size + p) / (size + 1)) for p in preds]
        choice = int(np.argmin(scores))
        size += 1
        current = (current * (size - 1) + preds[choice]) / size
        counts[choice] += 1
        if scores[choice] < best_value - 1e-12:
            best_value = scores[choice]
            best_counts = counts.copy()
    return best_counts / best_counts.sum(), best_value
