"""Every error mlcycle raises on purpose, rooted at :class:`MlcycleError`.

The CLI turns any ``MlcycleError`` into one red line and exit code 2; the server
turns it into a 4xx JSON body. Anything else reaching a user is a bug.

Each class carries the HTTP status the server answers with and the exit code the CLI ends
with, so the mapping is made once, here (the server never answers 500 for one of these)::

    MlcycleError                     400 / 2
    ├── ConfigError                  503      settings, workspace, config file
    ├── BadParameterError            400      an SDK parameter or CLI option (also a ValueError)
    │   └── InvalidNameError         400      a model, alias, experiment or key name not allowed
    ├── NotFoundError                404      unknown run, experiment, model, version, alias, file
    ├── ConflictError                409      already exists, wrong state
    ├── StoreError                   503      the metadata database
    │   ├── StoreUnavailableError    503      cannot connect
    │   └── SchemaVersionError       503      database older (upgrade) or newer (refused)
    ├── FilterError                  400      malformed run filter or sort key
    ├── ArtifactError                503      the artifact store
    │   ├── ArtifactPathError        400      a path that would leave the store
    │   └── IntegrityError           409      content does not match its SHA-256
    ├── BundleError                  422      a model bundle cannot be written or read
    │   └── TamperedBundleError      409      manifest and files disagree (also an IntegrityError)
    ├── DataError                    422      a table cannot be read or used (empty, garbled, ...)
    ├── SchemaError                  422      input data does not match a model's schema
    ├── BackupError                  409      backup or restore refused
    └── MissingDependencyError       501      an optional extra is not installed (also ImportError)

``error_status(exc)`` and ``error_exit_code(exc)`` read the mapping; nothing else should.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArtifactError",
    "ArtifactPathError",
    "BackupError",
    "BadParameterError",
    "BundleError",
    "ConfigError",
    "ConflictError",
    "DataError",
    "FilterError",
    "IntegrityError",
    "InvalidNameError",
    "MissingDependencyError",
    "MlcycleError",
    "NotFoundError",
    "SchemaError",
    "SchemaVersionError",
    "StoreError",
    "StoreUnavailableError",
    "TamperedBundleError",
    "error_exit_code",
    "error_status",
]


class MlcycleError(Exception):
    """Root of every error mlcycle raises on purpose; its message is for the user."""

    http_status: ClassVar[int] = 400
    """The status the server answers with (always 4xx or 5xx other than 500)."""
    exit_code: ClassVar[int] = 2
    """The exit code the CLI ends with."""


class ConfigError(MlcycleError):
    """Settings, the workspace directory or the config file are unusable."""

    http_status = 503


class BadParameterError(MlcycleError, ValueError):
    """A parameter of an SDK call or a CLI option has the wrong type or value."""


class InvalidNameError(BadParameterError):
    """A model, alias, experiment or key name that is not allowed."""


class NotFoundError(MlcycleError):
    """An unknown run, experiment, model, version, alias or file."""

    http_status = 404


class ConflictError(MlcycleError):
    """The object already exists or is in a state that forbids the operation."""

    http_status = 409


class StoreError(MlcycleError):
    """The metadata store failed or refused an operation."""

    http_status = 503


class StoreUnavailableError(StoreError):
    """The metadata database cannot be reached."""


class SchemaVersionError(StoreError):
    """The database schema is older (needs ``mlcycle db upgrade``) or newer than this mlcycle."""


class FilterError(MlcycleError):
    """A run filter or sort expression cannot be parsed."""


class ArtifactError(MlcycleError):
    """The artifact store failed or refused an operation."""

    http_status = 503


class ArtifactPathError(ArtifactError):
    """An artifact path that would leave the store (``..``, absolute, encoded escapes)."""

    http_status = 400


class IntegrityError(ArtifactError):
    """Content does not match the SHA-256 it is stored under."""

    http_status = 409


class BundleError(MlcycleError):
    """A model bundle cannot be written, read or used."""

    http_status = 422


class TamperedBundleError(BundleError, IntegrityError):
    """A bundle's files do not match its manifest."""

    http_status = 409


class DataError(MlcycleError):
    """A table cannot be read or used: empty, garbled, wrong delimiter, too large, ..."""

    http_status = 422


class SchemaError(MlcycleError):
    """Input data does not match the schema a model expects."""

    http_status = 422


class BackupError(MlcycleError):
    """A backup cannot be taken or restored."""

    http_status = 409


class MissingDependencyError(MlcycleError, ImportError):
    """An optional dependency is not installed; the message carries the install hint."""

    http_status = 501


def error_status(exc: BaseException) -> int:
    """The HTTP status for ``exc``: its class's for an :class:`MlcycleError`, else 500."""
    return exc.http_status if isinstance(exc, MlcycleError) else 500


def error_exit_code(exc: BaseException) -> int:
    """The CLI exit code for ``exc``: its class's for an :class:`MlcycleError`, else 1."""
    return exc.exit_code if isinstance(exc, MlcycleError) else 1


def is_integer(value: object) -> bool:
    """True for Python and NumPy integers, False for booleans (which are ints to Python)."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def bad_parameter(name: str, owner: str, expected: str, got: object) -> BadParameterError:
    """The one message shape for a bad parameter (STYLE.md); a type is shown by its name.

    >>> str(bad_parameter("budget", "train()", "a number of seconds > 0", -5))
    "The 'budget' parameter of train() must be a number of seconds > 0. Got -5 instead."
    """
    shown = got.__name__ if isinstance(got, type) else repr(got)
    return BadParameterError(
        f"The '{name}' parameter of {owner} must be {expected}. Got {shown} instead."
    )


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise :class:`MissingDependencyError` with a hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed: pip install 'mlcycle[{extra}]'"
        ) from exc
