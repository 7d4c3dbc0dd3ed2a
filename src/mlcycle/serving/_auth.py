"""API key checks for the model server, with no database access on the request path.

:class:`KeyVerifier` holds a copy of the key table (ids, roles, revocations and hashes).
A key's first check costs one scrypt (about 50 ms); after a success the SHA-256 of the
whole key is remembered, so every later check is two dict lookups. The plaintext is never
kept. :meth:`KeyVerifier.refresh` re-reads the table, so a revoked key stops working at the
server's next refresh and a new key starts working then; it also writes the keys' last
use, at most once a minute per key.

Wrong secrets always cost a full scrypt and a constant-time comparison (a guess is never
cheaper than that), are never remembered as successes, and at most a few run at once, so
a flood of bad keys cannot exhaust memory (each scrypt takes 16 MiB).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

from mlcycle.registry import (
    ApiKey,
    Workspace,
    get_workspace,
    parse_key,
    verify_secret,
)

__all__ = ["KeyVerifier"]

_BEARER = "bearer "
_MAX_HEADER = 200
_MAX_REJECTED = 4096
_USE_RESOLUTION_MS = 60_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class KeyVerifier:
    """Turn an ``Authorization`` or ``X-API-Key`` header into a role, fast and thread-safe.

    Built from a workspace, it loads the key table at once (a database that cannot be
    read fails here, at start-up, rather than on the first request). Call :meth:`refresh`
    every few seconds from a background thread.

    >>> verifier = KeyVerifier()  # doctest: +SKIP
    >>> verifier.check(request.headers.get("authorization"))  # doctest: +SKIP
    'predict'
    """

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or get_workspace()
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        # Both dicts are replaced, never mutated, by refresh(); readers need no lock.
        self._keys: dict[str, ApiKey] = {}
        self._verified: dict[bytes, str] = {}  # SHA-256 of a whole key -> key id
        self._rejected: dict[bytes, None] = {}  # SHA-256 of keys whose secret was wrong
        self._used: dict[str, int] = {}  # key id -> last use (ms) since the last refresh
        self._scrypt_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
        self.refresh()

    def check(self, credentials: str | None) -> str | None:
        """The role of the key in ``credentials``, or None if it is not a live key.

        ``credentials`` is an ``Authorization`` header (``Bearer <key>``) or a bare key (an
        ``X-API-Key`` header). Unknown, revoked and malformed keys all give None. A key not
        seen before costs one scrypt (about 50 ms, so call this off an event loop); a key
        verified before costs two dict lookups.
        """
        key = self._key_of(credentials)
        if key is None:
            return None
        fingerprint = hashlib.sha256(key.encode()).digest()
        key_id = self._verified.get(fingerprint)
        if key_id is not None:
            record = self._keys.get(key_id)
            if record is None or record.revoked_at is not None:
                return None
            self._used[key_id] = _now_ms()
            return record.role
        return self._verify(key, fingerprint)

    def check_cached(self, credentials: str | None) -> tuple[bool, str | None]:
        """``(True, role or None)`` when :meth:`check` would answer without scrypt, else
        ``(False, None)``: an event loop answers the first and sends the rest to a thread."""
        key = self._key_of(credentials)
        if key is None:
            return True, None
        fingerprint = hashlib.sha256(key.encode()).digest()
        key_id = self._verified.get(fingerprint)
        if key_id is None:
            parsed = parse_key(key)
            if parsed is None or fingerprint in self._rejected:
                return True, None
            record = self._keys.get(parsed[0])
            return (
                (True, None) if record is None or record.revoked_at is not None else (False, None)
            )
        record = self._keys.get(key_id)
        if record is None or record.revoked_at is not None:
            return True, None
        self._used[key_id] = _now_ms()
        return True, record.role

    @staticmethod
    def _key_of(credentials: str | None) -> str | None:
        if not credentials or len(credentials) > _MAX_HEADER:
            return None
        value = credentials.strip()
        if value[: len(_BEARER)].lower() == _BEARER:
            value = value[len(_BEARER) :].strip()
        return value or None

    def _verify(self, key: str, fingerprint: bytes) -> str | None:
        parsed = parse_key(key)
        if parsed is None or fingerprint in self._rejected:
            return None
        key_id, secret = parsed
        record = self._keys.get(key_id)
        if record is None or record.revoked_at is not None:
            return None  # ids are public: refusing these without a hash leaks nothing
        with self._scrypt_slots:
            matches = verify_secret(secret, record.secret_hash)
        with self._write_lock:
            if not matches:
                if len(self._rejected) >= _MAX_REJECTED:
                    self._rejected.clear()
                self._rejected[fingerprint] = None
                return None
            current = self._keys.get(key_id)  # a refresh may have revoked it meanwhile
            if current is None or current.revoked_at is not None:
                return None
            self._verified[fingerprint] = key_id
        self._used[key_id] = _now_ms()
        return current.role

    def refresh(self) -> None:
        """Re-read the key table (revocations, new keys) and write the keys' last use.

        On a database error the previous table stays in force and the error propagates,
        for the caller to log; the last uses are kept for the next attempt.
        """
        with self._refresh_lock:
            used, self._used = self._used, {}
            due = {
                key_id: at
                for key_id, at in used.items()
                if key_id in self._keys
                and at - (self._keys[key_id].last_used_at or 0) >= _USE_RESOLUTION_MS
            }
            store = self.workspace.store
            try:
                store.record_api_key_use(due)
                keys = {key.id: key for key in store.list_api_keys()}
            except BaseException:
                for key_id, at in used.items():
                    self._used[key_id] = max(at, self._used.get(key_id, 0))
                raise
            live = {key_id for key_id, key in keys.items() if key.revoked_at is None}
            with self._write_lock:
                self._keys = keys
                self._verified = {
                    fp: key_id for fp, key_id in self._verified.items() if key_id in live
                }

    def __repr__(self) -> str:
        live = sum(key.revoked_at is None for key in self._keys.values())
        return f"KeyVerifier({live} live keys, {len(self._verified)} verified)"
