"""The final model's two shapes and the ensemble selection that chooses between them.

:class:`WeightedEnsemble` averages the probabilities (or predictions) of fitted pipelines
with fixed weights, and maps class codes back to the original labels. Its import path is
part of the bundle format (trusted by name in ``mlcycle.bundle``): never rename or move it.

The weights come from greedy ensemble selection with replacement (Caruana et al., 2004) on
the trials' out-of-fold predictions: start from the best trial, then repeatedly add the
trial (again, possibly) whose addition lowers the out-of-fold loss most.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from mlcycle.evaluation import Metric, loss

__all__ = ["WeightedEnsemble", "select_ensemble"]


class WeightedEnsemble(BaseEstimator):
    """A weighted average of fitted pipelines, for classification or regression.

    ``estimators_``: the fitted members (each a ``Pipeline`` of preparer and estimator,
    trained on class codes 0..k-1); ``weights_``: one per member, summing to 1;
    ``classes_``: the original class labels (None for regression).
    """

    def __init__(self, task: str = "binary") -> None:
        self.task = task

    def set_members(
        self, estimators: list[Any], weights: list[float], classes: Any = None
    ) -> WeightedEnsemble:
        """Install already-fitted members; returns ``self`` like ``fit``."""
        weights_ = np.asarray(weights, dtype=np.float64)
        self.estimators_ = list(estimators)
        self.weights_ = weights_ / weights_.sum()
        self.classes_ = None if classes is None else np.asarray(classes)
        first = self.estimators_[0]
        names = getattr(first, "feature_names_in_", None)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)
        return self

    def fit(self, X: Any, y: Any = None) -> WeightedEnsemble:
        """Members are fitted by the search; fitting again is refused (it would be silent)."""
        raise TypeError(
            "A WeightedEnsemble is assembled from fitted members by mlcycle.train(); "
            "refit it by training again."
        )

    def _member_proba(self, member: Any, X: Any) -> np.ndarray:
        proba = np.asarray(member.predict_proba(X), dtype=np.float64)
        assert self.classes_ is not None
        n = len(self.classes_)
        if proba.shape[1] != n:
            full = np.zeros((proba.shape[0], n))
            full[:, np.asarray(member.classes_, dtype=np.int64)] = proba
            proba = full
        return proba

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted mean of the members' class probabilities (columns: ``classes_``)."""
        if self.classes_ is None:
            raise AttributeError("A regression ensemble has no predict_proba.")
        total = None
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            part = weight * self._member_proba(member, X)
            total = part if total is None else total + part
        assert total is not None
        return total

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (the most probable class) or the weighted mean prediction."""
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        total = None
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            part = weight * np.asarray(member.predict(X), dtype=np.float64)
            total = part if total is None else total + part
        assert total is not None
        return total


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
