"""One settings object, read once from the environment and an optional config file.

Precedence, highest first: environment variables (``MLCYCLE_*``), the config file
(``$MLCYCLE_CONFIG``, else ``$MLCYCLE_HOME/config.toml``), built-in defaults.

>>> from mlcycle.config import get_settings
>>> get_settings().home  # doctest: +SKIP
PosixPath('/work/project/.mlcycle')
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlcycle.exceptions import ConfigError

__all__ = ["Settings", "get_settings", "redact_url", "reset_settings"]

_ENV_PREFIX = "MLCYCLE_"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


class Settings(BaseModel):
    """Settings in force for this process; build it with :func:`get_settings`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(
        default=Path(".mlcycle"), validate_default=True, description="Workspace directory."
    )
    db_url: str | None = Field(default=None, description="SQLAlchemy URL of the metadata store.")
    artifacts: str | None = Field(default=None, description="fsspec URL or path of artifacts.")
    user: str = Field(default_factory=_default_user, description="Name recorded on changes.")
    busy_timeout_s: float = Field(default=30.0, gt=0, description="SQLite lock wait.")
    metric_batch_size: int = Field(default=1000, gt=0, description="Metric points per write.")
    metric_flush_s: float = Field(default=5.0, gt=0, description="Flush buffered metrics after.")
    anonymize_key: str | None = Field(
        default=None,
        repr=False,
        description="Secret key for keyed hashing (HMAC) of personal data.",
    )
    config_file: Path | None = Field(default=None, description="The config file that was read.")

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The metadata store URL in force (SQLite inside the workspace by default)."""
        return self.db_url or f"sqlite:///{self.home / 'mlcycle.db'}"

    @property
    def artifacts_url(self) -> str:
        """The artifact store location in force (a folder inside the workspace by default)."""
        return self.artifacts or str(self.home / "artifacts")

    def redacted_db_url(self) -> str:
        """The database URL with any password hidden, for printing."""
        return redact_url(self.database_url)

    def redacted_artifacts_url(self) -> str:
        """The artifact store location with any credentials hidden, for printing."""
        return redact_url(self.artifacts_url)


_HIDDEN = "***"
# Query parameters whose value is masked: any name containing one of these. Masking a value
# that was not secret costs nothing; showing one that was cannot be undone.
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|sig|credential|auth", re.IGNORECASE)
_QUERY_PARAM = re.compile(r"(?P<name>[^=&#]+)=(?P<value>[^&#]*)")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and secret query values replaced by ***.

    Works on malformed URLs too (an S3 secret key often holds a '/', which ends the host part
    for a URL parser): everything between the first ':' after ``scheme://`` and the last '@'
    before the query is hidden. Paths without a scheme come back unchanged.

    >>> redact_url("s3://AKIA123:se/cret@minio:9000/bucket?X-Amz-Signature=abc&region=eu")
    's3://AKIA123:***@minio:9000/bucket?X-Amz-Signature=***&region=eu'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest, qmark, query = rest.partition("?")
    query, hash_, fragment = query.partition("#")
    userinfo, at, location = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.partition(':')[0]}:{_HIDDEN}@{location}"
    query = _QUERY_PARAM.sub(
        lambda m: f"{m['name']}={_HIDDEN}" if _SECRET_PARAM.search(m["name"]) else m[0], query
    )
    return f"{scheme}{sep}{rest}{qmark}{query}{hash_}{fragment}"


def _env_values(environ: dict[str, str]) -> dict[str, Any]:
    fields = set(Settings.model_fields) - {"config_file"}
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if key.startswith(_ENV_PREFIX):
            name = key[len(_ENV_PREFIX) :].lower()
            if name in fields and raw != "":
                values[name] = raw
    return values


def _file_values(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from exc
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from exc
    section = data.get("mlcycle", data)
    if not isinstance(section, dict):
        raise ConfigError(f"Config file {path} must hold a table of settings.")
    return dict(section)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    env = dict(os.environ if environ is None else environ)
    env_values = _env_values(env)
    home = Path(env_values.get("home", ".mlcycle")).expanduser()
    explicit = env.get("MLCYCLE_CONFIG")
    path = Path(explicit).expanduser() if explicit else home / "config.toml"
    file_values: dict[str, Any] = {}
    if explicit and not path.is_file():
        raise ConfigError(f"MLCYCLE_CONFIG names {path}, which is not a file.")
    if path.is_file():
        file_values = _file_values(path)
        if "home" in file_values and "home" not in env_values and explicit:
            home = Path(file_values["home"]).expanduser()
    merged = {**file_values, **env_values}
    if path.is_file():
        merged["config_file"] = path.resolve()
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"Setting '{where}' is invalid: {first['msg']}. "
            f"Set MLCYCLE_{where.upper()} or fix it in {path}."
        ) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings in force, read once per process (see :func:`reset_settings`)."""
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings so the next :func:`get_settings` reads them again."""
    get_settings.cache_clear()
