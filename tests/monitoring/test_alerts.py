"""Alert rules: the YAML file and its errors, evaluation, Prometheus export, notification."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from mlcycle.exceptions import ConfigError
from mlcycle.monitoring._alerts import (
    GAUGES,
    OPERATORS,
    Alert,
    Alerts,
    RuleSet,
    evaluate_rules,
    load_rules,
    notify,
    prometheus_gauges,
    prometheus_rules,
)
from mlcycle.monitoring._webhook import address_problem, post_json

EXAMPLE = """\
notify: {webhook: "http://127.0.0.1:9/hook"}   # optional; always also the log
rules:
  - name: drift-on-many-features
    when: drifted_features >= 3
    severity: warning
  - {name: psi-high, when: "max_psi > 0.25"}
  - {name: errors, when: "error_rate > 0.01", for: 5m}
  - {name: slow, when: "p99_latency_ms > 50", severity: critical}
  - {name: auc-floor, when: "metric.auc < 0.8", description: AUC on labelled traffic}
  - {name: anomalies, when: "anomaly_share > 0.05"}
"""
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return load_rules(_write(tmp_path, EXAMPLE))


# -- parsing ------------------------------------------------------------------------------


def test_the_example_file_is_read_rule_by_rule(rules: RuleSet) -> None:
    assert rules.webhook == "http://127.0.0.1:9/hook"
    assert [r.name for r in rules] == [
        "drift-on-many-features", "psi-high", "errors", "slow", "auc-floor", "anomalies",
    ]  # fmt: skip
    first = rules.rules[0]
    assert (first.signal, first.op, first.threshold, first.severity) == (
        "drifted_features", ">=", 3.0, "warning",
    )  # fmt: skip
    assert first.line == 3
    errors = rules.rules[2]
    assert errors.for_ == "5m" and errors.for_seconds == 300
    assert rules.rules[3].severity == "critical"
    assert rules.rules[4].signal == "metric.auc"
    assert rules.rules[4].description == "AUC on labelled traffic"
    assert rules.signals == [
        "drifted_features", "max_psi", "error_rate", "p99_latency_ms", "metric.auc",
        "anomaly_share",
    ]  # fmt: skip


def test_rules_can_come_from_a_dict() -> None:
    ruleset = load_rules({"rules": [{"name": "x", "when": "estimated.accuracy<0.7"}]})
    assert ruleset.rules[0].when == "estimated.accuracy < 0.7"
    assert ruleset.webhook is None


@pytest.mark.parametrize(
    ("op", "value", "fires"),
    [
        (">", 0.3, True), (">", 0.25, False),
        (">=", 0.25, True), (">=", 0.2, False),
        ("<", 0.2, True), ("<", 0.25, False),
        ("<=", 0.25, True), ("<=", 0.3, False),
        ("==", 0.25, True), ("==", 0.3, False),
        ("!=", 0.3, True), ("!=", 0.25, False),
    ],
)  # fmt: skip
def test_each_operator(op: str, value: float, fires: bool) -> None:
    ruleset = load_rules({"rules": [{"name": "r", "when": f"max_psi {op} 0.25"}]})
    assert [a.rule for a in evaluate_rules(ruleset, {"max_psi": value})] == (["r"] if fires else [])


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("max_pis > 0.25", r"unknown signal 'max_pis'\. Did you mean 'max_psi'\?"),
        ("max_psi => 0.25", r"unknown operator '=>'"),
        ("max_psi = 0.25", r"unknown operator '='"),
        ("max_psi > high", r"'high' in 'max_psi > high' is not a number"),
        ("max_psi > inf", r"must be a finite number"),
        ("max_psi > 0.25 and error_rate > 0", r"must read '<signal> <operator> <number>'"),
        ("__import__('os').system('true') > 1", r"must read '<signal> <operator> <number>'"),
        ("metric.aucc < 0.8", r"unknown metric 'aucc' in 'metric.aucc' \(metrics: .*auc"),
        ("estimated.auc < 0.8", r"only estimated.accuracy can be estimated"),
    ],
)
def test_bad_conditions_say_what_is_wrong_and_where(
    tmp_path: Path, when: str, message: str
) -> None:
    text = f"rules:\n  - name: ok\n    when: max_psi > 1\n  - name: bad\n    when: {when!r}\n"
    with pytest.raises(ConfigError, match=message) as caught:
        load_rules(_write(tmp_path, text))
    assert "line 5: rule 'bad'" in str(caught.value)
    assert str(tmp_path / "alerts.yaml") in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - name: a\n    when: max_psi > 1\n  - name: a\n    when: max_psi > 2\n",
         r"line 4: the rule name 'a' is used twice"),
        ("rules:\n  - name: a\n    when: max_psi > 1\n    severity: urgent\n",
         r"line 4: rule 'a' has severity 'urgent'; use one of info, warning, critical"),
        ("rules:\n  - name: a\n    when: max_psi > 1\n    for: soon\n",
         r"line 4: rule 'a' has 'for: soon'; use a duration such as 30s"),
        ("rules:\n  - name: a\n    when: max_psi > 1\n    if: x\n",
         r"line 4: rule 'a' has an unknown key 'if' \(known: name, when"),
        ("rules:\n  - when: max_psi > 1\n", r"line 2: rule 1 needs a 'name'"),
        ("rules:\n  - name: a\n", r"line 2: rule 'a' needs a 'when' condition"),
        ("rules:\n  - name: a\n    when: 5\n", r"line 3: rule 'a' needs a 'when' condition"),
        ("rules: {a: 1}\n", r"line 1: 'rules' must be a list"),
        ("alerts: []\n", r"line 1: unknown key 'alerts' \(known: notify, rules\)"),
        ("notify: {webhook: 'file:///etc/passwd'}\nrules: []\n",
         r"must be an http:// or https:// URL"),
        ("notify: {email: a@b.c}\nrules: []\n", r"'notify' must be a mapping like \{webhook: URL"),
        ("rules:\n  - name: a\n    when: [max_psi\n", r"not valid YAML \(line \d+, column \d+\)"),
        ("", r"is empty"),
    ],
)  # fmt: skip
def test_bad_files_say_what_is_wrong_and_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_rules(_write(tmp_path, text))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_rules(tmp_path / "nope.yaml")


_SIGNAL_NAMES = [
    "drifted_features", "drift_share", "max_psi", "multivariate_auc", "prediction_psi",
    "anomaly_share", "error_rate", "p50_latency_ms", "p99_latency_ms", "metric.auc",
    "metric.rmse", "estimated.accuracy",
]  # fmt: skip


@given(
    signal=st.sampled_from(_SIGNAL_NAMES),
    op=st.sampled_from(sorted(OPERATORS)),
    threshold=st.floats(allow_nan=False, allow_infinity=False, width=64),
    spaces=st.sampled_from(["", " ", "  "]),
)
def test_conditions_round_trip(signal: str, op: str, threshold: float, spaces: str) -> None:
    rule = load_rules(
        {"rules": [{"name": "r", "when": f"{signal}{spaces}{op}{spaces}{threshold!r}"}]}
    ).rules[0]
    assert (rule.signal, rule.op, rule.threshold) == (signal, op, threshold)
    again = load_rules({"rules": [{"name": "r", "when": rule.when}]}).rules[0]
    assert (again.signal, again.op, again.threshold) == (signal, op, threshold)


# -- evaluation ---------------------------------------------------------------------------


def test_firing_alerts_carry_value_rule_and_labels(rules: RuleSet) -> None:
    signals = {
        "drifted_features": 4, "max_psi": 0.1, "error_rate": 0.02, "p99_latency_ms": 12.0,
        "metric.auc": 0.71, "anomaly_share": 0.01,
    }  # fmt: skip
    alerts = evaluate_rules(rules, signals, now=NOW, labels={"model": "churn"})
    assert [a.rule for a in alerts] == ["drift-on-many-features", "errors", "auc-floor"]
    auc = alerts[2]
    assert isinstance(auc, Alert)
    assert (auc.value, auc.threshold, auc.severity) == (0.71, 0.8, "warning")
    assert (
        auc.message == "auc-floor: metric.auc is 0.71 (metric.auc < 0.8). AUC on labelled traffic"
    )
    assert auc.labels == {"model": "churn"} and auc.at == NOW and auc.since == NOW
    assert alerts.not_evaluated == {} and alerts.pending == []
    json.dumps(alerts.to_dict())


def test_a_missing_signal_means_the_rule_is_not_evaluated(rules: RuleSet) -> None:
    alerts = evaluate_rules(
        rules, {"drifted_features": 0, "max_psi": None, "metric.auc": math.nan}, now=NOW
    )
    assert list(alerts) == []
    assert alerts.not_evaluated == {
        "psi-high": "the signal 'max_psi' is not available",
        "errors": "the signal 'error_rate' is not available",
        "slow": "the signal 'p99_latency_ms' is not available",
        "auc-floor": "the signal 'metric.auc' is not available",
        "anomalies": "the signal 'anomaly_share' is not available",
    }


def test_for_is_enforced_across_evaluations_with_state(rules: RuleSet) -> None:
    signals = {"error_rate": 0.05}
    first = evaluate_rules(rules, signals, state={}, now=NOW)
    assert list(first) == [] and first.pending == ["errors"]
    assert first.state == {"errors": NOW.isoformat()}
    later = evaluate_rules(rules, signals, state=first.state, now=NOW + timedelta(minutes=4))
    assert later.pending == ["errors"]
    fired = evaluate_rules(rules, signals, state=later.state, now=NOW + timedelta(minutes=5))
    assert [a.rule for a in fired] == ["errors"] and fired[0].since == NOW
    calm = evaluate_rules(rules, {"error_rate": 0.0}, state=fired.state, now=NOW)
    assert list(calm) == [] and calm.state == {}
    # without state a single evaluation is all the evidence: the rule fires at once
    assert [a.rule for a in evaluate_rules(rules, signals, now=NOW)] == ["errors"]


# -- Prometheus ---------------------------------------------------------------------------


def test_prometheus_rules_map_onto_server_metrics_and_gauges(rules: RuleSet) -> None:
    text = prometheus_rules(rules, "churn")
    document = yaml.safe_load(text)
    (group,) = document["groups"]
    assert group["name"] == "mlcycle-churn"
    by_name = {rule["alert"]: rule for rule in group["rules"]}
    assert set(by_name) == {r.name for r in rules}
    server = '{model="churn",route="predict"}[5m]'
    assert by_name["errors"]["expr"] == (
        f"(sum(rate(mlcycle_errors_total{server})) / "
        f"sum(rate(mlcycle_requests_total{server}))) > 0.01"
    )
    assert by_name["errors"]["for"] == "5m"
    assert by_name["slow"]["expr"] == (
        "(1000 * histogram_quantile(0.99, sum by (le) "
        f"(rate(mlcycle_request_latency_seconds_bucket{server})))) > 50"
    )
    assert by_name["drift-on-many-features"]["expr"] == 'mlcycle_drift_features{model="churn"} >= 3'
    assert by_name["psi-high"]["expr"] == 'mlcycle_drift_max_psi{model="churn"} > 0.25'
    assert by_name["auc-floor"]["expr"] == 'mlcycle_live_metric{model="churn",metric="auc"} < 0.8'
    assert by_name["anomalies"]["expr"] == 'mlcycle_anomaly_share{model="churn"} > 0.05'
    assert by_name["slow"]["labels"] == {"severity": "critical", "model": "churn"}
    assert by_name["auc-floor"]["annotations"]["description"] == "AUC on labelled traffic"
    assert "for" not in by_name["psi-high"]


def test_prometheus_gauges_are_valid_exposition_text() -> None:
    signals = {
        "drifted_features": 3, "max_psi": 0.31, "anomaly_share": None, "metric.auc": 0.82,
        "estimated.accuracy": 0.9, "error_rate": 0.5,
    }  # fmt: skip
    text = prometheus_gauges(signals, "churn", timestamp=1_800_000_000)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples == {
        (GAUGES["drifted_features"], (("model", "churn"),)): 3.0,
        (GAUGES["max_psi"], (("model", "churn"),)): 0.31,
        ("mlcycle_live_metric", (("metric", "auc"), ("model", "churn"))): 0.82,
        ("mlcycle_estimated_metric", (("metric", "accuracy"), ("model", "churn"))): 0.9,
        ("mlcycle_monitor_last_run_timestamp_seconds", (("model", "churn"),)): 1.8e9,
    }
    assert "# TYPE mlcycle_drift_features gauge" in text


# -- notification -------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


Receiver = tuple[str, type[_Receiver]]


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free loopback port, running ``handler``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    handler = type("Receiver", (_Receiver,), {"statuses": [], "bodies": []})
    with _serving(handler) as base:
        yield f"{base}/hook/secret-token", handler


def _alerts(rules: RuleSet) -> Alerts:
    return evaluate_rules(rules, {"max_psi": 0.4, "anomaly_share": 0.2}, now=NOW)


def test_alerts_are_posted_to_a_live_webhook_and_logged(
    rules: RuleSet, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    with caplog.at_level(logging.INFO, logger="mlcycle.alerts"):
        delivery = notify(_alerts(rules), webhook=url, timeout=5)
    assert (delivery.delivered, delivery.status, delivery.attempts) == (True, 200, 1)
    (body,) = handler.bodies
    assert body["source"] == "mlcycle"
    assert [a["rule"] for a in body["alerts"]] == ["psi-high", "anomalies"]
    assert "[warning] psi-high: max_psi is 0.4 (max_psi > 0.25)" in body["text"]
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "mlcycle.alerts"]
    assert [(e["event"], e["rule"]) for e in logged] == [
        ("alert", "psi-high"),
        ("alert", "anomalies"),
    ]
    assert delivery.to_dict()["webhook"] == f"{url.split('/hook')[0]}/..."  # the token is not shown


def test_a_server_error_is_retried_once(rules: RuleSet, receiver: Receiver) -> None:
    url, handler = receiver
    handler.statuses = [503, 200]
    delivery = notify(_alerts(rules), webhook=url, retry_delay=0)
    assert (delivery.delivered, delivery.attempts, len(handler.bodies)) == (True, 2, 2)


def test_a_refused_post_is_not_retried_and_nothing_raises(
    rules: RuleSet, receiver: Receiver
) -> None:
    url, handler = receiver
    handler.statuses = [400]
    delivery = notify(_alerts(rules), webhook=url, retry_delay=0)
    assert (delivery.delivered, delivery.status, delivery.attempts) == (False, 400, 1)
    assert delivery.error == "HTTP 400 Bad Request"


def test_an_unreachable_webhook_fails_without_raising(
    rules: RuleSet, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlcycle.alerts"):
        delivery = notify(_alerts(rules), webhook="http://127.0.0.1:9/hook", retry_delay=0)
    assert (delivery.delivered, delivery.status, delivery.attempts) == (False, None, 2)
    assert delivery.error
    assert "not delivered to http://127.0.0.1:9/..." in caplog.text


def test_nothing_is_posted_without_alerts_or_webhook(rules: RuleSet, receiver: Receiver) -> None:
    url, handler = receiver
    assert notify([], webhook=url).delivered is None
    assert notify(_alerts(rules)).delivered is None
    assert notify(_alerts(rules), webhook="ftp://x/y").error == (
        "the webhook must be an http:// or https:// URL"
    )
    assert handler.bodies == []


class _Redirector(BaseHTTPRequestHandler):
    """Answers every request with ``status`` and ``Location: location``."""

    status = 302
    location = ""

    def do_POST(self) -> None:
        self.send_response(self.status)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Internal(BaseHTTPRequestHandler):
    """An internal service: records every request it gets, whatever its method."""

    seen: list[str] = []

    def _record(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_never_followed(rules: RuleSet, status: int) -> None:
    internal = type("Internal", (_Internal,), {"seen": []})
    with _serving(internal) as internal_url:
        redirector = type(
            "Redirector", (_Redirector,), {"status": status, "location": f"{internal_url}/admin"}
        )
        with _serving(redirector) as hook_url:
            delivery = notify(_alerts(rules), webhook=f"{hook_url}/hook", retry_delay=0)
    assert internal.seen == []
    assert (delivery.delivered, delivery.status, delivery.attempts) == (False, status, 1)
    assert delivery.error is not None and "redirect (to 127.0.0.1), not followed" in delivery.error


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one number
        "http://[fe80::1]:8080/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://0.0.0.0:8080/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_link_local_and_unroutable_webhooks_are_refused_when_read_and_when_sent(
    rules: RuleSet, url: str
) -> None:
    with pytest.raises(ConfigError, match=r"link-local|multicast"):
        load_rules({"notify": {"webhook": url}, "rules": []})
    delivery = notify(_alerts(rules), webhook=url, retry_delay=0, timeout=2)
    assert (delivery.delivered, delivery.attempts) == (False, 0)
    assert delivery.error is not None and "address" in delivery.error
    # The same check runs on the addresses a name resolves to, just before connecting.
    response = post_json(url, b"{}", timeout=2)
    assert (response.status, response.retry) == (None, False)
    assert response.error is not None and response.error.startswith("refused: ")


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", False),  # a local receiver: how alerting is tried out
        ("::1", False),
        ("10.1.2.3", False),  # a relay inside the team's network
        ("192.168.1.10", False),
        ("fd12:3456::1", False),
        ("169.254.169.254", True),
        ("fe80::1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("239.1.2.3", True),
        ("ff02::1", True),
        ("255.255.255.255", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("fd00:ec2::254", True),  # AWS metadata over IPv6
        ("100.100.100.200", True),  # Alibaba Cloud metadata
    ],
)
def test_which_addresses_a_webhook_may_reach(address: str, refused: bool) -> None:
    assert (address_problem(address) is not None) is refused
