"""Reading the server's prediction, feedback and refusal logs: partition-pruned scans.

The format is :mod:`mlcycle.predlog`'s (hive-partitioned by model, version and day), so a
scan for one model and a time range opens only the files of those days; rows are filtered
by pyarrow before they reach pandas.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BadParameterError
from mlcycle.predlog import (
    COLUMNS,
    PRIMARY,
    day_of,
    feature_of,
    feedback_root,
    model_dir,
    open_log,
    predictions_root,
    refused_root,
    version_dirs,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from mlcycle.registry import Workspace

__all__ = [
    "MIN_WINDOW_ROWS",
    "inputs_of",
    "parse_duration",
    "read_feedback",
    "read_predictions",
    "read_refusals",
    "since_time",
]

MIN_WINDOW_ROWS = 200
"""The fewest predictions a window needs for a drift verdict (``mlcycle monitor``). Sampling
alone inflates the PSI over the reference's 10 decile bins by about (bins - 1) / rows: 0.045
at 200 rows, well under the 0.2 alarm, but 1.0 at 9 rows, a false alarm in every feature."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str = "--since") -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` as a timedelta."""
    match = _DURATION.match(str(text))
    if match is None or float(match[1]) <= 0:
        raise BadParameterError(
            f"{what} takes a duration such as 7d, 12h, 30m or 90s; got {text!r}."
        )
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
        except BadParameterError:
            pass
    raise BadParameterError(
        f"since={since!r} is not understood. Use a duration back from now (30m, 24h, 7d, 2w) "
        "or an ISO date or time (2026-11-01, 2026-11-01T08:00)."
    )


def read_predictions(
    name: str,
    *,
    since: str | datetime | timedelta | None = None,
    until: datetime | None = None,
    version: int | None = None,
    alias: str | None = None,
    role: str = PRIMARY,
    workspace: Workspace | None = None,
) -> pd.DataFrame:
    """The logged predictions of model ``name`` (one row per predicted row), oldest first.

    Inputs keep their log names (``input.<feature>``); ``version`` is a column (from the
    partition). An empty frame when nothing was logged in the range.
    """
    c = COLUMNS
    empty = (c.prediction_id, c.timestamp, c.version, c.alias, c.role)
    window = (since_time(since), until, version, alias, role)
    return _read_log(predictions_root, name, window, empty, workspace)


def read_refusals(
    name: str,
    *,
    since: str | datetime | timedelta | None = None,
    until: datetime | None = None,
    version: int | None = None,
    alias: str | None = None,
    role: str = PRIMARY,
    workspace: Workspace | None = None,
) -> pd.DataFrame:
    """The requests the server refused for model ``name`` (one row per request), oldest first:
    ``request_id``, ``timestamp``, ``alias``, ``role``, ``rows`` refused, ``issues`` (a list
    of ``{code, column, count}``) and ``version``. An empty frame when none were refused."""
    c = COLUMNS
    empty = (c.request_id, c.timestamp, c.alias, c.role, c.rows, c.issues, c.version)
    window = (since_time(since), until, version, alias, role)
    return _read_log(refused_root, name, window, empty, workspace)


def _read_log(
    root: Callable[[Path], Path],
    name: str,
    window: tuple[datetime | None, datetime | None, int | None, str | None, str],
    empty: tuple[str, ...],
    workspace: Workspace | None,
) -> pd.DataFrame:
    """Scan one model's folder of the log under ``root`` (``window``: start, until, version,
    alias, role); a frame with the ``empty`` columns when nothing was logged."""
    from mlcycle.registry import get_workspace

    ws = workspace or get_workspace()
    frame = _scan(model_dir(root(ws.settings.home), name), *window)
    return _empty(empty) if frame is None else frame


def _scan(
    folder: Path,
    start: datetime | None,
    until: datetime | None,
    version: int | None,
    alias: str | None,
    role: str,
) -> pd.DataFrame | None:
    """The rows of a versioned log (predictions or refusals) in a range, or None if none."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    c = COLUMNS
    if not folder.is_dir():
        return None
    condition = ds.field(c.role) == role
    if alias is not None:
        condition &= ds.field(c.alias) == alias
    if start is not None:
        condition &= ds.field(c.date) >= day_of(start)
        condition &= ds.field(c.timestamp) >= _stamp(start)
    if until is not None:
        condition &= ds.field(c.timestamp) < _stamp(until)
    tables = []  # one dataset per version: versions may log different columns
    for number, part in version_dirs(folder):
        if version is not None and number != int(version):
            continue
        if not any(part.rglob("*.parquet")):
            continue
        table = open_log(part).to_table(filter=condition)
        tables.append(table.append_column(c.version, pa.array([number] * len(table))))
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    frame = table.to_pandas()
    if c.timestamp in frame:
        frame = frame.sort_values(c.timestamp, kind="stable").reset_index(drop=True)
    return frame


def read_feedback(name: str, *, workspace: Workspace | None = None) -> pd.DataFrame:
    """The feedback labels sent for model ``name``; the last label per prediction id wins.

    Not cut by time: labels arrive after their predictions, and joining them on
    ``prediction_id`` to the predictions of a range keeps just those of the range.
    """
    from mlcycle.registry import get_workspace

    c = COLUMNS
    ws = workspace or get_workspace()
    folder = model_dir(feedback_root(ws.settings.home), name)
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return _empty((c.prediction_id, c.timestamp, c.label, c.label_value))
    frame = open_log(folder).to_table().to_pandas()
    frame = frame.sort_values(c.timestamp, kind="stable")
    return frame.drop_duplicates(c.prediction_id, keep="last").reset_index(drop=True)


def inputs_of(frame: pd.DataFrame, features: list[str] | None = None) -> pd.DataFrame:
    """The logged inputs under their feature names (``input.`` stripped)."""
    names = {c: f for c in frame.columns if (f := feature_of(str(c))) is not None}
    out = frame[list(names)].rename(columns=names)
    if features is not None:
        out = out[[f for f in features if f in out.columns]]
    return out


def _stamp(moment: datetime) -> Any:
    """A UTC timestamp scalar comparable with the logs' ``timestamp`` column."""
    import pyarrow as pa

    from mlcycle.predlog import prediction_schema

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return pa.scalar(moment, type=prediction_schema().field(COLUMNS.timestamp).type)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=list(columns))
