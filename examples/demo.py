"""The mlcycle demo on the embedded default store (SQLite + local files, no server to start).

Runs the main job on a bundled data set (scikit-learn's breast cancer table, written to CSV
as a user's file would be): profile → validate → AutoML search → evaluate → explain →
register → ``staging``. Then promotes the version to ``production``, loads it back by alias
(no unpickling, every file hash-verified), starts ``mlcycle serve`` on loopback, sends one
valid and one invalid request, prints both answers and the model card's path, and stops
the server with SIGTERM (it drains and writes its prediction log).

``MLCYCLE_DEMO_BUDGET`` sets the search budget in seconds (default 30).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

OUTPUT = Path("demo-output")
HOME = Path(os.environ.setdefault("MLCYCLE_HOME", str(OUTPUT / ".mlcycle")))
BUDGET = os.environ.get("MLCYCLE_DEMO_BUDGET", "30")


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    from rich.console import Console
    from sklearn.datasets import load_breast_cancer

    import mlcycle

    console = Console()
    started = time.perf_counter()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = OUTPUT / "breast-cancer.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    X.assign(diagnosis=y.map({0: "malignant", 1: "benign"})).to_csv(data, index=False)
    console.print(f"[bold]data:[/] {data} ({len(X)} rows, {X.shape[1]} features)")

    cli = [sys.executable, "-m", "mlcycle.cli"]
    os.environ.setdefault("COLUMNS", "140")  # readable tables when output is not a terminal
    subprocess.run(
        [*cli, "run", str(data), "--target", "diagnosis", "--budget", BUDGET], check=True
    )
    card = sorted((HOME / "reports").rglob("*card*.html"))
    subprocess.run([*cli, "promote", "breast-cancer", "1", "--alias", "production"], check=True)

    loaded = mlcycle.load_model("breast-cancer@production")
    rows = X.tail(3)
    proba = loaded.predict_proba(rows)[:, list(loaded.load().classes_).index("benign")]
    console.print(
        f"breast-cancer@production predicts {list(loaded.predict(rows))} "
        f"(P(benign) {proba.round(3).tolist()}) for 3 rows"
    )
    subprocess.run([*cli, "versions", "breast-cancer"], check=True)

    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "breast-cancer@production", "--port", str(port), "--no-access-log"]
    )
    url = f"http://127.0.0.1:{port}/v1/models/breast-cancer/predict"
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        good = {"records": [{k: float(v) for k, v in X.iloc[-1].items()}]}
        bad = {"records": [{**good["records"][0], "mean radius": "large"}]}
        bad["records"][0].pop("worst area")
        for label, body in (("valid", good), ("invalid", bad)):
            status, answer = _post(url, body)
            console.print(f"[bold]{label} request[/] -> HTTP {status}")
            console.print_json(json.dumps(answer))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    console.print(f"[bold]model card:[/] {card[-1].resolve() if card else '(not written)'}")
    console.print(
        f"[green]demo finished[/] in {time.perf_counter() - started:.1f}s; "
        f"workspace: {HOME.resolve()}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit("mlcycle serve exited before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise SystemExit("mlcycle serve did not become ready in 2 minutes")


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


if __name__ == "__main__":
    main()
