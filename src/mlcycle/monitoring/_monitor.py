"""``mlcycle monitor``: one pass over a served model's logs, from signals to alerts.

It reads the prediction log of a time range (a partition-pruned Parquet scan), counts the
rows the server refused for breaking the schema (the refusal log), compares
the inputs and predictions with the reference the bundle carries from training (drift, per
feature and multivariate), scores the inputs with the bundle's anomaly detector, measures
live performance from feedback labels (or estimates it from the model's confidence), takes
latency from the log and the error rate from a running server's ``/metrics``, evaluates the
alert rules, notifies, and writes an HTML and a JSON report.

Drift gets a verdict only on a window of at least ``min_rows`` predictions
(:data:`MIN_WINDOW_ROWS` by default); a smaller one is reported as too small, not as
drifted. Every report says how fresh the log is: the time of the newest logged prediction,
and that the server writes its log every :data:`~mlcycle.predlog.FLUSH_SECONDS` seconds.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import MlcycleError, NotFoundError, bad_parameter, is_integer
from mlcycle.monitoring._logs import (
    MIN_WINDOW_ROWS,
    inputs_of,
    parse_duration,
    read_feedback,
    read_predictions,
    read_refusals,
    since_time,
)
from mlcycle.predlog import COLUMNS, FLUSH_SECONDS, class_of

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.registry import Workspace

__all__ = ["MonitorReport", "monitor"]


@dataclass
class MonitorReport:
    """What one monitoring pass found; ``signals`` are what the alert rules test."""

    model: str
    alias: str | None
    version: int
    since: str
    rows: int
    drift: Any | None
    history: list[dict[str, Any]] = field(default_factory=list)
    performance: list[Any] = field(default_factory=list)
    estimated: list[Any] = field(default_factory=list)
    anomaly: Any | None = None
    refused: Any | None = None
    signals: dict[str, float | None] = field(default_factory=dict)
    alerts: list[Any] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)
    delivery: Any | None = None
    report_path: Path | None = None
    json_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    min_rows: int = MIN_WINDOW_ROWS
    """The fewest predictions a window needs for a drift verdict."""
    drift_withheld: str | None = None
    """Why drift has no verdict (the window is too small), or None."""
    newest: datetime | None = None
    """When the newest logged prediction of the range was made (None: none was logged)."""
    freshness: str = ""
    """How fresh the log is, in a sentence: the newest prediction and the flush interval."""

    def to_dict(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            return obj.to_dict() if hasattr(obj, "to_dict") else obj

        return _json_safe({
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "since": self.since,
            "rows": self.rows,
            "drift": plain(self.drift),
            "history": self.history,
            "performance": [plain(w) for w in self.performance],
            "estimated": [plain(w) for w in self.estimated],
            "anomaly": plain(self.anomaly),
            "refused": plain(self.refused),
            "signals": self.signals,
            "alerts": [plain(a) for a in self.alerts],
            "not_evaluated": self.not_evaluated,
            "report": None if self.report_path is None else str(self.report_path),
            "notes": self.notes,
            "min_rows": self.min_rows,
            "drift_withheld": self.drift_withheld,
            "freshness": {
                "newest_prediction": self.newest,
                "flush_seconds": FLUSH_SECONDS,
                "text": self.freshness,
            },
        })  # fmt: skip


def monitor(
    ref: str,
    *,
    since: str = "7d",
    window: str = "1d",
    rules: Any = None,
    server: str | None = None,
    report: bool = True,
    notify: bool = True,
    min_rows: int = MIN_WINDOW_ROWS,
    workspace: Workspace | None = None,
) -> MonitorReport:
    """Monitor ``ref`` (``NAME`` or ``NAME@ALIAS``) over the last ``since`` of traffic.

    ``rules``: a YAML file (or its dict) of alert rules; ``server``: the URL of a running
    ``mlcycle serve`` whose ``/metrics`` give the error rate; ``min_rows``: the fewest
    predictions a window (the whole range, and each ``window`` of its history) needs for a
    drift verdict (see :data:`MIN_WINDOW_ROWS`).
    """
    from mlcycle.monitoring._alerts import evaluate_rules, load_rules
    from mlcycle.monitoring._alerts import notify as send
    from mlcycle.registry import get_workspace, load_model, parse_model_ref, resolve_version

    ws = workspace or get_workspace()
    parsed = parse_model_ref(ref)
    step = parse_duration(window, "--window")
    since_time(since)  # a bad --since fails before any work
    if not is_integer(min_rows) or min_rows < 1:
        raise bad_parameter("min_rows", "monitor()", "an integer >= 1", min_rows)
    if (
        parsed.alias is None
        and parsed.version is None
        and _has_alias(parsed.name, "production", ws)
    ):
        ref = f"{parsed.name}@production"  # the version serving, when there is one
    version = resolve_version(ref, ws)
    bundle = load_model(f"{parsed.name}/{version.version}", workspace=ws)
    rule_set = load_rules(rules) if rules is not None else None
    log = read_predictions(parsed.name, since=since, alias=parsed.alias, workspace=ws)
    out = MonitorReport(parsed.name, parsed.alias, version.version, since, len(log), None)
    out.min_rows = int(min_rows)
    _freshness(out, log)
    _refusal_signals(out, log, step, ws)
    if log.empty:
        out.notes.append(
            f"No predictions of '{parsed.name}' were logged in the last {since}: nothing to "
            "compare. Serve it with mlcycle serve (the prediction log is on by default)."
        )
    else:
        feedback = read_feedback(parsed.name, workspace=ws)
        _drift_signals(out, bundle, log, step, feedback)
        _anomaly_signals(out, bundle, log)
        _performance_signals(out, bundle, log, window, feedback)
        latency = (
            log[COLUMNS.latency_ms].to_numpy(dtype=float)
            if COLUMNS.latency_ms in log
            else np.array([])
        )
        for q in (50, 90, 95, 99):
            out.signals[f"p{q}_latency_ms"] = (
                float(np.percentile(latency, q)) if len(latency) else None
            )
    if server is not None:
        out.signals["error_rate"] = _error_rate(server, parsed.name)
    if rule_set is not None:
        alerts = evaluate_rules(rule_set, out.signals, labels={"model": parsed.name})
        out.alerts = list(alerts)
        out.not_evaluated = list(getattr(alerts, "not_evaluated", []))
        if notify and out.alerts:
            out.delivery = send(out.alerts, webhook=getattr(rule_set, "webhook", None))
    if report:
        _write_reports(out, ws)
    return out


def _has_alias(name: str, alias: str, ws: Any) -> bool:
    try:
        ws.store.resolve_alias(name, alias)
    except MlcycleError:
        return False
    return True


def _drift_signals(
    out: MonitorReport, bundle: Any, log: pd.DataFrame, step: Any, feedback: pd.DataFrame
) -> None:
    from mlcycle.monitoring._drift import drift

    if not bundle.drift_reference:
        out.notes.append(
            "The bundle has no drift reference (trained before mlcycle 0.2, or not by "
            "mlcycle.train): drift is not computed. Retrain it with mlcycle train."
        )
        return
    if len(log) < out.min_rows:
        out.drift_withheld = (
            f"The window has {len(log):,} rows, fewer than the {out.min_rows:,} needed for a "
            "drift verdict; no drift verdict (min_rows, or --min-rows, sets the minimum)."
        )
        out.notes.append(out.drift_withheld)
        return
    features = bundle.schema.feature_names if bundle.schema is not None else None
    out.drift = drift(bundle, _window(log, features, feedback))
    report = out.drift
    out.signals["drifted_features"] = float(len(report.drifted))
    out.signals["drift_share"] = float(report.share_drifted)
    psis = [f.psi for f in report.features if f.psi is not None and math.isfinite(f.psi)]
    out.signals["max_psi"] = max(psis) if psis else None
    out.signals["multivariate_auc"] = (
        None if report.multivariate is None else float(report.multivariate.auc)
    )
    out.signals["prediction_psi"] = None if report.prediction is None else report.prediction.psi
    # drift over time: each window against the reference (per-feature tests only)
    import pandas as pd

    stamps = pd.to_datetime(log[COLUMNS.timestamp], utc=True)
    buckets = stamps.dt.floor(pd.Timedelta(step))
    for start, rows in log.groupby(buckets, sort=True):
        if len(rows) < out.min_rows:  # no verdict on a window this small
            continue
        windowed = drift(bundle, _window(rows, features, feedback), multivariate=False)
        psis = [f.psi for f in windowed.features if f.psi is not None and math.isfinite(f.psi)]
        out.history.append({
            "window": start.isoformat(),
            "rows": len(rows),
            "drifted_features": len(windowed.drifted),
            "share_drifted": windowed.share_drifted,
            "max_psi": max(psis) if psis else None,
        })  # fmt: skip


def _freshness(out: MonitorReport, log: pd.DataFrame) -> None:
    """Say how fresh the log is: a pass run right after traffic reads a log whose last few
    seconds the server has not written yet."""
    import pandas as pd

    flush = f"the server writes its log every {FLUSH_SECONDS:g} s"
    if log.empty or COLUMNS.timestamp not in log:
        out.freshness = f"No prediction is logged in the last {out.since}; {flush}."
        return
    newest = pd.to_datetime(log[COLUMNS.timestamp], utc=True).max().to_pydatetime()
    out.newest = newest
    age = max(0.0, (datetime.now(UTC) - newest).total_seconds())
    out.freshness = (
        f"Newest logged prediction: {newest:%Y-%m-%d %H:%M:%S} UTC ({_age(age)} ago); "
        f"{flush}, so the last {FLUSH_SECONDS:g} s of traffic may not be in it yet."
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _window(log: pd.DataFrame, features: list[str] | None, feedback: pd.DataFrame) -> Any:
    """The inputs under their feature names, the logged outputs, and feedback labels."""
    import pandas as pd

    c = COLUMNS
    outputs = [name for name in log.columns if class_of(str(name)) is not None]
    outputs += [name for name in (c.prediction, c.prediction_value) if name in log.columns]
    frame = pd.concat([inputs_of(log, features), log[outputs]], axis=1)
    if len(feedback):
        labels = feedback.set_index(c.prediction_id)
        for name in (c.label, c.label_value):
            frame[name] = log[c.prediction_id].map(labels[name]).to_numpy()
    return frame


def _refusal_signals(out: MonitorReport, log: pd.DataFrame, step: Any, ws: Any) -> None:
    """Rows refused for breaking the schema, per window, against the rows predicted."""
    from mlcycle.monitoring._refusals import summarise_refusals

    refusals = read_refusals(out.model, since=out.since, alias=out.alias, workspace=ws)
    out.refused = summary = summarise_refusals(log, refusals, step)
    out.signals["refused_rows"] = float(summary.refused_rows)
    out.signals["refused_share"] = summary.share
    if summary.refused_rows:
        worst = summary.issues[0] if summary.issues else None
        why = (
            ""
            if worst is None
            else (
                f"; most often {worst[COLUMNS.code]}"
                + (f" in column '{worst[COLUMNS.column]}'" if worst[COLUMNS.column] else "")
            )
        )
        out.notes.append(
            f"The server refused {summary.refused_rows:,} row(s) in "
            f"{summary.refused_requests:,} request(s) for breaking the schema{why}."
        )


def _anomaly_signals(out: MonitorReport, bundle: Any, log: pd.DataFrame) -> None:
    from mlcycle.monitoring._anomaly import anomaly_share

    features = bundle.schema.feature_names if bundle.schema is not None else None
    summary = anomaly_share(bundle, inputs_of(log, features))
    out.anomaly = summary
    out.signals["anomaly_share"] = None if summary is None else summary.share


def _performance_signals(
    out: MonitorReport, bundle: Any, log: pd.DataFrame, window: str, feedback: pd.DataFrame
) -> None:
    from mlcycle.monitoring._performance import estimate_performance, live_performance

    params = bundle.params or {}
    has_proba = any(class_of(str(name)) is not None for name in log.columns)
    task = params.get("task") or ("binary" if has_proba else "regression")
    if len(feedback):
        out.performance = live_performance(log, feedback, task=task, window=window)
        labelled = [w for w in out.performance if w.labelled]
        if labelled:
            latest = labelled[-1]
            for metric, value in latest.metrics.items():
                out.signals[f"metric.{metric}"] = value
    if task != "regression" and has_proba:
        out.estimated = estimate_performance(log, window=window)
        if out.estimated:
            out.signals["estimated.accuracy"] = out.estimated[-1].metrics.get("accuracy")


def _error_rate(server: str, model: str) -> float | None:
    """Errors / requests of ``model``'s predict route, from a running server's metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{server.rstrip('/')}/metrics", timeout=5) as answer:  # noqa: S310
            text = answer.read().decode()
    except OSError as exc:
        raise NotFoundError(f"Cannot read {server}/metrics: {exc}.") from None
    totals = {"requests": 0.0, "errors": 0.0}
    for family in text_string_to_metric_families(text):
        kind = {"mlcycle_requests": "requests", "mlcycle_errors": "errors"}.get(family.name)
        for sample in family.samples if kind else ():
            labels = sample.labels
            if sample.name.endswith("_total") and labels.get("model") == model:
                totals[kind] += sample.value if labels.get("route") == "predict" else 0.0  # type: ignore[index]
    return totals["errors"] / totals["requests"] if totals["requests"] else None


def _write_reports(out: MonitorReport, ws: Any) -> None:
    from mlcycle.monitoring._report import render_drift_report

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = ws.settings.home / "reports" / f"monitor-{out.model}-{stamp}-{time.time_ns() % 10_000}"
    folder.mkdir(parents=True, exist_ok=True)
    data = out.to_dict()
    out.json_path = folder / "monitor.json"
    out.json_path.write_text(json.dumps(data, indent=2, allow_nan=False), encoding="utf-8")
    if out.drift is not None or out.drift_withheld is not None:
        # a window too small for a verdict: the page says so, with its rows and freshness
        drifted = {"features": [], "rows_current": out.rows} if out.drift is None else out.drift
        html = render_drift_report(
            drifted,
            history=out.history,
            title=f"Drift of {out.model} v{out.version}",
            refused=None if out.refused is None else out.refused.to_dict(),
            freshness=out.freshness,
            withheld=out.drift_withheld,
        )
        out.report_path = folder / "drift_report.html"
        out.report_path.write_text(html, encoding="utf-8")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj
