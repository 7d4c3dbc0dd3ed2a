"""Compiling run filters (see ``_filter``) and page tokens to SQL."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
)

from mlcycle.exceptions import FilterError


def _as_text(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_as_text(v) for v in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "like":
        return column.like(value)
    if op == "ilike":
        return column.ilike(value)
    if op == "in":
        return column.in_(list(value))
    if op == "not in":
        return column.not_in(list(value))
    raise FilterError(f"Unknown operator '{op}'.")


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError) as exc:
        raise FilterError(
            f"Page token {token!r} is not valid; pass the next_page_token of a previous page."
        ) from exc
