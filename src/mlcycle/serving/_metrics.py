"""Prometheus metrics of the server: requests, errors, latency, rows, per model and version.

Each app has its own registry, so two servers in one process (tests) do not share counts.
With several uvicorn workers, prometheus-client's multiprocess mode aggregates them
(``PROMETHEUS_MULTIPROC_DIR`` is set by :func:`mlcycle.serving.serve`).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0
)  # fmt: skip


class ServerMetrics:
    """The server's counters and histograms, with label children cached for the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version", "route")
        self.requests = Counter(
            "mlcycle_requests", "Requests answered", [*labels, "status"], registry=self.registry
        )
        self.errors = Counter(
            "mlcycle_errors", "Requests answered with an error", [*labels, "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "mlcycle_request_latency_seconds", "Time from request to answer", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.rows = Counter(
            "mlcycle_predicted_rows", "Rows predicted", ["model", "version", "role"],
            registry=self.registry,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "mlcycle_batch_rows", "Rows per model call (micro-batching)", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384), registry=self.registry,
        )  # fmt: skip
        self.loaded = Gauge(
            "mlcycle_model_loaded", "1 for each version in service", ["model", "version", "alias"],
            registry=self.registry,
        )  # fmt: skip
        self.swaps = Counter(
            "mlcycle_model_swaps", "Versions swapped in by alias changes", ["model", "alias"],
            registry=self.registry,
        )  # fmt: skip
        self._children: dict[tuple[str, ...], Any] = {}

    def observe(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (cheap: label children are cached)."""
        key = (model, version, route, str(status))
        child = self._children.get(key)
        if child is None:
            requests = self.requests.labels(model, version, route, str(status))
            errors = (
                self.errors.labels(model, version, route, str(status)) if status >= 400 else None
            )
            child = self._children[key] = (
                requests,
                errors,
                self.latency.labels(model, version, route),
            )
        child[0].inc()
        if child[1] is not None:
            child[1].inc()
        child[2].observe(seconds)

    def count_rows(self, model: str, version: str, role: str, n: int) -> None:
        key = ("rows", model, version, role)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.rows.labels(model, version, role)
        child.inc(n)

    def render(self) -> bytes:
        """The exposition text; all workers' counts in multiprocess mode."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        return generate_latest(self.registry)
