"""Every error mlcycle raises on purpose, rooted at :class:`MlcycleError`.

The CLI turns any ``MlcycleError`` into one red line and exit code 2; the server
turns it into a 4xx JSON body. Anything else reaching a user is a bug.

::

    MlcycleError
    ├── ConfigError                  settings, workspace, config file
    ├── InvalidNameError             a model, alias, experiment or key name not allowed
    ├── StoreError                   the metadata database
    │   ├── StoreUnavailableError    cannot connect
    │   ├── SchemaVersionError       database older (upgrade) or newer (refused)
    │   ├── NotFoundError            unknown run, experiment, model, version, alias
    │   └── ConflictError            already exists, wrong state
    ├── FilterError                  malformed run filter or sort key
    ├── ArtifactError                the artifact store
    │   ├── ArtifactPathError        a path that would leave the store
    │   └── IntegrityError           content does not match its SHA-256
    ├── BundleError                  a model bundle cannot be written or read
    │   └── TamperedBundleError      manifest and files disagree (also an IntegrityError)
    ├── DataError                    a table cannot be read or used (empty, garbled, ...)
    ├── SchemaError                  input data does not match a model's schema
    ├── BackupError                  backup or restore refused
    └── MissingDependencyError       an optional extra is not installed
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ArtifactPathError",
    "BackupError",
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
]


class MlcycleError(Exception):
    """Root of every error mlcycle raises on purpose; its message is for the user."""


class ConfigError(MlcycleError):
    """Settings, the workspace directory or the config file are unusable."""


class InvalidNameError(MlcycleError):
    """A model, alias, experiment or key name that is not allowed."""


class StoreError(MlcycleError):
    """The metadata store failed or refused an operation."""


class StoreUnavailableError(StoreError):
    """The metadata database cannot be reached."""


class SchemaVersionError(StoreError):
    """The database schema is older (needs ``mlcycle db upgrade``) or newer than this mlcycle."""


class NotFoundError(StoreError):
    """An unknown run, experiment, model, version or alias."""


class ConflictError(StoreError):
    """The object already exists or is in a state that forbids the operation."""


class FilterError(MlcycleError):
    """A run filter or sort expression cannot be parsed."""


class ArtifactError(MlcycleError):
    """The artifact store failed or refused an operation."""


class ArtifactPathError(ArtifactError):
    """An artifact path that would leave the store (``..``, absolute, encoded escapes)."""


class IntegrityError(ArtifactError):
    """Content does not match the SHA-256 it is stored under."""


class BundleError(MlcycleError):
    """A model bundle cannot be written, read or used."""


class TamperedBundleError(BundleError, IntegrityError):
    """A bundle's files do not match its manifest."""


class DataError(MlcycleError):
    """A table cannot be read or used: empty, garbled, wrong delimiter, too large, ..."""


class SchemaError(MlcycleError):
    """Input data does not match the schema a model expects."""


class BackupError(MlcycleError):
    """A backup cannot be taken or restored."""


class MissingDependencyError(MlcycleError, ImportError):
    """An optional dependency is not installed; the message carries the install hint."""


def is_integer(value: object) -> bool:
    """True for Python and NumPy integers, False for booleans (which are ints to Python)."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def bad_parameter(name: str, owner: str, expected: str, got: object) -> MlcycleError:
    """The one message shape for a bad parameter (STYLE.md); a type is shown by its name.

    >>> str(bad_parameter("budget", "train()", "a number of seconds > 0", -5))
    "The 'budget' parameter of train() must be a number of seconds > 0. Got -5 instead."
    """
    shown = got.__name__ if isinstance(got, type) else repr(got)
    return MlcycleError(
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
