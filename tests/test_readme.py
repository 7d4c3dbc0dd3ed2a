"""The README's quick start runs as written, in a fresh workspace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart(marker: str = "quickstart") -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker}[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_quickstart_is_about_fifteen_lines() -> None:
    lines = [line for line in quickstart().splitlines() if line.strip()]
    assert 10 <= len(lines) <= 20


def test_quickstart_runs(clean_env: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", quickstart()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    version, found, _ = result.stdout.split(maxsplit=2)
    assert version == "1"
    assert found == "1"
    assert "[0 0 0]" in result.stdout
    # and the CLI sees what the SDK wrote
    shown = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "versions", "iris", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"production"' in shown.stdout


def test_the_quickstart_model_serves_and_is_monitored(clean_env: Path, tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from tests.serving.conftest import cli_server

    made = subprocess.run(
        [sys.executable, "-c", quickstart()], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    X, _ = load_iris(return_X_y=True, as_frame=True)
    records = X.to_dict(orient="records")
    proc, url = cli_server(["iris@production"], clean_env)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for start in range(0, len(records), 25):
                part = records[start : start + 25]
                answer = client.post("/v1/models/iris/predict", json={"records": part})
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["predictions"]) == len(part)
    finally:
        proc.send_signal(signal.SIGTERM)  # drains and writes the prediction log
        proc.communicate(timeout=60)
    watched = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "monitor", "iris", "--since", "1d", "--json",
         "--min-rows", "100"],  # iris has 150 rows: fewer than a verdict needs by default
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLCYCLE_HOME": str(clean_env)},
    )  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    report = json.loads(watched.stdout)
    assert report["rows"] == len(records)
    assert not any("no drift reference" in note for note in report["notes"]), report["notes"]
    assert report["drift"]["drifted"] == []  # the training rows themselves: nothing moved
    assert {f["name"] for f in report["drift"]["features"]} == set(X.columns)
    assert report["anomaly"]["rows"] == len(records)


def test_automl_example_runs(clean_env: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", quickstart("automl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    family, auc, version = first.split()
    assert family in ("linear", "rf", "et", "hgb", "lgbm", "xgb", "knn")
    assert float(auc) > 0.95 and version == "1"
    assert second == "(2, 30) model_card.html"
