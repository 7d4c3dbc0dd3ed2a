"""Profile a table before training: what is in it, what is wrong with it, what leaks.

:func:`profile` reads every column once, vectorised, and returns a :class:`Profile`:

- per column: kind (:mod:`mlcycle.data._kinds`), dtype, missing, distinct, top values
  (share of the non-missing values), and by kind a histogram (20 bins of the finite values),
  min/max/mean/std and the 1, 5, 25, 50, 75, 95 and 99 % quantiles, outliers by the IQR rule
  (outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR]), counts per month for dates (per year, or per
  several years, past 120 bars), lengths for text;
- for the table: duplicate rows (a 64-bit hash per row: exact up to a collision chance of
  about 1e-8 at 1,000,000 rows), constant columns, near-constant ones (top value >= 99 %),
  high-cardinality categories (> 50 values), class balance or target distribution, and
  warnings (all-missing column, mixed types, infinite values, ...);
- **association** of each feature with the target in [0, 1]: normalised mutual information
  (:func:`mlcycle.data._leakage.association` says how);
- **leakage suspects** (:func:`mlcycle.data._leakage.leakage_suspects`) and **personal
  data** (:func:`mlcycle.data._pii.detect_pii`); top values of personal-data columns are
  masked, so no report repeats the values it warns about.

Exact statistics use every row; association, leakage and personal data read a seeded
sample (``sample`` rows, 100,000 by default; personal data at most 5,000).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.data._leakage import (
    SAMPLE,
    LeakageSuspect,
    as_datetime,
    association,
    leakage_suspects,
    sample_rows,
    task_of,
)
from mlcycle.data._pii import PiiFinding
from mlcycle.exceptions import BadParameterError, DataError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ColumnProfile", "Profile", "ProfileWarning", "profile"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BINS = 20
TOP = 20
NEAR_CONSTANT = 0.99
HIGH_CARDINALITY = 50
IMBALANCE_RATIO = 10.0
MANY_MISSING = 0.5
MAX_PERIODS = 120
_VALUE_CHARS = 100
_DISCRETE = frozenset({"boolean", "category", "integer_category"})
_ASSOCIATION_METHOD = {
    "classification": "mutual information / entropy of the target",
    "regression": "sqrt(1 - exp(-2 * mutual information))",
}


@dataclass(frozen=True)
class ProfileWarning:
    """Something a person should look at before training; ``code`` is stable for tools."""

    code: str
    message: str
    column: str | None = None


@dataclass
class ColumnProfile:
    """What one column holds. Optional parts are None where they do not apply to its kind."""

    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    missing_share: float
    distinct: int
    top: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, float | None] | None = None
    histogram: dict[str, list[float]] | None = None
    outliers: dict[str, float] | None = None
    datetime: dict[str, Any] | None = None
    text: dict[str, float] | None = None
    association: float | None = None
    masked: bool = False

    @property
    def top_share(self) -> float:
        """Share of the most common value among the non-missing values (0 when none)."""
        return float(self.top[0]["share"]) if self.top else 0.0


@dataclass
class Profile:
    """The profile of one table; see :func:`profile`. Export with :meth:`to_dict`,
    :meth:`to_json`, :meth:`to_html`, :meth:`save`; print with :meth:`render`."""

    rows: int
    n_columns: int
    memory_bytes: int
    duplicate_rows: int
    duplicate_share: float
    columns: dict[str, ColumnProfile]
    target: str | None = None
    task: str | None = None
    target_summary: dict[str, Any] | None = None
    association: dict[str, float] = field(default_factory=dict)
    association_method: str | None = None
    constant: list[str] = field(default_factory=list)
    near_constant: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    outliers: dict[str, dict[str, float]] = field(default_factory=dict)
    leakage: list[LeakageSuspect] = field(default_factory=list)
    pii: list[PiiFinding] = field(default_factory=list)
    warnings: list[ProfileWarning] = field(default_factory=list)
    sample_rows: int = 0
    seed: int = 0
    version: str = ""

    def __repr__(self) -> str:
        return (
            f"Profile(rows={self.rows}, columns={self.n_columns}, target={self.target!r}, "
            f"leakage={[s.column for s in self.leakage]}, warnings={len(self.warnings)})"
        )

    def sensitive_columns(self) -> dict[str, str]:
        """Columns whose raw values must not travel with a model, each with the reason:
        personal data (:attr:`pii`) and unique identifiers (kind ``identifier``), in column
        order; the target is not one of them. Training leaves them out by default."""
        personal = {finding.column: finding for finding in self.pii}
        reasons: dict[str, str] = {}
        for name, column in self.columns.items():
            if name == self.target:
                continue
            if name in personal:
                reasons[name] = f"personal data: {personal[name].detail}"
            elif column.kind == "identifier":
                reasons[name] = "a unique identifier: nearly every row has its own value"
        return reasons

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data: numbers, strings, lists, dicts; NaN and infinity as None."""
        return _jsonable(asdict(self))

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as strict JSON (no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict` output (as stored with a run)."""
        values = dict(data)
        values["columns"] = {k: ColumnProfile(**v) for k, v in data["columns"].items()}
        values["leakage"] = [
            LeakageSuspect(**{**s, "partners": tuple(s.get("partners", ()))})
            for s in data.get("leakage", [])
        ]
        values["pii"] = [
            PiiFinding(**{**p, "examples": tuple(p["examples"])}) for p in data.get("pii", [])
        ]
        values["warnings"] = [ProfileWarning(**w) for w in data.get("warnings", [])]
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        return cls.from_dict(json.loads(text))

    def to_html(self) -> str:
        """A self-contained HTML report: inline CSS and SVG charts, no external resource."""
        from mlcycle.data._report import render_html

        return render_html(self)

    def save(self, path: str | Path) -> Path:
        """Write ``profile.html`` and ``profile.json`` into the folder ``path``; returns it."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "profile.json").write_text(self.to_json(indent=2), encoding="utf-8")
        (folder / "profile.html").write_text(self.to_html(), encoding="utf-8")
        return folder

    def render(self, console: Console | None = None) -> None:
        """Print a summary to a Rich console (a new one on stdout when None)."""
        from mlcycle.data._report import render_console

        render_console(self, console)


def profile(
    df: pd.DataFrame,
    target: str | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
) -> Profile:
    """Profile ``df``; with ``target``, also class balance, association and leakage.

    ``sample`` bounds the rows read by the model-based checks (association, leakage,
    personal data; default 100,000); every count and statistic uses all rows.

    >>> import mlcycle
    >>> p = mlcycle.data.profile(pd.DataFrame({"x": [1.0, 2.0, 2.0], "y": ["a", "b", "b"]}))
    >>> p.columns["x"].distinct, p.duplicate_rows
    (2, 1)
    """
    _check(df, target, sample, seed)
    from mlcycle._version import __version__
    from mlcycle.data._kinds import infer_kinds
    from mlcycle.data._pii import detect_pii

    n_sample = SAMPLE if sample is None else sample
    kinds = {str(c): k for c, k in infer_kinds(df).items()}
    pii = detect_pii(df, sample=min(n_sample, 5_000)) if len(df) else []
    pii_kind = {finding.column: finding.kind for finding in pii}
    notes: list[ProfileWarning] = []
    columns = {
        str(name): _column(df[name], str(name), kinds[str(name)], pii_kind.get(str(name)), notes)
        for name in df.columns
    }
    result = Profile(
        rows=len(df),
        n_columns=df.shape[1],
        memory_bytes=int(df.memory_usage(deep=True, index=True).sum()),
        duplicate_rows=0,
        duplicate_share=0.0,
        columns=columns,
        target=target,
        pii=pii,
        seed=seed,
        version=__version__,
    )
    _table(df, result, notes)
    if target is not None:
        _target(df, result, kinds, n_sample, seed, notes)
    result.warnings = notes
    return result


def _check(df: object, target: str | None, sample: int | None, seed: int) -> None:
    if not isinstance(df, pd.DataFrame):
        raise BadParameterError(
            f"profile() needs a pandas DataFrame. Got {type(df).__name__} instead."
        )
    if df.shape[1] == 0:
        raise DataError("The data has no columns: there is nothing to profile.")
    names = pd.Index([str(c) for c in df.columns])
    if names.has_duplicates:
        twice = names[names.duplicated()][0]
        raise DataError(f"Column names must be unique; '{twice}' appears more than once.")
    if target is not None and target not in df.columns:
        raise DataError(
            f"The target column '{target}' is not in the data. "
            f"Columns: {', '.join(map(str, df.columns))}."
        )
    if sample is not None and (not isinstance(sample, int) or sample < 100):
        raise BadParameterError(
            f"The 'sample' parameter of profile() must be an integer >= 100 or None. "
            f"Got {sample!r} instead."
        )
    if not isinstance(seed, int):
        raise BadParameterError(
            f"The 'seed' parameter of profile() must be an integer. Got {seed!r}."
        )


# -- one column ---------------------------------------------------------------------------


def _column(
    series: pd.Series, name: str, kind: str, pii: str | None, notes: list[ProfileWarning]
) -> ColumnProfile:
    n = len(series)
    present = series.dropna()
    count = len(present)
    counts = _value_counts(present)
    top_n = TOP if kind in _DISCRETE else 5
    column = ColumnProfile(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        count=count,
        missing=n - count,
        missing_share=_share(n - count, n),
        distinct=len(counts),
        top=[] if kind == "identifier" else _top(counts, count, top_n, pii),
        masked=pii is not None,
    )
    if count == 0:
        if n:
            _warn(notes, "all_missing", f"'{name}' has no values at all.", name)
        return column
    if column.missing_share >= MANY_MISSING:
        _warn(
            notes,
            "many_missing",
            f"'{name}' is missing in {column.missing_share:.0%} of rows.",
            name,
        )
    # personal numbers get no minimum, maximum or quantiles: each is someone's card or phone
    if pii is None and (
        kind in ("numeric", "integer_category")
        or (kind == "identifier" and pd.api.types.is_numeric_dtype(series.dtype))
    ):
        _numbers(column, present, kind, notes)
    elif kind == "datetime":
        column.datetime = _dates(present)
    elif kind in ("text", "identifier", "category"):
        lengths = present.astype(str).str.len().to_numpy(dtype=np.float64)
        column.text = {
            "min_length": float(lengths.min()),
            "mean_length": float(lengths.mean()),
            "max_length": float(lengths.max()),
        }
    mixed = _mixed_types(present, kind, pii is not None)
    if mixed:
        _warn(notes, "mixed_types", f"'{name}' {mixed}", name)
    return column


def _value_counts(present: pd.Series) -> pd.Series:
    """Count per distinct value (unsorted). Numbers and dates are sorted rather than hashed:
    several times faster on a million mostly distinct floats."""
    dtype = present.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiuM" and len(present):
        values = np.sort(present.to_numpy())
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        counts = np.diff(np.append(starts, len(values)))
        return pd.Series(counts, index=pd.Index(values[starts]))
    try:
        return present.value_counts(sort=False, dropna=True)
    except TypeError:  # unhashable values (lists, dicts): count their text
        return present.astype(str).value_counts(sort=False, dropna=True)


def _top(counts: pd.Series, count: int, k: int, pii: str | None) -> list[dict[str, Any]]:
    from mlcycle.data._pii import mask_value

    top = (
        counts.nlargest(k, keep="first")
        if len(counts) > k
        else counts.sort_values(ascending=False, kind="stable")
    )
    rows = []
    for value, n in top.items():
        shown = mask_value(value, pii) if pii is not None else _plain(value)
        rows.append({"value": shown, "count": int(n), "share": _share(int(n), count)})
    return rows


def _numbers(
    column: ColumnProfile, present: pd.Series, kind: str, notes: list[ProfileWarning]
) -> None:
    values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    infinite = int(np.isinf(values).sum())
    if infinite:
        _warn(
            notes,
            "infinite_values",
            f"'{column.name}' holds {infinite:,} infinite values; statistics ignore them.",
            column.name,
        )
    if finite.size == 0:
        return
    quantiles = np.quantile(finite, QUANTILES)
    with np.errstate(over="ignore", invalid="ignore"):  # |x| near 1e308: mean/std overflow
        stats: dict[str, float | None] = {
            "min": float(finite.min()),
            "max": float(finite.max()),
            "mean": float(finite.mean()),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else None,
        }
    stats.update(
        {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)}
    )
    stats["zeros"] = float(np.count_nonzero(finite == 0))
    stats["infinite"] = float(infinite)
    column.stats = stats
    if kind != "numeric":
        return
    edges = np.histogram_bin_edges(finite, bins=BINS if finite.min() < finite.max() else 1)
    counts, edges = np.histogram(finite, bins=edges)
    column.histogram = {"edges": edges.tolist(), "counts": counts.astype(float).tolist()}
    q1, q3 = quantiles[2], quantiles[4]
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    n_out = int(np.count_nonzero((finite < low) | (finite > high)))
    column.outliers = {
        "count": n_out,
        "share": _share(n_out, finite.size),
        "low": float(low),
        "high": float(high),
    }


def _dates(present: pd.Series) -> dict[str, Any] | None:
    parsed = as_datetime(present).dropna()
    if parsed.empty:
        return None
    values = parsed.to_numpy(dtype="datetime64[ns]")
    months = values.astype("datetime64[M]").astype(np.int64)
    first, last = int(months.min()), int(months.max())
    if last - first < MAX_PERIODS:
        counts = np.bincount(months - first)
        starts = np.datetime64(first, "M") + np.arange(len(counts))
        period, labels = "month", [str(s) for s in starts]
    else:
        years = values.astype("datetime64[Y]").astype(np.int64)
        step = max(1, math.ceil((int(years.max()) - int(years.min()) + 1) / MAX_PERIODS))
        base = int(years.min())
        counts = np.bincount((years - base) // step)
        labels = [str(1970 + base + i * step) for i in range(len(counts))]
        period = "year" if step == 1 else f"{step} years"
    return {
        "min": str(values.min().astype("datetime64[s]")),
        "max": str(values.max().astype("datetime64[s]")),
        "unparsed": int(len(present) - len(parsed)),
        "period": period,
        "labels": labels,
        "counts": counts.astype(float).tolist(),
    }


def _mixed_types(present: pd.Series, kind: str, masked: bool) -> str | None:
    """A sentence when a text/object column mixes types, else None (checks 10,000 values)."""
    dtype = present.dtype
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return None
    sample = present.sample(10_000, random_state=0) if len(present) > 10_000 else present
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(sample, skipna=True)
        if inferred in ("mixed", "mixed-integer"):
            types = sorted({type(v).__name__ for v in sample.iloc[:1000]})
            return f"mixes value types ({', '.join(types)}); read it as one type."
    if kind not in ("category", "text"):
        return None
    text = sample.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce").notna().to_numpy()
    share = float(numeric.mean())
    if not 0.5 <= share < 1.0:
        return None
    others = (
        ""
        if masked
        else ", e.g. "
        + ", ".join(repr(str(v)[:20]) for v in text[~numeric].value_counts().index[:3])
    )
    return (
        f"is {share:.0%} numbers and {1 - share:.0%} text{others}: placeholders for "
        "missing values, or a number column read as text."
    )


# -- the table ----------------------------------------------------------------------------


def _table(df: pd.DataFrame, result: Profile, notes: list[ProfileWarning]) -> None:
    if len(df):
        try:
            hashes = pd.util.hash_pandas_object(df, index=False)
        except TypeError:  # unhashable cells: hash their text
            hashes = pd.util.hash_pandas_object(df.astype(str), index=False)
        result.duplicate_rows = int(hashes.duplicated().sum())
        result.duplicate_share = _share(result.duplicate_rows, len(df))
    if result.duplicate_rows:
        _warn(
            notes,
            "duplicates",
            f"{result.duplicate_rows:,} rows ({result.duplicate_share:.1%}) repeat an earlier row.",
        )
    for name, column in result.columns.items():
        if column.count and column.distinct == 1:
            result.constant.append(name)
            _warn(notes, "constant", f"'{name}' has one value only.", name)
        elif column.count and column.top_share >= NEAR_CONSTANT:
            result.near_constant.append(name)
            _warn(notes, "near_constant", f"'{name}' is {column.top_share:.1%} one value.", name)
        if column.kind == "category" and column.distinct > HIGH_CARDINALITY:
            result.high_cardinality.append(name)
            _warn(
                notes,
                "high_cardinality",
                f"'{name}' has {column.distinct:,} categories; one-hot encoding it would "
                "be wide: the preparer uses target encoding.",
                name,
            )
        if column.outliers and column.outliers["count"]:
            result.outliers[name] = {
                "count": column.outliers["count"],
                "share": column.outliers["share"],
            }


def _target(
    df: pd.DataFrame,
    result: Profile,
    kinds: dict[str, str],
    n_sample: int,
    seed: int,
    notes: list[ProfileWarning],
) -> None:
    target = result.target
    assert target is not None
    series = df[target]
    kind = kinds[str(target)]
    task = task_of(series, kind)
    result.task = task
    missing = int(series.isna().sum())
    if missing:
        _warn(
            notes,
            "target_missing",
            f"The target '{target}' is missing in {missing:,} rows; they are left out of "
            "association and leakage checks.",
            str(target),
        )
    if task is None:
        _warn(
            notes,
            "target_kind",
            f"The target '{target}' is {kind}, neither classes nor numbers: no class "
            "balance, association or leakage check.",
            str(target),
        )
        return
    column = result.columns[str(target)]
    if task == "regression":
        values = pd.to_numeric(series, errors="coerce").dropna()
        summary = {"task": task, "missing": missing, "skew": _finite(values.skew())}
        summary.update(column.stats or {})
    else:
        counts = series.value_counts(dropna=True)
        known = int(counts.sum())
        classes = [
            {"value": _plain(v), "count": int(c), "share": _share(int(c), known)}
            for v, c in counts.items()
        ]
        ratio = float(counts.iloc[0] / counts.iloc[-1]) if len(counts) else None
        summary = {
            "task": task,
            "missing": missing,
            "classes": classes,
            "majority_share": classes[0]["share"] if classes else None,
            "minority_share": classes[-1]["share"] if classes else None,
            "imbalance_ratio": ratio,
        }
        if len(counts) == 1:
            _warn(
                notes,
                "target_single_class",
                f"The target '{target}' has one class only: nothing to learn.",
                str(target),
            )
        elif ratio is not None and ratio >= IMBALANCE_RATIO:
            _warn(
                notes,
                "class_imbalance",
                f"The target is imbalanced: the largest class is {ratio:.0f}x the smallest "
                f"({classes[-1]['value']!s}: {classes[-1]['count']:,} rows).",
                str(target),
            )
    result.target_summary = summary
    frame = sample_rows(df, target, n_sample, seed)
    result.sample_rows = len(frame)
    result.association = association(frame, str(target), kinds, task, seed=seed)
    result.association_method = _ASSOCIATION_METHOD[
        "regression" if task == "regression" else "classification"
    ]
    for name, value in result.association.items():
        result.columns[name].association = value
    result.leakage = leakage_suspects(
        frame, target, kinds, task=task, sample=n_sample, seed=seed, associations=result.association
    )


# -- helpers ------------------------------------------------------------------------------


def _warn(notes: list[ProfileWarning], code: str, message: str, column: str | None = None) -> None:
    notes.append(ProfileWarning(code, message, column))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A value as JSON would hold it; long text shortened."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    return _plain(value)
