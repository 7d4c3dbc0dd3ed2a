"""The metadata schema as SQLAlchemy Core tables; Alembic migrations create it.

Timestamps are integer milliseconds since the epoch (portable and sortable on every
backend). A NaN metric is stored as ``value = NULL, is_nan = true`` because SQLite
cannot store NaN.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
_Id = BigInteger().with_variant(Integer, "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", _Id, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("user", String(256), nullable=False),
    Column("parent_run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("error", Text, nullable=True),
    Column("deleted_at", BigInteger, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_parent", "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float, nullable=True),
    Index("ix_params_key_num", "key", "value_num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_run_artifacts_digest", "digest"),
)

models = Table(
    "models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("latest_version", Integer, nullable=False, default=0),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_name", String(128), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    # Plain text, not a foreign key: a version outlives the run that produced it.
    Column("run_id", String(32), nullable=True),
    Column("bundle_digest", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("creator", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_versions_digest", "bundle_digest"),
    Index("ix_model_versions_run", "run_id"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_name", String(128), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
    ForeignKeyConstraint(
        ["model_name", "version"], ["model_versions.model_name", "model_versions.version"]
    ),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("model_name", String(128), ForeignKey("models.name"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(256), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_alias_history_model_alias", "model_name", "alias", "id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(512), nullable=False),
    Column("details", Text, nullable=False, default="{}"),
    Index("ix_audit_at", "at"),
    Index("ix_audit_entity", "entity_type", "entity_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    # The public key id, also the key's visible prefix: mlc_<id>_<secret>.
    Column("id", String(32), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("name", String(256), nullable=False, default=""),
    # hashlib.scrypt(secret, salt, n, r, p) as hex; the parameters travel with each hash
    # so that they can be raised for new keys without invalidating old ones.
    Column("secret_hash", String(128), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("scrypt_n", Integer, nullable=False),
    Column("scrypt_r", Integer, nullable=False),
    Column("scrypt_p", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

#: Tables in an order that satisfies foreign keys on insert (backup and restore rely on it).
TABLES_IN_ORDER = (
    experiments,
    runs,
    params,
    tags,
    metrics,
    latest_metrics,
    run_artifacts,
    models,
    model_versions,
    aliases,
    alias_history,
    audit_events,
    api_keys,
)
