"""Workspace verbs: init, doctor, db upgrade/current."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from mlcycle._version import __version__
from mlcycle.cli._app import (
    JsonFlag,
    _emit_json,
    _errors,
    _fmt,
    _workspace,
    app,
    db_app,
    out,
    shown,
)
from mlcycle.exceptions import MlcycleError

# -- workspace ----------------------------------------------------------------------------
_CONFIG_TEMPLATE = """\
# mlcycle settings; environment variables (MLCYCLE_*) take precedence.
# db_url = "postgresql+psycopg://user@localhost/mlcycle"   # default: SQLite in this folder
# artifacts = "s3://bucket/mlcycle"                         # default: ./artifacts here
# metric_batch_size = 1000
"""


@app.command(rich_help_panel="Workspace")
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
    out.print(f"[green]Workspace ready[/] at {shown(home)}")
    out.print(f"  metadata:  {shown(ws.settings.redacted_db_url())} (schema {revision})")
    out.print(f"  artifacts: {shown(ws.settings.redacted_artifacts_url())}")
    out.print(f"  config:    {shown(config)}")


@app.command(rich_help_panel="Workspace")
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
        "artifacts": s.redacted_artifacts_url(),
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
            table.add_row(name, f"{mark} {shown(check['detail'])}")
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
