"""Run verbs: experiments, runs, run show, compare, delete-run."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.table import Table

from mlcycle.cli._app import (
    _STATUS_STYLE,
    JsonFlag,
    _emit_json,
    _errors,
    _fmt,
    _when,
    _workspace,
    app,
    out,
    run_app,
    shown,
)
from mlcycle.exceptions import BadParameterError


# -- runs ---------------------------------------------------------------------------------
@app.command(rich_help_panel="Runs")
@_errors
def experiments(as_json: JsonFlag = False) -> None:
    """List experiments."""
    items = _workspace().store.list_experiments()
    if as_json:
        _emit_json([{"id": e.id, "name": e.name, "created_at": e.created_at} for e in items])
        return
    table = Table(title="Experiments")
    for col in ("id", "name", "created"):
        table.add_column(col)
    for e in items:
        table.add_row(str(e.id), shown(e.name), _when(e.created_at))
    out.print(table)


@app.command(rich_help_panel="Runs")
@_errors
def runs(
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Only these experiments.")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.family = 'lgbm'\""
        ),
    ] = None,
    sort: Annotated[
        list[str] | None, typer.Option("--sort", "-s", help="e.g. 'metrics.auc DESC'.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted runs.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List runs, filtered and sorted."""
    from mlcycle.registry import search_runs

    found = search_runs(experiment, filter, sort, max_results=limit, include_deleted=deleted)
    if as_json:
        _emit_json([r.to_dict() for r in found])
        return
    metric_keys = sorted({k for r in found for k in r.metrics})[:6]
    param_keys = sorted({k for r in found for k in r.params})[:4]
    table = Table(title=f"Runs ({len(found)})")
    for col in ("id", "name", "experiment", "status", "started", "duration"):
        table.add_column(col, no_wrap=col == "id")
    for key in param_keys:
        table.add_column(f"params.{shown(key)}", style="magenta")
    for key in metric_keys:
        table.add_column(f"metrics.{shown(key)}", justify="right", style="cyan")
    for r in found:
        status = f"[{_STATUS_STYLE.get(r.status, 'white')}]{shown(r.status)}[/]"
        if r.deleted:
            status += " [dim](deleted)[/]"
        table.add_row(
            r.id[:12],
            shown(r.name),
            shown(r.experiment),
            status,
            _when(r.start_time),
            "-" if r.duration_s is None else f"{r.duration_s:.1f}s",
            *(_fmt(r.params.get(k)) for k in param_keys),
            *(_fmt(r.metrics.get(k)) for k in metric_keys),
        )
    out.print(table)


def _find_run(run_id: str) -> Any:
    """A run by full id or by a unique prefix of at least 6 hex characters."""
    import re

    from mlcycle.exceptions import NotFoundError

    store = _workspace().store
    try:
        return store.get_run(run_id)
    except NotFoundError:
        if len(run_id) < 6 or not re.fullmatch(r"[0-9a-f]+", run_id):
            raise
        page = store.search_runs(filter=f"id like '{run_id}%'", max_results=2, include_deleted=True)
        if len(page.runs) > 1:
            raise BadParameterError(
                f"Run id prefix '{run_id}' is ambiguous; give more characters."
            ) from None
        if len(page.runs) == 1:
            return store.get_run(page.runs[0].id)
        raise


@run_app.command("show")
@_errors
def run_show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: JsonFlag = False,
) -> None:
    """Show one run: attributes, params, metrics, tags, artifacts and child runs."""
    store = _workspace().store
    run = _find_run(run_id)
    artifacts = store.list_artifacts(run.id)
    children = store.search_runs(
        filter=f"parent_run_id = '{run.id}'", max_results=1000, include_deleted=True
    ).runs
    if as_json:
        data = run.to_dict()
        data["artifacts"] = [
            {"path": a.path, "digest": a.digest, "size": a.size} for a in artifacts
        ]
        data["children"] = [c.id for c in children]
        _emit_json(data)
        return
    style = _STATUS_STYLE.get(run.status, "white")
    out.print(
        f"[bold]Run {run.id}[/]  {shown(run.name)}  [{style}]{shown(run.status)}[/]"
        + ("  [dim](deleted)[/]" if run.deleted else "")
    )
    out.print(
        f"experiment {shown(run.experiment)}  user {shown(run.user)}  "
        f"started {_when(run.start_time)}  "
        f"ended {_when(run.end_time)}"
    )
    if run.parent_run_id:
        out.print(f"parent {shown(run.parent_run_id)}")
    if run.error:
        out.print(f"[red]error:[/] {shown(run.error)}")
    for title, items in (("Params", run.params), ("Metrics", run.metrics), ("Tags", run.tags)):
        if items:
            table = Table(title=title, show_header=False)
            for key in sorted(items):
                table.add_row(shown(key), _fmt(items[key]))
            out.print(table)
    if artifacts:
        table = Table(title="Artifacts")
        for col in ("path", "size", "sha256"):
            table.add_column(col)
        for a in artifacts:
            table.add_row(shown(a.path), f"{a.size:,}", a.digest[:16])
        out.print(table)
    if children:
        out.print(
            f"{len(children)} child run(s): {', '.join(c.id[:12] for c in children[:10])}"
            + (" ..." if len(children) > 10 else "")
        )


@app.command(rich_help_panel="Runs")
@_errors
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    as_json: JsonFlag = False,
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted."""
    if len(run_ids) < 2:
        raise BadParameterError("compare needs at least two run ids.")
    found = [_find_run(r) for r in run_ids]
    if as_json:
        _emit_json([r.to_dict() for r in found])
        return
    table = Table(title="Compare runs")
    table.add_column("")
    for r in found:
        table.add_column(f"{shown(r.name)}\n{r.id[:12]}", justify="right")
    table.add_row("status", *(shown(r.status) for r in found))
    for kind in ("params", "metrics"):
        keys = sorted({k for r in found for k in getattr(r, kind)})
        for key in keys:
            values = [getattr(r, kind).get(key) for r in found]
            cells = [_fmt(v) for v in values]
            differ = len(set(cells)) > 1
            if kind == "metrics" and differ:
                numbers = [v for v in values if isinstance(v, float) and not math.isnan(v)]
                best = max(numbers) if numbers else None
                cells = [
                    f"[bold]{s}[/]" if v == best else s for s, v in zip(cells, values, strict=True)
                ]
            label = f"{kind}.{shown(key)}"
            table.add_row(f"[yellow]{label}[/]" if differ else label, *cells)
    out.print(table)


@app.command("delete-run", rich_help_panel="Runs")
@_errors
def delete_run(run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]) -> None:
    """Soft-delete a run and its child runs; `mlcycle gc` reclaims them."""
    ws = _workspace()
    run = _find_run(run_id)
    ws.store.delete_run(run.id, actor=ws.settings.user)
    out.print(f"Deleted run {run.id} (soft). `mlcycle gc` reclaims its storage.")
