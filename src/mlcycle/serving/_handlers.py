"""The request handlers of the app: predict, explain, feedback.

Each reads and checks its body, picks the version by the name's route, and answers JSON with
orjson; a refused request raises :class:`RequestError`, which the caller turns into a 4xx.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from mlcycle.predlog import PRIMARY, SHADOW, FeedbackRecord, RefusalRecord
from mlcycle.serving._input import MAX_ROWS, RequestError, parse_json, rows_of

if TYPE_CHECKING:
    from mlcycle.serving._app import NameRoute, ServerState, Slot
    from mlcycle.serving._model import ServedModel

__all__ = [
    "MAX_EXPLAIN_ROWS",
    "current",
    "error_response",
    "explain",
    "feedback",
    "json_response",
    "predict",
    "served",
]

logger = logging.getLogger("mlcycle.serve")

_JSON = "application/json"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
MAX_EXPLAIN_ROWS = 100


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=_NUMPY), status, headers, media_type=_JSON)


def error_response(error: RequestError, request: Request) -> Response:
    return json_response(
        error.body(request.scope["mlcycle"]["request_id"]), error.status, error.headers
    )


def served(state: ServerState, name: str) -> NameRoute:
    route = state.routes.get(name)
    if route is None:
        known = ", ".join(sorted(state.routes)) or "(none)"
        raise RequestError(404, f"No model named '{name}' is served here. Served: {known}.")
    return route


def current(slot: Slot) -> ServedModel:
    if slot.model is None:
        raise RequestError(503, f"{slot.ref} is not loaded yet.", headers={"Retry-After": "1"})
    return slot.model


async def _read(request: Request) -> Any:
    return parse_json(await request.body())


async def predict(state: ServerState, name: str, request: Request) -> Response:
    started = time.perf_counter()
    route = served(state, name)
    body = await _read(request)
    columns, n_rows, names = rows_of(body)
    key = (
        body.get("key")
        if isinstance(body.get("key"), str)
        else request.headers.get("x-routing-key")
    )
    slot = route.pick(key)
    model = current(slot)
    info = request.scope["mlcycle"]
    info["model"], info["version"], info["rows"] = name, str(model.version), n_rows
    request_id = info["request_id"]
    log = state.prediction_log
    sampled = log is not None and log.sampled()
    try:
        checked = model.compiled.check(columns, n_rows, names)
    except RequestError as error:
        _log_refusal(state, model, error, (request_id, slot.target, PRIMARY, n_rows, sampled))
        raise
    tag = (request_id, started, slot.target, PRIMARY, sampled)
    try:
        async with asyncio.timeout(state.config.request_timeout):
            outputs = await slot.batcher.submit(model, checked, n_rows, tag)
    except TimeoutError:
        raise RequestError(
            504, f"The prediction took longer than {state.config.request_timeout:g} s."
        ) from None
    ids = [f"{request_id}-{i}" for i in range(n_rows)]
    answer: dict[str, Any] = {
        "model": name,
        "version": model.version,
        "alias": slot.target,
        "request_id": request_id,
        "correlation_id": info["correlation_id"],
        "prediction_ids": ids,
        "predictions": outputs.predictions.tolist(),
    }
    if outputs.probabilities is not None:
        answer["classes"] = model.classes
        answer["probabilities"] = outputs.probabilities
    if outputs.anomaly is not None:
        answer["anomaly_scores"] = outputs.anomaly
        answer["anomalous"] = (outputs.anomaly > model.anomaly_threshold).tolist()
    state.metrics.count_rows(name, str(model.version), PRIMARY, n_rows)
    if route.shadow is not None and route.shadow.model is not None:
        task = asyncio.get_running_loop().create_task(
            _shadow(state, name, route.shadow, columns, n_rows, names, request_id, sampled)
        )
        state.keep(task)
    return json_response(answer)


async def _shadow(
    state: ServerState,
    name: str,
    slot: Slot,
    columns: dict[str, list[Any]],
    n_rows: int,
    names: list[str],
    request_id: str,
    log_it: bool,
) -> None:
    """Score the same rows with the shadow version and log them; the client never waits."""
    model = slot.model
    if model is None:
        return
    tag = (request_id, time.perf_counter(), slot.target, SHADOW, log_it)
    try:
        try:
            checked = model.compiled.check(columns, n_rows, names)
        except RequestError as error:
            _log_refusal(state, model, error, (request_id, slot.target, SHADOW, n_rows, log_it))
            raise
        await slot.batcher.submit(model, checked, n_rows, tag)
    except Exception as exc:  # the shadow's failures are logged, never answered
        logger.info("shadow %s v%s refused request %s: %s", name, model.version, request_id, exc)
        return
    state.metrics.count_rows(name, str(model.version), SHADOW, n_rows)


def _log_refusal(
    state: ServerState,
    model: ServedModel,
    error: RequestError,
    request: tuple[str, str | None, str, int, bool],
) -> None:
    """Write a schema check's 422 to the refusal log when the request is sampled;
    ``request``: (request id, alias, role, rows, sampled). A plain call in an ``except``
    rather than a context manager: the happy path of a prediction pays nothing for it."""
    request_id, alias, role, n_rows, sampled = request
    log = state.refusal_log
    if error.status == 422 and sampled and log is not None:
        record = RefusalRecord.of(
            request_id=request_id, timestamp=time.time(), alias=alias, role=role,
            rows=n_rows, issues=error.details,
        )  # fmt: skip
        log.append(model=model.name, version=model.version, record=record)


async def explain(state: ServerState, name: str, request: Request) -> Response:
    route = served(state, name)
    body = await _read(request)
    columns, n_rows, names = rows_of(body)
    if n_rows > MAX_EXPLAIN_ROWS:
        raise RequestError(
            413, f"Explain at most {MAX_EXPLAIN_ROWS} rows per request; got {n_rows}."
        )
    slot = route.pick(body.get("key") if isinstance(body.get("key"), str) else None)
    model = current(slot)
    info = request.scope["mlcycle"]
    info["model"], info["version"], info["rows"] = name, str(model.version), n_rows
    checked = model.compiled.check(columns, n_rows, names)
    top = request.query_params.get("top")
    limit = int(top) if top is not None and top.isdigit() and int(top) > 0 else None
    try:
        async with asyncio.timeout(max(state.config.request_timeout, 30.0)):
            records = await asyncio.to_thread(_explanations, model, checked, n_rows, limit)
    except TimeoutError:
        raise RequestError(504, "The explanation took too long; send fewer rows.") from None
    return json_response({
        "model": name, "version": model.version, "alias": slot.target,
        "request_id": info["request_id"], "explanations": records,
    })  # fmt: skip


def _explanations(
    model: ServedModel, checked: dict[str, list[Any]], n_rows: int, top: int | None
) -> list[dict[str, Any]]:
    from mlcycle.explanation import explain
    from mlcycle.flavours.onnx import synthetic_rows

    rows = model.frame(checked, n_rows)
    background = synthetic_rows(model.schema, n=64, seed=0)
    try:
        result = explain(model.bundle, rows, background=background)
    except Exception as exc:
        raise RequestError(422, f"These rows cannot be explained: {exc}") from None
    return result.to_records(top=top)


async def feedback(state: ServerState, name: str, request: Request) -> Response:
    route = served(state, name)
    body = await _read(request)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("feedback"), list)
        or not body["feedback"]
    ):
        raise RequestError(
            422,
            'The body must be {"feedback": [{"prediction_id": "...", "label": ...}, ...]} '
            "with at least one item.",
        )
    items = body["feedback"]
    if len(items) > MAX_ROWS:
        raise RequestError(413, f"Send at most {MAX_ROWS:,} feedback items per request.")
    model = current(route.slots[0])
    request.scope["mlcycle"].update(model=name, version=str(model.version), rows=len(items))
    accepted: list[FeedbackRecord] = []
    now = time.time()
    details = []
    known = None if model.classes is None else {str(c) for c in model.classes}
    for i, item in enumerate(items):
        problem = _feedback_problem(item, known)
        if problem:
            details.append({"row": i, "column": None, "code": "bad_feedback", "message": problem})
        else:
            accepted.append(FeedbackRecord.of(item["prediction_id"], item["label"], now))
    if details:
        first = details[0]
        raise RequestError(422, f"Feedback item {first['row']}: {first['message']}", details[:100])
    assert state.feedback_log is not None
    state.feedback_log.append(model=name, records=accepted)
    return json_response(
        {"accepted": len(accepted), "request_id": request.scope["mlcycle"]["request_id"]}
    )


def _feedback_problem(item: Any, classes: set[str] | None) -> str:
    if not isinstance(item, dict) or set(item) - {"prediction_id", "label"}:
        return "each item must be an object with 'prediction_id' and 'label' only."
    pid, label = item.get("prediction_id"), item.get("label", None)
    if not isinstance(pid, str) or not 0 < len(pid) <= 100:
        return "'prediction_id' must be the id a prediction answered (a string)."
    if label is None or isinstance(label, dict | list):
        return "'label' must be the true value (a number, text or boolean)."
    if classes is not None and str(label) not in classes:
        return f"'label' {label!r} is not one of the model's classes: {', '.join(sorted(classes))}."
    if classes is None and (
        isinstance(label, bool)
        or not isinstance(label, int | float)
        or label != label
        or abs(label) == float("inf")
    ):
        return f"'label' {label!r} must be a finite number for this regression model."
    return ""
