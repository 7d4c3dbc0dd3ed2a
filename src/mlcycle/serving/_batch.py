"""Batch scoring of files: read in chunks, check every row, score the good ones, list the bad.

``predict_file("churn@production", "new.csv", "scored.parquet")`` reads CSV, TSV, Parquet
or JSON lines ``chunk_rows`` rows at a time, so memory holds one chunk whatever the file's
size. The file's columns are checked first, before anything is read or written: a required
column absent, or present under another case or spacing (``Age`` for ``age``), refuses the
whole file (:class:`SchemaError`, naming it). The file's other columns are carried to the
output, never given to the model. Each chunk is then checked once with
:meth:`Schema.screen`, by the same per-row rules as the server's :class:`CompiledSchema`;
the rows that pass are scored by the bundle's own model with its decision threshold
(:meth:`ServedModel.predict_frame`, as the server does). A bad row is never dropped
silently: each of its issues is a line of ``<output stem>.errors.csv`` (1-based data row,
column, code, message) and :class:`BatchReport` counts the rows refused.

Values reach the schema as they are in the file. CSV cells are read as text and the
schema's type decides: a number column parses its cells and keeps the ones that do not
parse as text, so ``abc`` is reported as "'abc' is not a number" instead of becoming NaN.
Input columns are copied to the output as read (text from CSV, the file's own types from
Parquet), followed by ``prediction`` and, for classifiers, ``proba_<class>`` per class.

The output and the errors file are written under temporary names in the output's folder
and renamed into place at the end: an interrupted or failed run never leaves a half file
under the final name. A run with no bad rows removes a stale errors file of that name.
Reading and writing files a chunk at a time is :mod:`mlcycle.serving._batch_io`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from mlcycle.exceptions import BadParameterError, DataError, SchemaError
from mlcycle.serving._batch_io import (
    ErrorsSink,
    FileSink,
    MemorySink,
    Sink,
    Source,
    check_duplicates,
    errors_path,
    input_format,
    open_source,
    output_format,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from rich.console import Console

    from mlcycle.registry import Workspace
    from mlcycle.schema import Issue
    from mlcycle.serving._model import Outputs, ServedModel

__all__ = ["CHUNK_ROWS", "BatchReport", "predict", "predict_file"]

CHUNK_ROWS = 50_000
"""Rows read, checked and scored at a time by default."""

_SHOWN = 5  # issues quoted when --strict stops a run


@dataclass(frozen=True)
class BatchReport:
    """What a batch scoring run did: rows read, scored and refused, files written, time."""

    model: str
    version: int
    rows_in: int
    rows_scored: int
    rows_refused: int
    output: Path
    errors: Path | None
    """The errors file, or None when no row was refused."""
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dictionary (``mlcycle predict --json``)."""
        return {
            "model": self.model,
            "version": self.version,
            "rows_in": self.rows_in,
            "rows_scored": self.rows_scored,
            "rows_refused": self.rows_refused,
            "output": str(self.output),
            "errors": None if self.errors is None else str(self.errors),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


# -- entry points ----------------------------------------------------------------------------


def predict_file(
    ref: str,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    keep: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    strict: bool = False,
    progress: bool = False,
    console: Console | None = None,
    workspace: Workspace | None = None,
) -> BatchReport:
    """Score a file with a registered model into ``output``, in chunks.

    ``ref`` is ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME``; the output's format follows its
    suffix (.csv, .tsv, .parquet, .jsonl). ``keep`` copies only these input columns (default:
    all). Rows that break the model's schema are left out of the output and listed in
    ``<output stem>.errors.csv``; with ``strict=True`` the first bad row stops the run and
    nothing is written. ``progress`` shows a progress bar on ``console`` (stderr).

    >>> report = predict_file("churn@production", "new.csv", "scored.parquet")  # doctest: +SKIP
    >>> report.rows_refused, report.errors  # doctest: +SKIP
    (2, PosixPath('scored.errors.csv'))
    """
    started = time.perf_counter()
    out = Path(output).expanduser()
    fmt = output_format(out)
    _check_chunk_rows(chunk_rows, "predict_file")
    path = _input_path(source)
    _check_paths(path, out)
    served = _load_model(ref, workspace)
    with open_source(path, served.schema, chunk_rows) as reader:
        plan = _Plan.build(served, reader.names, reader.where, keep)
        sink = FileSink(out, fmt, plan.dictionary)
        errors = ErrorsSink(errors_path(out))
        try:
            counts = _score(served, reader, plan, sink, errors, strict, progress, console)
            errors.commit()  # first: the output appearing is the sign that the run is done
            sink.commit()
        finally:
            sink.discard()
            errors.discard()
    return BatchReport(
        served.name,
        served.version,
        counts.rows_in,
        counts.rows_scored,
        counts.rows_in - counts.rows_scored,
        out,
        errors.path if counts.rows_in > counts.rows_scored else None,
        time.perf_counter() - started,
    )


@overload
def predict(
    ref: str,
    data: str | os.PathLike[str] | pd.DataFrame,
    output: None = None,
    *,
    keep: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    strict: bool = False,
    progress: bool = False,
    console: Console | None = None,
    workspace: Workspace | None = None,
) -> pd.DataFrame: ...


@overload
def predict(
    ref: str,
    data: str | os.PathLike[str] | pd.DataFrame,
    output: str | os.PathLike[str],
    *,
    keep: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    strict: bool = False,
    progress: bool = False,
    console: Console | None = None,
    workspace: Workspace | None = None,
) -> BatchReport: ...


def predict(
    ref: str,
    data: str | os.PathLike[str] | pd.DataFrame,
    output: str | os.PathLike[str] | None = None,
    *,
    keep: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    strict: bool = False,
    progress: bool = False,
    console: Console | None = None,
    workspace: Workspace | None = None,
) -> pd.DataFrame | BatchReport:
    """Score a file or a DataFrame with a registered model; ``mlcycle.predict``.

    With ``output``, ``data`` is a file and this is :func:`predict_file`, returning its
    :class:`BatchReport`. Without, it returns a DataFrame: the input's columns (or ``keep``),
    ``prediction`` and ``proba_<class>`` per class, with a DataFrame's own index. In memory
    there is no errors file, so any bad row raises :class:`SchemaError` naming it (positions
    for a DataFrame, 1-based data rows for a file).

    >>> scores = mlcycle.predict("churn@production", new_customers)  # doctest: +SKIP
    """
    import pandas as pd

    if output is not None:
        if isinstance(data, pd.DataFrame):
            raise DataError(
                "predict() writes files from files. To save a DataFrame's scores, score it in "
                "memory (leave output out) and write the result: .to_parquet(path)."
            )
        return predict_file(
            ref,
            data,
            output,
            keep=keep,
            chunk_rows=chunk_rows,
            strict=strict,
            progress=progress,
            console=console,
            workspace=workspace,
        )
    _check_chunk_rows(chunk_rows, "predict")
    if isinstance(data, pd.DataFrame):
        return _predict_frame(ref, data, keep, workspace)
    path = _input_path(data)
    served = _load_model(ref, workspace)
    with open_source(path, served.schema, chunk_rows) as reader:
        plan = _Plan.build(served, reader.names, reader.where, keep)
        sink = MemorySink()
        _score(served, reader, plan, sink, None, True, progress, console)
    return sink.frame()


def _predict_frame(
    ref: str, data: pd.DataFrame, keep: Sequence[str] | None, workspace: Workspace | None
) -> pd.DataFrame:
    served = _load_model(ref, workspace)
    names = [str(c) for c in data.columns]
    plan = _Plan.build(served, names, "the DataFrame", keep)
    if len(data) == 0:
        raise DataError("The DataFrame has no rows. Expected at least one row to score.")
    position = {name: i for i, name in enumerate(names)}
    features = data.iloc[:, [position[f] for f in plan.features]]
    features.columns = plan.features
    outputs = served.predict_frame(served.schema.coerce(features))
    result = data.iloc[:, [position[c] for c in plan.keep]].copy()
    result.columns = plan.keep
    for name, values in plan.scores(outputs):
        result[name] = values
    return result


# -- checks before any work ------------------------------------------------------------------


def _input_path(source: str | os.PathLike[str]) -> Path:
    if not isinstance(source, str | os.PathLike):
        raise DataError(
            "The 'data' to score must be a file path or a pandas DataFrame. "
            f"Got {type(source).__name__} instead."
        )
    path = Path(source).expanduser()
    input_format(path)
    if not path.exists():
        raise DataError(
            f"File '{path}' does not exist. Expected a CSV, TSV, Parquet or JSON lines file: "
            "check the path and the current directory."
        )
    if not path.is_file():
        raise DataError(f"'{path}' is not a file (a directory?). Pass the path of one data file.")
    if path.stat().st_size == 0:
        raise DataError(
            f"File '{path}' is empty (0 bytes). Expected a header row and at least one row "
            "of data: check that the export finished."
        )
    return path


def _check_paths(source: Path, out: Path) -> None:
    for target, what in ((out, "output"), (errors_path(out), "errors file")):
        same = target.resolve() == source.resolve()
        if not same and target.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(target, source)
        if same:
            raise DataError(
                f"The {what} '{target}' is the input file; scoring would overwrite the data "
                "it reads. Write the scores to another file."
            )
    if not out.parent.is_dir():
        raise DataError(f"The output folder '{out.parent}' does not exist; create it first.")


def _check_chunk_rows(chunk_rows: object, function: str) -> None:
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise DataError(
            f"The 'chunk_rows' parameter of {function}() must be a whole number of rows > 0. "
            f"Got {chunk_rows!r} instead."
        )


def _load_model(ref: str, workspace: Workspace | None) -> ServedModel:
    from mlcycle.registry import get_workspace, parse_model_ref, resolve_version
    from mlcycle.serving._model import load_served_model

    ws = workspace or get_workspace()
    parsed = parse_model_ref(ref)
    version = resolve_version(parsed, ws)
    return load_served_model(parsed.name, version, ws, engine="native", one_thread=False)


@dataclass
class _Plan:
    """Which input columns are checked and copied, and how the prediction columns look."""

    features: list[str]
    keep: list[str]
    classes: list[Any] | None
    prediction_type: pa.DataType
    dictionary: list[str]
    """Output columns with few distinct values: the kept category and boolean features, and
    a classifier's prediction."""

    @classmethod
    def build(
        cls, served: ServedModel, names: list[str], where: str, keep: Sequence[str] | None
    ) -> _Plan:
        """Refuse what would fail for the whole file before anything is read or written."""
        import pandas as pd
        import pyarrow as pa

        schema = served.schema
        check_duplicates(names, where)
        try:  # no rows: only whole-column issues (a required column absent, a misspelt one)
            empty = pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
            schema.validate(empty, carried=True)
        except SchemaError as exc:
            raise SchemaError(f"Cannot score {where}: {exc}") from None
        if keep is None:
            kept = list(names)
        else:
            if isinstance(keep, str) or not all(isinstance(k, str) for k in keep):
                raise DataError(f"'keep' must be a list of column names. Got {keep!r} instead.")
            kept = list(dict.fromkeys(keep))
            absent = [k for k in kept if k not in names]
            if absent:
                raise BadParameterError(
                    f"Cannot keep {', '.join(map(repr, absent))}: not a column of {where}. "
                    f"Its columns: {', '.join(names)}."
                )
        classes = served.classes
        added = ["prediction", *(f"proba_{c}" for c in classes or [])]
        clash = [name for name in added if name in kept]
        if clash:
            raise DataError(
                f"{where} already has a column {clash[0]!r}, which the scores would repeat. "
                "Rename it, or choose the columns to copy with keep (--keep)."
            )
        kind = pa.float64() if classes is None else pa.array(classes).type
        present = set(names)
        features = [f for f in schema.feature_names if f in present]
        known = {c.name: c.dtype for c in schema.columns}
        dictionary = [k for k in kept if known.get(k) in ("category", "boolean")]
        dictionary += ["prediction"] if classes is not None else []
        return cls(features, kept, classes, kind, dictionary)

    def scores(self, outputs: Outputs | None) -> list[tuple[str, Any]]:
        """The prediction columns as (name, array); empty arrays when ``outputs`` is None."""
        import numpy as np

        from mlcycle.serving._model import Outputs

        if outputs is None:
            width = len(self.classes or [])
            outputs = Outputs(np.array([]), None if self.classes is None else np.empty((0, width)))
        columns = [("prediction", outputs.predictions)]
        if self.classes is not None and outputs.probabilities is not None:
            probabilities = outputs.probabilities
            columns += [(f"proba_{c}", probabilities[:, k]) for k, c in enumerate(self.classes)]
        return columns

    def arrow_scores(self, outputs: Outputs | None) -> list[tuple[str, pa.Array]]:
        """:meth:`scores` as Arrow arrays of fixed types, so every chunk writes alike."""
        import pyarrow as pa

        return [
            (
                name,
                pa.array(
                    values, type=self.prediction_type if name == "prediction" else pa.float64()
                ),
            )
            for name, values in self.scores(outputs)
        ]


# -- scoring ---------------------------------------------------------------------------------


@dataclass
class _Counts:
    rows_in: int = 0
    rows_scored: int = 0


def _score(
    served: ServedModel,
    reader: Source,
    plan: _Plan,
    sink: Sink,
    errors: ErrorsSink | None,
    strict: bool,
    progress: bool,
    console: Console | None,
) -> _Counts:
    """Check, score and write every chunk; bad rows go to ``errors`` (or stop a strict run)."""
    import pyarrow as pa

    schema, counts = served.schema, _Counts()
    order = {name: i for i, name in enumerate(schema.feature_names)}
    with _progress(progress, console, reader) as advance:
        for chunk in reader.chunks():
            n = chunk.table.num_rows
            screened = schema.screen(chunk.features)  # one pass: verdicts, then typed rows
            issues = sorted(
                screened.issues, key=lambda i: (i.row or 0, order.get(i.column or "", -1))
            )
            table, features = chunk.table, screened.frame
            if issues:
                lines = [_error_line(issue, counts.rows_in) for issue in issues]
                if strict or errors is None:
                    raise SchemaError(_strict_message(reader.where, lines))
                errors.write(lines)
                table = table.take(pa.array(screened.accepted))
            outputs = served.predict_frame(features) if len(features) else None
            scores = plan.arrow_scores(outputs)
            arrays = [table[name] for name in plan.keep] + [array for _, array in scores]
            names = plan.keep + [name for name, _ in scores]
            sink.write(pa.Table.from_arrays(arrays, names=names))
            counts.rows_in += n
            counts.rows_scored += table.num_rows
            advance(reader.done(counts.rows_in), counts.rows_in)
    if counts.rows_in == 0:
        raise DataError(
            f"{reader.where} has columns ({', '.join(reader.names)}) but no rows. Expected at "
            "least one row to score: check that the right file was given."
        )
    return counts


def _error_line(issue: Issue, offset: int) -> tuple[int, str, str, str]:
    """One line of the errors file: the file's 1-based data row, not the chunk's position."""
    assert issue.row is not None  # whole-column issues were refused by _Plan.build
    prefix = f"Row {issue.row}, column '{issue.column}': " if issue.column else f"Row {issue.row}: "
    message = issue.message.removeprefix(prefix)
    return offset + issue.row + 1, issue.column or "", issue.code, message


def _strict_message(where: str, lines: list[tuple[int, str, str, str]]) -> str:
    shown = "; ".join(
        f"row {row}" + (f", column '{column}'" if column else "") + f": {message.rstrip('.')}"
        for row, column, _, message in lines[:_SHOWN]
    )
    more = f" (and {len(lines) - _SHOWN} more in this chunk)" if len(lines) > _SHOWN else ""
    return (
        f"{where} has rows the model refuses: {shown}{more}. In strict mode one bad row stops "
        "the run and nothing is written; without it the good rows are scored and the bad ones "
        "listed in an errors file."
    )


@contextlib.contextmanager
def _progress(
    enabled: bool, console: Console | None, reader: Source
) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr: rows done, and a share of the file when its size is known.

    Shown on a terminal (or in a notebook) only: a log file gets the summary, not the bar.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if not enabled or not (console.is_terminal or console.is_jupyter):
        yield lambda done, rows: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]scoring[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=reader.total, rows=0)

        def advance(done: int, rows: int) -> None:
            total = bar.tasks[0].total
            bar.update(task, completed=done, rows=rows, total=max(total or 0, done) or None)

        yield advance
