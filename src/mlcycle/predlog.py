"""The log format: where the prediction, feedback and refusal logs live and what they hold.

Serving writes these logs and monitoring reads them; both take every folder name, partition
key, column name and prefix from this module, which is the only place they are spelled.
The format is append-only Parquet, hive-partitioned so that a scan of one model and a time
range opens only the files of those days. Under the workspace (``$MLCYCLE_HOME``)::

    predictions/model=churn/version=3/date=2026-12-01/part-<time>-<id>.parquet
    feedback/model=churn/date=2026-12-01/part-<time>-<id>.parquet
    refused/model=churn/version=3/date=2026-12-01/part-<time>-<id>.parquet

``model``, ``version`` and ``date`` (UTC day) are the partition keys: in the path only.

**Prediction log**, one row per predicted row (:class:`PredictionRecord`): ``prediction_id``
(``<request_id>-<row>``), ``request_id``, ``timestamp`` (UTC, milliseconds), ``alias`` (the
alias or version reference that served it), ``role`` (``primary`` or ``shadow``),
``latency_ms``, the inputs as ``input.<feature>``, and the outputs: ``prediction`` (text),
``prediction_value`` (the number, for regression), ``proba.<class>`` per class, and
``anomaly_score`` when the server scores anomalies.

**Feedback log**, one row per label sent back (:class:`FeedbackRecord`): ``prediction_id``,
``timestamp``, ``label`` (text) and ``label_value`` (the number, when the label is one).

**Refusal log**, one row per refused request (:class:`RefusalRecord`): a request the server
answers with 422 because its rows break the model's schema never reaches the prediction
log, so it is written here instead: ``request_id``, ``timestamp``, ``alias``, ``role``,
``rows`` (how many rows it refused) and ``issues``, a list of ``{code, column, count}``
(issues of one code in one column; ``column`` is null for a whole-row issue) counted over
the issues the 422 names (at most 100 per request). A separate log rather than a status
column in the prediction log: refused values may be of any type (text in a number column),
which must not change the types of the prediction log's ``input.`` columns, and drift,
performance and A/B readers keep reading only rows the model scored. The refused share of a
window is ``refused rows / (refused rows + predicted rows)``; refused requests are sampled
like predictions (``log_sample``), so the share is unbiased.

The fixed columns have the Arrow types of :func:`prediction_schema`, :func:`feedback_schema`
and :func:`refusal_schema`. Every file of one model version's prediction log has the columns
and types of :func:`prediction_layout`, derived from the version's schema: ``input.`` columns
typed by :func:`input_type`, ``proba.`` columns float64. Files written before the types were
fixed may hold a column of only nulls as the Arrow ``null`` type, or an ``input.`` column
as float64 where it is int64 now: :func:`open_log` unifies every file's schema, so they read
alongside.

A batch of rows that cannot be written (a value that does not fit its column's type, a
failing disk) is set aside as JSON lines in its partition's folder, one object per row,
named ``_quarantined-<time>-<id>.jsonl`` (:data:`QUARANTINE_PREFIX`): readers of the log
skip files whose names start with ``_``, and the writer logs where it put them.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mlcycle.exceptions import DataError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mlcycle.schema import Column, Schema

__all__ = [
    "COLUMNS",
    "FEEDBACK_DIR",
    "FLUSH_SECONDS",
    "INPUT_PREFIX",
    "PARTITION_KEYS",
    "PREDICTIONS_DIR",
    "PRIMARY",
    "PROBA_PREFIX",
    "QUARANTINE_PREFIX",
    "REFUSED_DIR",
    "ROLES",
    "SHADOW",
    "FeedbackRecord",
    "IssueCount",
    "LogColumns",
    "PredictionRecord",
    "RefusalRecord",
    "class_of",
    "day_of",
    "feature_of",
    "feedback_root",
    "feedback_schema",
    "input_column",
    "input_type",
    "model_dir",
    "open_log",
    "partition_dir",
    "prediction_layout",
    "prediction_schema",
    "predictions_root",
    "proba_column",
    "refusal_schema",
    "refused_root",
    "version_dirs",
]


@dataclass(frozen=True)
class LogColumns:
    """The column names of the logs and their partition keys; :data:`COLUMNS` is the one
    instance. ``input.<feature>`` and ``proba.<class>`` are built by :func:`input_column`
    and :func:`proba_column`."""

    # partition keys: in the path, not in the files
    model: str = "model"
    version: str = "version"
    date: str = "date"
    # every log
    timestamp: str = "timestamp"
    request_id: str = "request_id"
    alias: str = "alias"
    role: str = "role"
    # the prediction log
    prediction_id: str = "prediction_id"
    latency_ms: str = "latency_ms"
    prediction: str = "prediction"
    prediction_value: str = "prediction_value"
    anomaly_score: str = "anomaly_score"
    # the feedback log
    label: str = "label"
    label_value: str = "label_value"
    # the refusal log
    rows: str = "rows"
    issues: str = "issues"
    code: str = "code"
    column: str = "column"
    count: str = "count"


COLUMNS: Final = LogColumns()
INPUT_PREFIX: Final = "input."
PROBA_PREFIX: Final = "proba."
PRIMARY: Final = "primary"
SHADOW: Final = "shadow"
ROLES: Final = (PRIMARY, SHADOW)
"""``role``: the version that answered the client, or one scoring a copy of its rows."""

PREDICTIONS_DIR: Final = "predictions"
FEEDBACK_DIR: Final = "feedback"
REFUSED_DIR: Final = "refused"
PARTITION_KEYS: Final = (COLUMNS.model, COLUMNS.version, COLUMNS.date)
FLUSH_SECONDS: Final = 5.0
"""How often the server writes the rows it has buffered: the last few seconds of traffic
are not in the log files yet (a graceful stop writes them)."""
QUARANTINE_PREFIX: Final = "_quarantined-"
"""Rows the writer could not write, as JSON lines in their partition's folder (``_``: not
read as part of the log)."""
_DAY = "%Y-%m-%d"


# -- column names ---------------------------------------------------------------------------


def input_column(feature: str) -> str:
    """The log column of an input feature: ``age`` -> ``input.age``."""
    return f"{INPUT_PREFIX}{feature}"


def proba_column(label: Any) -> str:
    """The log column of a class's probability: ``yes`` -> ``proba.yes``."""
    return f"{PROBA_PREFIX}{label}"


def feature_of(column: str) -> str | None:
    """The feature an ``input.`` column holds, or None for any other column."""
    return column[len(INPUT_PREFIX) :] if column.startswith(INPUT_PREFIX) else None


def class_of(column: str) -> str | None:
    """The class (as text) a ``proba.`` column holds, or None for any other column."""
    return column[len(PROBA_PREFIX) :] if column.startswith(PROBA_PREFIX) else None


# -- layout ---------------------------------------------------------------------------------


def predictions_root(home: Path) -> Path:
    return home / PREDICTIONS_DIR


def feedback_root(home: Path) -> Path:
    return home / FEEDBACK_DIR


def refused_root(home: Path) -> Path:
    return home / REFUSED_DIR


def model_dir(root: Path, model: str) -> Path:
    """The folder of one model's partitions under a log's root."""
    return root / f"{COLUMNS.model}={model}"


def partition_dir(root: Path, model: str, version: int | None, day: str) -> Path:
    """The folder of one model (and version; None for the feedback log) and UTC day."""
    folder = model_dir(root, model)
    if version is not None:
        folder = folder / f"{COLUMNS.version}={version}"
    return folder / f"{COLUMNS.date}={day}"


def version_dirs(folder: Path) -> list[tuple[int, Path]]:
    """The ``version=N`` folders under a model's folder, by version number."""
    found = []
    for part in folder.glob(f"{COLUMNS.version}=*"):
        number = part.name.partition("=")[2]
        if number.isdigit() and part.is_dir():
            found.append((int(number), part))
    return sorted(found)


def day_of(timestamp: float | datetime) -> str:
    """The ``date`` partition of a moment (seconds since the epoch or a datetime), in UTC."""
    if isinstance(timestamp, datetime):
        moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.astimezone(UTC).strftime(_DAY)


# -- Arrow ----------------------------------------------------------------------------------


@functools.cache
def _timestamp() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("ms", tz="UTC")


@functools.cache
def prediction_schema() -> pa.Schema:
    """The fixed columns of the prediction log (``input.`` and ``proba.`` come on top)."""
    import pyarrow as pa

    c = COLUMNS
    return pa.schema([
        (c.prediction_id, pa.string()), (c.request_id, pa.string()),
        (c.timestamp, _timestamp()), (c.alias, pa.string()), (c.role, pa.string()),
        (c.latency_ms, pa.float64()), (c.prediction, pa.string()),
        (c.prediction_value, pa.float64()), (c.anomaly_score, pa.float64()),
    ])  # fmt: skip


def input_type(column: Column) -> pa.DataType:
    """The Arrow type of a feature's ``input.`` column: the type of the values the server's
    checks give (:meth:`mlcycle.serving.CompiledSchema.check`) whatever JSON they were sent
    as. Numbers are float64, integers int64, booleans float64 (1.0 and 0.0, as the model
    takes them), categories the type of their categories (int64, float64 or bool; text
    when the categories are text or mixed), text string, date-times naive UTC timestamps."""
    import pyarrow as pa

    if column.dtype == "category":
        value_type = column.category_type
        numbers = {int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
        return pa.string() if value_type is None else numbers[value_type]
    return {
        "number": pa.float64(), "integer": pa.int64(), "boolean": pa.float64(),
        "string": pa.string(), "datetime": pa.timestamp("us"),
    }[column.dtype]  # fmt: skip


def prediction_layout(schema: Schema, classes: Iterable[Any] | None) -> pa.Schema:
    """The columns and types of every prediction-log file of one model version: the fixed
    columns, ``input.<feature>`` for each feature of its schema and ``proba.<class>`` for
    each class. Every batch is cast to it, so one partition never holds two types."""
    import pyarrow as pa

    inputs = [(input_column(n), input_type(schema.column(n))) for n in schema.feature_names]
    probas = [(proba_column(label), pa.float64()) for label in classes or ()]
    return pa.schema([*prediction_schema(), *inputs, *probas])


@functools.cache
def feedback_schema() -> pa.Schema:
    """The columns of the feedback log."""
    import pyarrow as pa

    c = COLUMNS
    return pa.schema([
        (c.prediction_id, pa.string()), (c.timestamp, _timestamp()),
        (c.label, pa.string()), (c.label_value, pa.float64()),
    ])  # fmt: skip


@functools.cache
def refusal_schema() -> pa.Schema:
    """The columns of the refusal log; ``issues`` is a list of ``{code, column, count}``."""
    import pyarrow as pa

    c = COLUMNS
    issue = pa.struct([(c.code, pa.string()), (c.column, pa.string()), (c.count, pa.int64())])
    return pa.schema([
        (c.request_id, pa.string()), (c.timestamp, _timestamp()), (c.alias, pa.string()),
        (c.role, pa.string()), (c.rows, pa.int64()), (c.issues, pa.list_(issue)),
    ])  # fmt: skip


def open_log(folder: Path) -> ds.Dataset:
    """A hive-partitioned scan of every Parquet file under ``folder``, with one schema that
    holds every file's columns (a column of only nulls in one file and of text in another is
    text; a feature logged by a later version only is there, null in older files)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    found = ds.dataset(folder, format="parquet", partitioning="hive", exclude_invalid_files=True)
    schemas = [fragment.physical_schema for fragment in found.get_fragments()]
    partitions = found.partitioning.schema if found.partitioning is not None else pa.schema([])
    try:
        unified = pa.unify_schemas([*schemas, partitions], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            f"The log files under {folder} disagree on the type of a column: {exc}"
        ) from None
    return ds.dataset(
        folder, format="parquet", partitioning="hive", exclude_invalid_files=True, schema=unified
    )


# -- records --------------------------------------------------------------------------------


def _moment(value: Any) -> datetime:
    """A UTC datetime from a datetime, a pandas Timestamp or seconds since the epoch."""
    if isinstance(value, datetime):
        moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


@dataclass(frozen=True)
class PredictionRecord:
    """One row of the prediction log: one input row and what the model answered."""

    prediction_id: str
    request_id: str
    timestamp: datetime
    alias: str | None
    role: str
    latency_ms: float
    prediction: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    prediction_value: float | None = None
    probabilities: Mapping[str, float] = field(default_factory=dict)
    anomaly_score: float | None = None

    def to_row(self) -> dict[str, Any]:
        """The record as log columns (``input.`` and ``proba.`` names)."""
        c = COLUMNS
        row: dict[str, Any] = {
            c.prediction_id: self.prediction_id, c.request_id: self.request_id,
            c.timestamp: self.timestamp, c.alias: self.alias, c.role: self.role,
            c.latency_ms: self.latency_ms,
        }  # fmt: skip
        row |= {input_column(name): value for name, value in self.inputs.items()}
        row[c.prediction] = self.prediction
        row[c.prediction_value] = self.prediction_value
        row |= {proba_column(label): p for label, p in self.probabilities.items()}
        if self.anomaly_score is not None:
            row[c.anomaly_score] = self.anomaly_score
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PredictionRecord:
        """The record of one row read from the log (a mapping of its columns)."""
        c = COLUMNS
        inputs = {f: v for k, v in row.items() if (f := feature_of(str(k))) is not None}
        probabilities = {
            label: float(v)
            for k, v in row.items()
            if (label := class_of(str(k))) is not None and _number(v) is not None
        }
        return cls(
            prediction_id=str(row[c.prediction_id]),
            request_id=str(row[c.request_id]),
            timestamp=_moment(row[c.timestamp]),
            alias=_text(row.get(c.alias)),
            role=str(row.get(c.role, PRIMARY)),
            latency_ms=float(row.get(c.latency_ms) or 0.0),
            prediction=str(row[c.prediction]),
            inputs=inputs,
            prediction_value=_number(row.get(c.prediction_value)),
            probabilities=probabilities,
            anomaly_score=_number(row.get(c.anomaly_score)),
        )


@dataclass(frozen=True)
class FeedbackRecord:
    """One row of the feedback log: the true label of an earlier prediction."""

    prediction_id: str
    timestamp: datetime
    label: str
    label_value: float | None = None

    @classmethod
    def of(cls, prediction_id: str, label: Any, timestamp: float | datetime) -> FeedbackRecord:
        """The record of a label as sent: kept as text, and as a number when it is one."""
        value = None if isinstance(label, bool) or not isinstance(label, int | float) else label
        return cls(prediction_id, _moment(timestamp), str(label), _number(value))

    def to_row(self) -> dict[str, Any]:
        c = COLUMNS
        return {
            c.prediction_id: self.prediction_id, c.timestamp: self.timestamp,
            c.label: self.label, c.label_value: self.label_value,
        }  # fmt: skip


@dataclass(frozen=True)
class IssueCount:
    """How many issues of one ``code`` in one ``column`` (None: a whole row) a request had."""

    code: str
    column: str | None
    count: int


@dataclass(frozen=True)
class RefusalRecord:
    """One row of the refusal log: a request whose ``rows`` were refused, and why."""

    request_id: str
    timestamp: datetime
    alias: str | None
    role: str
    rows: int
    issues: tuple[IssueCount, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        request_id: str,
        timestamp: float | datetime,
        alias: str | None,
        role: str,
        rows: int,
        issues: Iterable[Mapping[str, Any]],
    ) -> RefusalRecord:
        """The record of a refused request from its issues (``code`` and ``column`` each)."""
        counts = Counter(
            (str(issue[COLUMNS.code]), _text(issue.get(COLUMNS.column))) for issue in issues
        )
        found = tuple(IssueCount(code, column, n) for (code, column), n in counts.items())
        return cls(request_id, _moment(timestamp), alias, role, int(rows), found)

    def to_row(self) -> dict[str, Any]:
        c = COLUMNS
        issues = [{c.code: i.code, c.column: i.column, c.count: i.count} for i in self.issues]
        return {
            c.request_id: self.request_id, c.timestamp: self.timestamp, c.alias: self.alias,
            c.role: self.role, c.rows: self.rows, c.issues: issues,
        }  # fmt: skip
