"""Serving verbs: ``mlcycle serve`` (the HTTP model server)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlcycle.cli._app import _errors, app, err, shown


@app.command(rich_help_panel="Serve")
@_errors
def serve(
    models: Annotated[
        list[str],
        typer.Argument(help="What to serve: NAME@ALIAS, NAME/VERSION or NAME (latest)."),
    ],
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Server processes.")] = 1,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require API keys (default: on unless bound to loopback; never off beyond it).",
        ),
    ] = None,
    route: Annotated[
        list[str] | None,
        typer.Option(
            "--route",
            help="Split a name's traffic: --route NAME ALIAS=W,ALIAS=W (e.g. --route churn "
            "production=90,canary=10); sticky by the request's 'key'.",
        ),
    ] = None,
    shadow: Annotated[
        list[str] | None,
        typer.Option(
            "--shadow",
            help="Score with a second alias too and log it, answer with the first: NAME=ALIAS.",
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="auto (ONNX Runtime where it converts), onnx or native.")
    ] = "auto",
    anomaly_scores: Annotated[
        bool,
        typer.Option(
            "--anomaly-scores",
            help="Score each row with the bundle's anomaly detector (~15 ms a batch).",
        ),
    ] = False,
    log_sample: Annotated[
        float, typer.Option("--log-sample", help="Share of requests written to the prediction log.")
    ] = 1.0,
    no_log: Annotated[
        bool, typer.Option("--no-prediction-log", help="Do not write the prediction log.")
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="One JSON line per request on stderr."),
    ] = True,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", help="Longest wait to fill a micro-batch.")
    ] = 2.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a prediction may take before a 504.")
    ] = 10.0,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", help="Largest request body accepted (413 beyond).")
    ] = 16.0,
    header_timeout: Annotated[
        float,
        typer.Option("--header-timeout", help="Seconds a request's headers may take (408)."),
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option("--body-timeout", help="Seconds a request's body may take (408).")
    ] = 30.0,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Open connections per worker, all clients.")
    ] = 1000,
    max_connections_per_client: Annotated[
        int,
        typer.Option(
            "--max-connections-per-client",
            help="Open connections per client address (behind a proxy, the proxy is one).",
        ),
    ] = 128,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host name the server answers to (repeat; default: the loopback names, or "
            "any name beyond loopback).",
        ),
    ] = None,
) -> None:
    """Serve models over HTTP (FastAPI on uvicorn): predict, explain, feedback, metrics.

    The server follows each alias: mlcycle promote or rollback swaps the version in place.
    """
    from mlcycle.serving import prepare, run_server

    models, routes = _routes(models, route or [])
    config = prepare(
        models,
        host=host,
        port=port,
        workers=workers,
        auth=auth,
        routes=routes,
        shadows=dict(_pair(s, "--shadow") for s in shadow or []),
        engine=engine,
        anomaly_scores=anomaly_scores,
        log_predictions=not no_log,
        log_sample=log_sample,
        access_log=access_log,
        max_wait_ms=max_wait_ms,
        request_timeout=timeout,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        max_connections_per_client=max_connections_per_client,
        allowed_hosts=allowed_host or None,
    )
    auth_note = "API keys required" if config.auth else "no auth (loopback only)"
    err.print(
        f"[green]Serving[/] {shown(', '.join(models))} on http://{config.host}:{config.port} "
        f"({auth_note}); docs at /docs, metrics at /metrics."
    )
    run_server(config)


def _routes(args: list[str], names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Pair ``--route NAME SPEC``: the shell gives SPEC (it has '=') as a positional."""
    from mlcycle.exceptions import BadParameterError

    specs = [a for a in args if "=" in a]
    refs = [a for a in args if "=" not in a]
    routes = dict(_pair(n, "--route") for n in names if "=" in n)
    bare = [n for n in names if "=" not in n]
    if len(bare) != len(specs):
        raise BadParameterError(
            "Each --route takes a name and a split, e.g. --route churn production=90,canary=10."
        )
    routes.update(zip(bare, specs, strict=True))
    return refs, routes


def _pair(text: str, option: str) -> tuple[str, str]:
    from mlcycle.exceptions import BadParameterError

    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise BadParameterError(
            f"{option} takes NAME=VALUE (e.g. {option} churn=production=90,canary=10); "
            f"got {text!r}."
        )
    return name, value
