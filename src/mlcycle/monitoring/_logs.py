"""Reading the server's prediction and feedback logs: Parquet scans, filtered by partition.

The logs are hive-partitioned (``model=``, ``version=``, ``date=``), so a scan for one model
and a time range opens only the files of those days; rows are filtered by pyarrow before
they reach pandas, and only the columns asked for are read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import MlcycleError

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.registry import Workspace

__all__ = ["INPUT_PREFIX", "parse_duration", "read_feedback", "read_predictions", "since_time"]

INPUT_PREFIX = "input."
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str = "--since") -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` as a timedelta."""
    match = _DURATION.match(str(text))
    if match is None or float(match[1]) <= 0:
        raise MlcycleError(f"{what} takes a duration such as 7d, 12h, 30m or 90s; got {text!r}.")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def since_time(
    since: str | datetime | timedelta | None, now: datetime | None = None
) -> datetime | None:
    """The UTC cut-off ``since`` names: ``7d``, ``24h``, ``30m``, ``2w`` back from now, an ISO
    date or time, a ``datetime`` or a ``timedelta`` back from now; None for no cut-off."""
    now = now or datetime.now(UTC)
    if since is None:
        return None
    if isinstance(since, timedelta):
        return now - since
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    if isinstance(since, str):
        try:
            moment = datetime.fromisoformat(since.strip())
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        try:
            return now - parse_duration(since)
        except MlcycleError:
            pass
    raise MlcycleError(
        f"since={since!r} is not understood. Use a duration back from now (30m, 24h, 7d, 2w) "
        "or an ISO date or time (2026-11-01, 2026-11-01T08:00)."
    )


def _dataset(folder: Path) -> Any:
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet", partitioning="hive", exclude_invalid_files=True)


def read_predictions(
    name: str,
    *,
    since: str | datetime | timedelta | None = None,
    until: datetime | None = None,
    version: int | None = None,
    alias: str | None = None,
    role: str = "primary",
    workspace: Workspace | None = None,
) -> pd.DataFrame:
    """The logged predictions of model ``name`` (one row per predicted row), oldest first.

    Inputs keep their log names (``input.<feature>``); ``version`` is a column (from the
    partition). An empty frame when nothing was logged in the range.
    """
    import pyarrow.dataset as ds

    from mlcycle.registry import get_workspace

    ws = workspace or get_workspace()
    folder = ws.settings.home / "predictions" / f"model={name}"
    start = since_time(since)
    if not folder.is_dir():
        return _empty()
    condition = ds.field("role") == role
    if alias is not None:
        condition &= ds.field("alias") == alias
    if start is not None:
        condition &= ds.field("date") >= start.strftime("%Y-%m-%d")
        condition &= ds.field("timestamp") >= _stamp(start)
    if until is not None:
        condition &= ds.field("timestamp") < _stamp(until)
    import pyarrow as pa

    tables = []  # one dataset per version: versions may log different columns
    for part in sorted(folder.glob("version=*")):
        number = part.name.partition("=")[2]
        if not number.isdigit() or (version is not None and int(number) != int(version)):
            continue
        if not any(part.rglob("*.parquet")):
            continue
        table = _dataset(part).to_table(filter=condition)
        tables.append(table.append_column("version", pa.array([int(number)] * len(table))))
    if not tables:
        return _empty()
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    frame = table.to_pandas()
    if "timestamp" in frame:
        frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return frame


def read_feedback(name: str, *, workspace: Workspace | None = None) -> pd.DataFrame:
    """The feedback labels sent for model ``name``; the last label per prediction id wins.

    Not cut by time: labels arrive after their predictions, and joining them on
    ``prediction_id`` to the predictions of a range keeps just those of the range.
    """
    import pandas as pd

    from mlcycle.registry import get_workspace

    ws = workspace or get_workspace()
    folder = ws.settings.home / "feedback" / f"model={name}"
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return pd.DataFrame(columns=["prediction_id", "timestamp", "label", "label_value"])
    frame = _dataset(folder).to_table().to_pandas()
    frame = frame.sort_values("timestamp", kind="stable")
    return frame.drop_duplicates("prediction_id", keep="last").reset_index(drop=True)


def inputs_of(frame: pd.DataFrame, features: list[str] | None = None) -> pd.DataFrame:
    """The logged inputs under their feature names (``input.`` stripped)."""
    columns = [c for c in frame.columns if c.startswith(INPUT_PREFIX)]
    out = frame[columns].rename(columns=lambda c: c[len(INPUT_PREFIX) :])
    if features is not None:
        out = out[[f for f in features if f in out.columns]]
    return out


def _stamp(moment: datetime) -> Any:
    """A UTC timestamp scalar comparable with the log's ``timestamp[ms, tz=UTC]`` column."""
    import pyarrow as pa

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return pa.scalar(moment, type=pa.timestamp("ms", tz="UTC"))


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=["prediction_id", "timestamp", "version", "alias", "role"])
