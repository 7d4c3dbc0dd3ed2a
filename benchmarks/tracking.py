"""Tracking benchmark: mlcycle and MLflow side by side on the same machine and backend.

    python benchmarks/tracking.py                 # full size, SQLite (several minutes: MLflow)
    python benchmarks/tracking.py --quick         # smaller everything, about a minute
    python benchmarks/tracking.py --backend postgresql --json results.json

MLflow lives in its own venv, ``.bench/mlflow`` (created on first use, or with ``--setup``),
never in ``.venv``. Every workload runs in a fresh worker process (this file, ``--worker``) on a
fresh database: mlcycle with ``.venv``'s interpreter, MLflow with the bench venv's. Workers print
their timings as JSON on stdout. See benchmarks/README.md for the workloads and floors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _envs import bench_venv, mlcycle_python  # found because this folder is sys.path[0]

# Sibling benchmarks (profile.py, ...) must not shadow the stdlib's or the tools' modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

MLFLOW_REQUIREMENTS = ["mlflow>=3,<4", "psycopg2-binary"]  # skinny lacks the SQL store
MLFLOW_PROBE = "import mlflow.store.tracking.sqlalchemy_store, psycopg2"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WORKLOADS = "abcde"  # e also runs f (search over the runs e created)
FILTER = "metrics.auc > 0.5 and params.family = 'lgbm'"
FAMILIES = ["lgbm", "lgbm", "lgbm", "xgb"]  # with auc ~ U(0.2, 1): ~47% of runs match FILTER
SEED = 20261123


@dataclass(frozen=True)
class Sizes:
    points: int = 100_000  # a, b: metric points in one run
    mlflow_sample: int = 5_000  # a, c: MLflow per-call calls actually made (then extrapolated)
    runs_c: int = 100  # c: runs ...
    points_per_run: int = 1_000  # ... of this many points each
    batch: int = 1_000  # b: MLflow metrics per log_batch call
    params: int = 1_000  # d
    runs: int = 10_000  # e, f
    repeats: int = 5  # f

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Sizes:
        sizes = (
            cls(points=10_000, mlflow_sample=1_000, runs_c=10, params=200, runs=1_000)
            if args.quick
            else cls()
        )
        changes = {"runs": args.runs, "mlflow_sample": args.mlflow_sample}
        return Sizes(**{**asdict(sizes), **{k: v for k, v in changes.items() if v}})


# -- workers: run in the tool's own interpreter, print JSON --------------------------------


def _values(n: int) -> list[float]:
    rng = random.Random(SEED)
    return [rng.random() for _ in range(n)]


def _small_runs(n: int) -> list[tuple[str, float]]:
    rng = random.Random(SEED)
    return [(rng.choice(FAMILIES), rng.uniform(0.2, 1.0)) for _ in range(n)]


def _search_stats(search: Callable[[], int], repeats: int) -> dict[str, Any]:
    times, counts = [], set()
    for _ in range(repeats):
        t0 = time.perf_counter()
        counts.add(search())
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "times": times, "matches": sorted(counts)}


class Clock:
    """Wall time of named phases."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextlib.contextmanager
    def lap(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - t0


def mlcycle_worker(workload: str, sz: Sizes, tmp: Path, db_url: str | None) -> dict[str, Any]:
    os.environ["MLCYCLE_HOME"] = str(tmp / "mlcycle-home")
    if db_url:
        os.environ["MLCYCLE_DB_URL"] = db_url
    import mlcycle

    # Untimed warm-up: opens (and migrates) the store, imports what runs import lazily.
    with mlcycle.start_run(experiment="warmup"):
        mlcycle.log_param("p", "v")
        mlcycle.log_metric("m", 0.0)

    clock = Clock()
    if workload in "ab":  # b: mlcycle's answer to log_batch is the same per-call loop
        values = _values(sz.points)
        with clock.lap("total"), mlcycle.start_run(experiment="bench", name="points"):
            for step, value in enumerate(values):
                mlcycle.log_metric("loss", value, step=step)
        return {"seconds": clock.laps["total"], "ops": sz.points}
    if workload == "c":
        values = _values(sz.points_per_run)
        with clock.lap("total"):
            for r in range(sz.runs_c):
                with mlcycle.start_run(experiment="bench", name=f"run-{r}"):
                    for step, value in enumerate(values):
                        mlcycle.log_metric("loss", value, step=step)
        return {"seconds": clock.laps["total"], "ops": sz.runs_c * sz.points_per_run}
    if workload == "d":
        with clock.lap("total"), mlcycle.start_run(experiment="bench", name="params"):
            for i in range(sz.params):
                mlcycle.log_param(f"param_{i}", i)
        return {"seconds": clock.laps["total"], "ops": sz.params}
    specs = _small_runs(sz.runs)
    with clock.lap("total"):
        for family, auc in specs:
            with mlcycle.start_run(experiment="runs"):
                mlcycle.log_param("family", family)
                mlcycle.log_metric("auc", auc)
    search = _search_stats(
        lambda: len(mlcycle.search_runs(experiment="runs", filter=FILTER, max_results=sz.runs)),
        sz.repeats,
    )
    return {"seconds": clock.laps["total"], "ops": sz.runs, "search": search}


def mlflow_worker(workload: str, sz: Sizes, tmp: Path, db_url: str | None) -> dict[str, Any]:
    import logging

    import mlflow
    from mlflow.entities import Metric

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(db_url or f"sqlite:///{tmp / 'mlflow.db'}")

    # Untimed warm-up, as for mlcycle: creates the schema, imports lazily imported modules.
    mlflow.set_experiment("warmup")
    with mlflow.start_run():
        mlflow.log_param("p", "v")
        mlflow.log_metric("m", 0.0)

    clock = Clock()
    sample = min(sz.mlflow_sample, sz.points)
    if workload == "a":  # per-call: time `sample` calls, extrapolate to sz.points
        values = _values(sample)
        mlflow.set_experiment("bench")
        with clock.lap("fixed"):
            mlflow.start_run(run_name="points")
        with clock.lap("calls"):
            for step, value in enumerate(values):
                mlflow.log_metric("loss", value, step=step)
        with clock.lap("fixed"):
            mlflow.end_run()
        seconds = clock.laps["fixed"] + clock.laps["calls"] * sz.points / sample
        return {"seconds": seconds, "ops": sz.points, "measured_ops": sample, "laps": clock.laps}
    if workload == "b":
        values = _values(sz.points)
        client = mlflow.MlflowClient()
        mlflow.set_experiment("bench")
        with clock.lap("total"), mlflow.start_run(run_name="points") as run:
            for start in range(0, sz.points, sz.batch):
                ts = int(time.time() * 1000)
                chunk = values[start : start + sz.batch]
                batch = [Metric("loss", v, ts, start + i) for i, v in enumerate(chunk)]
                client.log_batch(run.info.run_id, metrics=batch)
        return {"seconds": clock.laps["total"], "ops": sz.points}
    if workload == "c":  # per-call: time whole runs until `sample` calls, extrapolate
        values = _values(sz.points_per_run)
        done = min(sz.runs_c, max(1, math.ceil(sample / sz.points_per_run)))
        mlflow.set_experiment("bench")
        with clock.lap("total"):
            for r in range(done):
                with mlflow.start_run(run_name=f"run-{r}"):
                    for step, value in enumerate(values):
                        mlflow.log_metric("loss", value, step=step)
        seconds = clock.laps["total"] * sz.runs_c / done
        ops = sz.runs_c * sz.points_per_run
        return {"seconds": seconds, "ops": ops, "measured_ops": done * sz.points_per_run}
    if workload == "d":
        mlflow.set_experiment("bench")
        with clock.lap("total"), mlflow.start_run(run_name="params"):
            for i in range(sz.params):
                mlflow.log_param(f"param_{i}", i)
        return {"seconds": clock.laps["total"], "ops": sz.params}
    specs = _small_runs(sz.runs)
    mlflow.set_experiment("runs")
    with clock.lap("total"):
        for family, auc in specs:
            with mlflow.start_run():
                mlflow.log_param("family", family)
                mlflow.log_metric("auc", auc)

    def search(output_format: str) -> int:
        found = mlflow.search_runs(
            experiment_names=["runs"],
            filter_string=FILTER,
            max_results=sz.runs,
            output_format=output_format,  # type: ignore[arg-type]
        )
        return len(found)

    # The floor compares with the faster of MLflow's two result formats.
    pandas = _search_stats(lambda: search("pandas"), sz.repeats)
    listed = _search_stats(lambda: search("list"), sz.repeats)
    best = min((pandas, listed), key=lambda s: s["seconds"])
    best = {**best, "pandas_s": pandas["seconds"], "list_s": listed["seconds"]}
    return {"seconds": clock.laps["total"], "ops": sz.runs, "search": best}


def _worker_env(tool: str) -> dict[str, str]:
    import sqlalchemy

    facts = {
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": __import__("sqlite3").sqlite_version,
    }
    if tool == "mlcycle":
        import mlcycle

        facts["mlcycle"] = mlcycle.__version__
    else:
        import mlflow

        facts["mlflow"] = mlflow.__version__
    return facts


@contextlib.contextmanager
def _fresh_database(admin_url: str | None) -> Iterator[str | None]:
    """Yield the URL of a new, empty PostgreSQL database (dropped afterwards), or None."""
    if admin_url is None:
        yield None
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"mlbench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def _profiled(enabled: bool) -> Iterator[None]:
    """When enabled, print where the time went (cProfile) to stderr."""
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    with cProfile.Profile() as profiler:
        yield
    for order, lines in (("cumulative", 30), ("tottime", 20)):
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(lines)


def run_worker(args: argparse.Namespace) -> int:
    sizes = Sizes.from_args(args)
    work = mlcycle_worker if args.worker == "mlcycle" else mlflow_worker
    admin_url = _driver_url(args.pg_url, args.worker) if args.backend == "postgresql" else None
    with contextlib.ExitStack() as stack:
        tmp = (
            Path(args.tmp) if args.tmp else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        db_url = stack.enter_context(_fresh_database(admin_url))
        os.chdir(tmp)  # MLflow puts artifacts (./mlruns) under the working directory
        # stdout carries only the JSON result
        with contextlib.redirect_stdout(sys.stderr), _profiled(args.profile):
            result = work(args.workload, sizes, tmp, db_url)
        result["env"] = _worker_env(args.worker)
    print(json.dumps(result))
    return 0


def _driver_url(url: str, tool: str) -> str:
    """The PostgreSQL URL with the driver each tool's venv has: psycopg 3 (mlcycle), psycopg2.

    Named explicitly: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3.
    """
    driver = "psycopg" if tool == "mlcycle" else "psycopg2"
    return f"postgresql+{driver}://{url.split('://', 1)[1]}"


# -- driver: runs the workers and prints the table -----------------------------------------


def _spawn(python: Path, tool: str, workload: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", tool, "--workload", workload]
    cmd += ["--backend", args.backend, "--pg-url", args.pg_url]
    if args.quick:
        cmd.append("--quick")
    if args.runs:
        cmd += ["--runs", str(args.runs)]
    if args.mlflow_sample:
        cmd += ["--mlflow-sample", str(args.mlflow_sample)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "MLFLOW_"))}
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}  # no network here
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as tmp:
        proc = subprocess.run(
            [*cmd, "--tmp", tmp], cwd=tmp, env=env, stdout=subprocess.PIPE, text=True
        )
    if proc.returncode != 0:
        raise SystemExit(f"The {tool} worker for workload {workload} failed: {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.3g}" if seconds < 100 else f"{seconds:.0f}"


def _fmt_per(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _row(
    label: str, mine: dict[str, Any], theirs: dict[str, Any], floor: str, need: float | None
) -> dict[str, Any]:
    ratio = theirs["seconds"] / mine["seconds"]
    note = ""
    if theirs.get("measured_ops", theirs["ops"]) < theirs["ops"]:
        note = f"MLflow extrapolated from {theirs['measured_ops']:,} calls"
    per = (
        f"{_fmt_per(mine['seconds'] / mine['ops'])} / {_fmt_per(theirs['seconds'] / theirs['ops'])}"
    )
    return {
        "workload": label,
        "mlcycle_s": mine["seconds"],
        "mlflow_s": theirs["seconds"],
        "ratio": ratio,
        "per_op": per,
        "floor": floor,
        "passed": None if need is None else ratio >= need,
        "note": note,
    }


def build_rows(sz: Sizes, res: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    m, f = res["mlcycle"], res["mlflow"]
    if "a" in m:
        label = f"a. {sz.points:,} points, per-call log_metric, 1 run"
        rows.append(_row(label, m["a"], f["a"], "ratio >= 10", 10))
    if "b" in m:
        label = f"b. {sz.points:,} points: mlcycle per-call vs MLflow log_batch ({sz.batch:,}/call)"
        rows.append(_row(label, m["b"], f["b"], "mlcycle <= MLflow", 1))
    if "c" in m:
        label = f"c. {sz.runs_c * sz.points_per_run:,} points, per-call, {sz.runs_c} runs"
        rows.append(_row(label, m["c"], f["c"], "-", None))
    if "d" in m:
        rows.append(_row(f"d. {sz.params:,} params, per-call log_param", m["d"], f["d"], "-", None))
    if "e" in m:
        label = f"e. create {sz.runs:,} runs (1 param + 1 metric each)"
        rows.append(_row(label, m["e"], f["e"], "ratio >= 5", 5))
        mine, theirs = m["e"]["search"], f["e"]["search"]
        label = f"f. search {sz.runs:,} runs, metric + param filter (median of {sz.repeats})"
        row = _row(label, {**mine, "ops": 1}, {**theirs, "ops": 1}, "mlcycle faster", 1)
        row["passed"] = row["ratio"] > 1
        row["note"] = (
            f"{mine['matches']} / {theirs['matches']} matches; MLflow pandas "
            f"{_fmt_s(theirs['pandas_s'])} s, list {_fmt_s(theirs['list_s'])} s (faster used)"
        )
        if mine["matches"] != theirs["matches"]:
            row["passed"] = False
            row["note"] += " — MATCH COUNTS DIFFER"
        rows.append(row)
    return rows


def machine_facts(res: dict[str, dict[str, dict[str, Any]]], backend: str) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        line = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gib = int(line.split()[1]) / 2**20
    envs = {tool: next(iter(r.values()))["env"] for tool, r in res.items() if r}
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu,
        "memory_gib": round(mem_gib, 1),
        "os": platform.platform(),
        "backend": backend,
        "tools": envs,
    }


def print_report(facts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    tools = facts["tools"]
    m, f = tools.get("mlcycle", {}), tools.get("mlflow", {})
    print(
        f"\nMachine: {facts['cores']} cores ({facts['usable_cores']} usable), {facts['cpu']}, "
        f"{facts['memory_gib']} GiB, {facts['os']}; {facts['date']}"
    )
    print(
        f"mlcycle {m.get('mlcycle')} (Python {m.get('python')}, SQLAlchemy "
        f"{m.get('sqlalchemy')}) vs MLflow {f.get('mlflow')} (Python {f.get('python')}, "
        f"SQLAlchemy {f.get('sqlalchemy')}); backend {facts['backend']}"
        + (f" (SQLite {m.get('sqlite')})" if facts["backend"] == "sqlite" else "")
    )
    print()
    head = ["workload", "mlcycle s", "MLflow s", "ratio", "per op (mlcycle / MLflow)", "floor"]
    table = [[*head, "result"]]
    for r in rows:
        verdict = {None: "", True: "pass", False: "FAIL"}[r["passed"]]
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] >= 10 else f"{r['ratio']:.2f}x"
        cells = [r["workload"], _fmt_s(r["mlcycle_s"]), _fmt_s(r["mlflow_s"]), ratio]
        table.append([*cells, r["per_op"], r["floor"], verdict])
    widths = [max(len(row[i]) for row in table) for i in range(len(head) + 1)]
    right = {1, 2, 3}
    for n, row in enumerate(table):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            print(
                "|"
                + "|".join(
                    ("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                    for i, w in enumerate(widths)
                )
                + "|"
            )
    notes = [f"{r['workload'].split('.')[0]}: {r['note']}" for r in rows if r["note"]]
    print("\nratio = MLflow s / mlcycle s (higher is better for mlcycle).")
    for note in notes:
        print(f"  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller everything (~1 minute)")
    parser.add_argument("--runs", type=int, help="runs to create and search in e/f (10000)")
    parser.add_argument(
        "--mlflow-sample", type=int, help="MLflow per-call calls made in a and c (5000)"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"server for --backend postgresql ({PG_URL})"
    )
    parser.add_argument("--only", default=WORKLOADS, help="workloads to run, e.g. 'ae' (all)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--setup", action="store_true", help="(re)install .bench/mlflow and exit")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor is missed")
    parser.add_argument("--worker", choices=["mlcycle", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return run_worker(args)
    mlflow_python = bench_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE, force=args.setup)
    if args.setup:
        print(f"MLflow venv ready: {mlflow_python}")
        return 0
    pythons = {"mlcycle": mlcycle_python(), "mlflow": mlflow_python}
    sizes = Sizes.from_args(args)
    res: dict[str, dict[str, dict[str, Any]]] = {"mlcycle": {}, "mlflow": {}}
    for workload in (w for w in WORKLOADS if w in args.only):
        for tool, python in pythons.items():
            print(f"[{workload}] {tool} ...", end="", file=sys.stderr, flush=True)
            res[tool][workload] = out = _spawn(python, tool, workload, args)
            print(f" {_fmt_s(out['seconds'])} s", file=sys.stderr, flush=True)
    facts = machine_facts(res, args.backend)
    rows = build_rows(sizes, res)
    print_report(facts, rows)
    if args.json:
        payload = {"machine": facts, "sizes": asdict(sizes), "rows": rows, "raw": res}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    missed = [r for r in rows if r["passed"] is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
