"""The log format, defined once: layout, column names, records and Arrow types."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcycle.exceptions import DataError
from mlcycle.predlog import (
    COLUMNS,
    FeedbackRecord,
    IssueCount,
    PredictionRecord,
    RefusalRecord,
    class_of,
    day_of,
    feature_of,
    feedback_schema,
    input_column,
    open_log,
    partition_dir,
    prediction_schema,
    proba_column,
    refusal_schema,
    version_dirs,
)
from mlcycle.schema import Column, Schema
from mlcycle.serving import FeedbackLog, PredictionLog
from mlcycle.serving._predlog import RefusalLog

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AGE = Schema([Column("age", "number")])


def test_the_layout_is_hive_partitioned_by_model_version_and_day(tmp_path: Path) -> None:
    assert partition_dir(tmp_path, "churn", 3, "2026-12-01") == (
        tmp_path / "model=churn" / "version=3" / "date=2026-12-01"
    )
    assert partition_dir(tmp_path, "churn", None, "2026-12-01") == (
        tmp_path / "model=churn" / "date=2026-12-01"
    )
    for name in ("version=10", "version=2", "version=x", "notes"):
        (tmp_path / name).mkdir()
    assert [n for n, _ in version_dirs(tmp_path)] == [2, 10]
    assert day_of(NOON.timestamp()) == day_of(NOON) == "2026-12-01"


def test_the_column_names_are_those_logs_were_always_written_with() -> None:
    """Renaming one would strand every log written before: this pins the on-disk names."""
    assert [f.name for f in prediction_schema()] == [
        "prediction_id", "request_id", "timestamp", "alias", "role", "latency_ms",
        "prediction", "prediction_value", "anomaly_score",
    ]  # fmt: skip
    assert [f.name for f in feedback_schema()] == [
        "prediction_id", "timestamp", "label", "label_value"
    ]  # fmt: skip
    assert input_column("age") == "input.age" and feature_of("input.age") == "age"
    assert proba_column(True) == "proba.True" and class_of("proba.yes") == "yes"
    assert feature_of("prediction") is None and class_of("input.age") is None
    assert prediction_schema().field("timestamp").type == pa.timestamp("ms", tz="UTC")


def test_a_prediction_record_round_trips_through_a_row() -> None:
    record = PredictionRecord(
        prediction_id="r1-0", request_id="r1", timestamp=NOON, alias="production",
        role="primary", latency_ms=2.5, prediction="yes", inputs={"age": 41.0},
        probabilities={"no": 0.25, "yes": 0.75},
    )  # fmt: skip
    row = record.to_row()
    assert row["input.age"] == 41.0 and row["proba.yes"] == 0.75
    assert PredictionRecord.from_row(row) == record


def test_a_feedback_record_keeps_the_label_as_text_and_number() -> None:
    assert FeedbackRecord.of("r1-0", 3, NOON).label_value == 3.0
    assert FeedbackRecord.of("r1-0", "yes", NOON) == FeedbackRecord("r1-0", NOON, "yes", None)
    assert FeedbackRecord.of("r1-0", True, NOON).label == "True"
    assert FeedbackRecord.of("r1-0", True, NOON).label_value is None


def test_a_refusal_counts_its_issues_per_code_and_column() -> None:
    issues = [
        {"row": 0, "column": "age", "code": "wrong_type", "message": "..."},
        {"row": 3, "column": "age", "code": "wrong_type", "message": "..."},
        {"row": None, "column": "plan", "code": "missing_column", "message": "..."},
    ]
    record = RefusalRecord.of(
        request_id="r9", timestamp=NOON.timestamp(), alias=None, role="primary", rows=5,
        issues=issues,
    )  # fmt: skip
    assert record.rows == 5 and record.timestamp == NOON
    assert record.issues == (
        IssueCount("wrong_type", "age", 2), IssueCount("missing_column", "plan", 1)
    )  # fmt: skip


def test_the_writers_write_the_contract_types(tmp_path: Path) -> None:
    predictions = PredictionLog(tmp_path / "p")
    predictions.append(
        model="churn", version=1, schema=AGE, classes=["no", "yes"],
        requests=[("r1", 2, 1.5, None, "primary")], columns={"age": [30.0, None]},
        predictions=np.array(["no", "yes"]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]),
        timestamp=NOON.timestamp(),
    )  # fmt: skip
    assert predictions.flush() == 2
    feedback = FeedbackLog(tmp_path / "f")
    feedback.append(model="churn", records=[FeedbackRecord.of("r1-0", "no", NOON)])
    refusals = RefusalLog(tmp_path / "r")
    refused = RefusalRecord.of(
        request_id="r2", timestamp=NOON, alias="production", role="primary", rows=4,
        issues=[{"column": None, "code": "wrong_type"}],
    )  # fmt: skip
    refusals.append(model="churn", version=1, record=refused)
    assert feedback.flush() == 1 and refusals.flush() == 1
    for root, schema in ((tmp_path / "p", prediction_schema()), (tmp_path / "f", feedback_schema()),
                         (tmp_path / "r", refusal_schema())):  # fmt: skip
        (file,) = root.rglob("*.parquet")
        written = pq.read_schema(file)
        for field in schema:
            if field.name in written.names:  # alias is None here, yet typed as text
                assert written.field(field.name).type == field.type, field.name
    table = open_log(tmp_path / "r").to_table().to_pylist()
    assert table[0]["issues"] == [{"code": "wrong_type", "column": None, "count": 1}]
    assert table[0]["rows"] == 4 and table[0]["version"] == 1


def test_files_that_disagree_on_a_type_are_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "date=2026-12-01"
    folder.mkdir()
    pq.write_table(pa.table({COLUMNS.latency_ms: [1.0]}), folder / "a.parquet")
    pq.write_table(pa.table({COLUMNS.latency_ms: [[1.0]]}), folder / "b.parquet")
    with pytest.raises(DataError, match="disagree on the type of a column"):
        open_log(tmp_path)
