"""Auth on a live server: every route but the health checks needs a key of the right role."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.serving.conftest import record, register_lgbm

from mlcycle.registry import create_key, revoke_key
from mlcycle.serving import prepare

OPEN = {"/healthz", "/readyz"}


def _calls(server) -> list[tuple[str, str]]:
    """Every (method, path) the app routes, with the served name filled in."""
    calls = []
    for route in server.app.routes:
        for method in sorted(getattr(route, "methods", None) or []):
            if method in ("HEAD", "OPTIONS"):
                continue
            path = route.path.replace("{name}", "bench")
            calls.append((method, path))
    return sorted(set(calls))


def test_every_route_needs_a_key_except_health(live) -> None:
    register_lgbm()
    _, predict_key = create_key("predict", name="svc")
    server = live(["bench@production"], auth=True)
    calls = _calls(server)
    assert ("POST", "/v1/models/bench/predict") in calls and ("GET", "/metrics") in calls
    assert ("POST", "/v1/admin/reload") in calls and ("GET", "/openapi.json") in calls
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path in calls:
            answer = client.request(method, path, json={"records": [record()]})
            if path in OPEN:
                assert answer.status_code == 200, (method, path)
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert answer.headers["www-authenticate"] == "Bearer"
                wrong = client.request(
                    method, path, json={}, headers={"authorization": "Bearer mlc_nope_nope"}
                )
                assert wrong.status_code == 401, (method, path)
        ok = client.post(
            "/v1/models/bench/predict",
            json={"records": [record()]},
            headers={"authorization": f"Bearer {predict_key}"},
        )
        assert ok.status_code == 200
        raw = client.post(
            "/v1/models/bench/predict",
            json={"records": [record()]},
            headers={"x-api-key": predict_key},
        )
        assert raw.status_code == 200


def test_roles_are_enforced_and_revocation_takes_effect(live) -> None:
    register_lgbm()
    _, reader = create_key("read")
    predictor_key, predictor = create_key("predict")
    _, admin = create_key("admin")
    server = live(["bench@production"], auth=True, poll_interval=0.1)

    def call(method: str, path: str, key: str) -> int:
        body = {"records": [record()]} if method == "POST" else None
        return httpx.request(
            method, f"{server.url}{path}", json=body, headers={"authorization": f"Bearer {key}"}
        ).status_code

    assert call("GET", "/v1/models", reader) == 200
    assert call("GET", "/metrics", reader) == 200
    assert call("POST", "/v1/models/bench/predict", reader) == 403
    assert call("POST", "/v1/models/bench/predict", predictor) == 200
    assert call("POST", "/v1/admin/reload", predictor) == 403
    assert call("POST", "/v1/admin/reload", admin) == 200
    revoke_key(predictor_key.id, actor="test")
    deadline = time.time() + 10
    while call("POST", "/v1/models/bench/predict", predictor) != 401:
        assert time.time() < deadline, "a revoked key kept working"
        time.sleep(0.2)


def test_a_public_bind_never_starts_open(clean_env) -> None:
    from mlcycle.exceptions import MlcycleError

    register_lgbm()
    with pytest.raises(MlcycleError, match=r"Refusing to serve on 0\.0\.0\.0 without API keys"):
        prepare("bench@production", host="0.0.0.0", auth=False)
    with pytest.raises(MlcycleError, match="no API key to accept"):
        prepare("bench@production", host="0.0.0.0")
    create_key("predict")
    assert prepare("bench@production", host="0.0.0.0").auth is True  # on by default beyond loopback
    assert prepare("bench@production").auth is False


def test_admin_actions_are_written_to_the_audit_log(live) -> None:
    from mlcycle.registry import get_workspace

    register_lgbm()
    admin_key, admin = create_key("admin")
    server = live(["bench@production"], auth=True)
    answer = httpx.post(
        f"{server.url}/v1/admin/reload", json={}, headers={"authorization": f"Bearer {admin}"}
    )
    assert answer.status_code == 200 and answer.json()["models"] == {"bench": {"production": 1}}
    events = get_workspace().store.audit_events(entity_type="server")
    assert [(e.action, e.actor) for e in events] == [("server.reload", f"api-key:{admin_key.id}")]
