"""Served models and live servers: real uvicorn on 127.0.0.1, real bundles, real registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

import mlcycle
from mlcycle.schema import Schema
from mlcycle.serving import build_config, create_app
from mlcycle.serving._server import uvicorn_options

FEATURES = [f"f{i}" for i in range(8)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def numeric_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    y = (X["f0"] + 0.5 * X["f1"] - X["f2"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y.to_numpy()


def register_lgbm(
    name: str = "bench", alias: str = "production", seed: int = 0, trees: int = 30
) -> Any:
    import lightgbm as lgb

    X, y = numeric_frame(seed=seed)
    model = lgb.LGBMClassifier(n_estimators=trees, verbose=-1, random_state=seed).fit(X, y)
    return mlcycle.register_model(
        name, model, schema=Schema.from_dataframe(X), alias=alias, metrics={"auc": 0.9}
    )


def register_pipeline(name: str = "plans", alias: str = "production") -> Any:
    """A scikit-learn pipeline with a category column, a boolean and a missing-value column."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mlcycle.data import build_preparer

    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "active": rng.random(n) < 0.5,
    })  # fmt: skip
    target = np.where((frame["plan"] == "pro") | (frame["age"] > 60), "yes", "no")
    frame["churned"] = target
    X = frame.drop(columns="churned")
    model = make_pipeline(build_preparer(X, task="binary"), LogisticRegression(max_iter=500))
    model.fit(X, target)
    schema = Schema.from_dataframe(frame, target="churned")
    return mlcycle.register_model(name, model, schema=schema, alias=alias)


def record(row: int = 0, seed: int = 0) -> dict[str, float]:
    X, _ = numeric_frame(seed=seed)
    return {k: float(v) for k, v in X.iloc[row].items()}


class LiveServer:
    """A real uvicorn server on a free loopback port, run in a thread of this process, with
    the settings and connection guard that ``mlcycle serve`` gives uvicorn."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.app = create_app(config)
        options = {**uvicorn_options(config), "log_level": "warning", "loop": "asyncio"}
        self.server = uvicorn.Server(uvicorn.Config(self.app, lifespan="on", **options))
        self.url = f"http://127.0.0.1:{config.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def state(self) -> Any:
        return self.app.state.mlcycle

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def live(clean_env: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live(["bench@production"], **settings)`` starts a server; all stop at teardown."""
    started: list[LiveServer] = []

    def start(refs: list[str], **settings: Any) -> LiveServer:
        settings.setdefault("access_log", False)
        settings.setdefault("poll_interval", 0.2)
        config = build_config(refs, port=free_port(), **settings)
        server = LiveServer(config).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__(None, None, None)


def cli_server(
    args: list[str], home: Path, *, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``mlcycle serve ARGS`` in a subprocess; returns it and its URL once /readyz is 200."""
    port = free_port()
    full_env = {**os.environ, "MLCYCLE_HOME": str(home), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcycle.cli", "serve", *args, "--port", str(port)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlcycle serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("mlcycle serve did not become ready")
