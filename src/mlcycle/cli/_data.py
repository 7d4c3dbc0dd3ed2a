"""Data verbs: profile, validate, anonymize."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcycle.cli._app import DecimalMark, _emit_json, _errors, app, err, out, shown
from mlcycle.exceptions import BadParameterError, NotFoundError


def _show_warnings(frame: object) -> None:
    """Print what the loader noticed but did not refuse (mixed types, missing targets, ...)."""
    for note in getattr(frame, "attrs", {}).get("mlcycle_warnings", []):
        err.print(f"[yellow]warning:[/] {shown(note)}", soft_wrap=True)


DataPath = Annotated[Path, typer.Argument(help="CSV, TSV, Parquet or JSON lines file.")]


@app.command(rich_help_panel="Data")
@_errors
def profile(
    data: DataPath,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Target column.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")] = None,
    experiment: Annotated[
        str, typer.Option("--experiment", "-e", help="Record the profile in a run here.")
    ] = "profiles",
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not record a run.")] = False,
    decimal: DecimalMark = None,
) -> None:
    """Profile a table: columns, quality warnings, leakage and personal-data suspects."""
    import tempfile

    from mlcycle.data import fingerprint, load
    from mlcycle.data import profile as make_profile

    frame = load(data, target=target, decimal=decimal)
    _show_warnings(frame)
    result = make_profile(frame, target=target)
    result.render(out)
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")
        out.print(f"HTML report: {shown(html)}")
    if json_out is not None:
        json_out.write_text(result.to_json(), encoding="utf-8")
        out.print(f"JSON: {shown(json_out)}")
    if not no_log:
        from mlcycle.registry import start_run

        with start_run(experiment=experiment, name=data.stem) as run:
            run.log_params(
                {
                    "data.path": str(data.resolve()),
                    "data.fingerprint": fingerprint(frame),
                    "data.rows": len(frame),
                    "data.columns": frame.shape[1],
                    "target": target or "",
                }
            )
            with tempfile.TemporaryDirectory() as tmp:
                result.save(Path(tmp))
                run.log_artifact(Path(tmp), "profile")
        out.print(f"Recorded as run {run.id} (experiment {shown(experiment)}).")


@app.command(rich_help_panel="Data")
@_errors
def validate(
    data: DataPath,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="schema.json of a model.")
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", "-r", help="rules.yaml.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    decimal: DecimalMark = None,
) -> None:
    """Check a table against a schema and rules; exit code 1 on failure (a CI gate)."""
    from mlcycle.data import load, load_rules
    from mlcycle.data import validate as run_validation
    from mlcycle.schema import Schema

    if schema is None and rules is None:
        raise BadParameterError("validate needs --schema, --rules or both.")
    frame = load(data, decimal=decimal)
    _show_warnings(frame)
    parsed_schema = None
    if schema is not None:
        try:
            parsed_schema = Schema.from_json(schema.read_text(encoding="utf-8"))
        except OSError as exc:
            raise NotFoundError(f"Cannot read the schema {schema}: {exc.strerror}.") from exc
    parsed_rules = load_rules(rules) if rules is not None else None
    report = run_validation(frame, parsed_schema, parsed_rules)
    if as_json:
        _emit_json(report.to_dict())
    else:
        report.render(out)
    if not report.passed:
        raise typer.Exit(1)


@app.command(rich_help_panel="Data")
@_errors
def anonymize(
    data: DataPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result.")],
    plan: Annotated[
        list[str] | None,
        typer.Option("--plan", "-p", help="COLUMN=ACTION (drop, hash, mask, generalize, keep)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    decimal: DecimalMark = None,
) -> None:
    """Drop, hash (HMAC), mask or generalise personal data; report what changed."""
    from mlcycle.data import anonymize as run_anonymize
    from mlcycle.data import load

    actions: dict[str, str] = {}
    for item in plan or []:
        column, sep, action = item.partition("=")
        if not sep or not column or not action:
            raise BadParameterError(
                f"--plan {item!r} must look like COLUMN=ACTION, e.g. email=hash."
            )
        actions[column] = action
    frame = load(data, decimal=decimal)
    _show_warnings(frame)
    result, report = run_anonymize(frame, actions or None)
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        result.to_parquet(output, index=False)
    elif suffix in (".csv", ".tsv", ".txt"):
        result.to_csv(output, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise BadParameterError(f"Output {output} must end in .csv, .tsv or .parquet.")
    if as_json:
        _emit_json(report.to_dict())
    else:
        report.render(out)
        out.print(f"Wrote {len(result):,} rows to {shown(output)}.")
