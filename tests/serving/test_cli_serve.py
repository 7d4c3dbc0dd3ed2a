"""``mlcycle serve`` as a user runs it: a real process, SIGTERM drain, clear refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pyarrow.dataset as ds
from tests.serving.conftest import cli_server, record, register_lgbm


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MLCYCLE_HOME": str(home)},
        timeout=120,
    )


def test_sigterm_drains_in_flight_requests_and_flushes_the_log(clean_env: Path) -> None:
    register_lgbm()
    proc, url = cli_server(["bench@production", "--max-wait-ms", "150"], clean_env)
    answered: list[tuple[float, str, int]] = []  # (time, request id, rows)
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                try:
                    answer = client.post(
                        "/v1/models/bench/predict", json={"records": [record(0), record(1)]}
                    )
                except httpx.TransportError:  # the listener is closed: not accepted, not lost
                    return
                with lock:
                    if answer.status_code == 200:
                        answered.append((time.time(), answer.json()["request_id"], 2))
                    else:
                        failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    signalled = time.time()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    stop.set()
    for t in threads:
        t.join()
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit says SIGTERM
    assert proc.returncode in (0, -signal.SIGTERM), stderr[-2000:]
    assert "Application shutdown complete" in stderr
    assert not failures, failures[:3]
    assert any(at > signalled for at, _, _ in answered), "no request was drained after SIGTERM"
    log = ds.dataset(clean_env / "predictions", partitioning="hive").to_table().to_pandas()
    assert set(log["request_id"]) == {rid for _, rid, _ in answered}  # nothing lost
    assert len(log) == sum(n for _, _, n in answered)
    access = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    logged = {
        entry["request_id"] for entry in access if entry["path"] == "/v1/models/bench/predict"
    }
    assert {rid for _, rid, _ in answered} <= logged  # one structured line per request
    assert all({"ts", "status", "ms", "model", "version"} <= set(e) for e in access)


def test_serve_refuses_unknown_models_and_unsafe_binds_with_exit_code_2(clean_env: Path) -> None:
    register_lgbm()
    unknown = _cli("serve", "nope@production", home=clean_env)
    assert unknown.returncode == 2
    assert "nope" in unknown.stderr and "Traceback" not in unknown.stderr
    alias = _cli("serve", "bench@nowhere", home=clean_env)
    assert alias.returncode == 2 and "nowhere" in alias.stderr
    open_public = _cli(
        "serve", "bench@production", "--host", "0.0.0.0", "--no-auth", home=clean_env
    )
    assert open_public.returncode == 2 and "Refusing to serve on 0.0.0.0" in open_public.stderr
    no_keys = _cli("serve", "bench@production", "--host", "0.0.0.0", home=clean_env)
    assert no_keys.returncode == 2 and "mlcycle keys create" in no_keys.stderr
    bad_route = _cli(
        "serve", "bench@production", "--route", "bench", "production=x", home=clean_env
    )
    assert bad_route.returncode == 2 and "ALIAS=WEIGHT" in bad_route.stderr
    two = _cli("serve", "bench@production", "bench@canary", home=clean_env)
    assert two.returncode == 2 and "--route bench" in two.stderr


def test_serve_splits_traffic_given_as_route_name_spec(clean_env: Path) -> None:
    register_lgbm(alias="production")
    register_lgbm(seed=1, alias="canary")
    proc, url = cli_server(
        ["bench@production", "--route", "bench", "production=0,canary=100", "--no-access-log"],
        clean_env,
    )
    try:
        answer = httpx.post(f"{url}/v1/models/bench/predict", json={"records": [record()]})
        assert answer.status_code == 200 and answer.json()["version"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
