"""The share of anomalous inputs: a monitored signal from the detector fitted at training.

The detector (see :func:`mlcycle.data.fit_anomaly_detector`) is read from the bundle's
``extra/anomaly.skops``. Its threshold flags about ``contamination`` (1 %) of rows like the
training rows, so a share well above that means the inputs moved somewhere the model has
rarely or never seen::

    summary = anomaly_share(bundle, current_rows)
    summary.share, summary.expected      # e.g. 0.083 vs 0.01
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, bad_parameter
from mlcycle.predlog import input_column

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.bundle import Bundle

__all__ = ["AnomalySummary", "anomaly_detector", "anomaly_share"]

_QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class AnomalySummary:
    """Anomaly scores of a batch of rows against the training-time threshold.

    ``share`` is ``flagged / rows`` (None for no rows); ``expected`` is the share flagged
    on rows like the training rows (the detector's contamination); ``quantiles`` holds the
    scores' median, 90th and 99th percentiles and maximum as ``p50``, ``p90``, ``p99``,
    ``max``.
    """

    rows: int
    flagged: int
    share: float | None
    threshold: float
    expected: float
    quantiles: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return asdict(self)

    def summary(self) -> str:
        """One line, e.g. ``anomalies: 83 of 1,000 rows (8.3%, 1.0% expected)``."""
        if self.share is None:
            return "anomalies: no rows scored"
        return (
            f"anomalies: {self.flagged:,} of {self.rows:,} rows "
            f"({self.share:.1%}, {self.expected:.1%} expected)"
        )


def anomaly_detector(bundle: Bundle) -> Any | None:
    """The bundle's anomaly detector, or None when it was trained without one."""
    return bundle.anomaly_detector()


def anomaly_share(source: Any, frame: Any, *, required: bool = False) -> AnomalySummary | None:
    """Score ``frame`` (DataFrame or pyarrow Table; ``input.<column>`` names are accepted)
    with the detector of ``source`` (a :class:`~mlcycle.bundle.Bundle` or a detector).

    A bundle without a detector gives None, or an :class:`MlcycleError` saying so when
    ``required``.
    """
    import numpy as np

    from mlcycle.bundle import Bundle
    from mlcycle.data import anomaly_threshold, score_anomalies

    detector = source
    if isinstance(source, Bundle):
        detector = anomaly_detector(source)
        if detector is None:
            if not required:
                return None
            raise BundleError(
                f"The model bundle {source.path} has no anomaly detector (extra/anomaly.skops): "
                "it was trained without one. Retrain the model to monitor anomalous inputs."
            )
    threshold = anomaly_threshold(detector)  # checks that it is a fitted detector
    rows = _frame(frame, detector.feature_names_in_)
    expected = float(detector.steps[-1][1].contamination)
    scores = score_anomalies(detector, rows)
    if len(scores) == 0:
        return AnomalySummary(0, 0, None, threshold, expected)
    flagged = int(np.count_nonzero(scores > threshold))
    levels = np.quantile(scores, _QUANTILES)
    quantiles = {f"p{round(q * 100)}": float(v) for q, v in zip(_QUANTILES, levels, strict=True)}
    quantiles["max"] = float(scores.max())
    share = flagged / len(scores)
    return AnomalySummary(len(scores), flagged, share, threshold, expected, quantiles)


def _frame(frame: Any, expected: Any) -> pd.DataFrame:
    """``frame`` as a DataFrame named like the training columns (``input.`` prefix off)."""
    import pandas as pd

    if hasattr(frame, "to_pandas") and not isinstance(frame, pd.DataFrame):
        frame = frame.to_pandas()
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter(
            "frame", "anomaly_share()", "a DataFrame or a pyarrow Table", type(frame)
        )
    names = [] if expected is None else [str(c) for c in expected]
    if names and not set(names) <= set(frame.columns):
        prefixed = {input_column(c): c for c in names}
        if set(prefixed) <= set(frame.columns):
            return frame[list(prefixed)].rename(columns=prefixed)
    return frame
