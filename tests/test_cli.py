"""The CLI end to end, in a subprocess, on SQLite and PostgreSQL: verbs, JSON, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlcycle
from mlcycle.registry import Workspace


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str, match: str, env: dict[str, str] | None = None) -> str:
    result = cli(*args, env=env)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = " ".join(lines)
    assert message.startswith("error:"), message
    assert match in message, message
    return message


@pytest.fixture
def populated(workspace: Workspace) -> dict[str, str]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    ids = {}
    for family, auc in (("lgbm", 0.95), ("rf", 0.85), ("lgbm", 0.75)):
        with mlcycle.start_run(experiment="exp", name=f"{family}-{auc}") as run:
            mlcycle.log_params({"family": family})
            mlcycle.log_metric("auc", auc)
        ids[f"{family}-{auc}"] = run.id
    model = LogisticRegression(max_iter=300).fit(X, y)
    for _ in range(3):
        mlcycle.register_model("iris", model, run=ids["lgbm-0.95"])
    return ids


def test_version_and_help() -> None:
    assert ok("--version").strip() == f"mlcycle {mlcycle.__version__}"
    out = ok("--help")
    for verb in ("runs", "promote", "rollback", "alias-history", "gc", "backup", "doctor"):
        assert verb in out


def test_runs_filter_sort_json(populated: dict[str, str]) -> None:
    data = json.loads(
        ok("runs", "--filter", "metrics.auc > 0.8 and params.family = 'lgbm'", "--json")
    )
    assert [r["name"] for r in data] == ["lgbm-0.95"]
    data = json.loads(ok("runs", "-e", "exp", "--sort", "metrics.auc", "--json"))
    assert [r["metrics"]["auc"] for r in data] == [0.75, 0.85, 0.95]
    table = ok("runs", "-e", "exp")
    assert "lgbm-0.95" in table and "metrics.auc" in table


def test_run_show_compare_delete(populated: dict[str, str]) -> None:
    run_id = populated["rf-0.85"]
    shown = json.loads(ok("run", "show", run_id, "--json"))
    assert shown["params"] == {"family": "rf"} and shown["metrics"] == {"auc": 0.85}
    assert "rf-0.85" in ok("run", "show", run_id[:10])  # unique prefix
    compared = ok("compare", run_id, populated["lgbm-0.95"])
    assert "params.family" in compared and "0.95" in compared
    ok("delete-run", run_id)
    names = [r["name"] for r in json.loads(ok("runs", "--json"))]
    assert "rf-0.85" not in names
    assert json.loads(ok("run", "show", run_id, "--json"))["deleted"] is True


def test_models_versions_promote_rollback_history(populated: dict[str, str]) -> None:
    models = json.loads(ok("models", "--json"))
    assert models[0]["name"] == "iris" and models[0]["latest_version"] == 3
    assert [v["version"] for v in json.loads(ok("versions", "iris", "--json"))] == [1, 2, 3]
    for version in ("1", "2", "3"):
        ok("promote", "iris", version, "--alias", "production")
    assert "rolled back to v2" in ok("rollback", "iris", "--alias", "production")
    assert json.loads(ok("models", "--json"))[0]["aliases"] == {"production": 2}
    history = json.loads(ok("alias-history", "iris", "--json"))
    assert [(e["action"], e["from_version"], e["to_version"]) for e in history] == [
        ("promote", None, 1),
        ("promote", 1, 2),
        ("promote", 2, 3),
        ("rollback", 3, 2),
    ]
    audit = json.loads(ok("audit", "--entity", "alias", "--json"))
    assert {e["action"] for e in audit} == {"alias.promote", "alias.rollback"}


def test_bad_input_is_one_line_exit_2(populated: dict[str, str]) -> None:
    fails("run", "show", "0123456789abcdef0123456789abcdef", match="does not exist")
    fails("runs", "--filter", "metrics.auc >", match="Malformed filter")
    fails("runs", "--filter", "nonsense.x = 1", match="Unknown field")
    fails("runs", "--experiment", "nope", match="Experiment 'nope' does not exist")
    fails("versions", "ghost", match="Model 'ghost' does not exist")
    fails("promote", "iris", "9", "--alias", "production", match="no version 9")
    fails("promote", "iris", "1", "--alias", "bad alias!", match="not allowed")
    fails("rollback", "iris", "--alias", "staging", match="no alias 'staging'")
    ok("promote", "iris", "1", "--alias", "staging")
    fails("rollback", "iris", "--alias", "staging", match="no earlier version")
    fails("restore", "/nonexistent/backup", match="not an mlcycle backup")


def test_unreachable_database_is_one_line(clean_env: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    fails("runs", match="Cannot connect to the metadata database", env={"MLCYCLE_DB_URL": url})
    fails("models", match="does not support", env={"MLCYCLE_DB_URL": "mysql://x@localhost/db"})


def test_unwritable_home_is_one_line(tmp_path: Path, clean_env: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    fails("runs", match="Set MLCYCLE_HOME", env={"MLCYCLE_HOME": str(blocker / "ws")})


def test_init_and_doctor(clean_env: Path) -> None:
    out = ok("init")
    assert "Workspace ready" in out and (clean_env / "config.toml").is_file()
    report = json.loads(ok("doctor", "--json"))
    assert report["ok"] is True
    assert report["settings"]["home"] == str(clean_env.resolve())
    assert "schema 0002" in report["checks"]["database reachable"]["detail"]
    bad = cli("doctor", "--json", env={"MLCYCLE_DB_URL": "postgresql+psycopg://x@127.0.0.1:1/db"})
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["checks"]["database reachable"]["ok"] is False


def test_gc_backup_restore_cycle(populated: dict[str, str], tmp_path: Path) -> None:
    ok("delete-run", populated["rf-0.85"])
    report = json.loads(ok("gc", "--grace", "0", "--json"))
    assert report["purged_runs"] == 1
    assert json.loads(ok("gc", "--grace", "0", "--json"))["deleted_blobs"] == 0
    assert "Backup written" in ok("backup", str(tmp_path / "bk"))
    fails("restore", str(tmp_path / "bk"), match="not empty")
    fresh = {"MLCYCLE_HOME": str(tmp_path / "fresh"), "MLCYCLE_DB_URL": ""}
    restored = cli("restore", str(tmp_path / "bk"), env=fresh)
    assert restored.returncode == 0, restored.stderr
    versions = cli("versions", "iris", "--json", env=fresh)
    assert [v["version"] for v in json.loads(versions.stdout)] == [1, 2, 3]


def test_doctor_never_prints_credentials(clean_env: Path) -> None:
    secrets = ("s3cr3t", "t0ken", "dbpa55", "qpa55")
    env = {
        "MLCYCLE_ARTIFACTS": "s3://AKIAKEY:s3cr3t/x@127.0.0.1:1/bucket?X-Amz-Security-Token=t0ken",
        "MLCYCLE_DB_URL": "postgresql+psycopg://ann:dbpa55@127.0.0.1:1/db?sslpassword=qpa55",
    }
    for args in (("doctor",), ("doctor", "--json")):
        result = cli(*args, env=env)
        assert result.returncode == 1, result.stderr  # both stores unreachable, and said so
        shown = result.stdout + result.stderr
        assert "s3://AKIAKEY:***@127.0.0.1:1/bucket" in shown
        assert "ann:***@127.0.0.1:1/db" in shown
        assert not [s for s in secrets if s in shown], shown
    fails("runs", match="ann:***@", env=env)  # the store's own messages hide them too
    result = cli("runs", env=env)
    assert not [s for s in secrets if s in result.stderr], result.stderr


# Markup Rich would parse, and terminal escape sequences: colour (CSI), clipboard write
# (OSC 52, ended by BEL) and the one-byte C1 CSI.
NASTY = ["[/]", "[bold red]x", "e\x1b[31mred", "o\x1b]52;c;aGk=\x07", "c\x9b2J"]
CONTROL = ("\x1b", "\x07", "\x9b")


def test_names_with_markup_or_escape_sequences_print_as_text(clean_env: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    ids = []
    for i, name in enumerate(NASTY):
        with mlcycle.start_run(experiment=name, name=name) as run:
            mlcycle.log_params({name: name})
            mlcycle.log_metric(f"m{i}{name}", 0.5)
            mlcycle.set_tags({name: name})
        ids.append(run.id)
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlcycle.register_model("nasty", model, run=ids[0], description=" ".join(NASTY))
    ok("keys", "create", "--role", "read", "--name", "[/]")
    verbs = [
        ("experiments",),
        ("runs",),
        ("runs", "-e", NASTY[1]),
        ("run", "show", ids[3]),
        ("compare", *ids[:3]),
        ("models",),
        ("versions", "nasty"),
        ("audit",),
        ("keys", "list"),
    ]
    for args in verbs:
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        printed = result.stdout + result.stderr
        assert not [c for c in CONTROL if c in printed], (args, printed)
    listed = ok("experiments")
    for text in ("[/]", "[bold red]x", r"e\x1b[31mred", r"o\x1b]52;c;aGk=\x07", r"c\x9b2J"):
        assert text in listed, listed
    shown = ok("run", "show", ids[3])
    assert r"o\x1b]52;c;aGk=\x07" in shown and "Tags" in shown
    message = fails("runs", "--experiment", "[/]\x1b[2J", match=r"'[/]\x1b[2J' does not exist")
    assert "\x1b" not in message
