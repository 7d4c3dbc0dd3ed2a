"""One type per log column, whatever JSON number a client sends (issue 14, finding 3): checked
values come back in their column's type, every batch of a partition is cast to one layout, a
batch that cannot be written is set aside instead of retried for ever, and every log closes
even when another fails."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mlcycle
from mlcycle.predlog import QUARANTINE_PREFIX, input_type, open_log, prediction_layout
from mlcycle.schema import Column, Schema
from mlcycle.serving import CompiledSchema, PredictionLog

CODES = Schema([Column("code", "category", categories=[1, 2, 3]), Column("x", "number")])


def _register_codes() -> None:
    """A pipeline whose 'code' column is a category of integers, as the issue's model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mlcycle.data import build_preparer

    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({
        "code": pd.Categorical(rng.choice([1, 2, 3], n)), "x": rng.normal(size=n),
    })  # fmt: skip
    y = ((X["code"].astype(int) == 2) ^ (X["x"] > 0)).astype(int).to_numpy()
    model = make_pipeline(build_preparer(X, task="binary"), LogisticRegression()).fit(X, y)
    schema = Schema.from_dataframe(X)
    assert schema.column("code").categories == [1, 2, 3]
    mlcycle.register_model("codes", model, schema=schema, alias="production")


def _hold_until_shutdown(server: Any) -> None:
    """Keep every row buffered until the server stops, as rows of one flush window are on
    a busy server; the log thread still converts what it is given 20 times a second."""
    state = server.state
    for log in (state.prediction_log, state.feedback_log):
        log.flush_seconds = 3600


def _converted(log: Any) -> None:
    """Wait until the log thread has turned what it was given into a record batch, so that
    the next request makes a batch of its own (bounded; the thread wakes every 50 ms)."""
    deadline = time.monotonic() + 10
    while log._pending and time.monotonic() < deadline:
        time.sleep(0.01)


def test_checked_values_come_back_in_their_columns_type() -> None:
    schema = Schema([
        Column("code", "category", categories=[1, 2, 3]),
        Column("rate", "category", categories=[0.5, 1.0]),
        Column("plan", "category", categories=["a", "b"]),
        Column("n", "integer", min=0, max=9, out_of_range="clip"),
        Column("x", "number"),
    ])  # fmt: skip
    compiled = CompiledSchema.build(schema)
    sent = {"code": [1, 1.0, None], "rate": [1, 0.5, 1.0], "plan": ["a", "b", None],
            "n": [1.0, 2, 12.0], "x": [1, 2.5, None]}  # fmt: skip
    out = compiled.check(sent, 3, list(sent))
    assert [type(v) for v in out["code"][:2]] == [int, int] and out["code"][2] is None
    assert [type(v) for v in out["rate"]] == [float, float, float]
    assert out["n"] == [1, 2, 9] and {type(v) for v in out["n"]} == {int}
    assert [type(v) for v in out["x"][:2]] == [float, float]
    typed = schema.coerce(pd.DataFrame(sent))  # the batch and SDK door: the same values
    assert [type(v) for v in typed["code"].iloc[:2]] == [int, int]
    assert [type(v) for v in typed["rate"]] == [float, float, float]
    assert input_type(schema.column("code")) == pa.int64()
    assert input_type(schema.column("rate")) == pa.float64()
    assert input_type(schema.column("plan")) == pa.string()


def test_a_category_sent_as_1_then_1_0_leaves_every_prediction_and_label_on_disk(
    live, clean_env: Path
) -> None:
    """The issue's scenario: code=1 then code=1.0 in batches of their own, then 100 more
    requests, labels for all, and a graceful stop: 102 predictions and 102 labels on disk."""
    _register_codes()
    _, key = mlcycle.registry.create_key("predict")  # feedback needs a key even on loopback
    server = live(["codes@production"])
    _hold_until_shutdown(server)
    ids: list[str] = []
    codes = [1, 1.0, *[[1, 2.0, 3, 2, 3.0][i % 5] for i in range(100)]]
    with server.client(authorization=f"Bearer {key}") as client:
        for code in codes:
            answer = client.post(
                "/v1/models/codes/predict", json={"records": [{"code": code, "x": 0.5}]}
            )
            assert answer.status_code == 200, answer.text
            ids += answer.json()["prediction_ids"]
            _converted(server.state.prediction_log)
        labels = [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids)]
        sent = client.post("/v1/models/codes/feedback", json={"feedback": labels})
        assert sent.status_code == 200 and sent.json()["accepted"] == len(codes)
    server.__exit__(None, None, None)
    predictions = open_log(clean_env / "predictions").to_table()
    assert sorted(predictions["prediction_id"].to_pylist()) == sorted(ids)
    assert predictions.schema.field("input.code").type == pa.int64()
    assert sorted(predictions["input.code"].to_pylist()) == sorted(int(c) for c in codes)
    feedback = open_log(clean_env / "feedback").to_table()
    assert sorted(feedback["prediction_id"].to_pylist()) == sorted(ids)
    assert not list(clean_env.rglob(f"{QUARANTINE_PREFIX}*"))


def _append(log: PredictionLog, code: Any, request: str) -> None:
    log.append(
        model="codes", version=1, schema=CODES, classes=[0, 1],
        requests=[(request, 1, 1.0, "production", "primary")],
        columns={"code": [code], "x": [0.5]}, predictions=np.array([1]),
        probabilities=np.array([[0.3, 0.7]]), timestamp=time.time(),
    )  # fmt: skip


def test_a_batch_that_cannot_be_written_is_set_aside_and_the_log_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(tmp_path, flush_seconds=3600)
    _append(log, "not a code", "bad")  # forced past the checks: it fits no int64
    _append(log, 2, "good")
    with caplog.at_level(logging.ERROR, logger="mlcycle.serve"):
        assert log.flush() == 1
    (aside,) = tmp_path.rglob(f"{QUARANTINE_PREFIX}*.jsonl")
    row = json.loads(aside.read_text())
    assert row["input.code"] == "not a code" and row["prediction_id"] == "bad-0"
    assert f"set aside in {aside}" in caplog.text
    assert log.queued_rows == 0 and log.rows_set_aside == 1
    _append(log, 3.0, "later")
    assert log.flush() == 1 and log.queued_rows == 0
    written = open_log(tmp_path).to_table()  # the reader skips the file set aside
    assert written.schema.field("input.code").type == pa.int64()
    assert sorted(written["input.code"].to_pylist()) == [2, 3]
    assert written.schema.names[: len(prediction_layout(CODES, [0, 1]))] == list(
        prediction_layout(CODES, [0, 1]).names
    )


def test_a_prediction_log_that_cannot_close_does_not_stop_the_feedback_log(
    live, clean_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The prediction log's folder is unusable (a file is in its way): its rows are lost,
    and its close says so, but the labels are still written at shutdown."""
    _register_codes()
    (clean_env / "predictions").write_text("in the way")
    _, key = mlcycle.registry.create_key("predict")
    server = live(["codes@production"])
    _hold_until_shutdown(server)
    with server.client(authorization=f"Bearer {key}") as client:
        answer = client.post("/v1/models/codes/predict", json={"records": [{"code": 1, "x": 0}]})
        (pid,) = answer.json()["prediction_ids"]
        sent = client.post(
            "/v1/models/codes/feedback", json={"feedback": [{"prediction_id": pid, "label": 1}]}
        )
        assert sent.status_code == 200
    with caplog.at_level(logging.ERROR, logger="mlcycle.serve"):
        server.__exit__(None, None, None)
    feedback = open_log(clean_env / "feedback").to_table()
    assert feedback["prediction_id"].to_pylist() == [pid]
    assert "a log could not be closed" in caplog.text and "could be neither written" in caplog.text
