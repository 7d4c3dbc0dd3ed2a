"""Refused rows: how many rows the server refused for breaking the schema, per time window.

The refusal log (:mod:`mlcycle.predlog`) holds one row per refused request; with the
prediction log of the same range it gives each window's refused share,
``refused rows / (refused rows + predicted rows)``, and which issue codes and columns caused
the refusals::

    summary = summarise_refusals(read_predictions("churn"), read_refusals("churn"), "1d")
    summary.share, summary.issues[0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlcycle.predlog import COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RefusalSummary", "RefusalWindow", "summarise_refusals"]


def refused_share(refused_rows: int, predicted_rows: int) -> float | None:
    """Refused rows over all rows (refused and predicted); None when there were none."""
    total = refused_rows + predicted_rows
    return refused_rows / total if total else None


@dataclass(frozen=True)
class RefusalWindow:
    """One time window ``[start, end)`` (UTC): rows refused and rows predicted in it."""

    start: datetime
    end: datetime
    refused_rows: int
    refused_requests: int
    predicted_rows: int

    @property
    def share(self) -> float | None:
        """The refused share of the window's rows; None for a window without rows."""
        return refused_share(self.refused_rows, self.predicted_rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.start.isoformat(),
            "end": self.end.isoformat(),
            "refused_rows": self.refused_rows,
            "refused_requests": self.refused_requests,
            "predicted_rows": self.predicted_rows,
            "refused_share": self.share,
        }


@dataclass(frozen=True)
class RefusalSummary:
    """Refused rows over a whole range, per window, and per issue code and column.

    ``issues`` holds one ``{"code", "column", "issues", "requests"}`` per code and column,
    most frequent first: how many issues of it the refused requests named, and in how many
    requests.
    """

    refused_rows: int
    refused_requests: int
    predicted_rows: int
    windows: list[RefusalWindow] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        """The refused share of all rows of the range; None when there were none."""
        return refused_share(self.refused_rows, self.predicted_rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused_rows": self.refused_rows,
            "refused_requests": self.refused_requests,
            "predicted_rows": self.predicted_rows,
            "refused_share": self.share,
            "windows": [w.to_dict() for w in self.windows],
            "issues": self.issues,
        }


def summarise_refusals(
    predictions: pd.DataFrame, refusals: pd.DataFrame, window: timedelta
) -> RefusalSummary:
    """The refused rows of ``refusals`` (the refusal log) against the predicted rows of
    ``predictions`` (the prediction log of the same range), per ``window`` of time (windows
    start at multiples of it since the epoch)."""
    import pandas as pd

    c = COLUMNS
    width = pd.Timedelta(window)
    refused = _counts(refusals, width, c.rows)
    predicted = _counts(predictions, width, None)
    requests = _counts(refusals, width, None)
    windows = [
        RefusalWindow(
            start=start.to_pydatetime(),
            end=(start + width).to_pydatetime(),
            refused_rows=int(refused.get(start, 0)),
            refused_requests=int(requests.get(start, 0)),
            predicted_rows=int(predicted.get(start, 0)),
        )
        for start in sorted(set(refused.index) | set(predicted.index))
    ]
    return RefusalSummary(
        refused_rows=int(refused.sum()),
        refused_requests=len(refusals),
        predicted_rows=len(predictions),
        windows=windows,
        issues=_issues(refusals),
    )


def _counts(frame: pd.DataFrame, width: pd.Timedelta, column: str | None) -> pd.Series:
    """Rows (or the sum of ``column``) per window start."""
    import pandas as pd

    if frame.empty:
        return pd.Series(dtype="int64")
    starts = pd.to_datetime(frame[COLUMNS.timestamp], utc=True).dt.floor(width)
    if column is None:
        return frame.groupby(starts).size()
    return pd.to_numeric(frame[column]).groupby(starts).sum()


def _issues(refusals: pd.DataFrame) -> list[dict[str, Any]]:
    c = COLUMNS
    totals: dict[tuple[str, str | None], list[int]] = {}
    for listed in refusals.get(c.issues, ()):
        for issue in listed if listed is not None else ():
            key = (str(issue[c.code]), issue[c.column])
            counts = totals.setdefault(key, [0, 0])
            counts[0] += int(issue[c.count])
            counts[1] += 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0][0], str(item[0][1])))
    return [
        {c.code: code, c.column: column, c.issues: n, "requests": requests}
        for (code, column), (n, requests) in ranked
    ]
