"""Issue 14, findings 7 and 8: a loopback server refuses cross-site requests and foreign Host
headers, feedback and admin routes need a key everywhere, prediction ids are the server's
own, and run_server() refuses an unsafe configuration as prepare() does."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from tests.serving.conftest import free_port, record, register_lgbm

from mlcycle.exceptions import ConfigError
from mlcycle.registry import create_key
from mlcycle.serving import build_config, run_server
from mlcycle.serving._app import HostCheck

PREDICT = "/v1/models/bench/predict"
FEEDBACK = "/v1/models/bench/feedback"
RELOAD = "/v1/admin/reload"


def test_posts_a_web_page_could_send_without_a_preflight_are_refused(live) -> None:
    """Finding 7: text/plain (or a form, or no type) reached predict, feedback and reload."""
    register_lgbm()
    _, admin = create_key("admin")
    server = live(["bench@production"])
    body = b'{"records": [{"f0": 1}]}'
    keyed = {"authorization": f"Bearer {admin}"}
    with server.client() as client:
        for path in (PREDICT, FEEDBACK, RELOAD):
            for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
                answer = client.post(path, content=body, headers={"content-type": kind, **keyed})
                assert answer.status_code == 415, (path, kind, answer.status_code)
                assert "Content-Type: application/json" in answer.json()["error"]
            untyped = client.post(path, content=body, headers=keyed)
            assert untyped.status_code == 415, path
        fine = client.post(PREDICT, json={"records": [record()]})
        charset = client.post(
            PREDICT,
            content=httpx.Request("POST", "/", json={"records": [record()]}).content,
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert fine.status_code == 200 and charset.status_code == 200


def test_a_host_the_server_is_not_bound_to_is_refused(live) -> None:
    """Finding 7: any Host was answered, so a DNS-rebinding page could read the answers."""
    register_lgbm()
    server = live(["bench@production"])
    port = server.config.port
    with server.client() as client:
        for host in ("localhost", "127.0.0.1", "[::1]", "LOCALHOST"):
            host = f"{host}:{port}"
            answer = client.post(PREDICT, json={"records": [record()]}, headers={"host": host})
            assert answer.status_code == 200, host
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "localhost"):
            answer = client.post(PREDICT, json={"records": [record()]}, headers={"host": host})
            assert answer.status_code == 400, host
            assert "does not answer to the Host" in answer.json()["error"]
            assert f"127.0.0.1:{port}" in answer.json()["error"]
        assert client.get("/v1/models", headers={"host": "evil.example"}).status_code == 400
        assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 200
    named = live(["bench@production"], allowed_hosts=["models.internal"])
    with named.client() as client:
        by_name = client.get("/v1/models", headers={"host": "models.internal:443"})
        by_loopback = client.get("/v1/models")
        other = client.get("/v1/models", headers={"host": "other.internal"})
    assert by_name.status_code == by_loopback.status_code == 200 and other.status_code == 400


def test_beyond_loopback_any_host_is_accepted_unless_hosts_are_named() -> None:
    wide = build_config(["bench@production"], host="0.0.0.0", auth=True)
    assert HostCheck.of(wide).refusal(b"anything.example", ("10.0.0.5", 8000)) is None
    named = build_config(["bench@production"], host="0.0.0.0", auth=True, allowed_hosts=["a.b"])
    assert HostCheck.of(named).refusal(b"a.b:8000", ("10.0.0.5", 8000)) is None
    refused = HostCheck.of(named).refusal(b"10.0.0.5:8000", ("10.0.0.5", 8000))
    assert refused is not None and refused.status == 400


def test_feedback_and_admin_routes_need_a_key_even_on_loopback(live) -> None:
    """Finding 7: on a loopback server without auth, anyone could write labels or reload."""
    register_lgbm()
    _, predictor = create_key("predict")
    _, admin = create_key("admin")
    server = live(["bench@production"])
    with server.client() as client:
        answer = client.post(PREDICT, json={"records": [record()]})
        assert answer.status_code == 200  # predictions stay free of keys on loopback
        label = {"feedback": [{"prediction_id": answer.json()["prediction_ids"][0], "label": 1}]}
        feedback = client.post(FEEDBACK, json=label)
        reload = client.post(RELOAD, json={})
        assert feedback.status_code == 401 and reload.status_code == 401
        assert "mlcycle keys create --role predict" in feedback.json()["error"]
        assert "mlcycle keys create --role admin" in reload.json()["error"]
        assert feedback.headers["www-authenticate"] == "Bearer"
        as_predictor = {"authorization": f"Bearer {predictor}"}
        assert client.post(FEEDBACK, json=label, headers=as_predictor).status_code == 200
        assert client.post(RELOAD, json={}, headers=as_predictor).status_code == 403
        as_admin = {"authorization": f"Bearer {admin}"}
        assert client.post(RELOAD, json={}, headers=as_admin).status_code == 200
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["paths"][FEEDBACK]["post"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"][PREDICT]["post"]


def test_prediction_ids_are_the_servers_own_whatever_the_client_sends(live) -> None:
    """Finding 8: ids were built from X-Request-Id, so two clients could share them."""
    register_lgbm()
    server = live(["bench@production"])
    answers = []
    with server.client() as client:
        for _ in range(2):  # two clients reusing one request id
            answer = client.post(
                PREDICT, json={"records": [record(0), record(1)]}, headers={"x-request-id": "abc"}
            )
            assert answer.status_code == 200
            answers.append(answer)
        plain = client.post(PREDICT, json={"records": [record()]})
    ids = [pid for a in answers for pid in a.json()["prediction_ids"]]
    assert len(set(ids)) == 4 and not any(pid.startswith("abc") for pid in ids)
    assert answers[0].json()["request_id"] != answers[1].json()["request_id"]
    assert all(a.json()["correlation_id"] == "abc" for a in answers)
    assert answers[0].headers["x-request-id"] == answers[0].json()["request_id"]
    assert plain.json()["correlation_id"] is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth": False}, r"Refusing to serve on 0\.0\.0\.0 without API keys"),
        ({"auth": True}, "no API key to accept"),
    ],
)
def test_run_server_refuses_what_prepare_refuses(clean_env, settings, message) -> None:
    """Finding 8: run_server() started a configuration that prepare() would refuse."""
    register_lgbm()
    config = build_config(["bench@production"], host="0.0.0.0", port=free_port(), **settings)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            run_server(config)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)  # the old code would serve for ever
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "run_server started an unsafe server"
    assert len(raised) == 1 and isinstance(raised[0], ConfigError)
    assert re.search(message, str(raised[0]))
