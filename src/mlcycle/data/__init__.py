"""Data: load, profile, validate, prepare, balance, split, anonymise, fingerprint.

Names are imported on first use, so ``import mlcycle.data`` stays cheap.
"""

from __future__ import annotations

from mlcycle._lazy import lazy_exports

_LAZY = {
    # loading and column kinds
    "load": "mlcycle.data._load",
    "DTYPE_KINDS": "mlcycle.data._kinds",
    "Kind": "mlcycle.data._kinds",
    "TableTypes": "mlcycle.data._kinds",
    "infer_kinds": "mlcycle.data._kinds",
    "infer_types": "mlcycle.data._kinds",
    "fingerprint": "mlcycle.data._fingerprint",
    "decimal_comma_values": "mlcycle.data._numbers",
    "numbers_as_text": "mlcycle.data._numbers",
    # splits
    "split": "mlcycle.data._split",
    "cv_splitter": "mlcycle.data._split",
    # validation against a schema and rules
    "Rules": "mlcycle.data._validate",
    "ValidationReport": "mlcycle.data._validate",
    "load_rules": "mlcycle.data._validate",
    "validate": "mlcycle.data._validate",
    # preparation and imbalance
    "PrepareOptions": "mlcycle.data._prepare",
    "build_preparer": "mlcycle.data._prepare",
    "deduplicate": "mlcycle.data._prepare",
    "inference_pipeline": "mlcycle.data._balance",
    "make_sampler": "mlcycle.data._balance",
    "class_weights": "mlcycle.data._balance",
    "training_pipeline": "mlcycle.data._balance",
    # profiling, leakage and personal data
    "Profile": "mlcycle.data._profile",
    "profile": "mlcycle.data._profile",
    "PiiFinding": "mlcycle.data._pii",
    "detect_pii": "mlcycle.data._pii",
    "mask_value": "mlcycle.data._pii",
    "AnonymizationReport": "mlcycle.data._anonymize",
    "anonymize": "mlcycle.data._anonymize",
    # the drift reference stored in the bundle at training time
    "build_reference": "mlcycle.data._reference",
    "reference_sample": "mlcycle.data._reference",
    "category_text": "mlcycle.data._reference",
    # the outlier detector fitted at training time
    "ANOMALY_FILE": "mlcycle.data._anomaly",
    "anomaly_bytes": "mlcycle.data._anomaly",
    "anomaly_threshold": "mlcycle.data._anomaly",
    "fit_anomaly_detector": "mlcycle.data._anomaly",
    "score_anomalies": "mlcycle.data._anomaly",
    # the three together, as a bundle carries them for monitoring
    "monitoring_reference": "mlcycle.data._monitoring",
}

__all__ = [
    "ANOMALY_FILE",
    "DTYPE_KINDS",
    "AnonymizationReport",
    "Kind",
    "PiiFinding",
    "PrepareOptions",
    "Profile",
    "Rules",
    "TableTypes",
    "ValidationReport",
    "anomaly_bytes",
    "anomaly_threshold",
    "anonymize",
    "build_preparer",
    "build_reference",
    "category_text",
    "class_weights",
    "cv_splitter",
    "decimal_comma_values",
    "deduplicate",
    "detect_pii",
    "fingerprint",
    "fit_anomaly_detector",
    "infer_kinds",
    "infer_types",
    "inference_pipeline",
    "load",
    "load_rules",
    "make_sampler",
    "mask_value",
    "monitoring_reference",
    "numbers_as_text",
    "profile",
    "reference_sample",
    "score_anomalies",
    "split",
    "training_pipeline",
    "validate",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
