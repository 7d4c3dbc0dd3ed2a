"""What a server serves and how: parsed once from the CLI or SDK, validated by pydantic.

``ServeConfig`` travels to uvicorn worker processes as JSON in ``MLCYCLE_SERVE_CONFIG``.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlcycle.exceptions import BadParameterError, ConfigError

__all__ = [
    "ModelRoute",
    "ServeConfig",
    "is_loopback",
    "parse_route",
    "parse_targets",
]


class ModelRoute(BaseModel):
    """One served name: the targets it answers from (alias, ``v3`` or ``latest``) with their
    traffic weights, and an optional shadow target scored on the side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float]
    shadow: str | None = None

    @property
    def targets(self) -> list[str]:
        out = list(self.weights)
        if self.shadow is not None and self.shadow not in out:
            out.append(self.shadow)
        return out


class ServeConfig(BaseModel):
    """Settings of one server; see ``mlcycle serve --help`` for each."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelRoute]
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    auth: bool = False
    engine: str = "auto"
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    request_timeout: float = Field(10.0, gt=0)
    max_wait_ms: float = Field(2.0, ge=0, le=1000)
    max_batch_rows: int = Field(2048, ge=1)
    max_queue_rows: int = Field(50_000, ge=1)
    max_in_flight: int = Field(2048, ge=1)
    anomaly_scores: bool = False
    log_predictions: bool = True
    log_sample: float = Field(1.0, ge=0, le=1)
    access_log: bool = True
    poll_interval: float = Field(1.0, gt=0)
    drain_seconds: float = Field(30.0, gt=0)
    # Slow senders (issue 14, finding 6): a request's headers and its body must each arrive
    # within these seconds (408 otherwise); connections beyond the caps are refused at once.
    header_timeout: float = Field(10.0, gt=0)
    body_timeout: float = Field(30.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    max_connections_per_client: int = Field(128, ge=1)
    # Host names the server answers to (DNS rebinding, finding 7). None: on loopback,
    # localhost, 127.0.0.1 and [::1] with the bound port; beyond loopback, any (keys guard it).
    allowed_hosts: list[str] | None = None

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        if value not in ("auto", "onnx", "native"):
            raise ValueError("must be auto, onnx or native")
        return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_targets(refs: list[str]) -> dict[str, list[str]]:
    """``["churn@production", "churn@canary", "fraud/3", "iris"]`` → targets by name.

    A target is an alias, ``v<N>`` for a pinned version, or ``latest``.
    """
    from mlcycle.registry import parse_model_ref

    out: dict[str, list[str]] = {}
    for ref in refs:
        parsed = parse_model_ref(ref)
        if parsed.alias is not None:
            target = parsed.alias
        elif parsed.version is not None:
            target = f"v{parsed.version}"
        else:
            target = "latest"
        targets = out.setdefault(parsed.name, [])
        if target not in targets:
            targets.append(target)
    return out


def parse_route(spec: str) -> dict[str, float]:
    """``"production=90,canary=10"`` → ``{"production": 90.0, "canary": 10.0}``."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        alias, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not sep or not alias.strip() or not math.isfinite(value) or value < 0:
            raise BadParameterError(
                f"Cannot read the route {spec!r}: expected ALIAS=WEIGHT pairs separated by "
                "commas, weights >= 0, e.g. production=90,canary=10."
            )
        weights[alias.strip()] = value
    if sum(weights.values()) <= 0:
        raise BadParameterError(f"The route {spec!r} sends no traffic anywhere: give a weight > 0.")
    return weights


def build_config(
    refs: list[str],
    *,
    routes: dict[str, str] | None = None,
    shadows: dict[str, str] | None = None,
    **settings: Any,
) -> ServeConfig:
    """A checked :class:`ServeConfig` from model references, routes and shadows."""
    from pydantic import ValidationError

    targets = parse_targets(refs)
    routes, shadows = routes or {}, shadows or {}
    models: dict[str, ModelRoute] = {}
    for name in list(targets) + [n for n in [*routes, *shadows] if n not in targets]:
        if name in routes:
            weights = parse_route(routes[name])
        else:
            served = [t for t in targets.get(name, []) if t != shadows.get(name)]
            if not served:
                raise BadParameterError(
                    f"Model '{name}' has a shadow but nothing to answer from; serve "
                    f"{name}@ALIAS too."
                )
            if len(served) > 1:
                raise BadParameterError(
                    f"Model '{name}' is given {len(served)} times ({', '.join(served)}); say "
                    f"how to split its traffic with --route {name} "
                    f"{served[0]}=90,{served[1]}=10, or serve one of them."
                )
            weights = {served[0]: 100.0}
        models[name] = ModelRoute(weights=weights, shadow=shadows.get(name))
    if not models:
        raise BadParameterError(
            "Name at least one model to serve, e.g. mlcycle serve churn@production."
        )
    try:
        return ServeConfig(models=models, **settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"Bad server setting '{where}': {first['msg']}.") from None
