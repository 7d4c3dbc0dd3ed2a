"""The closed loop end to end: train → serve → shifted traffic → monitor → retrain → promote.

Real training, a real uvicorn server on 127.0.0.1, the real prediction log, and the CLI in
subprocesses; and the second case, where the challenger does not win and nothing changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from tests.serving.conftest import LiveServer

import mlcycle
from mlcycle.registry import get_workspace

FEATURES = ["x0", "x1", "x2", "x3"]


def _table(n: int, seed: int, *, shift: float = 0.0, rule: str = "sum") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    frame["x0"] += shift
    frame["plan"] = rng.choice(["basic", "plus", "pro"], n)
    score = frame["x0"] + frame["x1"] if rule == "sum" else frame["x2"] - frame["x1"]
    noise = rng.normal(scale=0.3, size=n)
    frame["churned"] = np.where(score + noise > (shift if rule == "sum" else 0.0), "yes", "no")
    return frame


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MLCYCLE_HOME": str(home), "COLUMNS": "200"},
        timeout=600,
    )


def _train(name: str, frame: pd.DataFrame) -> None:
    mlcycle.train(
        frame, "churned", name=name, alias="production", budget=60, families=["linear", "lgbm"],
        max_trials=6, workers=1, progress=False, explain=False, card=False, seed=0,
    )  # fmt: skip


def _serve_traffic(name: str, frame: pd.DataFrame) -> None:
    """Send the rows to a live server, with their true labels as feedback, then stop it."""
    from tests.serving.conftest import free_port

    from mlcycle.serving import build_config

    _, key = mlcycle.registry.create_key("predict")  # feedback needs a key even on loopback
    config = build_config([f"{name}@production"], port=free_port(), access_log=False)
    headers = {"authorization": f"Bearer {key}"}
    with (
        LiveServer(config) as server,
        httpx.Client(base_url=server.url, timeout=60, headers=headers) as client,
    ):
        for start in range(0, len(frame), 100):
            part = frame.iloc[start : start + 100]
            records = part.drop(columns="churned").to_dict(orient="records")
            answer = client.post(f"/v1/models/{name}/predict", json={"records": records})
            assert answer.status_code == 200, answer.text
            feedback = [
                {"prediction_id": pid, "label": label}
                for pid, label in zip(answer.json()["prediction_ids"], part["churned"], strict=True)
            ]
            sent = client.post(f"/v1/models/{name}/feedback", json={"feedback": feedback})
            assert sent.status_code == 200, sent.text


def test_shifted_traffic_is_seen_and_a_better_challenger_is_promoted(
    clean_env: Path, tmp_path: Path
) -> None:
    _train("churn", _table(800, seed=0))
    shifted = _table(600, seed=1, shift=2.0, rule="diff")  # x0 moved, and the rule changed
    _serve_traffic("churn", shifted)

    seen = _cli("monitor", "churn", "--since", "1d", "--json", home=clean_env)
    assert seen.returncode == 0, seen.stderr
    report = json.loads(seen.stdout)
    assert report["rows"] == 600
    assert "x0" in report["drift"]["drifted"]
    assert "plan" not in report["drift"]["drifted"]
    assert report["signals"]["metric.accuracy"] < 0.8  # the feedback shows it, too
    assert Path(report["report"]).is_file()

    fresh = tmp_path / "fresh.csv"
    _table(1200, seed=2, shift=2.0, rule="diff").to_csv(fresh, index=False)
    # a trial cap, not the clock, bounds the search: a busy CI machine once ran no trial in 10 s
    done = _cli(
        "retrain", "churn", "--data", str(fresh), "--budget", "60", "--max-trials", "6",
        "--json", home=clean_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["promoted"] is True, decision["reason"]
    assert decision["challenger_score"] > decision["champion_score"]
    production = get_workspace().store.resolve_alias("churn", "production")
    assert production.version == decision["challenger_version"] == 2


def test_a_challenger_that_does_not_win_changes_nothing(clean_env: Path, tmp_path: Path) -> None:
    _train("steady", _table(800, seed=0))
    more = tmp_path / "more.csv"
    _table(1200, seed=3).to_csv(more, index=False)  # the same world as the champion's
    done = _cli(
        "retrain", "steady", "--data", str(more), "--budget", "60", "--max-trials", "6",
        "--margin", "0.05", "--json",
        home=clean_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["promoted"] is False
    assert decision["reason"]
    assert get_workspace().store.resolve_alias("steady", "production").version == 1
