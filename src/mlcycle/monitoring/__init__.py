"""Monitoring and the closed loop: drift, anomalies, live performance, alerts, reports,
and retraining through a champion/challenger gate.

Everything here reads bundles (their training reference, sample and anomaly detector) and
the server's prediction and feedback logs; nothing needs a running server. Names are
imported on first use, so ``import mlcycle.monitoring`` stays cheap.
"""

from __future__ import annotations

from mlcycle._lazy import lazy_exports

_LAZY = {
    # drift against the training reference
    "DriftReport": "mlcycle.monitoring._drift",
    "DriftThresholds": "mlcycle.monitoring._drift",
    "FeatureDrift": "mlcycle.monitoring._drift",
    "MultivariateDrift": "mlcycle.monitoring._drift",
    "drift": "mlcycle.monitoring._drift",
    # anomalies, performance
    "AnomalySummary": "mlcycle.monitoring._anomaly",
    "anomaly_share": "mlcycle.monitoring._anomaly",
    "WindowMetrics": "mlcycle.monitoring._performance",
    "estimate_performance": "mlcycle.monitoring._performance",
    "live_performance": "mlcycle.monitoring._performance",
    # alerts and reports
    "Alert": "mlcycle.monitoring._alerts",
    "RuleSet": "mlcycle.monitoring._alerts",
    "SIGNALS": "mlcycle.monitoring._alerts",
    "evaluate_rules": "mlcycle.monitoring._alerts",
    "load_rules": "mlcycle.monitoring._alerts",
    "notify": "mlcycle.monitoring._alerts",
    "prometheus_gauges": "mlcycle.monitoring._alerts",
    "prometheus_rules": "mlcycle.monitoring._alerts",
    "render_drift_report": "mlcycle.monitoring._report",
    # the logs and one monitoring pass
    "MIN_WINDOW_ROWS": "mlcycle.monitoring._logs",
    "read_feedback": "mlcycle.monitoring._logs",
    "read_predictions": "mlcycle.monitoring._logs",
    "read_refusals": "mlcycle.monitoring._logs",
    "MonitorReport": "mlcycle.monitoring._monitor",
    "monitor": "mlcycle.monitoring._monitor",
    # the gate: retrain, update, A/B analysis
    "RetrainDecision": "mlcycle.monitoring._gate",
    "retrain": "mlcycle.monitoring._retrain",
    "update": "mlcycle.monitoring._online",
    "AbTestResult": "mlcycle.monitoring._abtest",
    "abtest": "mlcycle.monitoring._abtest",
}

__all__ = [
    "MIN_WINDOW_ROWS",
    "SIGNALS",
    "AbTestResult",
    "Alert",
    "AnomalySummary",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "MonitorReport",
    "MultivariateDrift",
    "RetrainDecision",
    "RuleSet",
    "WindowMetrics",
    "abtest",
    "anomaly_share",
    "drift",
    "estimate_performance",
    "evaluate_rules",
    "live_performance",
    "load_rules",
    "monitor",
    "notify",
    "prometheus_gauges",
    "prometheus_rules",
    "read_feedback",
    "read_predictions",
    "read_refusals",
    "render_drift_report",
    "retrain",
    "update",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
