"""``mlcycle serve``: check the request, then run the app on uvicorn (uvloop, httptools).

The checks come first, so that a wrong reference or an unsafe setting is one clear error
instead of a server that starts and fails: every model reference must resolve and carry a
schema; a server bound beyond loopback always requires API keys, and refuses to start
open or without any key to accept. SIGTERM stops accepting connections, lets running
requests finish (up to ``drain_seconds``), then writes the prediction log.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
from typing import Any

from mlcycle.exceptions import BundleError, ConfigError
from mlcycle.serving._config import ServeConfig, build_config, is_loopback

__all__ = ["app_from_env", "check_exposure", "prepare", "run_server", "serve", "uvicorn_options"]

CONFIG_ENV = "MLCYCLE_SERVE_CONFIG"
logger = logging.getLogger("mlcycle.serve")


def prepare(
    models: str | list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    auth: bool | None = None,
    routes: dict[str, str] | None = None,
    shadows: dict[str, str] | None = None,
    workspace: Any = None,
    **settings: Any,
) -> ServeConfig:
    """The checked configuration of a server; raises :class:`MlcycleError` when unsafe."""
    from mlcycle.registry import get_workspace, load_model

    refs = [models] if isinstance(models, str) else list(models)
    if auth is None:
        auth = not is_loopback(host)
    ws = workspace or get_workspace()
    check_exposure(host, auth, ws)
    config = build_config(
        refs, routes=routes, shadows=shadows, host=host, port=port, workers=workers,
        auth=auth, **settings,
    )  # fmt: skip
    for name, route in config.models.items():
        for target in route.targets:
            ref = _ref(name, target)
            bundle = load_model(ref, workspace=ws)
            if bundle.schema is None or not bundle.schema.feature_names:
                raise BundleError(
                    f"{ref} has no input schema; serving needs one to check requests. "
                    "Register it with schema=Schema.from_dataframe(X)."
                )
    return config


def check_exposure(host: str, auth: bool, workspace: Any = None) -> None:
    """Refuse a server that would be open beyond loopback, or that requires keys with none
    to accept: :func:`prepare` and :func:`run_server` both ask this, so a configuration built
    by hand cannot skip it."""
    from mlcycle.registry import list_keys

    if not auth and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve on {host} without API keys: anyone who can reach it could use "
            "the models. Drop --no-auth (keys are then required), or bind to 127.0.0.1."
        )
    if auth and all(k.revoked_at is not None for k in list_keys(workspace=workspace)):
        raise ConfigError(
            "Auth is on but there is no API key to accept; create one first: "
            "mlcycle keys create --role predict."
        )


def _ref(name: str, target: str) -> str:
    if target == "latest":
        return name
    if target.startswith("v") and target[1:].isdigit():
        return f"{name}/{target[1:]}"
    return f"{name}@{target}"


def serve(models: str | list[str], **options: Any) -> None:
    """Serve registered models over HTTP until stopped (Ctrl-C or SIGTERM).

    >>> mlcycle.serve("churn@production", port=8000)  # doctest: +SKIP
    >>> mlcycle.serve(["churn@production", "churn@canary"],
    ...               routes={"churn": "production=90,canary=10"})  # doctest: +SKIP

    Options: ``host``, ``port``, ``workers``, ``auth`` (default: on beyond loopback),
    ``routes`` ({name: "alias=weight,..."}), ``shadows`` ({name: alias}), ``engine``
    (auto, onnx, native), ``log_sample``, ``access_log``, ``max_wait_ms``,
    ``request_timeout``, ``max_body_bytes`` and the other fields of :class:`ServeConfig`.
    """
    config = prepare(models, **options)
    run_server(config)


def _configure_logging(config: ServeConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("mlcycle.access")
    access.handlers[:] = [handler]
    access.setLevel(logging.INFO)
    access.propagate = False
    served = logging.getLogger("mlcycle.serve")
    if not served.handlers:
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(levelname)s:     mlcycle: %(message)s"))
        served.addHandler(plain)
    served.setLevel(logging.INFO)
    served.propagate = False


def run_server(config: ServeConfig) -> None:
    """Run uvicorn with ``config``, refusing it as :func:`prepare` does when it is unsafe."""
    import uvicorn

    check_exposure(config.host, config.auth)
    _configure_logging(config)
    common = uvicorn_options(config)
    if config.workers == 1:
        from mlcycle.serving._app import create_app

        uvicorn.Server(uvicorn.Config(create_app(config), **common)).run()
        return
    os.environ[CONFIG_ENV] = config.model_dump_json()
    with tempfile.TemporaryDirectory(prefix="mlcycle-prometheus-") as folder:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", folder)
        uvicorn.run(
            "mlcycle.serving._server:app_from_env", factory=True, workers=config.workers, **common
        )


def uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    """uvicorn's settings for ``config``: uvloop where installed, and httptools behind the
    connection guard (read deadlines, connection caps: :mod:`mlcycle.serving._guard`)."""
    from mlcycle.serving._guard import ConnectionGuard, GuardedProtocol

    # A partial, not a class made on the fly, so that it pickles to the worker processes;
    # each worker then counts its own connections.
    protocol: Any = functools.partial(GuardedProtocol, guard=ConnectionGuard.of(config))
    return {
        "host": config.host,
        "port": config.port,
        "loop": _loop(),
        "http": protocol,
        "access_log": False,
        "timeout_graceful_shutdown": int(config.drain_seconds),
        "log_level": "info",
        "server_header": False,
    }


def app_from_env() -> Any:
    """The app of one uvicorn worker process, from the configuration its parent exported."""
    from mlcycle.serving._app import create_app

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set; start workers with mlcycle serve.")
    config = ServeConfig.model_validate_json(text)
    _configure_logging(config)
    return create_app(config)


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
