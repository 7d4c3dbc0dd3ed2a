"""Live performance: the model's metrics per time window, from feedback labels or estimated.

With labels, :func:`live_performance` joins the prediction log with the feedback log on
``prediction_id`` and scores each window of the predictions' timestamps (accuracy with a
Wilson interval; log-loss and AUC when the log holds ``proba.<class>`` columns; RMSE and
MAE for regression; other metrics with a bootstrap interval).

Without labels, :func:`estimate_performance` estimates a classifier's accuracy from its
own confidence (confidence-based performance estimation): if the probabilities are
calibrated, a row predicted with probability ``p`` is right with probability ``p``, so the
expected accuracy is the mean of ``p`` and the number of right rows is Poisson-binomial,
with standard deviation ``sqrt(sum p (1 - p))``. The estimate is only as good as the
calibration: an over-confident model is estimated too well, and the interval says nothing
about that (it is the spread of the realised accuracy *given* calibration). Compare it
with labelled windows when some feedback arrives.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import DataError, MlcycleError, bad_parameter, is_integer
from mlcycle.predlog import COLUMNS, class_of, proba_column

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["WindowMetrics", "estimate_performance", "live_performance"]

_TASKS = ("binary", "multiclass", "regression")
_DEFAULTS = {
    "binary": ("accuracy", "auc", "log_loss"),
    "multiclass": ("accuracy", "log_loss", "auc_ovr"),
    "regression": ("rmse", "mae"),
}
C = COLUMNS
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class WindowMetrics:
    """The metrics of one time window ``[start, end)`` (UTC) of predictions.

    ``rows`` counts the window's predictions and ``labelled`` those with a feedback label
    (0 for an estimate). ``metrics`` maps a metric name (as in
    :data:`mlcycle.evaluation.METRICS`) to its value, ``intervals`` to its ``confidence``
    interval and ``std`` to its standard error; a metric that cannot be computed (AUC of a
    window with one class) is left out. ``estimated`` is True for a confidence-based
    estimate, which assumes calibrated probabilities.
    """

    start: datetime
    end: datetime
    rows: int
    labelled: int
    metrics: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    estimated: bool = False
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (times as ISO 8601 text, intervals as two-item lists)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "labelled": self.labelled,
            "metrics": dict(self.metrics),
            "intervals": {k: [lo, hi] for k, (lo, hi) in self.intervals.items()},
            "std": dict(self.std),
            "estimated": self.estimated,
            "confidence": self.confidence,
        }


def live_performance(
    predictions: Any,
    feedback: Any,
    *,
    task: str,
    classes: Sequence[Any] | None = None,
    metric: str | Sequence[str] | None = None,
    window: str | timedelta = "1d",
    confidence: float = 0.95,
    bootstrap: int = 200,
    seed: int = 0,
) -> list[WindowMetrics]:
    """The model's metrics per ``window`` of prediction time, from feedback labels.

    ``predictions`` is the prediction log (``prediction_id``, ``timestamp``,
    ``prediction`` or ``prediction_value``, ``proba.<class>``), ``feedback`` the feedback
    log (``prediction_id``, ``label``, ``label_value``; of several labels for one
    prediction the latest counts). ``classes`` are the model's classes in its order (the
    last is the positive class); by default the log's ``proba.`` columns give them.
    ``metric`` adds metrics to the task's defaults (accuracy, AUC, log-loss; RMSE, MAE).
    Accuracy has a Wilson interval, the others a percentile interval from ``bootstrap``
    seeded resamples (0: none). Windows start at multiples of ``window`` since the epoch
    (``"1d"``: UTC midnights); windows without predictions are left out.

    >>> live_performance(log, labels, task="binary", window="1h")  # doctest: +SKIP
    """
    import numpy as np

    from mlcycle.evaluation import get_metric

    owner = "live_performance()"
    if task not in _TASKS:
        raise bad_parameter("task", owner, "'binary', 'multiclass' or 'regression'", task)
    width = _window(window, owner)
    z = _z(confidence, owner)
    if not is_integer(bootstrap) or bootstrap < 0:
        raise bad_parameter("bootstrap", owner, "a number of resamples >= 0", bootstrap)
    log = _table(predictions, "predictions", owner, (C.prediction_id, C.timestamp))
    labels = _table(feedback, "feedback", owner, (C.prediction_id,))
    regression = task == "regression"
    needed = (C.label_value, C.label) if regression else (C.label,)
    if not any(c in labels.columns for c in needed):
        raise DataError(f"The feedback has no {' or '.join(needed)} column.")
    names = list(_DEFAULTS[task])
    extra = [metric] if isinstance(metric, str) else list(metric or [])
    chosen = {}
    for name in [*names, *extra]:
        m = get_metric(name, task)
        chosen[m.name] = m
    class_texts = _classes(log, classes, None if regression else labels)
    proba_columns = [proba_column(c) for c in class_texts]
    has_proba = bool(class_texts) and all(c in log.columns for c in proba_columns)
    asked = {get_metric(n, task).name for n in extra}
    for name, m in list(chosen.items()):
        if m.needs_proba and not has_proba:
            if name in asked:
                raise DataError(
                    f"The metric {name!r} needs class probabilities, but the prediction log "
                    "has no proba.<class> columns for every class "
                    f"({', '.join(class_texts) or 'no classes'})."
                )
            del chosen[name]

    labels = _latest(labels)
    keep = [C.prediction_id, *[c for c in (C.label, C.label_value) if c in labels.columns]]
    joined = log.merge(labels[keep], on=C.prediction_id, how="left", suffixes=("", "_feedback"))
    if regression:
        truth = _numbers(joined, C.label_value, C.label)
        predicted = _numbers(joined, C.prediction_value, C.prediction)
        joined["_truth"], joined["_pred"] = truth, predicted
        joined["_labelled"] = np.isfinite(truth) & np.isfinite(predicted)
    else:
        if C.prediction not in joined.columns:
            raise DataError("The prediction log has no 'prediction' column.")
        joined["_truth"] = _canonical(joined[C.label], class_texts)
        joined["_pred"] = joined[C.prediction].astype("string").astype(object)
        joined["_labelled"] = joined[C.label].notna().to_numpy()

    rng = np.random.default_rng(int(seed))
    out = []
    for start, group in _windows(joined, width):
        rows = len(group)
        done = group[group["_labelled"].to_numpy(dtype=bool)]
        result = WindowMetrics(start, start + width, rows, len(done), confidence=confidence)
        if len(done):
            _score(result, done, chosen, class_texts, proba_columns, z, int(bootstrap), rng)
        out.append(result)
    return out


def estimate_performance(
    predictions: Any,
    *,
    classes: Sequence[Any] | None = None,
    window: str | timedelta = "1d",
    confidence: float = 0.95,
) -> list[WindowMetrics]:
    """A classifier's expected accuracy per ``window``, without labels, from its confidence.

    Each row's chance of being right is the probability the model gave the class it
    predicted (the top probability when it predicts the argmax); their mean is the
    expected accuracy and ``sqrt(sum p (1 - p)) / n`` its standard deviation, with a normal
    ``confidence`` interval clipped to [0, 1]. Valid for calibrated probabilities only
    (see the module's docstring): check calibration on labelled windows.
    """
    import numpy as np

    owner = "estimate_performance()"
    width = _window(window, owner)
    z = _z(confidence, owner)
    log = _table(predictions, "predictions", owner, (C.timestamp,))
    class_texts = _classes(log, classes, None)
    columns = [proba_column(c) for c in class_texts]
    absent = [c for c in columns if c not in log.columns]
    if not columns or absent:
        raise DataError(
            "Estimating performance without labels needs the predicted probabilities, but "
            f"the prediction log has no {', '.join(absent) or 'proba.<class>'} column(s). "
            "Only classifiers that predict probabilities can be estimated."
        )
    proba = log[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    chance = np.nanmax(np.where(np.isnan(proba), -np.inf, proba), axis=1)
    if C.prediction in log.columns:
        index = {c: i for i, c in enumerate(class_texts)}
        picked = log[C.prediction].astype("string").map(index).fillna(-1).to_numpy(np.int64)
        rows = np.flatnonzero(picked >= 0)
        chance[rows] = proba[rows, picked[rows]]
    log = log.assign(_chance=np.where(np.isfinite(chance), chance, np.nan))
    out = []
    for start, group in _windows(log, width):
        p = group["_chance"].dropna().to_numpy(dtype=np.float64)
        result = WindowMetrics(
            start, start + width, len(group), 0, estimated=True, confidence=confidence
        )
        if len(p):
            mean = float(p.mean())
            sd = float(np.sqrt(np.sum(p * (1.0 - p)))) / len(p)
            result.metrics["accuracy"] = mean
            result.std["accuracy"] = sd
            result.intervals["accuracy"] = (max(0.0, mean - z * sd), min(1.0, mean + z * sd))
        out.append(result)
    return out


# -- scoring ------------------------------------------------------------------------------


def _score(
    result: WindowMetrics,
    done: pd.DataFrame,
    chosen: dict[str, Any],
    class_texts: list[str],
    proba_columns: list[str],
    z: float,
    bootstrap: int,
    rng: np.random.Generator,
) -> None:
    import numpy as np

    truth = done["_truth"].to_numpy()
    predicted = done["_pred"].to_numpy()
    labels = np.asarray(class_texts, dtype=object) if class_texts else None
    n = len(truth)
    for name, metric in chosen.items():
        if name == "accuracy":
            right = int(np.sum(truth == predicted))
            p = right / n
            result.metrics[name] = p
            result.std[name] = float(np.sqrt(p * (1.0 - p) / n))
            result.intervals[name] = _wilson(right, n, z)
            continue
        if metric.needs_proba:
            known = np.isin(truth, labels) if labels is not None else np.ones(n, dtype=bool)
            y_true = truth[known]
            y = done[proba_columns].to_numpy(dtype=np.float64)[known]
        else:
            y_true, y = truth, predicted
        if len(y_true) == 0:
            continue
        value = _safe(metric, y_true, y, labels)
        if value is None:
            continue
        result.metrics[name] = value
        if not bootstrap:
            continue
        fast = _FAST.get(name)
        if fast is not None:
            values = fast(y_true, y, labels, _resamples(len(y_true), bootstrap, rng))
        else:
            draws = (rng.integers(0, len(y_true), len(y_true)) for _ in range(bootstrap))
            values = np.asarray(
                [v for i in draws if (v := _safe(metric, y_true[i], y[i], labels)) is not None],
                dtype=np.float64,
            )
        values = values[np.isfinite(values)]
        if len(values) >= 2:
            tail = (1.0 - result.confidence) / 2.0 * 100.0
            low, high = np.percentile(values, [tail, 100.0 - tail])
            result.intervals[name] = (float(low), float(high))
            result.std[name] = float(values.std(ddof=1))


# Bootstrap statistics computed for many resamples at once from their row counts (a
# resample is a vector of how often each row was drawn); they agree with the metrics of
# mlcycle.evaluation on the resampled rows, without a Python call per resample.


def _resamples(n: int, count: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``count`` bootstrap resamples of ``n`` rows, as (resamples x rows) count matrices
    of at most ~2 million cells each."""
    import numpy as np

    chunk = max(1, min(count, 2_000_000 // max(n, 1)))
    for first in range(0, count, chunk):
        size = min(chunk, count - first)
        yield np.stack(
            [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]
        ).astype(np.float64)


def _mean_of(rows: Callable[[Any, Any, Any], np.ndarray]) -> Callable[..., np.ndarray]:
    def statistic(y_true: Any, y: Any, labels: Any, chunks: Iterator[np.ndarray]) -> np.ndarray:
        import numpy as np

        per_row = rows(y_true, y, labels)
        return np.concatenate([c @ per_row / len(per_row) for c in chunks])

    return statistic


def _rmse_resampled(y_true: Any, y: Any, labels: Any, chunks: Iterator[np.ndarray]) -> np.ndarray:
    import numpy as np

    squares = (y_true.astype(np.float64) - y.astype(np.float64)) ** 2
    return np.sqrt(np.concatenate([c @ squares / len(squares) for c in chunks]))


def _auc_resampled(y_true: Any, y: Any, labels: Any, chunks: Iterator[np.ndarray]) -> np.ndarray:
    """The ROC AUC of each resample: with the rows sorted by score once, a resample's AUC
    is the weighted share of (positive, negative) pairs in order, ties counting half."""
    import numpy as np

    positive = labels[-1] if labels is not None else np.unique(y_true)[-1]
    scores = y[:, -1] if y.ndim == 2 else y
    order = np.argsort(scores, kind="stable")
    is_pos = (y_true == positive)[order].astype(np.float64)
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    out = []
    for counts in chunks:
        counts = counts[:, order]
        pos = np.add.reduceat(counts * is_pos, starts, axis=1)
        neg = np.add.reduceat(counts * (1.0 - is_pos), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        pairs = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.sum(pos * (below + 0.5 * neg), axis=1) / pairs)
    return np.concatenate(out)


def _log_loss_rows(y_true: Any, proba: Any, labels: Any) -> np.ndarray:
    import numpy as np

    proba = np.clip(proba, 1e-15, 1 - 1e-15)  # as mlcycle.evaluation's log_loss
    proba = proba / proba.sum(axis=1, keepdims=True)
    index = {v: i for i, v in enumerate(labels.tolist())}
    columns = np.fromiter((index[v] for v in y_true.tolist()), dtype=np.int64)
    return -np.log(proba[np.arange(len(columns)), columns])


def _brier_rows(y_true: Any, proba: Any, labels: Any) -> np.ndarray:
    import numpy as np

    truth = (y_true == labels[-1]).astype(np.float64)
    return (proba[:, -1] - truth) ** 2


def _mae_rows(y_true: Any, y: Any, labels: Any) -> np.ndarray:
    import numpy as np

    return np.abs(y_true.astype(np.float64) - y.astype(np.float64))


def _confusion_resampled(kind: str) -> Callable[..., np.ndarray]:
    """Precision, recall or F1 of the positive (last) class from resampled counts of true
    positives, false positives and false negatives (0 where undefined, as scikit-learn)."""

    def statistic(y_true: Any, y: Any, labels: Any, chunks: Iterator[np.ndarray]) -> np.ndarray:
        import numpy as np

        positive = labels[-1] if labels is not None else np.unique(y_true)[-1]
        said, real = y == positive, y_true == positive
        cells = np.c_[said & real, said & ~real, ~said & real].astype(np.float64)
        tp, fp, fn = np.concatenate([c @ cells for c in chunks]).T
        top, bottom = {"precision": (tp, tp + fp), "recall": (tp, tp + fn)}.get(
            kind, (2 * tp, 2 * tp + fp + fn)
        )
        return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)

    return statistic


_FAST: dict[str, Callable[..., np.ndarray]] = {
    "f1": _confusion_resampled("f1"),
    "precision": _confusion_resampled("precision"),
    "recall": _confusion_resampled("recall"),
    "auc": _auc_resampled,
    "log_loss": _mean_of(_log_loss_rows),
    "brier": _mean_of(_brier_rows),
    "rmse": _rmse_resampled,
    "mae": _mean_of(_mae_rows),
}


def _safe(metric: Any, y_true: Any, y: Any, labels: Any) -> float | None:
    import math

    try:
        value = float(metric(y_true, y, labels))
    except (ValueError, MlcycleError):
        return None
    return value if math.isfinite(value) else None


def _wilson(right: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``right`` successes in ``n`` trials."""
    import math

    p = right / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


# -- inputs -------------------------------------------------------------------------------


def _table(data: Any, what: str, owner: str, required: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):
        data = data.to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise bad_parameter(what, owner, "a DataFrame or a pyarrow Table", type(data))
    absent = [c for c in required if c not in data.columns]
    if absent:
        raise DataError(
            f"The {what} table has no {', '.join(repr(c) for c in absent)} column. "
            f"Columns: {', '.join(map(str, data.columns)) or '(none)'}."
        )
    return data


def _window(window: Any, owner: str) -> pd.Timedelta:
    import pandas as pd

    width: Any = None
    simple = _DURATION.match(window) if isinstance(window, str) else None
    try:
        if simple:  # "1d", "6h", "5m": pandas deprecates some of these unit spellings
            width = pd.Timedelta(float(simple[1]) * _UNITS[simple[2].lower()], unit="s")
        else:
            width = pd.Timedelta(window)
    except (ValueError, TypeError):
        pass
    if width is None or pd.isna(width) or width <= pd.Timedelta(0):
        raise bad_parameter("window", owner, "a positive duration such as '1h' or '1d'", window)
    return width


def _z(confidence: Any, owner: str) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise bad_parameter("confidence", owner, "a level in (0, 1)", confidence)
    if not 0.0 < confidence < 1.0:
        raise bad_parameter("confidence", owner, "a level in (0, 1)", confidence)
    return NormalDist().inv_cdf((1.0 + float(confidence)) / 2.0)


def _classes(log: pd.DataFrame, classes: Sequence[Any] | None, labels: Any) -> list[str]:
    """The classes as text, in the model's order: given, else the log's probability
    columns, else every predicted or true label seen (sorted)."""
    if classes is not None:
        if isinstance(classes, str):
            raise bad_parameter("classes", "live_performance()", "a list of classes", classes)
        return [str(c) for c in classes]
    found = [label for c in log.columns if (label := class_of(str(c))) is not None]
    if found or labels is None:
        return found
    seen: set[str] = set()
    if C.prediction in log.columns:
        seen.update(log[C.prediction].dropna().astype(str))
    if C.label in labels.columns:
        seen.update(labels[C.label].dropna().astype(str))
    return sorted(seen)


def _latest(feedback: pd.DataFrame) -> pd.DataFrame:
    """One label per prediction: the latest sent (by timestamp, else by position)."""
    if C.timestamp in feedback.columns:
        feedback = feedback.sort_values(C.timestamp, kind="stable")
    return feedback.drop_duplicates(C.prediction_id, keep="last")


def _numbers(frame: pd.DataFrame, column: str, fallback: str) -> np.ndarray:
    import numpy as np
    import pandas as pd

    values = np.full(len(frame), np.nan)
    if column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    if fallback in frame.columns:
        parsed = pd.to_numeric(frame[fallback], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        values = np.where(np.isnan(values), parsed, values)
    return values


def _canonical(labels: pd.Series, class_texts: list[str]) -> np.ndarray:
    """Labels as the class texts the log uses: ``"1.0"`` and ``"TRUE"`` find the classes
    ``1`` and ``True``; other labels stay as sent (and count as wrong)."""
    import numpy as np

    lookup: dict[str, str] = {}
    for text in class_texts:
        lookup.setdefault(text.strip().lower(), text)
        with contextlib.suppress(ValueError):
            lookup.setdefault(repr(float(text)), text)

    def find(value: Any) -> Any:
        if value is None or value != value:  # None or NaN
            return None
        text = str(value)
        if text in class_texts:
            return text
        key = text.strip().lower()
        if key in lookup:
            return lookup[key]
        try:
            return lookup.get(repr(float(text)), text)
        except ValueError:
            return text

    return np.asarray([find(v) for v in labels.tolist()], dtype=object)


def _windows(frame: pd.DataFrame, width: pd.Timedelta) -> list[tuple[datetime, pd.DataFrame]]:
    import pandas as pd

    if frame.empty:
        return []
    starts = pd.to_datetime(frame[C.timestamp], utc=True).dt.floor(width)
    return [
        (pd.Timestamp(start).to_pydatetime(), group)
        for start, group in frame.groupby(starts, sort=True)
    ]
