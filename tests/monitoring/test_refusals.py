"""Refused rows end to end: a live server refuses bad rows, the monitor report counts them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
from tests.serving.conftest import LiveServer, free_port, record, register_lgbm

from mlcycle.monitoring import monitor, read_refusals, render_drift_report
from mlcycle.monitoring._refusals import summarise_refusals
from mlcycle.serving import build_config


def _send(name: str, good: int, bad: list[dict[str, object]]) -> None:
    config = build_config([f"{name}@production"], port=free_port(), access_log=False)
    with LiveServer(config) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        rows = [record(i) for i in range(good)]
        answer = client.post(f"/v1/models/{name}/predict", json={"records": rows})
        assert answer.status_code == 200, answer.text
        answer = client.post(f"/v1/models/{name}/predict", json={"records": bad})
        assert answer.status_code == 422, answer.text


def test_a_refused_request_is_counted_by_the_monitor(clean_env: Path) -> None:
    register_lgbm("bench")
    bad = [record(0), {**record(1), "f0": "high"}, {**record(2), "f0": "low", "f3": "x"}]
    _send("bench", good=7, bad=bad)

    refusals = read_refusals("bench", since="1d")
    assert refusals["rows"].tolist() == [3]
    assert refusals["alias"].tolist() == ["production"]
    assert refusals["version"].tolist() == [1]

    report = monitor("bench", since="1d", window="1h", notify=False)
    assert report.signals["refused_rows"] == 3.0
    assert report.signals["refused_share"] == 0.3  # 3 refused of 10 rows sent
    data = json.loads(report.json_path.read_text())  # type: ignore[union-attr]
    refused = data["refused"]
    assert refused["refused_rows"] == 3 and refused["predicted_rows"] == 7
    assert [w["refused_share"] for w in refused["windows"]] == [0.3]
    assert refused["issues"][0] == {
        "code": "wrong_type", "column": "f0", "issues": 2, "requests": 1
    }  # fmt: skip
    assert any("refused 3 row(s) in 1 request(s)" in note for note in report.notes)


def test_refusals_are_shared_per_window_and_shown_in_the_html_summary() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    stamps = [start + timedelta(hours=h) for h in (0, 0, 1)]
    predictions = pd.DataFrame({"timestamp": pd.to_datetime(stamps[:2] * 3, utc=True)})
    refusals = pd.DataFrame({
        "timestamp": pd.to_datetime([stamps[0], stamps[2]], utc=True),
        "rows": [2, 5],
        "issues": [[{"code": "out_of_range", "column": "age", "count": 2}],
                   [{"code": "missing_column", "column": None, "count": 1}]],
    })  # fmt: skip
    summary = summarise_refusals(predictions, refusals, timedelta(hours=1))
    assert [(w.refused_rows, w.predicted_rows) for w in summary.windows] == [(2, 6), (5, 0)]
    assert [w.share for w in summary.windows] == [0.25, 1.0]
    assert summary.share == 7 / 13

    report = {"features": [], "rows_reference": 10, "rows_current": 6}
    page = render_drift_report(report, refused=summary.to_dict())
    assert "refused rows</span><b>7</b>" in page
    assert "refused share</span><b>53.8%</b>" in page
    assert "Share of rows refused" in page and "(whole row)" in page
    assert "refused rows" not in render_drift_report(report)
