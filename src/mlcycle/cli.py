"""The ``mlcycle`` command line: thin verbs that parse, call the SDK and render.

Every error mlcycle raises on purpose becomes one red line and exit code 2; listings
print a Rich table for people and JSON with ``--json`` for scripts.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mlcycle._version import __version__
from mlcycle.exceptions import MlcycleError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="mlcycle",
    help="From a table of data to a model that is trained, explained, versioned, served, "
    "monitored and retrained.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The metadata database: schema version and migrations.")
run_app = typer.Typer(help="One run: show it.")
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _errors(fn: F) -> F:
    """Turn MlcycleError into one red line and exit code 2; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlcycleError as exc:
            err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err.print("[red]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("MLCYCLE_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}. This is a bug in "
                "mlcycle; run again with MLCYCLE_DEBUG=1 for the traceback and report it.",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _workspace() -> Any:
    from mlcycle.registry import get_workspace

    return get_workspace()


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return "-" if value is None else str(value)


_STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"mlcycle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """mlcycle: track, register, serve and retrain models with safe defaults."""


# -- workspace ----------------------------------------------------------------------------
_CONFIG_TEMPLATE = """\
# mlcycle settings; environment variables (MLCYCLE_*) take precedence.
# db_url = "postgresql+psycopg://user@localhost/mlcycle"   # default: SQLite in this folder
# artifacts = "s3://bucket/mlcycle"                         # default: ./artifacts here
# metric_batch_size = 1000
"""


@app.command()
@_errors
def init() -> None:
    """Create the workspace: folder, config file template, metadata store and artifact store."""
    ws = _workspace()
    home = ws.ensure_home()
    config = home / "config.toml"
    if not config.exists():
        config.write_text(_CONFIG_TEMPLATE)
    revision = ws.store.schema_version()
    ws.artifacts.ensure()
    out.print(f"[green]Workspace ready[/] at {home}")
    out.print(f"  metadata:  {ws.settings.redacted_db_url()} (schema {revision})")
    out.print(f"  artifacts: {ws.settings.artifacts_url}")
    out.print(f"  config:    {config}")


@app.command()
@_errors
def doctor(as_json: JsonFlag = False) -> None:
    """Print the settings in force, the schema version and whether each backend is reachable."""
    ws = _workspace()
    s = ws.settings
    checks: dict[str, dict[str, Any]] = {}
    try:
        current, head = ws.database_revision()
        checks["database reachable"] = {
            "ok": current == head,
            "detail": f"schema {current or 'empty'} (this mlcycle: {head})"
            + ("" if current == head else "; run: mlcycle db upgrade" if current else ""),
        }
    except MlcycleError as exc:
        checks["database reachable"] = {"ok": False, "detail": str(exc)}
    try:
        ws.artifacts.check_reachable()
        checks["artifact store reachable"] = {"ok": True, "detail": "read and write ok"}
    except MlcycleError as exc:
        checks["artifact store reachable"] = {"ok": False, "detail": str(exc)}
    settings = {
        "version": __version__,
        "home": str(s.home),
        "db_url": s.redacted_db_url(),
        "artifacts": s.artifacts_url,
        "config_file": str(s.config_file) if s.config_file else None,
        "user": s.user,
    }
    ok = all(c["ok"] for c in checks.values())
    if as_json:
        _emit_json({"settings": settings, "checks": checks, "ok": ok})
    else:
        table = Table(title="mlcycle doctor", show_header=False)
        for key, value in settings.items():
            table.add_row(key, _fmt(value))
        for name, check in checks.items():
            mark = "[green]ok[/]" if check["ok"] else "[red]FAILED[/]"
            table.add_row(name, f"{mark} {check['detail']}")
        out.print(table)
    if not ok:
        raise typer.Exit(1)


@db_app.command("upgrade")
@_errors
def db_upgrade() -> None:
    """Migrate the metadata database to this mlcycle's schema (back it up first)."""
    before, after = _workspace().upgrade_database()
    if before == after:
        out.print(f"Schema already at {after}; nothing to do.")
    else:
        out.print(f"[green]Upgraded[/] schema {before or 'empty'} -> {after}")


@db_app.command("current")
@_errors
def db_current() -> None:
    """Print the database's schema revision and the one this mlcycle writes."""
    current, head = _workspace().database_revision()
    out.print(f"database: {current or 'empty'}   mlcycle: {head}")


# -- runs ---------------------------------------------------------------------------------
@app.command()
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
        table.add_row(str(e.id), e.name, _when(e.created_at))
    out.print(table)


@app.command()
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
        table.add_column(f"params.{key}", style="magenta")
    for key in metric_keys:
        table.add_column(f"metrics.{key}", justify="right", style="cyan")
    for r in found:
        status = f"[{_STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]"
        if r.deleted:
            status += " [dim](deleted)[/]"
        table.add_row(
            r.id[:12],
            r.name,
            r.experiment,
            status,
            _when(r.start_time),
            "-" if r.duration_s is None else f"{r.duration_s:.1f}s",
            *(r.params.get(k, "-") for k in param_keys),
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
            raise MlcycleError(
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
        f"[bold]Run {run.id}[/]  {run.name}  [{style}]{run.status}[/]"
        + ("  [dim](deleted)[/]" if run.deleted else "")
    )
    out.print(
        f"experiment {run.experiment}  user {run.user}  started {_when(run.start_time)}  "
        f"ended {_when(run.end_time)}"
    )
    if run.parent_run_id:
        out.print(f"parent {run.parent_run_id}")
    if run.error:
        out.print(f"[red]error:[/] {run.error}")
    for title, items in (("Params", run.params), ("Metrics", run.metrics), ("Tags", run.tags)):
        if items:
            table = Table(title=title, show_header=False)
            for key in sorted(items):
                table.add_row(key, _fmt(items[key]))
            out.print(table)
    if artifacts:
        table = Table(title="Artifacts")
        for col in ("path", "size", "sha256"):
            table.add_column(col)
        for a in artifacts:
            table.add_row(a.path, f"{a.size:,}", a.digest[:16])
        out.print(table)
    if children:
        out.print(
            f"{len(children)} child run(s): {', '.join(c.id[:12] for c in children[:10])}"
            + (" ..." if len(children) > 10 else "")
        )


@app.command()
@_errors
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    as_json: JsonFlag = False,
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted."""
    if len(run_ids) < 2:
        raise MlcycleError("compare needs at least two run ids.")
    found = [_find_run(r) for r in run_ids]
    if as_json:
        _emit_json([r.to_dict() for r in found])
        return
    table = Table(title="Compare runs")
    table.add_column("")
    for r in found:
        table.add_column(f"{r.name}\n{r.id[:12]}", justify="right")
    table.add_row("status", *(r.status for r in found))
    for kind in ("params", "metrics"):
        keys = sorted({k for r in found for k in getattr(r, kind)})
        for key in keys:
            values = [getattr(r, kind).get(key) for r in found]
            shown = [_fmt(v) for v in values]
            differ = len(set(shown)) > 1
            if kind == "metrics" and differ:
                numbers = [v for v in values if isinstance(v, float) and not math.isnan(v)]
                best = max(numbers) if numbers else None
                shown = [
                    f"[bold]{s}[/]" if v == best else s for s, v in zip(shown, values, strict=True)
                ]
            label = f"{kind}.{key}"
            table.add_row(f"[yellow]{label}[/]" if differ else label, *shown)
    out.print(table)


@app.command("delete-run")
@_errors
def delete_run(run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]) -> None:
    """Soft-delete a run and its child runs; `mlcycle gc` reclaims them."""
    ws = _workspace()
    run = _find_run(run_id)
    ws.store.delete_run(run.id, actor=ws.settings.user)
    out.print(f"Deleted run {run.id} (soft). `mlcycle gc` reclaims its storage.")


# -- models -------------------------------------------------------------------------------
@app.command()
@_errors
def models(as_json: JsonFlag = False) -> None:
    """List registered models with their latest version and aliases."""
    items = _workspace().store.list_models()
    if as_json:
        _emit_json([m.to_dict() for m in items])
        return
    table = Table(title="Models")
    for col in ("name", "latest", "aliases", "created", "by"):
        table.add_column(col)
    for m in items:
        aliases = ", ".join(f"{a}=v{v}" for a, v in m.aliases.items()) or "-"
        table.add_row(m.name, f"v{m.latest_version}", aliases, _when(m.created_at), m.created_by)
    out.print(table)


@app.command()
@_errors
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")], as_json: JsonFlag = False
) -> None:
    """List the versions of a model."""
    items = _workspace().store.list_versions(name)
    if as_json:
        _emit_json([v.to_dict() for v in items])
        return
    table = Table(title=f"Versions of {name}")
    for col in ("version", "aliases", "run", "bundle", "created", "by", "description"):
        table.add_column(col)
    for v in items:
        table.add_row(
            f"v{v.version}",
            ", ".join(v.aliases) or "-",
            (v.run_id or "-")[:12],
            v.bundle_digest[:12],
            _when(v.created_at),
            v.creator,
            v.description,
        )
    out.print(table)


@app.command()
@_errors
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number.", min=1)],
    alias: Annotated[str, typer.Option("--alias", "-a", help="e.g. production, staging.")],
) -> None:
    """Point an alias at a version (recorded in the alias history and the audit log)."""
    ws = _workspace()
    event = ws.store.set_alias(name, alias, version, actor=ws.settings.user)
    before = f"v{event.from_version}" if event.from_version else "nothing"
    out.print(f"[green]{name}@{alias}[/] -> v{version} (was {before})")


@app.command()
@_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias to move back.")],
) -> None:
    """Move an alias back to the version it held before its latest promotion."""
    ws = _workspace()
    event = ws.store.rollback_alias(name, alias, actor=ws.settings.user)
    out.print(
        f"[green]{name}@{alias}[/] rolled back to v{event.to_version} (was v{event.from_version})"
    )


@app.command("alias-history")
@_errors
def alias_history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Only this alias.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every move of a model's aliases: which version, from which, by whom, when."""
    events = _workspace().store.alias_history(name, alias)
    if as_json:
        _emit_json([e.to_dict() for e in events])
        return
    table = Table(title=f"Alias history of {name}")
    for col in ("when", "alias", "action", "from", "to", "by"):
        table.add_column(col)
    for e in events:
        table.add_row(
            _when(e.at),
            e.alias,
            e.action,
            f"v{e.from_version}" if e.from_version else "-",
            f"v{e.to_version}" if e.to_version else "-",
            e.actor,
        )
    out.print(table)


@app.command()
@_errors
def audit(
    entity: Annotated[
        str | None, typer.Option("--entity", help="run, model, model_version, alias, experiment")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The audit log of changes to the registry, newest first."""
    events = _workspace().store.audit_events(entity_type=entity, limit=limit)
    if as_json:
        _emit_json([e.to_dict() for e in events])
        return
    table = Table(title="Audit log")
    for col in ("when", "actor", "action", "entity", "details"):
        table.add_column(col)
    for e in events:
        table.add_row(
            _when(e.at),
            e.actor,
            e.action,
            f"{e.entity_type}:{e.entity_id}",
            json.dumps(e.details, sort_keys=True),
        )
    out.print(table)


# -- housekeeping -------------------------------------------------------------------------
@app.command()
@_errors
def gc(
    grace: Annotated[
        float,
        typer.Option(
            "--grace", min=0, help="Keep unreferenced artifacts younger than this many seconds."
        ),
    ] = 3600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Purge deleted runs and remove artifacts that no run or version references."""
    from mlcycle.registry import collect_garbage

    report = collect_garbage(_workspace(), grace_s=grace, dry_run=dry_run)
    if as_json:
        _emit_json(report.to_dict())
        return
    verb = "Would remove" if dry_run else "Removed"
    out.print(
        f"{verb} {len(report.deleted_blobs)} artifact(s), {report.freed_bytes:,} bytes; "
        f"purged {len(report.purged_runs)} deleted run(s); kept {report.kept_blobs} "
        f"referenced and {report.kept_young} recent unreferenced artifact(s)."
    )


@app.command()
@_errors
def backup(path: Annotated[Path, typer.Argument(help="A new folder for the backup.")]) -> None:
    """Take a consistent snapshot of metadata and artifacts (safe while writers run)."""
    from mlcycle.registry import backup as take_backup

    report = take_backup(path, _workspace())
    rows = sum(report.tables.values())
    out.print(
        f"[green]Backup written[/] to {report.path}: {rows:,} rows, {report.blobs} "
        f"artifact(s), {report.bytes:,} bytes."
    )


@app.command()
@_errors
def restore(
    path: Annotated[Path, typer.Argument(help="A folder written by mlcycle backup.")],
) -> None:
    """Restore a backup into an empty workspace."""
    from mlcycle.registry import restore as do_restore

    report = do_restore(path, _workspace())
    rows = sum(report.tables.values())
    out.print(
        f"[green]Restored[/] {rows:,} rows and {report.blobs} artifact(s) from {report.path}."
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="mlcycle")


if __name__ == "__main__":
    main()
