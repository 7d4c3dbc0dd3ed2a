"""The HTTP app: predict, explain, feedback, model listings, health and metrics.

Built on FastAPI for routing and the OpenAPI document, with the hot path kept lean: bodies
are read and parsed once with orjson, checked by a compiled schema, scored in
micro-batches and answered with orjson. Every request goes through one pure-ASGI layer
that gives it an id, checks its ``Host`` and (on a POST) that the body is JSON, refuses
oversize bodies before they are read, checks the API key (always for feedback and admin
routes), reads the body before counting the request in flight, counts it in Prometheus
and writes one JSON access-log line. Below it, the connection guard (``_guard.py``) puts
deadlines on reading a request and caps the connections a client may hold.

A background thread follows each served alias: when ``mlcycle promote`` or ``rollback``
moves it, the new version is first loaded and test-predicted in a child process (a crafted
model can crash only that), then loaded beside the old one and swapped in; requests already
running finish on the version they started with.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import random
import threading
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from mlcycle._version import __version__
from mlcycle.exceptions import BundleError, MlcycleError, error_status
from mlcycle.predlog import PRIMARY
from mlcycle.serving import _handlers as handlers
from mlcycle.serving import _openapi as api
from mlcycle.serving._batcher import MicroBatcher
from mlcycle.serving._config import ServeConfig, is_loopback
from mlcycle.serving._input import RequestError
from mlcycle.serving._metrics import CONTENT_TYPE_LATEST, ServerMetrics
from mlcycle.serving._model import ServedModel, load_served_model

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from mlcycle.registry import ModelVersion, Workspace
    from mlcycle.serving._predlog import FeedbackLog, PredictionLog, RefusalLog

__all__ = ["ServerState", "create_app"]

logger = logging.getLogger("mlcycle.serve")
access = logging.getLogger("mlcycle.access")

_JSON = "application/json"
_OPEN = {"/healthz", "/readyz"}


# -- state ---------------------------------------------------------------------------------


@dataclass
class Slot:
    """One target of a served name (an alias, a pinned ``vN`` or ``latest``)."""

    name: str
    target: str
    model: ServedModel | None = None
    batcher: MicroBatcher = field(default_factory=MicroBatcher)
    failed_version: int | None = None
    failed_at: float = 0.0
    refused: str | None = None
    """Why the version the alias names now is not served (None when it is)."""

    @property
    def ref(self) -> str:
        if self.target == "latest":
            return self.name
        if self.target.startswith("v") and self.target[1:].isdigit():
            return f"{self.name}/{self.target[1:]}"
        return f"{self.name}@{self.target}"

    @property
    def follows(self) -> bool:
        return not (self.target.startswith("v") and self.target[1:].isdigit())


@dataclass
class NameRoute:
    """How one name's traffic is split, and its shadow."""

    slots: list[Slot]
    weights: list[float]
    shadow: Slot | None

    def pick(self, key: str | None) -> Slot:
        if len(self.slots) == 1:
            return self.slots[0]
        total = sum(self.weights)
        point = (
            (zlib.crc32(key.encode()) % 10_000) / 10_000 * total if key else random.random() * total
        )
        for slot, weight in zip(self.slots, self.weights, strict=True):
            if point < weight:
                return slot
            point -= weight
        return self.slots[-1]


class ServerState:
    """Everything one app serves: slots, routes, logs, metrics and the key verifier."""

    def __init__(self, config: ServeConfig, workspace: Workspace) -> None:
        self.config = config
        self.workspace = workspace
        self.metrics = ServerMetrics()
        self.slots: dict[tuple[str, str], Slot] = {}
        self.routes: dict[str, NameRoute] = {}
        for name, route in config.models.items():
            for target in route.targets:
                self.slots[(name, target)] = Slot(name, target, batcher=self._batcher())
            self.routes[name] = NameRoute(
                [self.slots[(name, t)] for t in route.weights if route.weights[t] > 0],
                [w for w in route.weights.values() if w > 0],
                self.slots[(name, route.shadow)] if route.shadow else None,
            )
        self.verifier: Any = None
        self.prediction_log: PredictionLog | None = None
        self.feedback_log: FeedbackLog | None = None
        self.refusal_log: RefusalLog | None = None
        self.in_flight = 0
        self.ready = False
        self._stop = threading.Event()
        self._swapping = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def _batcher(self) -> MicroBatcher:
        c = self.config
        return MicroBatcher(
            max_rows=c.max_batch_rows,
            max_wait=c.max_wait_ms / 1000,
            max_queue_rows=c.max_queue_rows,
            on_scored=self._scored,
        )

    def _scored(
        self, model: ServedModel, jobs: list[Any], columns: dict[str, list[Any]], outputs: Any
    ) -> None:
        """Log a scored batch in one piece (on the model thread); jobs carry their tags."""
        self.metrics.batch_rows.labels(model.name).observe(len(outputs.predictions))
        log = self.prediction_log
        if log is None:
            return
        keep = [bool(job.tag and job.tag[4]) for job in jobs]
        if not any(keep):
            return
        done = time.perf_counter()
        requests = [
            (rid, job.n_rows, (done - started) * 1000, alias, role)
            for job in jobs
            for rid, started, alias, role, _ in [job.tag or ("", done, None, PRIMARY, False)]
        ]
        log.append(
            model=model.name, version=model.version, schema=model.schema, classes=model.classes,
            requests=requests, columns=columns, predictions=outputs.predictions,
            probabilities=outputs.probabilities, timestamp=time.time(), keep=keep,
            anomaly=outputs.anomaly,
        )  # fmt: skip

    # -- loading and following aliases ---------------------------------------------------

    def _resolve(self, slot: Slot) -> ModelVersion:
        from mlcycle.registry import resolve_version

        return resolve_version(slot.ref, self.workspace)

    def _load(self, name: str, version: ModelVersion) -> ServedModel:
        c = self.config
        return load_served_model(
            name, version, self.workspace, engine=c.engine, anomaly_scores=c.anomaly_scores
        )

    def load_all(self) -> None:
        """Load every slot now (startup); errors propagate."""
        for slot in self.slots.values():
            version = self._resolve(slot)
            slot.model = self._load(slot.name, version)
            self._mark_loaded(slot, None)
        self.ready = True

    def _mark_loaded(self, slot: Slot, old: ServedModel | None) -> None:
        assert slot.model is not None
        if old is not None:
            self.metrics.loaded.labels(slot.name, str(old.version), slot.target).set(0)
        self.metrics.loaded.labels(slot.name, str(slot.model.version), slot.target).set(1)

    def check_aliases(self) -> list[tuple[str, str, int, int]]:
        """Swap in the version each followed alias names now; returns the swaps made."""
        with self._swapping:  # the watcher and /v1/admin/reload: one check at a time
            return self._check_aliases()

    def _check_aliases(self) -> list[tuple[str, str, int, int]]:
        swaps = []
        for slot in self.slots.values():
            if not slot.follows or slot.model is None:
                continue
            try:
                version = self._resolve(slot)
            except Exception as exc:  # alias deleted or DB unreachable: keep serving
                logger.warning(
                    "cannot resolve %s (%s); still serving v%s", slot.ref, exc, slot.model.version
                )
                continue
            if version.version == slot.model.version:
                slot.refused = None  # rolled back to the version served: nothing is refused
                continue
            if slot.failed_version == version.version and time.time() - slot.failed_at < 30:
                continue
            try:
                self._probe(slot, version)
                fresh = self._load(slot.name, version)
            except Exception as exc:
                slot.failed_version, slot.failed_at = version.version, time.time()
                slot.refused = f"version {version.version} was not swapped in: {exc}"
                logger.error(
                    "cannot load %s version %s (%s); still serving version %s",
                    slot.name, version.version, exc, slot.model.version,
                )  # fmt: skip
                continue
            slot.refused = None
            old, slot.model = slot.model, fresh
            gc.freeze()  # the new version joins the objects the collector never scans
            self._mark_loaded(slot, old)
            self.metrics.swaps.labels(slot.name, slot.target).inc()
            swaps.append((slot.name, slot.target, old.version, fresh.version))
            logger.info("%s: version %s -> %s", slot.ref, old.version, fresh.version)
        return swaps

    def _probe(self, slot: Slot, version: ModelVersion) -> None:
        """Load and test-predict ``version`` in a child process first: a bundle that would
        crash or hang the library loading it takes down the child, never this server and
        the models it serves (issue 14, finding 2)."""
        from mlcycle.registry import load_model
        from mlcycle.serving._probe import probe_bundle

        bundle = load_model(f"{slot.name}/{version.version}", workspace=self.workspace)
        c = self.config
        reason = probe_bundle(
            bundle, slot.name, version.version, engine=c.engine, anomaly_scores=c.anomaly_scores
        )
        if reason is not None:
            raise BundleError(reason)

    def _watch(self) -> None:
        last_keys = 0.0
        while not self._stop.wait(self.config.poll_interval):
            try:
                self.check_aliases()
                if self.verifier is not None and time.time() - last_keys >= 2.0:
                    self.verifier.refresh()
                    last_keys = time.time()
            except Exception:  # the watcher must outlive a bad poll
                logger.exception("the alias watcher failed once; retrying")

    def start(self) -> None:
        from mlcycle.predlog import feedback_root, predictions_root, refused_root
        from mlcycle.serving._predlog import FeedbackLog, PredictionLog, RefusalLog

        home = self.workspace.ensure_home()
        if self.config.log_predictions:
            self.prediction_log = PredictionLog(
                predictions_root(home), sample=self.config.log_sample
            )
            self.prediction_log.start()
            self.refusal_log = RefusalLog(refused_root(home))
            self.refusal_log.start()
        self.feedback_log = FeedbackLog(feedback_root(home))
        self.feedback_log.start()
        from mlcycle.serving._auth import KeyVerifier

        # Built even without auth: feedback and admin routes always need a key (finding 7).
        self.verifier = KeyVerifier(self.workspace)
        for slot in self.slots.values():
            slot.batcher.start()
        self._watcher = threading.Thread(target=self._watch, name="mlcycle-watch", daemon=True)
        self._watcher.start()

    async def stop(self) -> None:
        """Drain: finish queued work, then write the logs."""
        self.ready = False
        self._stop.set()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for slot in self.slots.values():
            await slot.batcher.drain()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        from mlcycle.serving._predlog import close_logs

        # every log closes, whichever fails: feedback is not lost to a prediction-log error
        for error in close_logs((self.prediction_log, self.refusal_log, self.feedback_log)):
            logger.error("a log could not be closed: %s", error)

    def keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)


# -- the ASGI layer: ids, body limit, auth, metrics, access log -----------------------------


def _needed_role(method: str, path: str) -> str | None:
    if path in _OPEN:
        return None
    if path.startswith("/v1/admin"):
        return "admin"
    if method == "POST" and path.startswith("/v1/models/"):
        return "predict"
    return "read"


_PATHS = {
    "/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics", "/v1/models": "models",
    "/v1/admin/reload": "admin/reload", "/openapi.json": "openapi.json", "/docs": "docs",
    "/docs/oauth2-redirect": "docs", "/redoc": "docs",
}  # fmt: skip
_MODEL_ROUTES = frozenset({"predict", "explain", "feedback"})


def _route_name(path: str) -> str:
    """The metrics label of ``path``: one of the server's own routes, or ``other``. Never the
    path itself: a label per path lets unauthenticated clients grow memory without bound
    (issue 14, finding 5)."""
    if path.startswith("/v1/models/"):
        tail = path[len("/v1/models/") :].split("/")
        if len(tail) == 1:
            return "model"
        return tail[1] if len(tail) == 2 and tail[1] in _MODEL_ROUTES else "other"
    return _PATHS.get(path, "other")


class Gate:
    """Pure ASGI middleware: the checks every request passes before any route runs."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state
        self.hosts = HostCheck.of(state.config)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = self.state
        headers = dict(scope["headers"])
        # Ids are the server's own, so that two clients never share a prediction id; the
        # client's X-Request-Id is kept beside it for correlation (issue 14, finding 8).
        request_id = os.urandom(12).hex()
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        correlation = given if 0 < len(given) <= 64 and given.isprintable() else None
        scope["mlcycle"] = info = {
            "request_id": request_id, "correlation_id": correlation, "model": "", "version": "",
            "rows": 0,
        }  # fmt: skip
        status_box = [500]  # until the response starts

        async def send_wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        method, path = scope["method"], scope["path"]
        try:
            refusal = self._check_request(method, path, headers, scope)
            if refusal is None:
                refusal = await self._check_key(method, path, headers, info)
            # The body is read before the request counts as in flight: a client sending it
            # slowly must not hold a place that others need (finding 6); the connection
            # guard's body deadline ends one that takes too long.
            body = None if refusal is not None else await _read_body(receive, state.config)
        except RequestError as refused:
            refusal = refused
        if refusal is not None:
            await _send_error(send_wrapped, refusal, request_id)
        elif body is None:
            status_box[0] = 408  # the body never came in full: cut off, or the client left
        elif state.in_flight >= state.config.max_in_flight:
            error = RequestError(
                429, "Too many requests in flight; retry shortly.", headers={"Retry-After": "1"}
            )
            await _send_error(send_wrapped, error, request_id)
        else:
            state.in_flight += 1
            replay = _replay(body, receive)
            try:
                name = _fast_lane(method, path)
                if name is not None and name in state.routes:
                    await _answer_predict(state, name, scope, replay, send_wrapped)
                else:
                    await self.app(scope, replay, send_wrapped)
            finally:
                state.in_flight -= 1
        seconds = time.perf_counter() - started
        status = status_box[0]
        model, version = str(info["model"]), str(info["version"])
        state.metrics.observe(model, version, _route_name(path), status, seconds)
        if state.config.access_log:
            access.info(
                orjson.dumps({
                    "ts": time.time(),
                    "request_id": request_id,
                    "correlation_id": correlation,
                    "method": method,
                    "path": path,
                    "status": status,
                    "ms": round(seconds * 1000, 3),
                    "model": info["model"] or None,
                    "version": info["version"] or None,
                    "rows": info["rows"],
                    "client": (scope.get("client") or ("", 0))[0],
                }).decode()
            )  # fmt: skip

    def _check_request(
        self, method: str, path: str, headers: dict[bytes, bytes], scope: dict[str, Any]
    ) -> RequestError | None:
        """The checks that need no key: Host, body size and, on a POST, a JSON body."""
        if path not in _OPEN:  # health checks tell a rebinding page nothing worth reading
            refusal = self.hosts.refusal(headers.get(b"host"), scope.get("server"))
            if refusal is not None:
                return refusal
        length = headers.get(b"content-length")
        limit = self.state.config.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            return _too_large(limit)
        if method == "POST":
            # A web page can POST text/plain or a form to any address without a preflight,
            # never JSON: requiring it keeps other sites off these routes (finding 7).
            given = headers.get(b"content-type", b"")
            if given.split(b";")[0].strip().lower() != _JSON.encode():
                shown = given.decode("latin-1")[:60] or "none"
                return RequestError(
                    415, f"Send the body as JSON, with 'Content-Type: {_JSON}' (got {shown})."
                )
        return None

    async def _check_key(
        self, method: str, path: str, headers: dict[bytes, bytes], info: dict[str, Any]
    ) -> RequestError | None:
        verifier = self.state.verifier
        needed = _needed_role(method, path)
        if needed is None or not (self.state.config.auth or _always_keyed(path)):
            return None
        from mlcycle.registry import parse_key, role_allows

        raw = headers.get(b"authorization") or headers.get(b"x-api-key")
        credentials = raw.decode("latin-1") if raw else None
        decided, role = verifier.check_cached(credentials)
        if not decided:  # a key not seen before: one scrypt, off the event loop
            role = await asyncio.to_thread(verifier.check, credentials)
        if role is None:
            if raw:
                say = "The API key is not valid (unknown, malformed or revoked)."
            elif self.state.config.auth:
                say = "A valid API key is required: send 'Authorization: Bearer <key>'."
            else:
                say = (
                    "Feedback and admin routes need an API key even on loopback, so that web "
                    "pages and other programs cannot write labels or reload models: create one "
                    f"with 'mlcycle keys create --role {needed}' and send "
                    "'Authorization: Bearer <key>'."
                )
            return RequestError(401, say, headers={"WWW-Authenticate": "Bearer"})
        parsed = parse_key(credentials.split()[-1]) if credentials else None
        info["actor"] = f"api-key:{parsed[0]}" if parsed else "api-key"
        if not role_allows(role, needed):
            return RequestError(
                403, f"This key's role '{role}' may not do this; it needs '{needed}'."
            )
        return None


def _always_keyed(path: str) -> bool:
    """Routes that change something need a key even on an open loopback server; there only
    predictions, explanations and reading are free of keys (finding 7)."""
    return path.startswith("/v1/admin") or _route_name(path) == "feedback"


@dataclass(frozen=True)
class HostCheck:
    """Which ``Host`` headers the server answers to, against DNS rebinding (finding 7): a
    page whose name is made to point at 127.0.0.1 could otherwise read the answers.

    ``allowed_hosts`` names are accepted on any port. Without them, a loopback server
    accepts localhost, 127.0.0.1 and [::1] with the port it is bound to; a server beyond
    loopback accepts any name (it requires keys).
    """

    names: frozenset[str]
    loopback: bool
    anything: bool

    @classmethod
    def of(cls, config: ServeConfig) -> HostCheck:
        names = frozenset(h.lower() for h in config.allowed_hosts or [])
        loopback = is_loopback(config.host)
        return cls(names, loopback, not loopback and config.allowed_hosts is None)

    def refusal(self, given: bytes | None, server: tuple[str, int] | None) -> RequestError | None:
        if self.anything:
            return None
        value = (given or b"").decode("latin-1").strip().lower()
        name, port = _split_host(value)
        port_bound = str(server[1]) if server else ""
        if name in self.names:
            return None
        if self.loopback and name in _LOOPBACK_NAMES and (port or "80") == (port_bound or "80"):
            return None
        accepted = sorted(self.names)
        if self.loopback:
            accepted += [f"{n}:{port_bound}" for n in sorted(_LOOPBACK_NAMES)]
        return RequestError(
            400, f"This server does not answer to the Host {value[:100] or '(none)'!r}; it "
            f"answers to {', '.join(accepted)}. Name more with allowed_hosts "
            "(mlcycle serve --allowed-host NAME).",
        )  # fmt: skip


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _split_host(value: str) -> tuple[str, str]:
    """``"[::1]:8000"`` → ``("[::1]", "8000")``; ``"example.com"`` → ``("example.com", "")``."""
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else rest
    name, _, port = value.partition(":")
    return name, port


def _quiet_gc() -> None:
    """Keep the cyclic garbage collector off the loaded models and libraries.

    A full collection walks every tracked object (pandas, scikit-learn and the models are
    millions) and stalls every request for tens of milliseconds: the p99 latency. Frozen
    objects are never scanned again; requests make few cycles, so young collections can
    be rarer too.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _fast_lane(method: str, path: str) -> str | None:
    """The model name of a predict request, which skips FastAPI's per-request dependency
    machinery (the route is still declared to FastAPI, for the OpenAPI document)."""
    if method != "POST" or not path.startswith("/v1/models/") or not path.endswith("/predict"):
        return None
    name = path[len("/v1/models/") : -len("/predict")]
    return name if name and "/" not in name else None


async def _answer_predict(
    state: ServerState, name: str, scope: Any, receive: Any, send: Any
) -> None:
    request = Request(scope, receive)
    try:
        response = await handlers.predict(state, name, request)
    except RequestError as error:
        response = handlers.error_response(error, request)
    await response(scope, receive, send)


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"The request body is larger than the limit of {limit:,} bytes.")


async def _read_body(receive: Any, config: ServeConfig) -> bytes | None:
    """The whole body (413 past the limit), or None when the client left or was cut off."""
    limit = config.max_body_bytes
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A receive that gives the body already read, then what the connection says next."""
    given = False

    async def replay() -> dict[str, Any]:
        nonlocal given
        if given:
            message: dict[str, Any] = await receive()
            return message
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_error(send: Any, error: RequestError, request_id: str) -> None:
    body = orjson.dumps(error.body(request_id))
    headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the app ---------------------------------------------------------------------------------


def create_app(config: ServeConfig, workspace: Workspace | None = None) -> FastAPI:
    """The server's ASGI app (wrapped in its request gate), loading its models on startup."""
    from mlcycle.registry import get_workspace

    state = ServerState(config, workspace or get_workspace())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(state.load_all)
        _quiet_gc()
        state.start()
        try:
            yield
        finally:
            await state.stop()

    options: dict[str, Any] = {
        "title": "mlcycle model server",
        "version": __version__,
        "description": "Predictions, explanations and feedback for registered models.",
        "lifespan": lifespan,
        "openapi_url": "/openapi.json",
    }
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        # FastAPI >= 0.16x asks OpenTelemetry on every request whether it is configured
        # (about 0.2 ms); the server has its own Prometheus metrics.
        options["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(**options)
    app.state.mlcycle = state
    _add_routes(app, state)
    app.openapi = lambda: api.document(app, state)  # type: ignore[method-assign]
    app.add_middleware(Gate, state=state)
    return app


def _add_routes(app: FastAPI, state: ServerState) -> None:
    config = state.config

    async def predict(name: str, request: Request) -> Response:
        try:
            return await handlers.predict(state, name, request)
        except RequestError as error:
            return handlers.error_response(error, request)

    async def explain(name: str, request: Request) -> Response:
        try:
            return await handlers.explain(state, name, request)
        except RequestError as error:
            return handlers.error_response(error, request)

    async def feedback(name: str, request: Request) -> Response:
        try:
            return await handlers.feedback(state, name, request)
        except RequestError as error:
            return handlers.error_response(error, request)

    for name in config.models:
        body = api.request_body(state, name)
        for verb, handler, summary, responses in (
            ("predict", predict, "Predict", api.PREDICT_RESPONSES),
            ("explain", explain, "Explain rows", api.EXPLAIN_RESPONSES),
        ):
            app.add_api_route(
                f"/v1/models/{name}/{verb}",
                _bound(handler, name),
                methods=["POST"],
                summary=f"{summary} with '{name}'",
                openapi_extra={"requestBody": body},
                responses=responses,
                response_class=Response,
                name=f"{verb}_{name}",
            )
        app.add_api_route(
            f"/v1/models/{name}/feedback",
            _bound(feedback, name),
            methods=["POST"],
            summary=f"Send true labels for predictions of '{name}'",
            openapi_extra={"requestBody": api.FEEDBACK_BODY},
            responses=api.FEEDBACK_RESPONSES,
            response_class=Response,
            name=f"feedback_{name}",
        )
    for verb, handler in (("predict", predict), ("explain", explain), ("feedback", feedback)):
        app.add_api_route(
            f"/v1/models/{{name}}/{verb}", handler, methods=["POST"], include_in_schema=False
        )

    @app.get("/healthz", summary="Alive", responses=api.HEALTH_RESPONSES)
    async def healthz() -> Response:
        return handlers.json_response({"status": "alive"})

    @app.get("/readyz", summary="Models loaded", responses=api.HEALTH_RESPONSES)
    async def readyz() -> Response:
        loaded = state.ready and all(s.model is not None for s in state.slots.values())
        status = 200 if loaded else 503
        return handlers.json_response(
            {"status": "ready" if loaded else "loading", "models": served_versions(state)}, status
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        responses=api.READ_RESPONSES,
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", summary="Served models", responses=api.READ_RESPONSES)
    async def list_models() -> Response:
        return handlers.json_response(
            {"models": [_describe(state, name, brief=True) for name in state.routes]}
        )

    @app.get("/v1/models/{name}", summary="One served model", responses=api.MODEL_RESPONSES)
    async def get_model(name: str, request: Request) -> Response:
        try:
            handlers.served(state, name)
        except RequestError as error:
            return handlers.error_response(error, request)
        return handlers.json_response(_describe(state, name, brief=False))

    @app.post("/v1/admin/reload", summary="Follow the aliases now", responses=api.ADMIN_RESPONSES)
    async def reload(request: Request) -> Response:
        swaps = await asyncio.to_thread(state.check_aliases)
        _audit(state, request.scope["mlcycle"].get("actor", "local"), "server.reload", swaps)
        body: dict[str, Any] = {"swaps": [list(s) for s in swaps], "models": served_versions(state)}
        refused = refusals(state)
        if not refused:
            return handlers.json_response(body)
        body["refused"] = refused  # the alias names a version this server will not serve
        body["error"] = "; ".join(f"{r['model']}@{r['target']}: {r['reason']}" for r in refused)
        return handlers.json_response(body, 409)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return handlers.error_response(RequestError(404, f"No route {request.url.path}."), request)

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return handlers.error_response(
            RequestError(405, f"{request.method} is not allowed on {request.url.path}."), request
        )

    @app.exception_handler(MlcycleError)
    async def refused(request: Request, exc: Exception) -> Response:
        # an error mlcycle raised on purpose is the caller's 4xx (or a 503/501), never a 500
        return handlers.error_response(RequestError(error_status(exc), str(exc)), request)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        logger.exception("request %s failed", request.scope.get("mlcycle", {}).get("request_id"))
        return handlers.error_response(
            RequestError(500, f"Internal error ({type(exc).__name__}); see the server log."),
            request,
        )


def _bound(handler: Any, name: str) -> Any:
    async def route(request: Request) -> Response:
        return await handler(name, request)

    return route


def _audit(state: ServerState, actor: str, action: str, swaps: list[Any]) -> None:
    where = f"{state.config.host}:{state.config.port}"
    state.workspace.store.record_event(
        actor=actor, action=action, entity_type="server", entity_id=where, swaps=swaps
    )


def served_versions(state: ServerState) -> dict[str, dict[str, int | None]]:
    out: dict[str, dict[str, int | None]] = {}
    for slot in state.slots.values():
        out.setdefault(slot.name, {})[slot.target] = (
            None if slot.model is None else slot.model.version
        )
    return out


def refusals(state: ServerState) -> list[dict[str, Any]]:
    """The followed aliases whose current version the server refused, and why."""
    return [
        {"model": s.name, "target": s.target, "version": s.failed_version, "reason": s.refused}
        for s in state.slots.values()
        if s.refused is not None
    ]


def _describe(state: ServerState, name: str, *, brief: bool) -> dict[str, Any]:
    route = state.routes[name]
    targets: dict[str, Any] = {}
    for slot in [*route.slots, *([route.shadow] if route.shadow else [])]:
        model = slot.model
        if model is None:
            targets[slot.target] = None
        else:
            targets[slot.target] = (
                {"version": model.version, "engine": model.engine, "task": model.task}
                if brief
                else model.describe()
            )
    return {
        "name": name,
        "routes": {s.target: w for s, w in zip(route.slots, route.weights, strict=True)},
        "shadow": route.shadow.target if route.shadow else None,
        "targets": targets,
        "refused": [r for r in refusals(state) if r["model"] == name],
    }
