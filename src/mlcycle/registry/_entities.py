"""Plain records returned by the store: immutable snapshots, safe to pass around."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AliasEvent",
    "ApiKey",
    "Artifact",
    "AuditEvent",
    "Experiment",
    "KeyHash",
    "Metric",
    "Model",
    "ModelVersion",
    "Run",
    "RunPage",
    "RunStatus",
]


class RunStatus:
    """The states of a run; FINISHED, FAILED and KILLED are final."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = (RUNNING, FINISHED, FAILED, KILLED)


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: int

    @staticmethod
    def from_row(key: str, value: float | None, is_nan: bool, step: int, ts: int) -> Metric:
        return Metric(key, math.nan if is_nan or value is None else float(value), step, ts)


@dataclass(frozen=True)
class Artifact:
    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class Run:
    """A run with its latest metric values, params and tags."""

    id: str
    experiment: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str
    parent_run_id: str | None = None
    error: str | None = None
    deleted: bool = False
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_time is None else (self.end_time - self.start_time) / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "user": self.user,
            "parent_run_id": self.parent_run_id,
            "error": self.error,
            "deleted": self.deleted,
            "params": dict(self.params),
            "metrics": {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()},
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_page_token: str | None


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    created_at: int
    created_by: str
    latest_version: int
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "latest_version": self.latest_version,
            "aliases": dict(self.aliases),
        }


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    run_id: str | None
    bundle_digest: str
    description: str
    creator: str
    created_at: int
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "bundle_digest": self.bundle_digest,
            "description": self.description,
            "creator": self.creator,
            "created_at": self.created_at,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class AliasEvent:
    id: int
    model: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "alias": self.alias,
            "action": self.action,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "at": self.at,
        }


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: int
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class KeyHash:
    """How an API key's secret is stored: ``hashlib.scrypt(secret, salt, n, r, p)``."""

    salt: bytes
    digest: bytes
    n: int
    r: int
    p: int


@dataclass(frozen=True)
class ApiKey:
    """An API key of the model server; the secret itself is never stored, only its hash."""

    id: str
    role: str
    name: str
    created_at: int
    created_by: str
    secret_hash: KeyHash = field(repr=False, compare=False)
    last_used_at: int | None = None
    revoked_at: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def prefix(self) -> str:
        """The public start of the key (``mlc_<id>_``), to recognise it without the secret."""
        return f"mlc_{self.id}_"

    def to_dict(self) -> dict[str, Any]:
        """Everything but the hash: safe to print, log and return over HTTP."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "role": self.role,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "revoked": self.revoked,
        }
