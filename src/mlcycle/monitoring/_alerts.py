"""Alert rules: a YAML file of conditions on monitored signals, evaluated, exported, sent.

A rules file::

    notify: {webhook: "https://hooks.example.com/T000/B000"}   # optional; the log always
    rules:
      - name: drift-on-many-features
        when: drifted_features >= 3
        severity: warning                 # info, warning (default) or critical
      - {name: psi-high, when: "max_psi > 0.25"}
      - {name: errors, when: "error_rate > 0.01", for: 5m}
      - {name: slow, when: "p99_latency_ms > 50"}
      - {name: auc-floor, when: "metric.auc < 0.8", description: "AUC on labelled traffic"}
      - {name: anomalies, when: "anomaly_share > 0.05"}

``when`` is ``<signal> <operator> <number>``, nothing else: a signal of :data:`SIGNALS`
(or ``metric.<name>``, a live metric from feedback labels, or ``estimated.accuracy``, the
confidence-based estimate), one of ``> >= < <= == !=`` and a finite number. It is parsed
by a regular expression, never evaluated as code. ``for`` (a Prometheus duration: ``30s``,
``5m``, ``1h30m``) asks the condition to hold that long before the alert fires.

:func:`evaluate_rules` checks the rules against the signals ``mlcycle monitor`` computed,
:func:`notify` logs the firing alerts (logger ``mlcycle.alerts``, one JSON line each) and
posts them to the webhook, and :func:`prometheus_rules` writes the same rules as a
Prometheus alerting-rules file over the server's metrics and the gauges of
:func:`prometheus_gauges`, so Prometheus and Alertmanager can take over.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import operator
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlcycle.exceptions import ConfigError, bad_parameter
from mlcycle.monitoring._webhook import Response, literal_address_problem, post_json

__all__ = [
    "GAUGES",
    "OPERATORS",
    "SIGNALS",
    "Alert",
    "Alerts",
    "Delivery",
    "Rule",
    "RuleSet",
    "evaluate_rules",
    "load_rules",
    "notify",
    "prometheus_gauges",
    "prometheus_rules",
]

logger = logging.getLogger("mlcycle.alerts")

SIGNALS: dict[str, str] = {
    "drifted_features": "number of features whose distribution drifted",
    "drift_share": "share of the features that drifted",
    "max_psi": "largest population stability index of a feature",
    "multivariate_auc": "AUC of the classifier telling current from reference rows (0.5: alike)",
    "prediction_psi": "population stability index of the model's predictions",
    "anomaly_share": "share of rows more unusual than 99 % of the training rows",
    "refused_rows": "rows the server refused (422) for breaking the model's schema",
    "refused_share": "share of the rows sent that the server refused for breaking the schema",
    "error_rate": "share of predict requests answered with an error (4xx or 5xx)",
    "p50_latency_ms": "median predict latency, in milliseconds",
    "p90_latency_ms": "90th percentile of the predict latency, in milliseconds",
    "p95_latency_ms": "95th percentile of the predict latency, in milliseconds",
    "p99_latency_ms": "99th percentile of the predict latency, in milliseconds",
    "metric.<name>": "a metric on labelled predictions (feedback), e.g. metric.auc",
    "estimated.accuracy": "accuracy estimated from the model's confidence, without labels",
}
"""The signals a rule may test, with what they mean."""

GAUGES: dict[str, str] = {
    "drifted_features": "mlcycle_drift_features",
    "drift_share": "mlcycle_drift_share",
    "max_psi": "mlcycle_drift_max_psi",
    "multivariate_auc": "mlcycle_drift_multivariate_auc",
    "prediction_psi": "mlcycle_drift_prediction_psi",
    "anomaly_share": "mlcycle_anomaly_share",
    "refused_rows": "mlcycle_refused_rows",
    "refused_share": "mlcycle_refused_share",
    "metric": "mlcycle_live_metric",
    "estimated": "mlcycle_estimated_metric",
}
"""The Prometheus gauge (label ``model``; ``metric`` too for the last two) of each signal
that ``mlcycle monitor`` computes; the server's own metrics give error rate and latency."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparison operators a condition may use."""
SEVERITIES = ("info", "warning", "critical")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
_LATENCY = re.compile(r"^p(50|90|95|99)_latency_ms$")
_WHEN = re.compile(
    r"^\s*(?P<signal>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"\s*(?P<op>[<>=!]+)\s*(?P<number>[^\s<>=!]+)\s*$"
)
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_RULE_KEYS = ("name", "when", "severity", "for", "description")
_TOP_KEYS = ("notify", "rules")
_ESTIMATED = ("accuracy",)
_SERVER_RANGE = "5m"


# -- rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One alert rule: fires while ``signal op threshold`` holds (for ``for_`` seconds)."""

    name: str
    signal: str
    op: str
    threshold: float
    severity: str = "warning"
    for_: str | None = None
    """The ``for`` duration as written (``"5m"``), or None."""
    description: str = ""
    line: int | None = None
    """Where the rule starts in its file (1-based), for messages."""

    @property
    def when(self) -> str:
        """The condition as text, e.g. ``max_psi > 0.25``."""
        return f"{self.signal} {self.op} {_number(self.threshold)}"

    @property
    def for_seconds(self) -> float:
        """The ``for`` duration in seconds (0 without one)."""
        return 0.0 if self.for_ is None else _seconds(self.for_)

    def holds(self, value: float) -> bool:
        """Whether the condition holds for this value of the signal."""
        return bool(OPERATORS[self.op](float(value), self.threshold))


@dataclass(frozen=True)
class RuleSet:
    """The rules of a file, in order, and where to send the alerts they raise."""

    rules: tuple[Rule, ...] = ()
    webhook: str | None = None
    source: str = "<dict>"

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def signals(self) -> list[str]:
        """The signals the rules test, each once, in order."""
        return list(dict.fromkeys(rule.signal for rule in self.rules))


def load_rules(source: str | os.PathLike[str] | Mapping[str, Any] | RuleSet) -> RuleSet:
    """Read and check alert rules from a YAML file (or a dict of the same shape).

    Bad YAML, unknown keys, signals or operators, a threshold that is not a number and
    duplicate names raise :class:`~mlcycle.exceptions.ConfigError` naming the file, the
    line and the rule.
    """
    if isinstance(source, RuleSet):
        return source
    if isinstance(source, Mapping):
        return _parse(source, "<dict>", _Lines())
    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            "The 'source' parameter of load_rules() must be a path to a YAML file or a dict. "
            f"Got {type(source).__name__} instead."
        )
    import yaml

    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The alert rules file {path} cannot be read: {exc}.") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"The alert rules file {path} is not valid YAML{at}: {problem}.") from exc
    if data is None:
        raise ConfigError(f"The alert rules file {path} is empty. Expected a 'rules:' list.")
    return _parse(data, str(path), _Lines(node))


class _Lines:
    """Line numbers of a rules file's nodes (1-based), from the YAML node tree."""

    def __init__(self, node: Any = None) -> None:
        self.top: dict[str, int] = {}
        self.rules: list[int] = []
        self.fields: list[dict[str, int]] = []
        import yaml

        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            self.top[str(key.value)] = key.start_mark.line + 1
            if key.value == "rules" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    self.rules.append(item.start_mark.line + 1)
                    pairs = item.value if isinstance(item, yaml.MappingNode) else []
                    self.fields.append({str(k.value): v.start_mark.line + 1 for k, v in pairs})

    def of(self, index: int, key: str | None = None) -> int | None:
        if index >= len(self.rules):
            return None
        if key is not None and key in self.fields[index]:
            return self.fields[index][key]
        return self.rules[index]


def _parse(data: Any, source: str, lines: _Lines) -> RuleSet:
    def fail(problem: str, line: int | None = None) -> ConfigError:
        at = f", line {line}" if line else ""
        return ConfigError(f"Invalid alert rules in {source}{at}: {problem}")

    if not isinstance(data, Mapping):
        raise fail(f"expected a mapping with a 'rules' list. Got {type(data).__name__}.")
    for key in data:
        if key not in _TOP_KEYS:
            raise fail(
                f"unknown key {key!r} (known: {', '.join(_TOP_KEYS)}).", lines.top.get(str(key))
            )
    webhook = None
    notify_spec = data.get("notify")
    if notify_spec is not None:
        where = lines.top.get("notify")
        if not isinstance(notify_spec, Mapping) or set(notify_spec) - {"webhook"}:
            raise fail(
                f"'notify' must be a mapping like {{webhook: URL}}. Got {notify_spec!r}.", where
            )
        webhook = notify_spec.get("webhook")
        if webhook is not None:
            problem = _url_problem(webhook)
            if problem:
                shown = _redacted(webhook) if isinstance(webhook, str) else repr(webhook)
                raise fail(f"the webhook {shown} {problem}.", where)
    specs = data.get("rules")
    if specs is None:
        specs = []
    if not isinstance(specs, list):
        raise fail(
            f"'rules' must be a list of rules. Got {type(specs).__name__}.", lines.top.get("rules")
        )
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        rule = _rule(index, spec, lines, fail)
        if rule.name in seen:
            raise fail(
                f"the rule name {rule.name!r} is used twice (rules {seen[rule.name] + 1} and "
                f"{index + 1}); names must be unique.",
                lines.of(index, "name"),
            )
        seen[rule.name] = index
        rules.append(rule)
    return RuleSet(tuple(rules), webhook, source)


def _rule(index: int, spec: Any, lines: _Lines, fail: Any) -> Rule:
    label = f"rule {index + 1}"
    if not isinstance(spec, Mapping):
        raise fail(
            f"{label} must be a mapping with 'name' and 'when'. Got {spec!r}.", lines.of(index)
        )
    name = spec.get("name")
    if isinstance(name, str) and name:
        label = f"rule {name!r}"
    for key in spec:
        if key not in _RULE_KEYS:
            raise fail(
                f"{label} has an unknown key {key!r} (known: {', '.join(_RULE_KEYS)}).",
                lines.of(index, str(key)),
            )
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(
            f"{label} needs a 'name': letters, digits and _ . : - (starting with a letter or "
            f"digit). Got {name!r}.",
            lines.of(index, "name"),
        )
    when = spec.get("when")
    if not isinstance(when, str):
        raise fail(
            f"{label} needs a 'when' condition such as 'max_psi > 0.25'. Got {when!r}.",
            lines.of(index, "when"),
        )
    try:
        signal, op, threshold = _condition(when)
    except ValueError as exc:
        raise fail(f"{label}: {exc}", lines.of(index, "when")) from None
    severity = spec.get("severity", "warning")
    if severity not in SEVERITIES:
        raise fail(
            f"{label} has severity {severity!r}; use one of {', '.join(SEVERITIES)}.",
            lines.of(index, "severity"),
        )
    for_ = spec.get("for")
    if for_ is not None and (not isinstance(for_, str) or not _is_duration(for_)):
        raise fail(
            f"{label} has 'for: {for_}'; use a duration such as 30s, 5m, 1h or 1h30m.",
            lines.of(index, "for"),
        )
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise fail(f"{label} has a 'description' that is not text.", lines.of(index, "description"))
    return Rule(name, signal, op, threshold, severity, for_, description, lines.of(index))


def _condition(text: str) -> tuple[str, str, float]:
    """``"max_psi > 0.25"`` as ``("max_psi", ">", 0.25)``; ValueError says what is wrong."""
    match = _WHEN.match(text)
    if match is None:
        raise ValueError(
            f"the condition {text!r} must read '<signal> <operator> <number>', "
            "e.g. 'max_psi > 0.25'"
        )
    signal, op, number = match.group("signal", "op", "number")
    problem = _signal_problem(signal)
    if problem:
        raise ValueError(problem)
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r} in {text!r} (operators: {' '.join(OPERATORS)})")
    try:
        threshold = float(number)
    except ValueError:
        raise ValueError(f"{number!r} in {text!r} is not a number") from None
    if not math.isfinite(threshold):
        raise ValueError(f"the threshold in {text!r} must be a finite number")
    return signal, op, threshold


def _signal_problem(signal: str) -> str | None:
    family, _, name = signal.partition(".")
    if name:
        if family == "metric":
            from mlcycle.evaluation import METRICS

            if name in METRICS:
                return None
            return f"unknown metric {name!r} in {signal!r} (metrics: {', '.join(sorted(METRICS))})"
        if family == "estimated":
            if name in _ESTIMATED:
                return None
            allowed = ", ".join(f"estimated.{e}" for e in _ESTIMATED)
            return f"only {allowed} can be estimated; got {signal!r}"
    elif signal in SIGNALS or _LATENCY.match(signal):
        return None
    known = [s for s in SIGNALS if "<" not in s]
    close = difflib.get_close_matches(signal, [*known, "metric.auc"], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown signal {signal!r}.{hint} Signals: {', '.join(known)}, metric.<name>."


def _is_duration(text: str) -> bool:
    return _DURATION.match(text) is not None and _seconds(text) > 0


def _seconds(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        return 0.0
    return sum(
        int(g) * unit for g, unit in zip(match.groups(), _DURATION_SECONDS, strict=True) if g
    )


def _number(value: float) -> str:
    return (
        str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    )


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """A rule whose condition holds: the value that broke it and since when."""

    rule: str
    signal: str
    value: float
    op: str
    threshold: float
    severity: str
    message: str
    since: datetime
    at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (times as ISO 8601 text)."""
        out = asdict(self)
        out["since"], out["at"] = self.since.isoformat(), self.at.isoformat()
        return out


class Alerts(list[Alert]):
    """The firing alerts of one evaluation (a list of :class:`Alert`), with the rules that
    could not be evaluated, those still pending and the state for the next evaluation."""

    def __init__(
        self,
        alerts: Iterable[Alert] = (),
        *,
        not_evaluated: dict[str, str] | None = None,
        pending: list[str] | None = None,
        state: dict[str, str] | None = None,
    ) -> None:
        super().__init__(alerts)
        self.not_evaluated: dict[str, str] = dict(not_evaluated or {})
        """Rule name -> why it was not evaluated (its signal is missing)."""
        self.pending: list[str] = list(pending or [])
        """Rules whose condition holds, but not yet for their ``for`` duration."""
        self.state: dict[str, str] = dict(state or {})
        """Rule name -> when its condition started to hold (ISO 8601); pass it back."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: firing alerts, pending and unevaluated rules, the state."""
        return {
            "firing": [alert.to_dict() for alert in self],
            "pending": list(self.pending),
            "not_evaluated": dict(self.not_evaluated),
            "state": dict(self.state),
        }


def evaluate_rules(
    rules: RuleSet | Iterable[Rule],
    signals: Mapping[str, float | None],
    *,
    state: Mapping[str, str] | None = None,
    now: datetime | None = None,
    labels: Mapping[str, str] | None = None,
) -> Alerts:
    """The alerts of the rules whose condition holds for ``signals``.

    A rule whose signal is missing (absent, None or NaN: no labels in the window, no
    detector in the bundle) is not evaluated and listed in ``not_evaluated``. ``for`` is
    enforced across evaluations when ``state`` (the previous result's ``state``) is given:
    the rule is pending until its condition has held that long. Without ``state`` one
    evaluation is all the evidence there is and a holding rule fires at once. ``labels``
    (e.g. ``{"model": "churn"}``) are copied onto every alert.
    """
    when = now or datetime.now(UTC)
    tags = {str(k): str(v) for k, v in (labels or {}).items()}
    previous = dict(state or {})
    firing: list[Alert] = []
    pending: list[str] = []
    missing: dict[str, str] = {}
    held: dict[str, str] = {}
    for rule in rules:
        value = signals.get(rule.signal)
        if value is None or isinstance(value, bool) or not _finite(value):
            missing[rule.name] = f"the signal {rule.signal!r} is not available"
            continue
        if not rule.holds(value):
            continue
        since = _parse_time(previous.get(rule.name)) or when
        held[rule.name] = since.isoformat()
        if state is not None and (when - since) < timedelta(seconds=rule.for_seconds):
            pending.append(rule.name)
            continue
        message = f"{rule.name}: {rule.signal} is {_shown(value)} ({rule.when})"
        if rule.description:
            message += f". {rule.description}"
        firing.append(
            Alert(
                rule.name, rule.signal, float(value), rule.op, rule.threshold, rule.severity,
                message, since, when, tags, rule.description,
            )
        )  # fmt: skip
    return Alerts(firing, not_evaluated=missing, pending=pending, state=held)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _shown(value: float) -> str:
    return _number(value) if float(value).is_integer() else f"{float(value):.4g}"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- notification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What became of a webhook post: ``delivered`` is None when nothing was sent (no
    webhook, or no alert), else whether the receiver answered 2xx."""

    webhook: str | None
    delivered: bool | None
    status: int | None = None
    attempts: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; the webhook without its path, which often holds a secret."""
        out = asdict(self)
        out["webhook"] = None if self.webhook is None else _redacted(self.webhook)
        return out


def notify(
    alerts: Iterable[Alert],
    *,
    webhook: str | None = None,
    timeout: float = 5.0,
    retry_delay: float = 0.5,
) -> Delivery:
    """Log each alert (logger ``mlcycle.alerts``, one JSON line, at the level of its
    severity) and post them all in one JSON body to ``webhook``.

    The body is ``{"source": "mlcycle", "text": ..., "alerts": [...]}`` (``text`` makes
    it readable by Slack-style incoming webhooks). A failed post (network error, timeout,
    5xx or 429) is retried once after ``retry_delay`` seconds. This never raises: a
    monitor must not stop because the receiver is down; the result says what happened.
    """
    items = list(alerts)
    for alert in items:
        line = json.dumps({"event": "alert", **alert.to_dict()}, sort_keys=True)
        logger.log(_LEVELS.get(alert.severity, logging.WARNING), line)
    if webhook is None or not items:
        return Delivery(webhook, None)
    problem = _url_problem(webhook)
    if problem:
        logger.warning("alerts not posted: the webhook %s %s", _redacted(webhook), problem)
        return Delivery(webhook, False, error=f"the webhook {problem}")
    body = json.dumps(
        {
            "source": "mlcycle",
            "text": "\n".join(f"[{a.severity}] {a.message}" for a in items),
            "alerts": [a.to_dict() for a in items],
        }
    ).encode("utf-8")
    response = Response(None, None, retry=False)
    attempts = 0
    for attempt in range(2):
        attempts = attempt + 1
        response = post_json(webhook, body, timeout)
        if response.error is None:
            return Delivery(webhook, True, response.status, attempts)
        if not response.retry:
            break
        if attempt == 0:
            time.sleep(max(0.0, retry_delay))
    logger.warning(
        "alerts not delivered to %s after %d attempt(s): %s",
        _redacted(webhook),
        attempts,
        response.error,
    )
    return Delivery(webhook, False, response.status, attempts, response.error)


def _url_problem(url: Any) -> str | None:
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url:
        return "is not a URL"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed '[' of an IPv6 address
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// URL"
    return literal_address_problem(parts.hostname)


def _redacted(url: str) -> str:
    """The URL without its path and query, which often hold a webhook's secret token."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..." if parts.scheme else "<invalid URL>"


# -- Prometheus ---------------------------------------------------------------------------


def prometheus_rules(rules: RuleSet | Iterable[Rule], model: str) -> str:
    """The rules as a Prometheus alerting-rules file (one group) for ``model``.

    Error rate and latency are computed from the server's metrics over 5 minutes
    (``mlcycle_errors_total / mlcycle_requests_total``, ``histogram_quantile`` of
    ``mlcycle_request_latency_seconds_bucket``, route ``predict``); the other signals read
    the gauges ``mlcycle monitor`` writes (:data:`GAUGES`, :func:`prometheus_gauges`).
    """
    import yaml

    if not isinstance(model, str) or not model:
        raise bad_parameter("model", "prometheus_rules()", "a model name", model)
    entries = []
    for rule in rules:
        entry: dict[str, Any] = {
            "alert": rule.name,
            "expr": f"{_promql(rule.signal, model)} {rule.op} {_number(rule.threshold)}",
        }
        if rule.for_:
            entry["for"] = rule.for_
        entry["labels"] = {"severity": rule.severity, "model": model}
        summary = f"{model}: {rule.when}"
        entry["annotations"] = {
            "summary": summary,
            "description": rule.description or f"{_meaning(rule.signal)}; value {{{{ $value }}}}",
        }
        entries.append(entry)
    document = {"groups": [{"name": f"mlcycle-{model}", "rules": entries}]}
    header = (
        f"# Prometheus alerting rules for the model {model!r}, written by mlcycle from its "
        "alert rules.\n# Load with rule_files: in prometheus.yml; drift, anomaly and live "
        "metric gauges come from\n# the textfile that `mlcycle monitor` writes.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def _promql(signal: str, model: str) -> str:
    selector = f'model="{_escape(model)}"'
    server = f'{{{selector},route="predict"}}[{_SERVER_RANGE}]'
    if signal == "error_rate":
        return (
            f"(sum(rate(mlcycle_errors_total{server})) / sum(rate(mlcycle_requests_total{server})))"
        )
    latency = _LATENCY.match(signal)
    if latency:
        q = int(latency.group(1)) / 100
        return (
            f"(1000 * histogram_quantile({q:g}, sum by (le) "
            f"(rate(mlcycle_request_latency_seconds_bucket{server}))))"
        )
    family, _, name = signal.partition(".")
    if name:
        return f'{GAUGES[family]}{{{selector},metric="{_escape(name)}"}}'
    return f"{GAUGES[signal]}{{{selector}}}"


def _meaning(signal: str) -> str:
    family, _, name = signal.partition(".")
    if family == "metric" and name:
        return f"{name} on labelled predictions"
    return SIGNALS.get(signal, signal)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_gauges(
    signals: Mapping[str, float | None], model: str, *, timestamp: float | None = None
) -> str:
    """The signals ``mlcycle monitor`` computed as Prometheus text exposition (for the node
    exporter's textfile collector), one gauge per :data:`GAUGES` entry, label ``model``;
    plus ``mlcycle_monitor_last_run_timestamp_seconds``, so a stalled monitor can alert too.
    Missing signals and the server's own (error rate, latency) are left out."""
    if not isinstance(model, str) or not model:
        raise bad_parameter("model", "prometheus_gauges()", "a model name", model)
    families: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    selector = f'model="{_escape(model)}"'
    for signal, value in signals.items():
        if value is None or isinstance(value, bool) or not _finite(value):
            continue
        family, _, name = signal.partition(".")
        if name and family in ("metric", "estimated"):
            gauge = GAUGES[family]
            labels = f'{selector},metric="{_escape(name)}"'
            helps[gauge] = (
                "Metric on labelled predictions" if family == "metric"
                else "Metric estimated from the model's confidence (assumes calibration)"
            )  # fmt: skip
        elif signal in GAUGES and signal not in ("metric", "estimated"):
            gauge, labels = GAUGES[signal], selector
            helps[gauge] = SIGNALS[signal][0].upper() + SIGNALS[signal][1:]
        else:
            continue
        families.setdefault(gauge, []).append(f"{gauge}{{{labels}}} {float(value)!r}")
    moment = time.time() if timestamp is None else float(timestamp)
    last = "mlcycle_monitor_last_run_timestamp_seconds"
    helps[last] = "When mlcycle monitor last computed these gauges (Unix time)"
    families[last] = [f"{last}{{{selector}}} {moment!r}"]
    lines: list[str] = []
    for gauge, samples in families.items():
        lines += [f"# HELP {gauge} {helps[gauge]}", f"# TYPE {gauge} gauge", *samples]
    return "\n".join(lines) + "\n"
