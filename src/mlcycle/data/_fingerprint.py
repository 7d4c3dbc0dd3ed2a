"""A SHA-256 that names the exact data a model saw, for the run's lineage.

The digest covers, in order: the number of rows and columns, then per column its name,
its dtype and its values, then the schema's canonical JSON when one is given. Row order
and column order matter; the index does not (a filtered frame with the same rows in the
same order has the same fingerprint as a freshly loaded one).

Values of NumPy dtypes (numbers, booleans, datetimes) are hashed as their raw bytes, so
any change of a cell changes the digest. Other columns (strings, categoricals, objects,
nullable extension types) go through :func:`pandas.util.hash_pandas_object`, a fixed-key
64-bit hash per value: stable across processes and machines, but two different values
could in principle share it, so the fingerprint identifies data; it is not a defence
against someone crafting a collision.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError

__all__ = ["fingerprint"]

_VERSION = b"mlcycle-fingerprint-1"


def fingerprint(df: pd.DataFrame, schema: object | None = None) -> str:
    """Hex SHA-256 of ``df``'s content (and of ``schema.to_json()`` when given).

    >>> fingerprint(pd.DataFrame({"a": [1, 2]})) == fingerprint(pd.DataFrame({"a": [1, 2]}))
    True
    """
    if not isinstance(df, pd.DataFrame):
        raise BadParameterError(
            "The 'df' parameter of fingerprint() must be a pandas DataFrame. "
            f"Got {type(df).__name__} instead."
        )
    digest = hashlib.sha256()
    _feed(digest, _VERSION)
    digest.update(struct.pack("<QQ", *df.shape))
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        _feed(digest, f"{type(column).__name__}:{column}".encode())
        _feed(digest, str(series.dtype).encode())
        _feed_values(digest, series)
    if schema is not None:
        to_json = getattr(schema, "to_json", None)
        if to_json is None:
            raise BadParameterError(
                "The 'schema' parameter of fingerprint() must be an mlcycle Schema (an object "
                f"with to_json()). Got {type(schema).__name__} instead."
            )
        _feed(digest, b"schema")
        _feed(digest, str(to_json()).encode())
    return digest.hexdigest()


def _feed(digest: Any, data: bytes) -> None:
    """Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently."""
    digest.update(struct.pack("<Q", len(data)))
    digest.update(data)


def _feed_values(digest: Any, series: pd.Series) -> None:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        digest.update(np.ascontiguousarray(series.to_numpy()).view(np.uint8))
        return
    if isinstance(dtype, pd.CategoricalDtype):
        _feed(digest, b"ordered" if dtype.ordered else b"unordered")
        _feed_values(digest, pd.Series(dtype.categories))
    try:
        hashed = pd.util.hash_pandas_object(series, index=False)
    except TypeError:  # unhashable objects (lists, dicts): hash their text form
        hashed = pd.util.hash_pandas_object(series.map(repr), index=False)
    digest.update(np.ascontiguousarray(hashed.to_numpy()).view(np.uint8))
