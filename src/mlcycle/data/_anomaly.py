"""The outlier detector fitted at training time: an Isolation Forest over encoded inputs.

Training fits it on the training rows and the bundle stores it as ``extra/anomaly.skops``
(:data:`ANOMALY_FILE`); monitoring and serving score incoming rows with it. The detector
is a plain scikit-learn ``Pipeline`` (mlcycle's preparer with unscaled numbers and ordinal
codes for wide categories, then ``IsolationForest``), so it round-trips through skops with
the bundle's fixed list of trusted types and nothing else::

    detector = fit_anomaly_detector(train_df)
    extra_files = {ANOMALY_FILE: anomaly_bytes(detector)}
    scores = score_anomalies(detector, new_df)          # higher = more unusual
    flagged = scores > anomaly_threshold(detector)

The threshold is the forest's own ``offset_``: with ``contamination=c`` scikit-learn sets it
to the ``c`` quantile of the training rows' ``score_samples``, so "anomalous" means "more
unusual than ``1 - c`` of the training rows" and the threshold travels inside the skops
file with the forest. Free-text columns are left out (a TF-IDF vocabulary would swamp the
random splits) and so are identifiers (every value is unusual).

An Isolation Forest singles out rows that are unusual in several features at once; one
extreme value in one column among ordinary ones shifts the score less (that is what the
per-feature drift tests watch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.bundle import ANOMALY_DETECTOR_FILE
from mlcycle.exceptions import DataError, bad_parameter, is_integer, require

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sklearn.pipeline import Pipeline

    from mlcycle.schema import Schema

__all__ = [
    "ANOMALY_FILE",
    "anomaly_bytes",
    "anomaly_threshold",
    "fit_anomaly_detector",
    "score_anomalies",
]

ANOMALY_FILE = ANOMALY_DETECTOR_FILE  # named by the bundle module
"""The detector's name under a bundle's ``extra/`` folder."""

_FIT_ROWS = 100_000  # the forest sees 256 rows per tree; more rows only refine the threshold
_LEFT_OUT = ("text", "identifier")


def fit_anomaly_detector(
    frame: pd.DataFrame,
    *,
    schema: Schema | None = None,
    contamination: float = 0.01,
    seed: int = 0,
    kinds: Mapping[str, str] | None = None,
) -> Pipeline:
    """Fit an Isolation Forest (100 trees) on ``frame``'s feature columns.

    ``schema`` (the model's) selects the features and leaves its target out; without it
    every column is a feature. ``contamination`` is the share of training rows that count
    as anomalous, which sets the threshold (see :func:`anomaly_threshold`). At most 100,000
    rows (a seeded sample) are used. ``kinds`` (the columns' kinds, when already
    inferred) spare inferring them again; a column they leave out is inferred.
    """
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import Pipeline

    from mlcycle.data._kinds import infer_kinds
    from mlcycle.data._prepare import PrepareOptions, build_preparer

    owner = "fit_anomaly_detector()"
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter("frame", owner, "a pandas DataFrame", type(frame))
    if isinstance(contamination, bool) or not isinstance(contamination, int | float):
        raise bad_parameter("contamination", owner, "a share in (0, 0.5]", contamination)
    if not 0.0 < float(contamination) <= 0.5:
        raise bad_parameter("contamination", owner, "a share in (0, 0.5]", contamination)
    if not is_integer(seed):
        raise bad_parameter("seed", owner, "an integer", seed)
    X = frame
    if schema is not None:
        missing = [name for name in schema.feature_names if name not in frame.columns]
        if missing:
            raise DataError(
                f"Column(s) {', '.join(missing)} of the schema are missing from the training "
                f"data. The anomaly detector expects: {', '.join(schema.feature_names)}."
            )
        X = frame[schema.feature_names]
    if len(X) < 2:
        raise DataError(
            f"The anomaly detector needs at least 2 training rows; the data has {len(X)}."
        )
    if len(X) > _FIT_ROWS:
        X = X.sample(n=_FIT_ROWS, random_state=int(seed))
    given = {str(k): str(v) for k, v in (kinds or {}).items()}
    unknown = [c for c in X.columns if str(c) not in given]
    found = dict(given)
    if unknown:
        found.update({str(k): str(v) for k, v in infer_kinds(X[unknown]).items()})
    features = [c for c in X.columns if found.get(str(c)) not in _LEFT_OUT]
    if not features:
        raise DataError(
            "The anomaly detector has no column to learn from: every column is free text or "
            f"an identifier. Kinds: {found}."
        )
    X = X[features]
    options = PrepareOptions(scale=False, high_cardinality="ordinal")
    preparer = build_preparer(X, kinds={c: found[str(c)] for c in features}, options=options)
    forest = IsolationForest(
        n_estimators=100, contamination=float(contamination), random_state=int(seed), n_jobs=1
    )
    detector = Pipeline([("prepare", preparer), ("forest", forest)])
    return detector.fit(X)


def _forest(detector: Any, owner: str) -> Any:
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import Pipeline

    forest = detector.steps[-1][1] if isinstance(detector, Pipeline) else None
    if not isinstance(forest, IsolationForest) or not hasattr(forest, "offset_"):
        raise bad_parameter(
            "detector", owner, "a fitted detector from fit_anomaly_detector()", type(detector)
        )
    return forest


def anomaly_threshold(detector: Pipeline) -> float:
    """The score above which a row is anomalous: the training rows' ``1 - contamination``
    quantile of :func:`score_anomalies` (stored in the forest as ``-offset_``)."""
    return float(-_forest(detector, "anomaly_threshold()").offset_)


def score_anomalies(detector: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """One anomaly score per row of ``frame``, in (0, 1]: higher is more unusual (about 0.5
    for ordinary rows). Columns the detector does not use are ignored.

    A call costs ~15 ms whatever the number of rows (100 trees walked from Python), so score
    batches, not single rows.
    """
    _forest(detector, "score_anomalies()")
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter("frame", "score_anomalies()", "a pandas DataFrame", type(frame))
    expected = [str(c) for c in detector.feature_names_in_]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise DataError(
            f"Column(s) {', '.join(missing)} are missing from the rows to score. "
            f"The anomaly detector expects: {', '.join(expected)}."
        )
    if len(frame) == 0:
        return np.zeros(0, dtype=np.float64)
    return -np.asarray(detector.score_samples(frame[expected]), dtype=np.float64)


def anomaly_bytes(detector: Pipeline) -> bytes:
    """The detector as skops bytes, for ``extra_files={ANOMALY_FILE: ...}`` of a bundle."""
    _forest(detector, "anomaly_bytes()")
    import zipfile

    sio: Any = require("skops.io", "sklearn")
    # the trees' node arrays are mostly zeros: deflate shrinks 100 trees from ~4 MB to ~0.7 MB
    return bytes(sio.dumps(detector, compression=zipfile.ZIP_DEFLATED))
