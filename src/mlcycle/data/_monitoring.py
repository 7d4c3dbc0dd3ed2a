"""What a bundle carries for monitoring, built from one reference table in one call.

:func:`mlcycle.train` (on the training rows) and :func:`mlcycle.register_model` (on
``reference_data=``, for a model trained elsewhere) both call :func:`monitoring_reference`,
so every registered model that has one gets the same three things: the drift reference
(stored as ``reference_profile["drift"]``, see :func:`build_reference`), a seeded sample of
the rows (``extra/reference_sample.parquet``, for the domain classifier of multivariate
drift) and an Isolation Forest for anomalous inputs (``extra/anomaly.skops``)::

    reference = monitoring_reference(model, train_df, target="churned", schema=schema)
    write_bundle(model, path, schema=schema, monitoring=reference)

The bundle module names and stores the three parts (:class:`mlcycle.bundle.MonitoringReference`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.bundle import MonitoringReference
from mlcycle.data._anomaly import fit_anomaly_detector
from mlcycle.data._reference import build_reference, reference_sample
from mlcycle.exceptions import DataError, bad_parameter

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = ["monitoring_reference"]


def monitoring_reference(
    model: Any,
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    schema: Schema | None = None,
    classifier: bool | None = None,
    seed: int = 0,
    kinds: dict[str, str] | None = None,
    private: Collection[str] | None = None,
) -> MonitoringReference:
    """Build what monitoring compares live traffic with, from ``frame`` and ``model``.

    The features are ``schema``'s (else every column but ``target``); the target column,
    when named and present, is summarised and kept in the sample. The model's outputs on
    the features are summarised too: probabilities when ``classifier`` (default: the model
    has ``predict_proba``), predictions otherwise.

    ``private`` features (personal data, identifiers; default: those :func:`detect_pii`
    flags and those ``kinds`` calls identifiers) are left out of all three parts: the
    bundle is copied to every server, and a hashed value would be no safer (an e-mail
    address is guessed and hashed in microseconds) and no use to drift tests (nearly every
    value is new), so their raw values never reach it. The drift reference lists them
    under ``"skipped"``; drift is not tested on them.
    """
    owner = "monitoring_reference()"
    if not isinstance(frame, pd.DataFrame):
        raise bad_parameter("frame", owner, "a pandas DataFrame", type(frame))
    if target is not None and target not in frame.columns:
        target = None  # features only: no target to summarise
    names = (
        schema.feature_names
        if schema is not None
        else [str(c) for c in frame.columns if c != target]
    )
    absent = [name for name in names if name not in frame.columns]
    if absent:
        raise DataError(
            f"Column(s) {', '.join(absent)} of the model are not in the reference data. "
            f"It has: {', '.join(map(str, frame.columns))}."
        )
    features = frame[names]
    if classifier is None:
        classifier = hasattr(model, "predict_proba")
    proba = model.predict_proba(features) if classifier else None
    hidden = _private(features, kinds) if private is None else set(private)
    public = [name for name in names if name not in hidden]
    drift = build_reference(
        features[public],
        schema=None if schema is None else _narrowed(schema, public),
        predictions=None if proba is not None else model.predict(features),
        probabilities=proba,
        classes=None if proba is None else [_plain(c) for c in model.classes_],
        target=None if target is None else frame[target],
    )
    drift["skipped"] += [name for name in names if name in hidden]
    sample = reference_sample(frame[[*public, *([target] if target else [])]], seed=seed)
    detector = fit_anomaly_detector(features[public], seed=seed, kinds=kinds)
    return MonitoringReference(drift, sample, detector)


def _private(features: pd.DataFrame, kinds: dict[str, str] | None) -> set[str]:
    """The features that look like personal data, and those ``kinds`` calls identifiers."""
    from mlcycle.data._pii import detect_pii

    found = {finding.column for finding in detect_pii(features)} if len(features) else set()
    return found | {name for name, kind in (kinds or {}).items() if kind == "identifier"}


def _narrowed(schema: Schema, names: list[str]) -> Schema:
    """``schema`` with only the features ``names`` (and its target)."""
    from mlcycle.schema import Schema

    kept = [c for c in schema.columns if c.name in names or c.name == schema.target]
    return Schema(kept, schema.target, schema.defaults, schema.unexpected)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
