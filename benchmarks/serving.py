"""Serving benchmark: mlcycle's model server vs BentoML and ``mlflow models serve``, same model.

    python benchmarks/serving.py                            # everything, 10 s per load: ~8 min
    python benchmarks/serving.py --only inprocess,hello,bentoml,mlflow --json rivals.json
    python benchmarks/serving.py --reuse hello,bentoml,bentoml-nobatch,mlflow   # rivals cached
    python benchmarks/serving.py --reuse-from rivals.json --reuse bentoml,mlflow --only mlcycle
    python benchmarks/serving.py --repeats 3 --json out.json --strict   # what docs/ reports
    python benchmarks/serving.py --setup                    # (re)install the rivals' venvs only

One LightGBM model (``LGBMClassifier``, 200 trees, 20 numeric features f0..f19, trained on
``make_classification(n_samples=5000, n_features=20, random_state=0)``) is trained once in
``.venv`` and saved in LightGBM's text format to a temporary folder; every server loads that
file with its own venv's LightGBM. Targets (``--only``), each in its own process:

- ``inprocess``: ``Booster.predict`` on a 1-row / 100-row numpy array in a loop (the limit),
  and ``LGBMClassifier.predict_proba`` on a 1-row / 100-row DataFrame;
- ``hello``: ``serving_hello.py``, a FastAPI route that parses the body with orjson and answers
  a constant, on the stack mlcycle uses (uvicorn, uvloop, httptools, 1 worker, no access log);
- ``mlcycle``: ``mlcycle serve bench@production`` after ``mlcycle.register_model`` (.venv);
- ``bentoml`` / ``bentoml-nobatch``: ``serving_bentoml.py`` (batchable API with adaptive
  batching / plain API) under ``bentoml serve``, BentoML 1.4 in ``.bench/bentoml``;
- ``mlflow``: ``mlflow models serve --env-manager local`` of the model logged with
  ``mlflow.lightgbm``, MLflow 3 in ``.bench/mlflow``.

Load comes from ``wrk`` (Debian) in its own process: one thread (``-t1``, so the server keeps
the other core), 1 / 8 / 64 connections, POSTing a fixed JSON body (1 or 100 records) for
``--duration`` seconds after ``--warmup`` seconds; the median of ``--repeats`` runs is kept.
Every server has one worker and no access log. Results of each target are cached in
``.bench/serving-results/`` so ``--reuse`` can take rivals from there (same model, bodies and
load settings). The rules: ../shared/BENCHMARKS.md §2. Tables and floors: serving_report.py;
wrk and its figures: serving_wrk.py.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _envs import (  # this folder is sys.path[0]
    BENCH_DIR,
    bench_venv,
    mlcycle_python,
    package_versions,
)
from serving_report import INPROCESS_SHOWN, SHOWN, TARGETS, floors, table, verdict, version_line
from serving_wrk import median_cell, parse_wrk, percentile, run_wrk, wrk_script, wrk_version

# Sibling benchmarks and helpers (serving_bentoml.py, ...) must not shadow the tools' modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

BENTOML_REQUIREMENTS = ["bentoml==1.4.*", "lightgbm", "pandas"]
BENTOML_PROBE = "import bentoml, lightgbm, pandas; from bentoml.models import BentoModel"
# A superset of tracking.py's list: the same .bench/mlflow venv serves both benchmarks.
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4", "psycopg2-binary", "lightgbm"]
MLFLOW_PROBE = "import mlflow.lightgbm, mlflow.pyfunc.scoring_server, lightgbm, uvicorn"
VERSIONED = ["mlcycle", "mlflow", "bentoml", "lightgbm", "numpy", "pandas", "scikit-learn"]
VERSIONED += ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "orjson", "pydantic"]
VERSIONED += ["flask", "gunicorn"]
N_FEATURES, N_TREES, N_SAMPLES, BIG = 20, 200, 5000, 100
SIZES = (1, BIG)  # records per request body
CONCURRENCY = (1, 8, 64)
MODEL_NAME, ALIAS = "bench", "production"
PREDICT_PATH = f"/v1/models/{MODEL_NAME}/predict"
BENTOML_TAG = "serving-bench-lgbm"
CACHE_VERSION = 1  # bump when what is measured changes: cached results become stale
NO_NETWORK = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
NO_NETWORK |= {"BENTOML_DO_NOT_TRACK": "True"}


# -- workers: run in a tool's own interpreter, print one JSON line --------------------------


def _versions() -> dict[str, str]:
    return package_versions(VERSIONED)


def _features() -> list[str]:
    return [f"f{i}" for i in range(N_FEATURES)]


def _training_frame() -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES, random_state=0)
    return pd.DataFrame(x, columns=_features()), y


def _records(work: Path, size: int) -> list[dict[str, float]]:
    return json.loads((work / f"body-{size}.json").read_text())["records"]


def prepare_worker(work: Path) -> dict[str, Any]:
    """Train the model, write it (text + pickle) and the request bodies; return the facts."""
    import pickle

    import lightgbm

    frame, y = _training_frame()
    model = lightgbm.LGBMClassifier(n_estimators=N_TREES, random_state=0, verbose=-1)
    t0 = time.perf_counter()
    model.fit(frame, y)
    fit_seconds = time.perf_counter() - t0
    model.booster_.save_model(str(work / "model.txt"))
    (work / "model.pkl").write_bytes(pickle.dumps(model))
    digest = hashlib.sha256(f"serving-v{CACHE_VERSION}".encode())
    digest.update((work / "model.txt").read_bytes())
    rows = frame.iloc[:BIG]
    for size in SIZES:
        records = rows.iloc[:size].to_dict(orient="records")
        for fmt, key in (("", "records"), ("mlflow-", "dataframe_records")):
            body = json.dumps({key: records}).encode()
            (work / f"{fmt}body-{size}.json").write_bytes(body)
            digest.update(body)
    proba = model.booster_.predict(rows.to_numpy())
    return {
        "fingerprint": digest.hexdigest()[:16],
        "fit_seconds": fit_seconds,
        "expected_proba": [float(p) for p in proba],
        "expected_label": [int(p > 0.5) for p in proba],
        "body_bytes": {str(s): (work / f"body-{s}.json").stat().st_size for s in SIZES},
        "versions": _versions(),
    }


def _timed_loop(call: Callable[[], Any], seconds: float) -> dict[str, Any]:
    for _ in range(200):  # warm-up: first calls allocate and fault pages in
        call()
    times: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    while True:
        t0 = clock()
        call()
        t1 = clock()
        times.append(t1 - t0)
        if t1 >= deadline:
            break
    total = (clock() - start) / 1e9
    times.sort()
    return {
        "requests": len(times),
        "seconds": total,
        "rps": len(times) / total,
        "p50_ms": percentile(times, 50) / 1e6,
        "p99_ms": percentile(times, 99) / 1e6,
        "mean_ms": sum(times) / len(times) / 1e6,
    }


def inprocess_worker(work: Path, seconds: float) -> dict[str, Any]:
    """Time Booster.predict (numpy; LightGBM's default threads, and one thread) and
    LGBMClassifier.predict_proba (DataFrame) in a loop."""
    import pickle

    import lightgbm
    import pandas as pd

    booster = lightgbm.Booster(model_file=str(work / "model.txt"))
    model = pickle.loads((work / "model.pkl").read_bytes())
    out: dict[str, Any] = {name: {} for name in INPROCESS_SHOWN}
    for size in SIZES:
        frame = pd.DataFrame(_records(work, size), columns=_features())
        array = frame.to_numpy()
        calls = {
            "booster": functools.partial(booster.predict, array),
            "booster-1thread": functools.partial(booster.predict, array, num_threads=1),
            "sklearn": functools.partial(model.predict_proba, frame),
        }
        for name, call in calls.items():
            out[name][str(size)] = _timed_loop(call, seconds)
    out["versions"] = _versions()
    return out


def mlcycle_register_worker(work: Path) -> dict[str, Any]:
    """Register the pickled LGBMClassifier as bench@production in $MLCYCLE_HOME."""
    import pickle

    import mlcycle
    from mlcycle.schema import Schema

    frame, _ = _training_frame()
    model = pickle.loads((work / "model.pkl").read_bytes())
    version = mlcycle.register_model(
        MODEL_NAME, model, schema=Schema.from_dataframe(frame), alias=ALIAS
    )
    return {"version": repr(version)[:300], "versions": _versions()}


def bentoml_save_worker(work: Path) -> dict[str, Any]:
    """Save LightGBM's text file into BentoML's model store ($BENTOML_HOME), as its docs do."""
    import bentoml

    with bentoml.models.create(name=BENTOML_TAG) as ref:
        shutil.copyfile(work / "model.txt", ref.path_of("model.txt"))
    return {"tag": str(ref.tag), "versions": _versions()}


def mlflow_log_worker(work: Path) -> dict[str, Any]:
    """Log the Booster with mlflow.lightgbm (signature from the records) to a temp SQLite store."""
    import logging

    import lightgbm
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.chdir(work / "mlflow")  # artifacts go to ./mlruns
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("serving-bench")
    booster = lightgbm.Booster(model_file=str(work / "model.txt"))
    example = pd.DataFrame(_records(work, BIG), columns=_features())
    signature = infer_signature(example, booster.predict(example))
    with mlflow.start_run():
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example.head(2),
            pip_requirements=[f"lightgbm=={lightgbm.__version__}"],  # no pip inference offline
        )
    return {"model_uri": info.model_uri, "versions": _versions()}


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "prepare": prepare_worker,
    "mlcycle-register": mlcycle_register_worker,
    "bentoml-save": bentoml_save_worker,
    "mlflow-log": mlflow_log_worker,
}


def worker(args: argparse.Namespace) -> None:
    """Run one worker; the JSON line is the only thing written to stdout."""
    stdout = os.dup(1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    work = Path(args.work)
    if args.worker == "inprocess":
        out = inprocess_worker(work, args.seconds)
    else:
        out = WORKERS[args.worker](work)
    sys.stdout.flush()
    os.dup2(stdout, 1)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


# -- servers ---------------------------------------------------------------------------------


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(url: str, body: bytes | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Server:
    """How to start one server and talk to it."""

    target: str
    command: list[str]
    ready_path: str
    predict_path: str
    bodies: dict[int, Path]
    python: Path  # the venv's interpreter (versions are read with it)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    workers: int = 1
    notes: list[str] = field(default_factory=list)


class ServerFailed(RuntimeError):
    pass


@contextlib.contextmanager
def running(server: Server, port: int, log: Path, ready_timeout: float) -> Iterator[float]:
    """Start ``server`` in its own session, wait until ready (yields the seconds that took), stop
    it afterwards: SIGTERM to the process group, SIGKILL after 15 s."""
    with log.open("wb") as sink:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            server.command, stdout=sink, stderr=subprocess.STDOUT, env=server.env,
            cwd=server.cwd, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}{server.ready_path}"
            while True:
                if proc.poll() is not None:
                    raise ServerFailed(f"exited with code {proc.returncode} before it was ready")
                with contextlib.suppress(OSError):
                    if _http(url, timeout=2)[0] == 200:
                        break
                if time.perf_counter() - t0 > ready_timeout:
                    raise ServerFailed(f"not ready after {ready_timeout:g} s")
                time.sleep(0.2)
            yield time.perf_counter() - t0
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
        os.killpg(proc.pid, signal.SIGKILL)


def _numbers(value: Any, n: int) -> Iterator[list[float]]:
    """Every list of ``n`` numbers (or of 1-2 number rows) inside a decoded JSON answer."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v, n)
    elif isinstance(value, list):
        if len(value) == n and all(isinstance(v, int | float) for v in value):
            yield [float(v) for v in value]
        elif len(value) == n and all(
            isinstance(v, list) and v and all(isinstance(x, int | float) for x in v) for v in value
        ):
            yield [float(v[-1]) for v in value]  # probability rows: the positive class is last
        elif len(value) == n and all(isinstance(v, dict) for v in value):
            for key in value[0]:
                column = [v.get(key) for v in value]
                if all(isinstance(x, int | float) for x in column):
                    yield [float(x) for x in column]
        else:
            for v in value:
                yield from _numbers(v, n)


def check_answer(raw: bytes, size: int, meta: dict[str, Any]) -> dict[str, Any]:
    """Whether the answer holds the in-process probabilities (or labels) of the records."""
    excerpt = raw[:300].decode(errors="replace")
    try:
        answer = json.loads(raw)
    except ValueError:
        return {"json": False, "matches_model": None, "excerpt": excerpt}
    proba, labels = meta["expected_proba"][:size], meta["expected_label"][:size]
    match = None
    for found in _numbers(answer, size):
        if all(abs(a - b) < 1e-6 for a, b in zip(found, proba, strict=True)):
            match = "probabilities"
            break
        if found == [float(v) for v in labels]:
            match = "labels"
    return {"json": True, "matches_model": match, "excerpt": excerpt}


def measure_server(
    server: Server, meta: dict[str, Any], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    port = free_port()
    server.command = [c.replace("{port}", str(port)) for c in server.command]
    log = work / f"{server.target}.log"
    record: dict[str, Any] = {"workers": server.workers, "notes": server.notes, "cells": {}}
    try:
        with running(server, port, log, args.ready_timeout) as startup:
            record["startup_s"] = startup
            url = f"http://127.0.0.1:{port}{server.predict_path}"
            for size in SIZES:
                body = server.bodies[size].read_bytes()
                status, raw = _http(url, body)
                record.setdefault("checks", {})[str(size)] = {
                    "status": status,
                    **check_answer(raw, size, meta),
                }
                if status != 200:
                    record["cells"][str(size)] = {"error": f"HTTP {status}: {raw[:300]!r}"}
                    print(f"  {server.target} {size}-row: HTTP {status} {raw[:200]!r}", flush=True)
                    continue
                script = work / f"{server.target}-{size}.lua"
                script.write_text(wrk_script(body))
                cells: dict[str, Any] = {}
                for c in args.concurrency:
                    if args.warmup > 0:
                        run_wrk(url, script, c, args.warmup, args.wrk_timeout)
                    runs = [
                        parse_wrk(run_wrk(url, script, c, args.duration, args.wrk_timeout))
                        for _ in range(args.repeats)
                    ]
                    cells[str(c)] = cell = median_cell(runs)
                    print(
                        f"  {server.target} {size}-row c={c}: {cell['rps']:,.0f} req/s, "
                        f"p50 {cell['p50_ms']:.2f} ms, p99 {cell['p99_ms']:.2f} ms, "
                        f"{cell['errors']} errors",
                        flush=True,
                    )
                record["cells"][str(size)] = cells
    except (ServerFailed, RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        record.update(ok=False, error=str(exc))
    else:
        record["ok"] = True
    text = log.read_text(errors="replace") if log.exists() else ""
    record["log_tail"] = _tail(text, 2000)
    if not record["ok"]:
        print(f"  {server.target} FAILED: {record['error']}\n{_tail(text, 1500)}", flush=True)
    return record


# -- targets ---------------------------------------------------------------------------------


def _worker_run(
    python: Path,
    name: str,
    work: Path,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    command = [str(python), str(Path(__file__).resolve()), "--worker", name, "--work", str(work)]
    done = subprocess.run(
        [*command, *extra], capture_output=True, text=True, env=env or _base_env(), timeout=900
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {name} failed (exit {done.returncode}):\n{_tail(done.stderr)}")
    return json.loads(lines[-1])


def _base_env(python: Path | None = None) -> dict[str, str]:
    """This environment without the tools' settings, no telemetry, the venv's bin/ on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLCYCLE_", "MLFLOW_", "BENTOML_", "UVICORN_"))
    }
    env |= NO_NETWORK | {"PYTHONUNBUFFERED": "1"}
    if python is not None:
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _bodies(work: Path, prefix: str = "") -> dict[int, Path]:
    return {size: work / f"{prefix}body-{size}.json" for size in SIZES}


def hello_server(work: Path) -> Server:
    python = mlcycle_python()
    shutil.copyfile(_HERE / "serving_hello.py", work / "serving_hello.py")
    command = [str(python), "-m", "uvicorn", "serving_hello:app", "--app-dir", str(work)]
    command += ["--host", "127.0.0.1", "--port", "{port}", "--workers", "1"]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    return Server(
        "hello", command, "/readyz", PREDICT_PATH, _bodies(work), python, _base_env(python)
    )


def mlcycle_server(work: Path) -> Server:
    python = mlcycle_python()
    cli = python.parent / "mlcycle"
    home = work / "mlcycle-home"
    env = _base_env(python) | {"MLCYCLE_HOME": str(home)}
    probe = subprocess.run([str(cli), "serve", "--help"], capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        raise ServerFailed(
            "`mlcycle serve` is not available in .venv yet "
            f"({_tail((probe.stderr or probe.stdout).strip(), 300)})"
        )
    _worker_run(python, "mlcycle-register", work, env)
    command = [str(cli), "serve", f"{MODEL_NAME}@{ALIAS}", "--host", "127.0.0.1"]
    command += ["--port", "{port}", "--no-access-log"]
    return Server("mlcycle", command, "/readyz", PREDICT_PATH, _bodies(work), python, env)


def bentoml_server(work: Path, batched: bool) -> Server:
    python = bench_venv("bentoml", BENTOML_REQUIREMENTS, BENTOML_PROBE)
    home = work / "bentoml-home"
    env = _base_env(python) | {"BENTOML_HOME": str(home)}
    if not (home / "models" / BENTOML_TAG).exists():
        _worker_run(python, "bentoml-save", work, env)
    svc = work / "bentoml-service"
    svc.mkdir(exist_ok=True)
    shutil.copyfile(_HERE / "serving_bentoml.py", svc / "serving_bentoml.py")
    name = "Batched" if batched else "Unbatched"
    command = [str(python.parent / "bentoml"), "serve", f"serving_bentoml:{name}"]
    command += ["--working-dir", str(svc), "--host", "127.0.0.1", "--port", "{port}"]
    notes = ["access log off (service config)"]
    if batched:
        notes.append("batchable API, max_batch_size 1000 records, max_latency_ms default")
    return Server(
        "bentoml" if batched else "bentoml-nobatch", command, "/readyz", "/predict",
        _bodies(work), python, env, cwd=svc, notes=notes,
    )  # fmt: skip


def mlflow_server(work: Path) -> Server:
    python = bench_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE)
    store = work / "mlflow"
    store.mkdir(exist_ok=True)
    env = _base_env(python) | {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    logged = _worker_run(python, "mlflow-log", work, env)
    command = [str(python.parent / "mlflow"), "models", "serve", "-m", logged["model_uri"]]
    command += ["-h", "127.0.0.1", "-p", "{port}", "-w", "1", "--env-manager", "local"]
    # mlflow builds uvicorn's command line itself; uvicorn reads UVICORN_* options from the env
    env["UVICORN_ACCESS_LOG"] = "false"
    notes = ["access log off (UVICORN_ACCESS_LOG=false)", "uvicorn defaults: asyncio loop, h11"]
    bodies = _bodies(work, "mlflow-")
    return Server(
        "mlflow", command, "/ping", "/invocations", bodies, python, env, cwd=store, notes=notes
    )


def measure_target(
    target: str, meta: dict[str, Any], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Measure one target; a record with ok False (and why) when it cannot be measured."""
    t0 = time.perf_counter()
    base: dict[str, Any] = {"target": target, "label": SHOWN[target]}
    base["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    base["loadavg_before"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if target == "inprocess":
        seconds = min(args.duration, 3.0)
        try:
            out = _worker_run(
                mlcycle_python(), "inprocess", work, extra=("--seconds", f"{seconds}")
            )
        except RuntimeError as exc:
            return {**base, "ok": False, "error": str(exc)}
        versions = out.pop("versions")
        variants = {
            name: {str(s): {**cell, "errors": 0} for s, cell in sizes.items()}
            for name, sizes in out.items()
        }
        return {
            **base, "ok": True, "kind": "inprocess", "workers": 1, "variants": variants,
            "versions": versions, "seconds_per_loop": seconds,
            "wall_s": time.perf_counter() - t0,
        }  # fmt: skip
    try:
        if target == "hello":
            server = hello_server(work)
        elif target == "mlcycle":
            server = mlcycle_server(work)
        elif target in ("bentoml", "bentoml-nobatch"):
            server = bentoml_server(work, batched=target == "bentoml")
        else:
            server = mlflow_server(work)
        versions = _probe_versions(server)
    except (ServerFailed, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"  {target} skipped: {exc}", flush=True)
        return {**base, "ok": False, "skipped": True, "error": str(exc)}
    record = measure_server(server, meta, args, work)
    return {**base, "kind": "http", "versions": versions, **record,
            "wall_s": time.perf_counter() - t0}  # fmt: skip


def _probe_versions(server: Server) -> dict[str, str]:
    command = [str(server.python), str(Path(__file__).resolve()), "--versions"]
    done = subprocess.run(command, capture_output=True, text=True, env=server.env)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": _tail(done.stderr, 500)}


# -- cache -----------------------------------------------------------------------------------


def _key(meta: dict[str, Any], args: argparse.Namespace, target: str) -> dict[str, Any]:
    """What a cached record must share with this run to stand in for a fresh measurement."""
    key: dict[str, Any] = {"cache_version": CACHE_VERSION, "fingerprint": meta["fingerprint"]}
    if target == "inprocess":
        return key | {"seconds_per_loop": min(args.duration, 3.0)}
    return key | {
        "duration": args.duration,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "concurrency": list(args.concurrency),
        "wrk_threads": 1,
        "wrk_timeout": args.wrk_timeout,
    }


def _cached(
    target: str, key: dict[str, Any], args: argparse.Namespace, previous: dict[str, Any]
) -> dict[str, Any] | None:
    if target in previous:
        record = previous[target]
    else:
        path = args.results_dir / f"{target}.json"
        if not path.exists():
            print(f"  {target}: nothing cached in {path}; measuring", flush=True)
            return None
        record = json.loads(path.read_text())
    if not record.get("ok"):
        print(f"  {target}: the cached result is a failure; measuring", flush=True)
        return None
    if record.get("key") != key:
        differ = sorted(k for k in key if (record.get("key") or {}).get(k) != key[k])
        print(
            f"  {target}: cached with other settings ({', '.join(differ)}); measuring", flush=True
        )
        return None
    return {**record, "reused": True}


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
        "driver_python": platform.python_version(),
        "wrk": wrk_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated targets (default: {','.join(TARGETS)})")
    parser.add_argument("--reuse", default="", help="targets taken from the cache / --reuse-from")
    parser.add_argument("--reuse-from", type=Path, help="a --json file of an earlier run to reuse")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each")
    parser.add_argument("--repeats", type=int, default=1, help="wrk runs per cell; median kept")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--wrk-timeout", type=float, default=10.0, help="wrk's request timeout s")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="server start, s")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "serving-results")
    parser.add_argument("--json", type=Path, help="also write all results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor fails")
    parser.add_argument("--setup", action="store_true", help="install the rivals' venvs only")
    parser.add_argument("--worker", choices=[*WORKERS, "inprocess"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--versions", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.versions:
        print(json.dumps(_versions()))
        return
    if args.worker:
        worker(args)
        return
    if args.setup:
        print(bench_venv("bentoml", BENTOML_REQUIREMENTS, BENTOML_PROBE, force=True))
        print(bench_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE, force=True))
        return
    targets = args.only.split(",") if args.only else list(TARGETS)
    reuse = set(args.reuse.split(",")) - {""}
    if set(targets) - set(TARGETS) or reuse - set(TARGETS):
        parser.error(f"--only and --reuse take {', '.join(TARGETS)}")
    targets = [t for t in TARGETS if t in targets or t in reuse]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if shutil.which("wrk") is None and set(targets) - {"inprocess"}:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if args.duration <= 0 or args.repeats < 1 or args.warmup < 0:
        parser.error("--duration must be > 0, --repeats >= 1 and --warmup >= 0")
    previous: dict[str, Any] = {}
    if args.reuse_from:
        previous = json.loads(args.reuse_from.read_text())["results"]

    # `timeout`, `kill`: unwind like Ctrl-C, so that the servers are stopped and the folder removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = _machine()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="mlcycle-bench-serving-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        meta = _worker_run(mlcycle_python(), "prepare", work)
        print(
            f"model: LGBMClassifier, {N_TREES} trees, {N_FEATURES} features, trained in "
            f"{meta['fit_seconds']:.1f} s; bodies {meta['body_bytes']['1']:,} and "
            f"{meta['body_bytes'][str(BIG)]:,} bytes; fingerprint {meta['fingerprint']}",
            flush=True,
        )
        args.results_dir.mkdir(parents=True, exist_ok=True)
        for target in targets:
            key = _key(meta, args, target)
            record = _cached(target, key, args, previous) if target in reuse else None
            if record is None:
                load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
                print(f"[{target}] {SHOWN[target]} (load average {load:.2f})", flush=True)
                record = {**measure_target(target, meta, args, work), "key": key}
                if record.get("ok"):
                    (args.results_dir / f"{target}.json").write_text(json.dumps(record, indent=1))
            else:
                print(f"[{target}] {SHOWN[target]}: cached result of {record['when']}", flush=True)
            results[target] = record
    finally:
        if args.keep:
            print(f"temporary folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    checked = floors(results, args.concurrency) if "mlcycle" in results else []
    for size in SIZES:
        print(f"\n{'Single-row' if size == 1 else f'{size}-row'} JSON body:\n")
        print(table(results, size, args.concurrency, md=False))
    notes = [
        f"wrk -t1, {args.duration:g} s per run after {args.warmup:g} s of warm-up, median of "
        f"{args.repeats} run(s); req/s as wrk counts them (all answers); errors = non-2xx + socket "
        "errors; in-process: calls/s of one thread and the latency of one call.",
        f"{machine['platform']}, {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"{machine['wrk']}, {machine['date']}.",
        version_line(results),
    ]
    for target, record in results.items():
        if record.get("notes"):
            notes.append(f"{target}: " + "; ".join(record["notes"]))
        for size, check in (record.get("checks") or {}).items():
            if check.get("status") == 200 and target != "hello" and not check["matches_model"]:
                excerpt = check["excerpt"][:120]
                notes.append(f"{target} {size}-row: answer not the model's predictions? {excerpt}")
    print("\n" + "\n".join(f"- {n}" for n in notes if n))
    if checked:
        print("\nFloors (issue): ")
        for f in checked:
            mark = "n/a " if f["pass"] is None else "PASS" if f["pass"] else "FAIL"
            print(f"  {mark}  {f['floor']}: {f['measured']}")
    elif "mlcycle" in results:
        print("\nFloors: mlcycle was not measured, so none is evaluated.")
    print("\nMarkdown for docs/benchmarks.md:\n")
    for size in SIZES:
        print(f"{'Single-row' if size == 1 else f'{size}-row'} body:\n")
        print(table(results, size, args.concurrency, md=True))
        print()
    if checked:
        print("| floor | measured | result |\n|---|---|---|")
        for f in checked:
            print(f"| {f['floor']} | {f['measured']} | {verdict(f['pass'])} |")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        payload = {
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                         if k not in ("worker", "work", "seconds", "versions", "setup")},
            "machine": machine,
            "model": {k: v for k, v in meta.items() if not k.startswith("expected")},
            "results": results,
            "floors": checked,
        }  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
    if args.strict and (not checked or not all(f["pass"] for f in checked)):
        sys.exit(1)


if __name__ == "__main__":
    main()
