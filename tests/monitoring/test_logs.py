"""Reading the logs: logs written before the format moved to mlcycle.predlog still read."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcycle.monitoring import read_feedback, read_predictions
from mlcycle.monitoring._logs import inputs_of
from mlcycle.predlog import PredictionRecord
from mlcycle.schema import Column, Schema
from mlcycle.serving import PredictionLog

AGE = Schema([Column("age", "number")])


def _old_layout_log(home: Path, when: datetime) -> None:
    """A log as mlcycle 0.2's writer left it, spelled out here with pyarrow: a classifier
    served by version number, so ``alias`` and ``prediction_value`` were all-null columns
    of the Arrow ``null`` type."""
    stamp = pa.array([int(when.timestamp() * 1000)] * 2).cast(pa.timestamp("ms", tz="UTC"))
    table = pa.table({
        "prediction_id": ["old-0", "old-1"], "request_id": ["old", "old"], "timestamp": stamp,
        "alias": pa.nulls(2), "role": ["primary", "primary"], "latency_ms": [1.0, 1.0],
        "input.age": [30.0, 50.0], "prediction": ["no", "yes"],
        "prediction_value": pa.nulls(2), "proba.no": [0.8, 0.3], "proba.yes": [0.2, 0.7],
    })  # fmt: skip
    day = when.strftime("%Y-%m-%d")
    folder = home / "predictions" / "model=churn" / "version=1" / f"date={day}"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0-old.parquet")
    labels = pa.table({
        "prediction_id": ["old-1"], "timestamp": stamp[:1], "label": ["yes"],
        "label_value": pa.nulls(1),
    })  # fmt: skip
    folder = home / "feedback" / "model=churn" / f"date={day}"
    folder.mkdir(parents=True)
    pq.write_table(labels, folder / "part-0-old.parquet")


def test_a_log_written_with_the_old_layout_reads_alongside_a_new_one(clean_env: Path) -> None:
    now = datetime.now(UTC)
    _old_layout_log(clean_env, now)
    writer = PredictionLog(clean_env / "predictions")
    writer.append(
        model="churn", version=1, schema=AGE, classes=["no", "yes"],
        requests=[("new", 1, 2.0, "production", "primary")], columns={"age": [41.0]},
        predictions=np.array(["yes"]), probabilities=np.array([[0.4, 0.6]]),
        timestamp=time.time(),
    )  # fmt: skip
    writer.flush()

    log = read_predictions("churn", since="1d")
    assert log["prediction_id"].tolist() == ["old-0", "old-1", "new-0"]
    assert log["alias"].tolist()[2] == "production"  # text, though the old file had nulls
    assert inputs_of(log)["age"].tolist() == [30.0, 50.0, 41.0]
    first = PredictionRecord.from_row(log.iloc[0].to_dict())
    assert first.alias is None and first.inputs == {"age": 30.0}
    assert first.probabilities == {"no": 0.8, "yes": 0.2} and first.prediction == "no"
    assert read_feedback("churn")["label"].tolist() == ["yes"]
