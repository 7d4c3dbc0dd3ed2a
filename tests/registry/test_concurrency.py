"""Many processes writing one workspace at once: nothing lost, nothing doubled, no lock errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from mlcycle.bundle import write_bundle
from mlcycle.registry import Workspace

pytestmark = pytest.mark.slow

WORKERS = 8
RUNS_EACH = 100

_PRELUDE = """
import json, os, sys, time
from pathlib import Path
worker, sync = int(sys.argv[1]), Path(sys.argv[2])
import mlcycle
(sync / f"ready-{worker}").touch()
while not (sync / "go").exists():
    time.sleep(0.01)
"""

_LOG_RUNS = (
    _PRELUDE
    + f"""
ids, errors = [], []
for i in range({RUNS_EACH}):
    try:
        with mlcycle.start_run(experiment="load", name=f"w{{worker}}-{{i}}") as run:
            mlcycle.log_params({{"worker": worker, "i": i}})
            mlcycle.log_metric("loss", 1 / (i + 1))
            mlcycle.log_metric("acc", i / 100)
        ids.append(run.id)
    except Exception as exc:
        errors.append(f"{{type(exc).__name__}}: {{exc}}")
print(json.dumps({{"ids": ids, "errors": errors}}))
"""
)

_REGISTER = (
    _PRELUDE
    + """
versions, errors = [], []
for _ in range(int(sys.argv[4])):
    try:
        versions.append(mlcycle.register_model("shared", bundle=sys.argv[3]).version)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"versions": versions, "errors": errors}))
"""
)


def _run_all(
    code: str, count: int, env: dict[str, str], sync: Path, *args: str
) -> list[dict[str, Any]]:
    """Start ``count`` workers, release them together, and collect their JSON reports."""
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(n), str(sync), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(sync.glob("ready-*"))) < count:
            assert all(p.poll() is None for p in procs), "a worker died while starting"
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.02)
        (sync / "go").touch()
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err.lower(), err
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_many_processes_logging_runs_at_once(
    workspace: Workspace, child_env: dict[str, str], tmp_path: Path
) -> None:
    # nobody has opened the database yet: the workers also race to create the schema
    reports = _run_all(_LOG_RUNS, WORKERS, child_env, tmp_path / "sync")

    assert [r["errors"] for r in reports] == [[]] * WORKERS
    reported = [run_id for r in reports for run_id in r["ids"]]
    assert len(reported) == len(set(reported)) == WORKERS * RUNS_EACH

    page = workspace.store.search_runs(experiments=["load"], max_results=10_000)
    assert page.next_page_token is None
    runs = page.runs
    assert len(runs) == WORKERS * RUNS_EACH
    assert {r.id for r in runs} == set(reported)
    for run in runs:
        worker, i = int(run.params["worker"]), int(run.params["i"])
        assert run.name == f"w{worker}-{i}"
        assert run.status == "FINISHED", run
        assert run.metrics == {"loss": 1 / (i + 1), "acc": i / 100}
    assert len(workspace.store.list_experiments()) == 1


def test_concurrent_registrations_get_distinct_gap_free_versions(
    workspace: Workspace, child_env: dict[str, str], tmp_path: Path, trained: Any
) -> None:
    write_bundle(trained[2], tmp_path / "bundle")
    workers, each = 4, 6
    reports = _run_all(
        _REGISTER, workers, child_env, tmp_path / "sync", str(tmp_path / "bundle"), str(each)
    )

    assert [r["errors"] for r in reports] == [[]] * workers
    numbers = [v for r in reports for v in r["versions"]]
    assert sorted(numbers) == list(range(1, workers * each + 1))
    assert all(r["versions"] == sorted(r["versions"]) for r in reports)
    stored = workspace.store.list_versions("shared")
    assert [v.version for v in stored] == list(range(1, workers * each + 1))
    assert workspace.store.get_model("shared").latest_version == workers * each
    created = workspace.store.audit_events(entity_type="model_version", limit=1000)
    assert len(created) == workers * each
