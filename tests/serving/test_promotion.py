"""Hot promotion under load, traffic splits with sticky keys, and shadow scoring."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pyarrow.dataset as ds
from tests.serving.conftest import record, register_lgbm


def _cli(*args: str) -> None:
    """The real CLI in its own process, as a user would promote or roll back."""
    done = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args], capture_output=True, text=True, env=os.environ
    )
    assert done.returncode == 0, done.stderr


def test_promote_and_rollback_swap_the_model_under_load_with_zero_failed_requests(live) -> None:
    register_lgbm(seed=0)
    register_lgbm(seed=1, alias="candidate")  # version 2, not yet in production
    server = live(["bench@production"], poll_interval=0.1)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []  # (status, version)
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/v1/models/bench/predict", json={"records": [record()]})
                version = answer.json().get("version", -1) if answer.status_code == 200 else -1
                with lock:
                    seen.append((answer.status_code, version))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()

    def wait_for(version: int) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if (
                    seen
                    and seen[-1][1] == version
                    and sum(v == version for _, v in seen[-20:]) == 20
                ):
                    return
            time.sleep(0.05)
        raise AssertionError(f"version {version} was not swapped in")

    try:
        wait_for(1)
        _cli("promote", "bench", "2", "--alias", "production")
        wait_for(2)
        _cli("rollback", "bench", "--alias", "production")
        wait_for(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    statuses = Counter(status for status, _ in seen)
    assert statuses == {200: len(seen)}, statuses  # zero failed requests
    versions = [v for _, v in seen]
    assert versions.index(2) < len(versions) - versions[::-1].index(2)  # 2 was served, then 1
    assert versions[-1] == 1
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlcycle_model_swaps_total{alias="production",model="bench"} 2.0' in metrics


def test_a_traffic_split_is_weighted_and_sticky_by_key(live) -> None:
    register_lgbm(seed=0, alias="production")
    register_lgbm(seed=1, alias="canary")
    server = live(["bench@production", "bench@canary"], routes={"bench": "production=70,canary=30"})
    with server.client() as client:
        versions = [
            client.post("/v1/models/bench/predict", json={"records": [record()]}).json()["version"]
            for _ in range(200)
        ]
        sticky = {
            client.post(
                "/v1/models/bench/predict", json={"records": [record()], "key": "customer-42"}
            ).json()["version"]
            for _ in range(20)
        }
        by_header = {
            client.post(
                "/v1/models/bench/predict",
                json={"records": [record()]},
                headers={"x-routing-key": "customer-42"},
            ).json()["version"]
            for _ in range(10)
        }
        described = client.get("/v1/models/bench").json()
    share = versions.count(2) / len(versions)
    assert 0.18 < share < 0.42, share  # 30 % canary, binomial noise over 200 draws
    assert len(sticky) == 1 and by_header == sticky
    assert described["routes"] == {"production": 70.0, "canary": 30.0}


def test_shadow_scores_both_answers_with_one_and_logs_both(live, clean_env: Path) -> None:
    register_lgbm(seed=0, alias="production")
    register_lgbm(seed=1, alias="challenger")
    server = live(["bench@production"], shadows={"bench": "challenger"})
    with server.client() as client:
        answers = [
            client.post("/v1/models/bench/predict", json={"records": [record(i)]}).json()
            for i in range(6)
        ]
    assert {a["version"] for a in answers} == {1}
    server.__exit__(None, None, None)
    log = ds.dataset(clean_env / "predictions", partitioning="hive").to_table().to_pandas()
    assert Counter(zip(log["role"], log["version"].astype(int), strict=True)) == {
        ("primary", 1): 6,
        ("shadow", 2): 6,
    }
    primary = log[log["role"] == "primary"].set_index("prediction_id")
    shadow = log[log["role"] == "shadow"].set_index("prediction_id")
    assert sorted(primary.index) == sorted(shadow.index)  # joined by prediction id
