"""Scoring a fitted model on held-out data: metrics, confusion matrix and curve data.

:func:`evaluate` is what training runs on the test split and what the model card reads
back. Everything it keeps is plain data (:meth:`Evaluation.to_dict` is JSON), so a card or
the UI redraws the plots (:meth:`Evaluation.plots`) without the model or the data.

>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.linear_model import LogisticRegression
>>> X, y = load_breast_cancer(return_X_y=True)
>>> model = LogisticRegression(max_iter=5000).fit(X[:400], y[:400])
>>> result = evaluate(model, X[400:], y[400:], task="binary")
>>> sorted(result.metrics)[:3]
['accuracy', 'auc', 'brier']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.evaluation._metrics import _ALIASES, METRICS, TASKS, Metric, get_metric
from mlcycle.exceptions import BadParameterError, BundleError, DataError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Evaluation", "choose_threshold", "evaluate", "overfitting"]

# What evaluate() reports when no metrics are named. "ece" is computed here, not in METRICS.
_REPORTED: dict[str, tuple[str, ...]] = {
    "binary": (
        "auc",
        "pr_auc",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "brier",
        "ece",
    ),
    "multiclass": ("log_loss", "accuracy", "f1_macro", "f1_weighted", "auc_ovr", "ece"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
_ECE_BINS = 10
_CALIBRATION_BINS = 10
_CALIBRATION_MIN_ROWS_PER_BIN = 5
_CALIBRATION_STRATEGIES = ("quantile", "uniform")
_CURVE_POINTS = 200  # ROC and PR points kept for storage and plots
_SAMPLE_POINTS = 500  # predicted-vs-actual rows kept for regression
_SAMPLE_SEED = 0
_DIGITS = 6  # curve coordinates are rounded to this many decimals to keep reports small


# -- the result ----------------------------------------------------------------------------


@dataclass
class Evaluation:
    """A model's scores on held-out data, and the curve data its plots are drawn from.

    ``metrics`` maps metric names to values (NaN where a metric is undefined, e.g. AUC on
    one class); ``threshold`` is the positive-class cut-off behind binary label metrics;
    ``confusion`` has true classes as rows and predicted classes as columns, in ``labels``
    order; ``curves`` holds ``roc``, ``pr``, ``calibration`` (classification) or
    ``residuals`` and ``predicted_vs_actual`` (regression).
    """

    task: str
    metrics: dict[str, float]
    threshold: float | None = None
    labels: list[Any] | None = None
    confusion: list[list[int]] | None = None
    curves: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: NumPy values become lists and numbers, NaN and infinity None."""
        return {
            "task": self.task,
            "metrics": _json_safe(self.metrics),
            "threshold": _json_safe(self.threshold),
            "labels": _json_safe(self.labels),
            "confusion": _json_safe(self.confusion),
            "curves": _json_safe(self.curves),
            "n_rows": int(self.n_rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """The evaluation :meth:`to_dict` wrote; a metric stored as None reads back as NaN."""
        if not isinstance(data, Mapping) or not {"task", "metrics"} <= set(data):
            raise BadParameterError(
                "This is not an evaluation: expected a mapping with 'task' and 'metrics', "
                "as written by Evaluation.to_dict()."
            )
        _check_task(data["task"], "Evaluation.from_dict()")
        metrics = {
            str(name): float("nan") if value is None else float(value)
            for name, value in dict(data["metrics"]).items()
        }
        threshold = data.get("threshold")
        return cls(
            task=str(data["task"]),
            metrics=metrics,
            threshold=None if threshold is None else float(threshold),
            labels=copy.deepcopy(data.get("labels")),
            confusion=copy.deepcopy(data.get("confusion")),
            curves=copy.deepcopy(dict(data.get("curves") or {})),
            n_rows=int(data.get("n_rows") or 0),
        )

    def render(self, console: Console | None = None) -> None:
        """Print the metrics (and the confusion matrix) as Rich tables."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        out = console if console is not None else Console()
        title = f"Evaluation: {self.task}, {self.n_rows:,} rows"
        if self.threshold is not None:
            title += f", threshold {self.threshold:.3g}"
        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("better")
        table.add_column("what", style="dim")
        for name, value in self.metrics.items():
            greater, description = _describe(name)
            table.add_row(
                name, _format(value), "higher" if greater else "lower", escape(description)
            )
        out.print(table)
        if self.confusion is not None and self.labels is not None:
            matrix = Table(title="Confusion matrix (rows: true, columns: predicted)")
            matrix.add_column("true \\ predicted")
            for label in self.labels:
                matrix.add_column(escape(str(label)), justify="right")
            for label, row in zip(self.labels, self.confusion, strict=True):
                matrix.add_row(escape(str(label)), *(f"{count:,}" for count in row))
            out.print(matrix)

    def plots(self) -> dict[str, str]:
        """Standalone SVG documents by name, drawn from the stored curve data.

        Binary: ``roc``, ``pr``, ``calibration``, ``confusion``; multiclass: ``calibration``
        and ``confusion``; regression: ``residuals`` and ``predicted_vs_actual``.
        """
        from mlcycle.evaluation._plots import render_plots

        return render_plots(self)


def _describe(name: str) -> tuple[bool, str]:
    if name == "ece":
        return False, f"expected calibration error ({_ECE_BINS} equal-width bins)"
    metric = METRICS.get(name)
    return (True, "") if metric is None else (metric.greater_is_better, metric.description)


def _format(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# -- evaluate ------------------------------------------------------------------------------


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    task: str,
    labels: Sequence[Any] | np.ndarray | None = None,
    threshold: float | None = None,
    metrics: Sequence[str] | None = None,
    calibration: str = "quantile",
) -> Evaluation:
    """Score a fitted ``model`` on held-out rows ``X`` with true targets ``y``.

    ``model`` needs ``predict`` (regression) or ``predict_proba`` (classification): a
    scikit-learn estimator or pipeline, an mlcycle ``Bundle`` or an ensemble. ``labels``
    are the classes in ``predict_proba``'s column order (default: the model's
    ``classes_``); the positive class of a binary task is ``labels[-1]``, predicted when
    its probability is ``>= threshold`` (default 0.5, e.g. from :func:`choose_threshold`).
    Multiclass predictions are the most probable class. ``metrics`` names what to report
    (default: the full set for the task; ``"ece"`` is accepted for classification);
    ``calibration`` is the binning of the calibration curve, ``"quantile"`` or
    ``"uniform"``.
    """
    _check_task(task, "evaluate()")
    if calibration not in _CALIBRATION_STRATEGIES:
        raise BadParameterError(
            "The 'calibration' parameter of evaluate() must be 'quantile' or 'uniform'. "
            f"Got {calibration!r} instead."
        )
    n = _n_rows(X)
    if n == 0:
        raise DataError("X has no rows: evaluation needs held-out rows to score the model on.")
    truth = _target(y)
    if len(truth) != n:
        raise DataError(
            f"X has {n:,} rows but y has {len(truth):,} values: they must be the same rows, "
            "in the same order."
        )
    names = _metric_names(metrics, task)
    if threshold is not None and task != "binary":
        raise BadParameterError(
            f"The 'threshold' parameter of evaluate() applies to binary tasks only. "
            f"Got {threshold!r} for a {task} task."
        )
    if task == "regression":
        return _evaluate_regression(model, X, _numeric_target(truth), names)
    t = 0.5 if threshold is None else _check_threshold(threshold)
    classes = _classes(model, labels, task)
    _check_known(truth, classes)
    proba = _probabilities(model, X, n, len(classes))
    if task == "binary":
        pred = np.where(proba[:, 1] >= t, classes[1], classes[0])
    else:
        pred = classes[np.argmax(proba, axis=1)]
        if metrics is None and len(set(truth.tolist())) < len(classes):
            names.remove("auc_ovr")  # undefined unless every class is in the held-out rows
    return _evaluate_classification(
        task, truth, proba, pred, classes, names, t if task == "binary" else None, calibration
    )


def _evaluate_classification(
    task: str,
    truth: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    classes: np.ndarray,
    names: list[str],
    threshold: float | None,
    strategy: str,
) -> Evaluation:
    from sklearn.metrics import confusion_matrix

    if task == "binary":
        outcome = (truth == classes[1]).astype(np.float64)
        prob = np.clip(proba[:, 1], 0.0, 1.0)
        of = f"positive class {classes[1]!s}"
    else:  # reliability of the top class: is the most probable class the right one?
        outcome = (pred == truth).astype(np.float64)
        prob = np.clip(proba.max(axis=1), 0.0, 1.0)
        of = "top class"
    values: dict[str, float] = {}
    for name in names:
        if name == "ece":
            values[name] = _ece(outcome, prob)
        else:
            metric = METRICS[name]
            values[name] = metric(truth, proba if metric.needs_proba else pred, classes)
    n_bins = _CALIBRATION_BINS
    if strategy == "quantile":
        n_bins = max(1, min(n_bins, len(prob) // _CALIBRATION_MIN_ROWS_PER_BIN))
    prob_true, prob_pred, count = _calibration_curve(outcome, prob, n_bins, strategy)
    curves: dict[str, Any] = {
        "calibration": {
            "of": of,
            "strategy": strategy,
            "n_bins": n_bins,
            "prob_pred": _rounded(prob_pred),
            "prob_true": _rounded(prob_true),
            "count": count.tolist(),
        }
    }
    if task == "binary" and 0 < outcome.sum() < len(outcome):
        curves.update(_binary_curves(outcome, prob))
    confusion = confusion_matrix(truth, pred, labels=classes)
    return Evaluation(
        task=task,
        metrics=values,
        threshold=threshold,
        labels=_json_safe(classes.tolist()),
        confusion=confusion.astype(int).tolist(),
        curves=curves,
        n_rows=len(truth),
    )


def _binary_curves(outcome: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, roc_thresholds = roc_curve(outcome, prob)
    keep = _thin(len(fpr))
    precision, recall, pr_thresholds = precision_recall_curve(outcome, prob, drop_intermediate=True)
    pr_thresholds = np.append(pr_thresholds, np.nan)  # the last point (recall 0) has none
    pr_keep = _thin(len(precision))
    return {
        "roc": {
            "fpr": _rounded(fpr[keep]),
            "tpr": _rounded(tpr[keep]),
            "threshold": _rounded(roc_thresholds[keep]),
        },
        "pr": {
            "precision": _rounded(precision[pr_keep]),
            "recall": _rounded(recall[pr_keep]),
            "threshold": _rounded(pr_thresholds[pr_keep]),
            "positive_rate": float(outcome.mean()),
        },
    }


def _evaluate_regression(model: Any, X: Any, truth: np.ndarray, names: list[str]) -> Evaluation:
    n = len(truth)
    pred = np.asarray(model.predict(X), dtype=np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.shape != (n,):
        raise BundleError(
            f"predict() returned an array of shape {pred.shape}; expected ({n},): one "
            "number per input row."
        )
    bad = int((~np.isfinite(pred)).sum())
    if bad:
        raise BundleError(
            f"The model predicted {bad:,} missing or infinite values; it cannot be scored."
        )
    values = {name: METRICS[name](truth, pred) for name in names}
    residual = truth - pred
    q = np.percentile(residual, [5, 25, 50, 75, 95])
    counts, edges = np.histogram(residual, bins=int(min(30, max(5, math.sqrt(n)))))
    rows = np.arange(n)
    if n > _SAMPLE_POINTS:
        rng = np.random.default_rng(_SAMPLE_SEED)
        rows = np.sort(rng.choice(n, size=_SAMPLE_POINTS, replace=False))
    curves = {
        "residuals": {
            "definition": "actual - predicted",
            "summary": {
                "mean": float(residual.mean()),
                "std": float(residual.std()),
                "mean_abs": float(np.abs(residual).mean()),
                "min": float(residual.min()),
                "p05": float(q[0]),
                "p25": float(q[1]),
                "median": float(q[2]),
                "p75": float(q[3]),
                "p95": float(q[4]),
                "max": float(residual.max()),
            },
            "edges": edges.tolist(),
            "counts": counts.astype(int).tolist(),
        },
        "predicted_vs_actual": {
            "actual": truth[rows].tolist(),
            "predicted": pred[rows].tolist(),
            "n_total": n,
            "seed": _SAMPLE_SEED,
        },
    }
    return Evaluation(task="regression", metrics=values, curves=curves, n_rows=n)


def _ece(outcome: np.ndarray, prob: np.ndarray) -> float:
    """Expected calibration error: the row-weighted gap between confidence and frequency."""
    prob_true, prob_pred, count = _calibration_curve(outcome, prob, _ECE_BINS, "uniform")
    return float(np.sum(count * np.abs(prob_true - prob_pred)) / len(prob))


def _calibration_curve(
    outcome: np.ndarray, prob: np.ndarray, n_bins: int, strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sklearn.calibration.calibration_curve``'s bins, plus each bin's row count."""
    if strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    total = np.bincount(ids, minlength=n_bins)
    sums = np.bincount(ids, weights=prob, minlength=n_bins)
    trues = np.bincount(ids, weights=outcome, minlength=n_bins)
    filled = total > 0
    return trues[filled] / total[filled], sums[filled] / total[filled], total[filled]


def _thin(n: int) -> np.ndarray:
    """At most ``_CURVE_POINTS`` evenly spread indices out of ``n``, first and last kept."""
    return np.unique(np.linspace(0, n - 1, min(n, _CURVE_POINTS)).round().astype(np.int64))


def _rounded(values: np.ndarray) -> list[float]:
    return [round(v, _DIGITS) if math.isfinite(v) else v for v in values.astype(float).tolist()]


# -- input checks --------------------------------------------------------------------------


def _check_task(task: object, where: str) -> None:
    if task not in TASKS:
        raise BadParameterError(
            f"The 'task' parameter of {where} must be one of: {', '.join(TASKS)}. "
            f"Got {task!r} instead."
        )


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise BadParameterError(
            f"X must be a table of rows (a DataFrame or an array). Got {type(X).__name__} instead."
        ) from None


def _target(y: Any) -> np.ndarray:
    values = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise BadParameterError(
            f"y must be one column of target values. Got {type(y).__name__} of shape "
            f"{values.shape} instead."
        )
    return values


def _numeric_target(values: np.ndarray) -> np.ndarray:
    try:
        truth = values.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(
            "y holds values that are not numbers; a regression target must be numeric."
        ) from None
    bad = np.flatnonzero(~np.isfinite(truth))
    if len(bad):
        raise DataError(
            f"y has {len(bad):,} missing or infinite values (the first at position {bad[0]}); "
            "drop those rows before evaluating a regression model."
        )
    return truth


def _check_threshold(threshold: object, where: str = "evaluate()") -> float:
    ok = isinstance(threshold, int | float | np.number) and not isinstance(threshold, bool)
    if not ok or not 0.0 <= float(threshold) <= 1.0:  # type: ignore[arg-type]
        raise BadParameterError(
            f"The 'threshold' parameter of {where} must be a number between 0 and 1. "
            f"Got {threshold!r} instead."
        )
    return float(threshold)  # type: ignore[arg-type]


def _metric_names(metrics: Sequence[str] | None, task: str) -> list[str]:
    if metrics is None:
        return list(_REPORTED[task])
    if isinstance(metrics, str):
        metrics = [metrics]
    names: list[str] = []
    for name in metrics:
        is_ece = isinstance(name, str) and name.strip().lower() == "ece"
        resolved = "ece" if is_ece and task != "regression" else get_metric(name, task).name
        if resolved not in names:
            names.append(resolved)
    return names


def _classes(model: Any, labels: Sequence[Any] | np.ndarray | None, task: str) -> np.ndarray:
    if labels is None:
        from mlcycle.bundle import Bundle

        found = getattr(model, "classes_", None)
        if found is None and isinstance(model, Bundle):
            found = getattr(model.load(), "classes_", None)
        if found is None:
            raise BundleError(
                f"The {type(model).__name__} has no classes_; pass labels= with the classes "
                "in the order of predict_proba()'s columns."
            )
        labels = found
    classes = np.asarray(labels)
    if classes.ndim != 1 or len(set(classes.tolist())) != len(classes) or len(classes) < 2:
        raise BadParameterError(
            "labels must be two or more distinct classes, in the order of predict_proba()'s "
            f"columns. Got {classes.tolist()!r} instead."
        )
    if task == "binary" and len(classes) != 2:
        raise BadParameterError(
            f"A binary task needs a model with two classes; this one has {len(classes)}: "
            f"{_listing(classes)}. Evaluate it as task='multiclass'."
        )
    return classes


def _check_known(truth: np.ndarray, classes: np.ndarray) -> None:
    import pandas as pd

    missing = int(np.sum(pd.isna(truth)))
    if missing:
        raise DataError(
            f"y has {missing:,} missing labels; drop those rows before evaluating a classifier."
        )
    unknown = sorted(set(truth.tolist()) - set(classes.tolist()), key=repr)
    if unknown:
        shown = ", ".join(repr(value) for value in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DataError(
            f"y holds labels the model never saw: {shown}{more}. The model's classes are: "
            f"{_listing(classes)}."
        )


def _listing(classes: np.ndarray) -> str:
    return ", ".join(repr(value) for value in classes.tolist())


def _probabilities(model: Any, X: Any, n: int, k: int) -> np.ndarray:
    if not hasattr(model, "predict_proba"):
        raise BundleError(
            f"The {type(model).__name__} has no predict_proba(): evaluating a classifier "
            "needs class probabilities."
        )
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if proba.ndim == 1 and k == 2:
        proba = np.column_stack([1.0 - proba, proba])
    if proba.shape != (n, k):
        raise BundleError(
            f"predict_proba() returned an array of shape {proba.shape}; expected ({n}, {k}): "
            "one row per input row and one column per class."
        )
    bad = int((~np.isfinite(proba)).any(axis=1).sum())
    if bad:
        raise BundleError(
            f"The model predicted missing or infinite probabilities for {bad:,} rows; "
            "it cannot be scored."
        )
    return proba


# -- threshold -----------------------------------------------------------------------------

_OBJECTIVES = ("f1", "balanced_accuracy", "accuracy", "mcc")


def choose_threshold(
    y_true: Any,
    proba_positive: Any,
    labels: Sequence[Any] | np.ndarray,
    objective: str = "f1",
) -> float:
    """The positive-class threshold that maximises ``objective`` on these probabilities.

    Meant for out-of-fold probabilities, whose best threshold is then passed to
    :func:`evaluate` on the test rows. A row is predicted positive (``labels[-1]``) when its
    probability is ``>= threshold``; every distinct probability and 0.5 are tried, and of
    equally good thresholds the one closest to 0.5 wins (the lower on an exact tie), so
    the default stays when it is already optimal. ``objective``: ``"f1"``,
    ``"balanced_accuracy"``, ``"accuracy"`` or ``"mcc"`` (Matthews correlation).

    >>> choose_threshold([0, 0, 1, 1, 1], [0.1, 0.6, 0.3, 0.7, 0.9], labels=[0, 1])
    0.3
    """
    if objective not in _OBJECTIVES:
        raise BadParameterError(
            "The 'objective' parameter of choose_threshold() must be one of: "
            f"{', '.join(_OBJECTIVES)}. Got {objective!r} instead."
        )
    classes = np.asarray(labels)
    if classes.ndim != 1 or len(classes) != 2:
        raise BadParameterError(
            "choose_threshold() is for binary tasks: labels must be the two classes, the "
            f"positive one last. Got {classes.tolist()!r} instead."
        )
    truth = _target(y_true)
    try:
        prob = np.asarray(proba_positive, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadParameterError("proba_positive must hold probabilities (numbers).") from None
    if prob.ndim == 2 and prob.shape[1] == 2:
        prob = prob[:, 1]
    if prob.ndim != 1 or len(prob) != len(truth):
        raise DataError(
            f"y_true has {len(truth):,} values but proba_positive has shape {prob.shape}: "
            "give one positive-class probability per row."
        )
    if len(truth) == 0:
        raise DataError("choose_threshold() needs at least one row of probabilities.")
    if not np.all(np.isfinite(prob)) or prob.min() < 0.0 or prob.max() > 1.0:
        raise BadParameterError("proba_positive must be probabilities between 0 and 1.")
    _check_known(truth, classes)
    outcome = truth == classes[1]
    pos_total = int(outcome.sum())
    neg_total = len(outcome) - pos_total
    if pos_total == 0 or neg_total == 0:
        raise DataError(
            "choose_threshold() needs both classes in y_true; it holds only "
            f"{truth[:1].tolist()[0]!r}."
        )
    candidates = np.unique(np.append(prob, 0.5))
    tp = pos_total - np.searchsorted(np.sort(prob[outcome]), candidates, side="left")
    fp = neg_total - np.searchsorted(np.sort(prob[~outcome]), candidates, side="left")
    value = _objective(objective, tp.astype(float), fp.astype(float), pos_total, neg_total)
    best = candidates[value >= value.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])


def _objective(name: str, tp: np.ndarray, fp: np.ndarray, pos: int, neg: int) -> np.ndarray:
    fn, tn = pos - tp, neg - fp
    if name == "f1":
        return 2 * tp / (2 * tp + fp + fn)
    if name == "balanced_accuracy":
        return (tp / pos + tn / neg) / 2
    if name == "accuracy":
        return (tp + tn) / (pos + neg)
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = (tp * tn - fp * fn) / denominator
    return np.where(denominator > 0, mcc, 0.0)


# -- overfitting ---------------------------------------------------------------------------

# Metrics bounded to [0, 1]: a gap is judged in absolute terms.
_UNIT_INTERVAL = frozenset(
    {
        "auc",
        "pr_auc",
        "auc_ovr",
        "brier",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "precision",
        "recall",
        "f1_macro",
        "f1_weighted",
    }
)
_ABSOLUTE_GAP = 0.05
_RELATIVE_GAP = 0.25


def overfitting(
    train_score: float,
    validation_score: float,
    metric: str | Metric,
    task: str | None = None,
) -> str | None:
    """A one-sentence warning when training scores much better than validation, else None.

    On metrics bounded to [0, 1] (AUC, accuracy, F1, Brier, ...) the warning comes when
    training is more than 0.05 better: a fixed gap means the same there whatever the
    problem's difficulty. On unbounded ones (log loss, RMSE, MAE, MAPE, R²) it comes when
    the gap is more than 25 % of the validation score's distance from a perfect score
    (0 for losses, 1 for R²): RMSE 30 on training against 50 on validation is a 40 % gap.
    Flexible models always fit their training rows a little better, hence the margins.
    ``metric`` is a :class:`Metric` or a name (``task`` checks that it fits).

    >>> overfitting(1.0, 0.7, "accuracy") is not None
    True
    """
    chosen = metric if isinstance(metric, Metric) else _resolve(metric, task)
    train, validation = (
        _number(train_score, "train_score"),
        _number(validation_score, "validation_score"),
    )
    if not (math.isfinite(train) and math.isfinite(validation)):
        return None
    gap = train - validation if chosen.greater_is_better else validation - train
    name = chosen.name
    if name in _UNIT_INTERVAL:
        if gap <= _ABSOLUTE_GAP:
            return None
        detail = f"a gap of {gap:.3f}"
    else:
        room = abs((1.0 if chosen.greater_is_better else 0.0) - validation)
        if room == 0.0 or gap <= _RELATIVE_GAP * room:
            return None
        detail = f"a gap of {gap / room:.0%} of the validation score's distance from perfect"
    return (
        f"The {name} on the training data ({train:.4g}) is much better than on validation "
        f"data ({validation:.4g}; {detail}): the model may be overfitting, so try stronger "
        "regularisation, a simpler model or more data."
    )


def _resolve(name: str, task: str | None) -> Metric:
    if task is not None:
        return get_metric(name, task)
    key = name.strip().lower() if isinstance(name, str) else name
    metric = METRICS.get(_ALIASES.get(key, key)) if isinstance(key, str) else None
    if metric is None:
        raise BadParameterError(f"Unknown metric {name!r}. Metrics: {', '.join(sorted(METRICS))}.")
    return metric


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise BadParameterError(
            f"The '{what}' parameter of overfitting() must be a number. Got {value!r} instead."
        )
    return float(value)
