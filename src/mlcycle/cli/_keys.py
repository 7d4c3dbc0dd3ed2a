"""API key verbs for the model server: keys create, keys list, keys revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mlcycle.cli._app import JsonFlag, _emit_json, _errors, _when, _workspace, app, out, shown

keys_app = typer.Typer(
    help="API keys of the model server: create (shown once), list, revoke.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys", rich_help_panel="Serving")

_ONCE = "Store it now: it cannot be shown again (only its hash is kept)."


@keys_app.command("create")
@_errors
def keys_create(
    role: Annotated[str, typer.Option("--role", help="read, predict or admin.")],
    name: Annotated[str | None, typer.Option("--name", help="What the key is for.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key and print it once; the audit log records who created it."""
    from mlcycle.registry import create_key

    ws = _workspace()
    key, plaintext = create_key(role, name, workspace=ws, actor=ws.settings.user)
    if as_json:
        _emit_json({**key.to_dict(), "key": plaintext, "note": _ONCE})
        return
    label = f", name {shown(repr(key.name))}" if key.name else ""
    out.print(f"[green]Created API key {key.id}[/] (role {key.role}{label}):")
    out.print(plaintext, markup=False, soft_wrap=True)
    out.print(f"[yellow]{_ONCE}[/]")
    out.print("Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")


@keys_app.command("list")
@_errors
def keys_list(as_json: JsonFlag = False) -> None:
    """List API keys (ids, roles, use, revocation); never their secrets or hashes."""
    from mlcycle.registry import list_keys

    items = list_keys(workspace=_workspace())
    if as_json:
        _emit_json([k.to_dict() for k in items])
        return
    table = Table(title="API keys")
    for col in ("id", "role", "name", "created", "by", "last used", "status"):
        table.add_column(col)
    for k in items:
        status = f"[red]revoked {_when(k.revoked_at)}[/]" if k.revoked else "[green]active[/]"
        table.add_row(
            k.id,
            k.role,
            shown(k.name or "-"),
            _when(k.created_at),
            shown(k.created_by),
            _when(k.last_used_at),
            status,
        )
    out.print(table)


@keys_app.command("revoke")
@_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as keys list shows it.")],
) -> None:
    """Revoke an API key for good; servers refuse it from their next key refresh."""
    from mlcycle.registry import revoke_key

    ws = _workspace()
    key = revoke_key(key_id, workspace=ws, actor=ws.settings.user)
    out.print(
        f"[green]Revoked API key {key.id}[/] (role {key.role}). Running servers refuse it "
        "within seconds, at their next key refresh."
    )
