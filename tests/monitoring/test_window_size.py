"""A window too small for a drift verdict gets none, and every report says how fresh the log
is (issue 14, finding 12: run right after traffic, ``monitor`` read 9 rows and reported
drift in 7 of 7 features; 6 s later, none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.serving.conftest import LiveServer, free_port, numeric_frame, record

import mlcycle
from mlcycle.exceptions import BadParameterError
from mlcycle.monitoring import MIN_WINDOW_ROWS, monitor, read_predictions
from mlcycle.predlog import FLUSH_SECONDS
from mlcycle.schema import Schema
from mlcycle.serving import build_config


def _register_with_reference(name: str = "bench") -> None:
    """A classifier whose bundle carries the drift reference of its training rows."""
    import lightgbm as lgb

    X, y = numeric_frame()
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, random_state=0).fit(X, y)
    mlcycle.register_model(
        name, model, schema=Schema.from_dataframe(X), alias="production", reference_data=X
    )


def _serve(name: str, rows: int) -> None:
    """Send ``rows`` training rows (nothing drifted) to a live server, then stop it."""
    config = build_config([f"{name}@production"], port=free_port(), access_log=False)
    with LiveServer(config) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        records = [record(i) for i in range(rows)]
        answer = client.post(f"/v1/models/{name}/predict", json={"records": records})
        assert answer.status_code == 200, answer.text


def test_a_window_of_9_rows_gets_no_drift_verdict_and_says_why(clean_env: Path) -> None:
    _register_with_reference()
    _serve("bench", 9)
    newest = read_predictions("bench", since="1d")["timestamp"].max()

    report = monitor("bench", since="1d", notify=False)
    assert report.rows == 9 and report.drift is None
    assert report.drift_withheld == (
        f"The window has 9 rows, fewer than the {MIN_WINDOW_ROWS} needed for a drift verdict; "
        "no drift verdict (min_rows, or --min-rows, sets the minimum)."
    )
    assert report.drift_withheld in report.notes
    for signal in ("drifted_features", "drift_share", "max_psi", "multivariate_auc"):
        assert report.signals.get(signal) is None  # no rule can fire on it
    assert report.newest == newest.to_pydatetime()
    assert datetime.now(UTC) - report.newest < timedelta(hours=1)
    assert f"every {FLUSH_SECONDS:g} s" in report.freshness
    assert f"{report.newest:%Y-%m-%d %H:%M:%S} UTC" in report.freshness

    data = json.loads(report.json_path.read_text())  # type: ignore[union-attr]
    assert data["drift"] is None and data["drift_withheld"] == report.drift_withheld
    assert data["min_rows"] == MIN_WINDOW_ROWS
    assert data["freshness"] == {
        "newest_prediction": report.newest.isoformat(), "flush_seconds": FLUSH_SECONDS,
        "text": report.freshness,
    }  # fmt: skip
    page = report.report_path.read_text()  # type: ignore[union-attr]
    assert "No drift verdict." in page and "fewer than the 200 needed" in page
    assert "Drift detected" not in page and "No drift detected" not in page
    assert f"every {FLUSH_SECONDS:g} s" in page

    told = monitor("bench", since="1d", notify=False, min_rows=5)  # the minimum is a setting
    assert told.drift is not None and told.drift_withheld is None
    assert told.drift.rows_current == 9
    with pytest.raises(BadParameterError, match="'min_rows' parameter of monitor"):
        monitor("bench", since="1d", notify=False, min_rows=0)


def test_the_terminal_report_says_how_fresh_the_log_is(clean_env: Path) -> None:
    _register_with_reference()
    _serve("bench", 9)
    shown = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "monitor", "bench", "--since", "1d"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLCYCLE_HOME": str(clean_env), "COLUMNS": "300"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "Newest logged prediction:" in shown.stdout
    assert f"the server writes its log every {FLUSH_SECONDS:g} s" in shown.stdout
    assert "fewer than the 200 needed for a drift verdict" in shown.stderr
    assert "Drift in" not in shown.stdout and "No drift in" not in shown.stdout
