"""The OpenAPI document: each served model's real input fields, every answer documented.

Rebuilt when a served version changes, since a new version may expect other columns.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mlcycle.serving._input import MAX_ROWS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlcycle.serving._app import ServerState, Slot

logger = logging.getLogger("mlcycle.serve")
JSON = "application/json"


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "request_id": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error", "request_id"],
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    say = {
        400: "Not JSON, or a Host the server does not answer to", 401: "No valid API key",
        403: "The key's role may not do this",
        404: "Unknown model", 405: "Method not allowed", 413: "Body or row count over the limit",
        415: "The body is not sent as application/json",
        422: "The input does not match the schema", 429: "Too many requests in flight",
        500: "Internal error", 503: "Overloaded or loading", 504: "Timed out",
    }  # fmt: skip
    content = {JSON: {"schema": _ERROR_SCHEMA}}
    return {code: {"description": say[code], "content": content} for code in codes}


_COMMON = (401, 403, 429)
PREDICT_RESPONSES = {
    200: {"description": "Predictions, with class probabilities for classifiers"},
    **_errors(400, *_COMMON, 404, 413, 415, 422, 503, 504),
}
EXPLAIN_RESPONSES = {
    200: {"description": "Per-row contributions"},
    **_errors(400, *_COMMON, 404, 413, 415, 422, 503, 504),
}
FEEDBACK_RESPONSES = {
    200: {"description": "Accepted"},
    **_errors(400, *_COMMON, 404, 413, 415, 422, 503),
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"description": "Not ready"}}
READ_RESPONSES = _errors(*_COMMON)
MODEL_RESPONSES = _errors(*_COMMON, 404)
ADMIN_RESPONSES = _errors(*_COMMON, 415)
FEEDBACK_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "feedback": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_ROWS,
                        "items": {
                            "type": "object",
                            "properties": {
                                "prediction_id": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": 100,
                                },
                                "label": {"type": ["string", "number", "integer", "boolean"]},
                            },
                            "required": ["prediction_id", "label"],
                        },
                    }
                },
                "required": ["feedback"],
            }
        }
    },
}


def request_body(state: ServerState, name: str) -> dict[str, Any]:
    slot = state.routes[name].slots[0]
    record: dict[str, Any] = {"type": "object"}
    if slot.model is not None:
        record = slot.model.describe()["input_schema"]
    elif state.ready is False:
        record = _schema_of(state, slot)
    records = {"type": "array", "items": record, "minItems": 1, "maxItems": MAX_ROWS}
    columns: dict[str, Any] = {
        "type": "object",
        "properties": {
            k: {"type": "array", "items": v, "minItems": 1, "maxItems": MAX_ROWS}
            for k, v in record.get("properties", {}).items()
        },
    }
    for rule in ("required", "additionalProperties", "x-mlcycle-unexpected"):
        if rule in record:  # the same column rules as a record's
            columns[rule] = record[rule]
    key = {"type": "string", "description": "Sticky routing key (same key, same version)"}
    return {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"records": records, "key": key},
                            "required": ["records"],
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "properties": {"columns": columns, "key": key},
                            "required": ["columns"],
                            "additionalProperties": False,
                        },
                    ]
                }
            }
        },
    }


def _schema_of(state: ServerState, slot: Slot) -> dict[str, Any]:
    """The record schema of a slot's version before it is loaded (read from its bundle)."""
    try:
        from mlcycle.registry import load_model

        bundle = load_model(slot.ref, workspace=state.workspace)
        if bundle.schema is not None:
            out = bundle.schema.to_json_schema()
            out.pop("$schema", None)
            return out
    except Exception:  # the OpenAPI document must build even if a bundle cannot be read
        logger.warning("cannot read the schema of %s for the OpenAPI document", slot.ref)
    return {"type": "object"}


def document(app: FastAPI, state: ServerState) -> dict[str, Any]:
    """The OpenAPI document, rebuilt when a served version (and so its schema) changes."""
    from fastapi.openapi.utils import get_openapi

    from mlcycle.serving._app import served_versions

    versions = repr(served_versions(state))
    cached = getattr(app.state, "openapi_cache", None)
    if cached is not None and cached[0] == versions:
        return cached[1]
    for route in app.routes:
        verb = getattr(route, "name", "")
        for name in state.routes:
            if verb in (f"predict_{name}", f"explain_{name}"):
                route.openapi_extra = {"requestBody": request_body(state, name)}  # type: ignore[attr-defined]
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    if state.config.auth:
        document["security"] = [{"bearer": []}]
    else:  # feedback and admin routes need a key even on an open loopback server
        for path, operations in document.get("paths", {}).items():
            if path.startswith("/v1/admin") or path.endswith("/feedback"):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
    app.state.openapi_cache = (versions, document)
    return document
