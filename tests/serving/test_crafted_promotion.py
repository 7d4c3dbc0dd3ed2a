"""A crafted version promoted under traffic is refused; the server keeps answering
(issue 14, finding 2).

The server runs in its own process (``mlcycle serve``): before the fix, loading the crafted
booster aborted that process and every healthy model it served. Now the new version is
checked and test-loaded in a child process first; the swap is refused, the refusal is
visible, and every request is answered by the healthy version.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tests.flavours.crafting import rewrite
from tests.serving.conftest import cli_server, numeric_frame, record, register_lgbm

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.registry import create_key, get_workspace
from mlcycle.registry._models import upload_bundle
from mlcycle.schema import Schema
from mlcycle.serving._probe import run_probe


def _store_crafted_version(tmp_path: Path) -> int:
    """A LightGBM version whose tree sizes lie (LightGBM aborts reading it), stored as
    someone with write access to the registry could store it: no load-back check."""
    import lightgbm as lgb

    X, y = numeric_frame(seed=1)
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    path = tmp_path / "crafted"
    write_bundle(model, path, schema=Schema.from_dataframe(X))
    text = (path / "model/model.txt").read_text()
    text = re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 7}", text)
    rewrite(path, "model/model.txt", text.encode())
    ws = get_workspace()
    digest = upload_bundle(read_bundle(path), ws)
    version = ws.store.create_model_version(
        "bench", bundle_digest=digest, creator="someone", run_id=None, description=""
    )
    return version.version


def test_a_crafted_version_promoted_under_traffic_is_refused_and_serving_goes_on(
    clean_env: Path, tmp_path: Path
) -> None:
    register_lgbm(seed=0)  # version 1, production
    crafted = _store_crafted_version(tmp_path)
    _, admin = create_key("admin")  # the admin routes need a key even on loopback
    # no access log: nothing reads the server's stderr until it stops, and a full pipe blocks
    proc, url = cli_server(["bench@production", "--no-access-log"], clean_env)
    stop = threading.Event()
    seen: list[tuple[int, Any]] = []

    def traffic() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/v1/models/bench/predict", json={"records": [record()]})
                    seen.append((answer.status_code, answer.json().get("version")))
                except httpx.HTTPError as exc:  # the server died
                    seen.append((-1, type(exc).__name__))
                    time.sleep(0.05)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        subprocess.run(
            [sys.executable, "-m", "mlcycle.cli", "promote", "bench", str(crafted), "-a",
             "production"],
            check=True, capture_output=True, env={**os.environ, "MLCYCLE_HOME": str(clean_env)},
        )  # fmt: skip
        reload = httpx.post(
            f"{url}/v1/admin/reload",
            json={},
            headers={"authorization": f"Bearer {admin}"},
            timeout=300,
        )
        assert reload.status_code == 409, reload.text
        body = reload.json()
        assert body["models"] == {"bench": {"production": 1}}
        (refused,) = body["refused"]
        assert refused["version"] == crafted
        assert "tree_sizes does not match" in refused["reason"]
        detail = httpx.get(f"{url}/v1/models/bench", timeout=30).json()
        assert detail["refused"] == [refused]
        time.sleep(1.0)  # more traffic after the refusal, through the watcher's next polls
    finally:
        stop.set()
        thread.join()
        alive = proc.poll() is None
        proc.kill()  # how it stops is not under test; that it is still running is
        _, errors = proc.communicate(timeout=60)
    assert alive, f"the server process died: {errors[-3000:]}"
    assert seen and all(answer == (200, 1) for answer in seen), set(seen) - {(200, 1)}


def test_a_child_killed_by_a_signal_is_a_refusal_naming_it() -> None:
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    reason = run_probe([sys.executable, "-c", kill], timeout=60)
    assert reason == "loading or predicting it killed the process (SIGSEGV)"


def test_a_child_that_hangs_is_a_refusal_once_the_timeout_passes() -> None:
    reason = run_probe([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)
    assert reason == "loading and predicting took longer than 1 s"


def test_a_healthy_bundle_passes_the_child_check(clean_env: Path) -> None:
    from mlcycle.registry import load_model
    from mlcycle.serving._probe import probe_bundle

    register_lgbm(seed=0)
    bundle = load_model("bench/1")
    assert probe_bundle(bundle, "bench", 1, engine="auto", anomaly_scores=False) is None
