"""Batch scoring: ``mlcycle predict NAME@ALIAS data.csv -o scored.parquet``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcycle.cli._app import JsonFlag, _emit_json, _errors, app, err, out, shown


@app.command(rich_help_panel="Serve")
@_errors
def predict(
    model: Annotated[
        str, typer.Argument(help="The model: NAME@ALIAS, NAME/VERSION or NAME (latest).")
    ],
    data: Annotated[Path, typer.Argument(help="CSV, TSV, Parquet or JSON lines file to score.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write: .csv, .tsv, .parquet or .jsonl."),
    ],
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Copy only this input column (repeatable; default: all)."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows read, checked and scored at a time.")
    ] = 50_000,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first bad row and write nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Score a file in chunks with the server's checks; bad rows go to OUT's errors file.

    Exit code 0 when every row was scored; 1 when the file breaks the model's schema: some
    rows were refused (each is listed in <OUT stem>.errors.csv with its row, column and
    reason), a required column is absent or misspelt, or --strict met a bad row (then
    nothing is written); 2 for any other error (no such model, unreadable file, ...).
    """
    from mlcycle.exceptions import SchemaError
    from mlcycle.serving import predict_file

    try:
        report = predict_file(
            model,
            data,
            output,
            keep=keep,
            chunk_rows=chunk_rows,
            strict=strict,
            progress=not (quiet or as_json),
            console=err,
        )
    except SchemaError as exc:  # the input's fault, like refused rows: exit 1, not 2
        err.print(f"[bold red]error:[/] {shown(exc)}", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        _emit_json(report.to_dict())
    else:
        line = (
            f"Scored {report.rows_scored:,} of {report.rows_in:,} rows with {shown(report.model)} "
            f"v{report.version} in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)"
            f" → {shown(report.output)}"
        )
        if report.rows_refused:
            refused = "1 row" if report.rows_refused == 1 else f"{report.rows_refused:,} rows"
            line += f"; [bold yellow]{refused} refused[/], listed in {shown(report.errors)}"
        out.print(line + ".", soft_wrap=True)
    if report.rows_refused:
        raise typer.Exit(1)
