"""A new version is loaded and asked to predict in a child process before a live server
swaps to it (issue 14, finding 2).

The flavours check every tree before a native library reads it; this is the second wall.
Whatever a crafted or damaged bundle does to the library that loads it (a crash, an abort,
a hang) happens in a throw-away interpreter, and the server keeps serving the version it
has. Nothing crosses the boundary but the bundle's path (the child verifies the bundle
itself) and one line of JSON back: no model is pickled either way.

Run as ``python -m mlcycle.serving._probe BUNDLE NAME VERSION ENGINE ANOMALY``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.bundle import Bundle
    from mlcycle.schema import Column

__all__ = ["PROBE_TIMEOUT", "probe_bundle", "run_probe"]

PROBE_TIMEOUT = 120.0
"""Seconds a child may take to load and test-predict a version (a hang is a refusal)."""

_ROWS = 32  # reference rows predicted: enough to walk many branches, cheap to score


def probe_bundle(
    bundle: Bundle,
    name: str,
    version: int,
    *,
    engine: str,
    anomaly_scores: bool,
    timeout: float = PROBE_TIMEOUT,
) -> str | None:
    """None when ``bundle`` loads and predicts as the server would, in a child process;
    else why not (the child's error, the signal that killed it, or the timeout)."""
    command = [
        sys.executable, "-m", "mlcycle.serving._probe",
        str(bundle.path), name, str(version), engine, "1" if anomaly_scores else "0",
    ]  # fmt: skip
    return run_probe(command, timeout)


def run_probe(command: list[str], timeout: float) -> str | None:
    """Run one probe ``command``: None when it printed ``{"ok": true}`` last and exited 0."""
    source = str(Path(__file__).resolve().parents[2])  # the folder holding this mlcycle
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return f"loading and predicting took longer than {timeout:g} s"
    if done.returncode < 0:
        try:
            died = signal.Signals(-done.returncode).name
        except ValueError:
            died = f"signal {-done.returncode}"
        return f"loading or predicting it killed the process ({died})"
    answer = _last_json(done.stdout)
    if done.returncode == 0 and answer.get("ok") is True:
        return None
    error = answer.get("error") or (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"it failed to load or predict: {str(error)[:500]}"


def _last_json(output: str) -> dict[str, Any]:
    """The child's answer: its last line, as libraries may print before it."""
    for line in reversed(output.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        return found if isinstance(found, dict) else {}
    return {}


def _probe_rows(bundle: Bundle) -> pd.DataFrame:
    """Rows to predict: the bundle's reference sample, else one typical row of its schema."""
    import pandas as pd

    schema = bundle.schema
    assert schema is not None
    sample = bundle.reference_sample()
    features = schema.feature_names
    if sample is not None and len(sample) and set(features) <= set(sample.columns):
        return sample[features].head(_ROWS).reset_index(drop=True)
    return pd.DataFrame([{f: _typical(schema.column(f)) for f in features}])


def _typical(column: Column) -> Any:
    if column.categories:
        return column.categories[0]
    if column.dtype in ("number", "integer"):
        low = column.min if column.min is not None else 0
        return int(low) if column.dtype == "integer" else float(low)
    return {"boolean": False, "datetime": "2020-01-01T00:00:00"}.get(column.dtype, "")


def _child(path: str, name: str, version: int, engine: str, anomaly: bool) -> None:
    """Load the bundle as the server would and predict a few rows through the same runner
    (and the anomaly detector when the server scores anomalies)."""
    from mlcycle.bundle import read_bundle
    from mlcycle.serving._model import build_served_model

    bundle = read_bundle(path)
    served = build_served_model(name, version, bundle, engine=engine)
    if anomaly:
        served.detector = bundle.anomaly_detector()
    rows = _probe_rows(bundle)
    _, issues = served.compiled.scan(_columns(rows), len(rows), list(rows.columns))
    if any(issue.row is None for issue in issues):
        return  # no row passes the schema: none would reach the model in the server either
    rows = rows.drop(index=sorted({int(issue.row) for issue in issues if issue.row is not None}))
    if len(rows):
        checked = served.compiled.check(_columns(rows), len(rows), list(rows.columns))
        served.predict(checked, len(rows))


def _columns(rows: pd.DataFrame) -> dict[str, list[Any]]:
    return {f: rows[f].tolist() for f in rows.columns}


def main(argv: list[str]) -> int:
    path, name, version, engine, anomaly = argv
    try:
        _child(path, name, int(version), engine, anomaly == "1")
    except Exception as exc:  # any failure is the answer, reported to the parent as text
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
