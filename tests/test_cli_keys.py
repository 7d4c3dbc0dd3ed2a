"""``mlcycle keys`` end to end, in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlcycle.registry import Workspace, parse_key, verify_secret


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "MLCYCLE_USER": "ann"},
    )


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str, match: str) -> str:
    result = cli(*args)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and match in lines[0], lines[0]
    return lines[0]


def test_create_list_revoke(workspace: Workspace) -> None:
    created = json.loads(ok("keys", "create", "--role", "predict", "--name", "ci", "--json"))
    plaintext = created["key"]
    parsed = parse_key(plaintext)
    assert parsed is not None and parsed[0] == created["id"]
    assert created["role"] == "predict" and created["name"] == "ci"
    assert "cannot be shown again" in created["note"]
    stored = workspace.store.get_api_key(created["id"])
    assert verify_secret(parsed[1], stored.secret_hash)

    human = ok("keys", "create", "--role", "admin")
    lines = human.splitlines()
    admin_key = next(line for line in lines if line.startswith("mlc_"))
    assert parse_key(admin_key) is not None
    assert "cannot be shown again" in human

    listing = ok("keys", "list", "--json")
    keys = json.loads(listing)
    assert [(k["role"], k["revoked"]) for k in keys] == [("predict", False), ("admin", False)]
    assert all(k["created_by"] == "ann" for k in keys)
    table = ok("keys", "list")
    for shown in (listing, table):
        assert parsed[1] not in shown and admin_key not in shown
        assert stored.secret_hash.digest.hex() not in shown
        assert stored.secret_hash.salt.hex() not in shown
    assert created["id"] in table and "active" in table

    out = ok("keys", "revoke", created["id"])
    assert f"Revoked API key {created['id']}" in out
    assert json.loads(ok("keys", "list", "--json"))[0]["revoked"] is True
    events = workspace.store.audit_events(entity_type="api_key")
    assert [(e.action, e.actor) for e in events] == [
        ("api_key.revoke", "ann"),
        ("api_key.create", "ann"),
        ("api_key.create", "ann"),
    ]

    fails("keys", "revoke", created["id"], match="was already revoked")


def test_bad_input_is_one_line_and_exit_code_2(workspace: Workspace) -> None:
    fails("keys", "create", "--role", "owner", match="must be one of read, predict, admin")
    fails("keys", "revoke", "0123456789ab", match="API key '0123456789ab' does not exist")
    assert workspace.store.list_api_keys() == []


def test_a_mistyped_key_is_never_echoed(workspace: Workspace) -> None:
    plaintext = json.loads(ok("keys", "create", "--role", "admin", "--json"))["key"]
    for typo in (plaintext.replace("_", "-", 2), plaintext[:-40], plaintext[:15] + plaintext[16:]):
        line = fails("keys", "revoke", typo, match="does not exist")
        assert f"'{typo[:8]}…'" in line
        secret = parse_key(plaintext)[1]  # type: ignore[index]
        assert not any(secret[i : i + 9] in line for i in range(len(secret) - 8)), line
    assert not workspace.store.list_api_keys()[0].revoked
