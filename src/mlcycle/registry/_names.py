"""Names users choose: model names, aliases, experiment names, keys. Checked at the edge."""

from __future__ import annotations

import re

from mlcycle.exceptions import InvalidNameError

_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_KEY_MAX = 250


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _MODEL.match(name):
        raise InvalidNameError(
            f"Model name {name!r} is not allowed. Use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidNameError(
            f"Alias {alias!r} is not allowed. Use 1-64 letters, digits, '_' or '-', starting "
            "with a letter (e.g. production, staging, canary)."
        )
    return alias


def check_experiment_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InvalidNameError(f"Experiment name {name!r} must be 1-256 characters of text.")
    return name


def slug(text: str, fallback: str, *, max_length: int = 100) -> str:
    """``text`` made one safe file name: each run of characters other than letters, digits,
    '.', '_' and '-' becomes '-', and none of '.', '_', '-' leads or trails (so never '..').

    >>> slug("../../etc/x", "model"), slug("churn 2024", "model"), slug("//", "model")
    ('etc-x', 'churn-2024', 'model')
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned[:max_length].rstrip("-._") or fallback


def check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > _KEY_MAX or "\x00" in key:
        raise InvalidNameError(
            f"{what.capitalize()} key {key!r} must be non-empty text of at most "
            f"{_KEY_MAX} characters."
        )
    return key
