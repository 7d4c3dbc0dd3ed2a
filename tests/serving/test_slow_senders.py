"""Issue 14, finding 6 and the load tests of its "done when": bounded loopback load on a real
uvicorn server. Slow senders no longer deny service to a well-behaved client, a client
over its connection cap is refused at once, and 20,000 unknown paths leave /metrics and
the server's memory flat."""

from __future__ import annotations

import http.client
import select
import socket
import time
from pathlib import Path

import httpx
from tests.serving.conftest import cli_server, record, register_lgbm

PREDICT = "/v1/models/bench/predict"


def _open(port: int, source: str) -> socket.socket:
    """A connection from ``source``, another loopback address (Linux routes 127.0.0.0/8)."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket, replies: dict[socket.socket, bytes]) -> bool:
    """Whether the server has closed ``sock``; what it answered is kept in ``replies``."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    if data:
        replies[sock] = replies.get(sock, b"") + data
        return _closed(sock, replies)
    return True


def test_slow_senders_do_not_deny_service_and_are_cut_off(live) -> None:
    """300 clients sending headers or a body one byte a second: the old server counted each
    slow body in flight (429 for everyone past max_in_flight) and never closed any of them."""
    register_lgbm()
    server = live(
        ["bench@production"], header_timeout=4, body_timeout=4, max_in_flight=100,
        log_predictions=False,
    )  # fmt: skip
    port = server.config.port
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # 100 each: under the per-client cap
    heads, bodies = [], []
    for i in range(300):
        sock = _open(port, sources[i % 3])
        if i % 2:
            typed = "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            sock.send(f"{head}{typed}".encode())
            bodies.append(sock)
        else:
            sock.send(f"{head}X-Slow: ".encode())
            heads.append(sock)
    slow = heads + bodies
    replies: dict[socket.socket, bytes] = {}
    open_socks = set(slow)
    started = time.monotonic()

    def trickle() -> None:  # one byte a second on every slow connection still open
        for sock in list(open_socks):
            if _closed(sock, replies):
                open_socks.discard(sock)
                continue
            try:
                sock.send(b"a")
            except OSError:
                open_socks.discard(sock)

    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(10):
            answer = client.post(PREDICT, json={"records": [record()]})
            assert answer.status_code == 200, answer.text
            settled = time.monotonic() + 2  # the answer is sent just before the count drops
            while server.state.in_flight and time.monotonic() < settled:
                time.sleep(0.01)
            assert server.state.in_flight == 0  # the slow bodies never counted as in flight
        trickle()
        while open_socks and time.monotonic() - started < 20:
            time.sleep(1)
            trickle()
        assert not open_socks, f"{len(open_socks)} slow connections still open after 20 s"
        assert client.post(PREDICT, json={"records": [record()]}).status_code == 200
    for sock in slow:
        sock.close()
    for group in (heads, bodies):
        answered = [replies.get(sock, b"") for sock in group]
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answered if a), answered[:3]
        assert sum(a.startswith(b"HTTP/1.1 408 ") for a in answered) > len(group) // 2
    assert b"took longer than 4 s" in replies[bodies[0]]


def test_connections_over_the_caps_are_refused_at_once(live) -> None:
    register_lgbm()
    server = live(
        ["bench@production"], max_connections_per_client=20, max_connections=40,
        log_predictions=False,
    )  # fmt: skip
    port = server.config.port
    replies: dict[socket.socket, bytes] = {}
    crowd = [_open(port, "127.0.0.5") for _ in range(25)]
    time.sleep(0.5)
    refused = [s for s in crowd if _closed(s, replies)]
    assert len(refused) == 5  # the first 20 stay open, idle, within the header timeout
    assert all(replies[s].startswith(b"HTTP/1.1 429 ") for s in refused)
    assert b"already holds 20 connections" in replies[refused[0]]
    with httpx.Client(base_url=server.url, timeout=10) as client:  # another address: served
        assert client.post(PREDICT, json={"records": [record()]}).status_code == 200
    more = [_open(port, "127.0.0.6") for _ in range(21)]  # 20 + 20 = max_connections
    time.sleep(0.5)
    full = [s for s in more if _closed(s, replies)]
    assert len(full) == 1 and replies[full[0]].startswith(b"HTTP/1.1 503 ")
    for sock in crowd + more:
        sock.close()
    time.sleep(0.5)
    huge = _open(port, "127.0.0.7")
    huge.setblocking(True)
    huge.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    huge.sendall(b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    huge.settimeout(10)
    assert huge.recv(100).startswith(b"HTTP/1.1 431 ")
    huge.close()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post(PREDICT, json={"records": [record()]}).status_code == 200


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_twenty_thousand_unknown_paths_leave_metrics_and_memory_flat(clean_env: Path) -> None:
    """The "done when" load test for finding 5: unknown paths used to grow /metrics and RSS
    (20,000 requests: 313 -> 438 MB). Measured on the `mlcycle serve` process itself."""
    register_lgbm()
    quiet = ["--no-access-log", "--no-prediction-log"]
    proc, url = cli_server(["bench@production", *quiet], clean_env)
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    json_type = {"content-type": "application/json"}

    def probe(start: int, count: int) -> None:
        for i in range(start, start + count):
            kind = i % 4
            if kind == 0:
                connection.request("GET", f"/no/such/path-{i}")
            elif kind == 1:
                connection.request("POST", f"/v1/models/bench/x{i}", body=b"{}", headers=json_type)
            elif kind == 2:
                connection.request("POST", f"/v1/admin/x{i}", body=b"{}", headers=json_type)
            else:
                connection.request("GET", f"/v1/models/bench/predict/{i}")
            answer = connection.getresponse()
            answer.read()
            assert answer.status in (401, 404, 405), (i, answer.status)

    def metrics() -> str:
        connection.request("GET", "/metrics")
        return connection.getresponse().read().decode()

    try:
        probe(0, 2000)  # warm-up: caches, allocator arenas and every label set exist after it
        metrics()
        before_metrics, before_rss = metrics(), _rss_kib(proc.pid)
        probe(2000, 20_000)
        after_metrics, after_rss = metrics(), _rss_kib(proc.pid)
    finally:
        connection.close()
        proc.terminate()
        proc.wait(timeout=30)
    grown_mb = (after_rss - before_rss) / 1024
    print(f"RSS {before_rss / 1024:.1f} -> {after_rss / 1024:.1f} MB ({grown_mb:+.1f} MB); "
          f"/metrics {len(before_metrics)} -> {len(after_metrics)} bytes")  # fmt: skip
    assert len(after_metrics.splitlines()) == len(before_metrics.splitlines())
    assert len(after_metrics) < len(before_metrics) + 1000  # counts grow by digits, not lines
    assert grown_mb < 30


def test_a_kept_alive_connection_stalling_in_its_next_request_is_cut_off_on_time(live) -> None:
    """Deadlines run per request, not per connection: after a request whose body came in a
    second chunk (its body deadline started a timer 20 s away), a next request that stalls
    in its headers is answered 408 by the 2 s header deadline, not by that timer."""
    register_lgbm()
    server = live(
        ["bench@production"], header_timeout=2, body_timeout=20, log_predictions=False
    )  # fmt: skip
    port = server.config.port
    body = f'{{"records": [{_json(record())}]}}'.encode()
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)

    def answered() -> bytes:
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply

    sock.send(head + body)  # whole: no timer beyond the connection's first one
    assert answered().startswith(b"HTTP/1.1 200 ")
    time.sleep(2.5)  # that first timer has fired and found nothing to cut
    sock.send(head)
    time.sleep(0.5)  # the body in a chunk of its own: a timer for the 20 s body deadline
    sock.send(body)
    assert answered().startswith(b"HTTP/1.1 200 ")
    sock.send(f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
    started = time.monotonic()
    answer = answered()
    waited = time.monotonic() - started
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert waited < 10, f"cut off after {waited:.1f} s: by the 20 s body timer, not the 2 s one"


def _json(row: dict[str, object]) -> str:
    import json

    return json.dumps(row)
