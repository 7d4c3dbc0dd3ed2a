"""Registry verbs: models, versions, aliases, audit, gc, backup, restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlcycle.cli._app import (
    JsonFlag,
    _emit_json,
    _errors,
    _when,
    _workspace,
    app,
    out,
    shown,
)


# -- models -------------------------------------------------------------------------------
@app.command(rich_help_panel="Models")
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
        table.add_row(
            shown(m.name),
            f"v{m.latest_version}",
            shown(aliases),
            _when(m.created_at),
            shown(m.created_by),
        )
    out.print(table)


@app.command(rich_help_panel="Models")
@_errors
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")], as_json: JsonFlag = False
) -> None:
    """List the versions of a model."""
    items = _workspace().store.list_versions(name)
    if as_json:
        _emit_json([v.to_dict() for v in items])
        return
    table = Table(title=f"Versions of {shown(name)}")
    for col in ("version", "aliases", "run", "bundle", "created", "by", "description"):
        table.add_column(col)
    for v in items:
        table.add_row(
            f"v{v.version}",
            shown(", ".join(v.aliases) or "-"),
            (v.run_id or "-")[:12],
            v.bundle_digest[:12],
            _when(v.created_at),
            shown(v.creator),
            shown(v.description),
        )
    out.print(table)


@app.command(rich_help_panel="Models")
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
    out.print(f"[green]{shown(name)}@{shown(alias)}[/] -> v{version} (was {before})")


@app.command(rich_help_panel="Models")
@_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias to move back.")],
) -> None:
    """Move an alias back to the version it held before its latest promotion."""
    ws = _workspace()
    event = ws.store.rollback_alias(name, alias, actor=ws.settings.user)
    out.print(
        f"[green]{shown(name)}@{shown(alias)}[/] rolled back to v{event.to_version} "
        f"(was v{event.from_version})"
    )


@app.command("alias-history", rich_help_panel="Models")
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
    table = Table(title=f"Alias history of {shown(name)}")
    for col in ("when", "alias", "action", "from", "to", "by"):
        table.add_column(col)
    for e in events:
        table.add_row(
            _when(e.at),
            shown(e.alias),
            shown(e.action),
            f"v{e.from_version}" if e.from_version else "-",
            f"v{e.to_version}" if e.to_version else "-",
            shown(e.actor),
        )
    out.print(table)


@app.command(rich_help_panel="Models")
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
            shown(e.actor),
            shown(e.action),
            shown(f"{e.entity_type}:{e.entity_id}"),
            shown(json.dumps(e.details, sort_keys=True)),
        )
    out.print(table)


# -- housekeeping -------------------------------------------------------------------------
@app.command(rich_help_panel="Housekeeping")
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


@app.command(rich_help_panel="Housekeeping")
@_errors
def backup(path: Annotated[Path, typer.Argument(help="A new folder for the backup.")]) -> None:
    """Take a consistent snapshot of the workspace: metadata, artifacts, the prediction,
    feedback and refusal logs and the reports (safe while writers run). Left out: cache/,
    tmp/ and config.toml."""
    from mlcycle.registry import backup as take_backup

    report = take_backup(path, _workspace())
    rows = sum(report.tables.values())
    out.print(
        f"[green]Backup written[/] to {shown(report.path)}: {rows:,} rows, {report.blobs} "
        f"artifact(s), {report.files} log and report file(s), {report.bytes:,} bytes."
    )


@app.command(rich_help_panel="Housekeeping")
@_errors
def restore(
    path: Annotated[Path, typer.Argument(help="A folder written by mlcycle backup.")],
) -> None:
    """Restore a backup into an empty workspace (checked whole before anything is written)."""
    from mlcycle.registry import restore as do_restore

    report = do_restore(path, _workspace())
    rows = sum(report.tables.values())
    out.print(
        f"[green]Restored[/] {rows:,} rows, {report.blobs} artifact(s) and {report.files} log "
        f"and report file(s) from {shown(report.path)}."
    )
