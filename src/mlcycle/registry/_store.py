"""The metadata store interface: runs, metrics, models, versions, aliases, API keys, audit.

A backend is one class implementing :class:`Store`; backends are chosen from the URL
scheme through :data:`BACKENDS`, a lazy table, so a third backend is a new module.

Contract for every implementation:

- Thread-safe: one instance may be shared by threads; processes open their own.
- Every mutating method is one transaction: it happens entirely or not at all, and
  transient lock errors are retried inside the store, never surfaced.
- Every change to the registry (experiment creation, run deletion, restoration and purge,
  models, versions and aliases, API keys created and revoked) writes an audit event in the
  same transaction. Runs starting and ending are the run's own record, not audit events;
  nor is the last use of an API key.
- Unknown ids and names raise :class:`~mlcycle.exceptions.NotFoundError`; duplicates and
  forbidden state changes raise :class:`~mlcycle.exceptions.ConflictError`; bad filters
  raise :class:`~mlcycle.exceptions.FilterError`.
- Runs, versions and metric points are never modified after they are final, except a
  run's soft deletion (``deleted``) and its purge by garbage collection.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlcycle.registry._entities import (
    AliasEvent,
    ApiKey,
    Artifact,
    AuditEvent,
    Experiment,
    KeyHash,
    Metric,
    Model,
    ModelVersion,
    Run,
    RunPage,
)

__all__ = ["BACKENDS", "MetricPoint", "Store", "store_class"]

#: (key, value, step, timestamp in ms)
MetricPoint = tuple[str, float, int, int]

#: URL scheme -> "module:Class", imported only when used.
BACKENDS = {
    "sqlite": "mlcycle.registry._sql:SqlStore",
    "postgresql": "mlcycle.registry._sql:SqlStore",
}


def store_class(scheme: str) -> type[Store]:
    """The store class for a URL scheme such as ``sqlite`` or ``postgresql``."""
    target = BACKENDS[scheme]
    module, name = target.split(":")
    cls: type[Store] = getattr(importlib.import_module(module), name)
    return cls


class Store(ABC):
    """Metadata of runs and models. See the module docstring for the contract."""

    url: str

    @abstractmethod
    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, create: bool = True) -> None:
        """Connect to ``url``; create the schema in an empty database when ``create``.

        Raises StoreUnavailableError, SchemaVersionError or ConfigError, never a driver error.
        """

    # -- lifecycle ------------------------------------------------------------------------
    @abstractmethod
    def schema_version(self) -> str:
        """The schema revision of the database."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the object must not be used afterwards."""

    # -- experiments and runs -----------------------------------------------------------------
    @abstractmethod
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created if missing (safe under concurrency)."""

    @abstractmethod
    def list_experiments(self) -> list[Experiment]: ...

    @abstractmethod
    def create_run(
        self,
        experiment: str,
        *,
        name: str | None = None,
        user: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Start a RUNNING run; ``parent_run_id`` must name an existing run."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run, including soft-deleted ones; NotFoundError if unknown."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        """Write metric points, params and tags in one transaction.

        Params are immutable: re-logging a key with another value raises ConflictError.
        Tags are overwritten. Only RUNNING runs accept metrics and params.
        """

    @abstractmethod
    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
        end_time: int | None = None,
    ) -> None:
        """Write a last batch and move a RUNNING run to a final status, in one transaction.

        ``end_time`` (ms) defaults to now; ConflictError if the run is already final.
        """

    @abstractmethod
    def end_run(self, run_id: str, status: str, *, error: str | None = None) -> Run:
        """Move a RUNNING run to a final status and return it; ConflictError if already final."""

    @abstractmethod
    def delete_run(self, run_id: str, *, actor: str) -> None:
        """Soft-delete a run and its child runs; garbage collection reclaims them.

        ConflictError, nothing deleted, if the run or a child produced a model version.
        """

    @abstractmethod
    def restore_run(self, run_id: str, *, actor: str) -> None:
        """Undo a soft deletion that has not been purged yet."""

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    @abstractmethod
    def search_runs(
        self,
        *,
        experiments: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs matching a filter (see ``_filter``), sorted, one page at a time."""

    # -- artifacts ---------------------------------------------------------------------
    @abstractmethod
    def record_artifacts(self, run_id: str, artifacts: Iterable[Artifact]) -> None:
        """Attach stored artifacts (already written) to a run under logical paths."""

    @abstractmethod
    def list_artifacts(self, run_id: str) -> list[Artifact]: ...

    # -- models -------------------------------------------------------------------------
    @abstractmethod
    def create_model_version(
        self,
        model: str,
        *,
        bundle_digest: str,
        creator: str,
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register a new version (numbered 1, 2, ... per model), creating the model if needed.

        The bundle must already be in the artifact store: a version never points at a
        missing artifact.
        """

    @abstractmethod
    def get_model(self, name: str) -> Model: ...

    @abstractmethod
    def list_models(self) -> list[Model]: ...

    @abstractmethod
    def get_version(self, model: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def list_versions(self, model: str) -> list[ModelVersion]: ...

    @abstractmethod
    def resolve_alias(self, model: str, alias: str) -> ModelVersion:
        """The version an alias points at; NotFoundError naming the known aliases."""

    @abstractmethod
    def set_alias(self, model: str, alias: str, version: int, *, actor: str) -> AliasEvent:
        """Point an alias at a version, recording the move in the alias history."""

    @abstractmethod
    def rollback_alias(self, model: str, alias: str, *, actor: str) -> AliasEvent:
        """Move an alias back to the version it held before its latest un-undone promotion."""

    @abstractmethod
    def delete_alias(self, model: str, alias: str, *, actor: str) -> AliasEvent: ...

    @abstractmethod
    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]: ...

    # -- API keys -----------------------------------------------------------------------
    @abstractmethod
    def create_api_key(
        self, key_id: str, *, role: str, name: str, secret_hash: KeyHash, actor: str
    ) -> ApiKey:
        """Store a new key, its secret already hashed; ConflictError if ``key_id`` exists.

        The role must be one of ``mlcycle.registry.ROLES``; keys are never modified
        afterwards except for their last use and their revocation.
        """

    @abstractmethod
    def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    @abstractmethod
    def get_api_key(self, key_id: str) -> ApiKey:
        """The key, revoked or not; NotFoundError if unknown."""

    @abstractmethod
    def revoke_api_key(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key for good; ConflictError if it is already revoked."""

    @abstractmethod
    def record_api_key_use(self, used: Mapping[str, int]) -> None:
        """Set keys' last use (key id -> ms), never moving it back; unknown ids are ignored."""

    # -- audit and housekeeping ---------------------------------------------------------
    @abstractmethod
    def record_event(
        self, *, actor: str, action: str, entity_type: str, entity_id: str, **details: Any
    ) -> None:
        """Write one audit event for an action outside the registry (e.g. a server's admin
        route); ``details`` must be JSON-serialisable."""

    @abstractmethod
    def audit_events(
        self, *, entity_type: str | None = None, entity_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]: ...

    @abstractmethod
    def live_digests(self) -> tuple[set[str], set[str]]:
        """(artifact digests of runs a purge keeps, bundle manifest digests of all versions)."""

    @abstractmethod
    def purge_deleted_runs(self, *, actor: str, dry_run: bool = False) -> list[str]:
        """Hard-delete soft-deleted runs (and their rows) that no model version names;
        returns their ids, sorted. ``dry_run``: the ids only, nothing deleted."""

    @abstractmethod
    def is_empty(self) -> bool:
        """True when the store holds no experiments, runs, models or API keys."""

    @abstractmethod
    def dump_tables(self) -> Iterable[tuple[str, list[dict[str, Any]]]]:
        """Every table's rows from one consistent snapshot, in foreign-key order."""

    @abstractmethod
    def load_tables(self, tables: Iterable[tuple[str, list[dict[str, Any]]]]) -> None:
        """Insert dumped rows into an empty store in one transaction."""
