"""The README's quick start runs as written, in a fresh workspace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart(marker: str = "quickstart") -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker}[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_quickstart_is_about_fifteen_lines() -> None:
    lines = [line for line in quickstart().splitlines() if line.strip()]
    assert 10 <= len(lines) <= 20


def test_quickstart_runs(clean_env: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", quickstart()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    version, found, _ = result.stdout.split(maxsplit=2)
    assert version == "1"
    assert found == "1"
    assert "[0 0 0]" in result.stdout
    # and the CLI sees what the SDK wrote
    shown = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "versions", "iris", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"production"' in shown.stdout


def test_automl_example_runs(clean_env: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", quickstart("automl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    family, auc, version = first.split()
    assert family in ("linear", "rf", "et", "hgb", "lgbm", "xgb", "knn")
    assert float(auc) > 0.95 and version == "1"
    assert second == "(2, 30) model_card.html"
