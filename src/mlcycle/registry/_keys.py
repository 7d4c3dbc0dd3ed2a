"""API keys of the model server: their format, how they are hashed, roles, and their life.

A key reads ``mlc_<id>_<secret>``. The id (12 hex digits) is public: it names the key in
listings, in the audit log and on revocation. The secret is ``secrets.token_urlsafe(32)``
(256 random bits) and is shown once, when the key is created. Only
``hashlib.scrypt(secret, salt, n=2**14, r=8, p=1, dklen=32)`` with a 16-byte random salt is
stored, together with its parameters, so that new keys can get dearer parameters without
invalidating old ones.

Roles, each allowing everything the one before it allows:

- ``read``: model listings, model detail and ``/metrics``;
- ``predict``: ``read``, plus predict, explain and feedback;
- ``admin``: everything, admin routes included.

>>> role_allows("predict", "read"), role_allows("read", "predict")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from mlcycle.exceptions import NotFoundError, bad_parameter
from mlcycle.registry._entities import ApiKey, KeyHash
from mlcycle.registry._workspace import Workspace, get_workspace

__all__ = [
    "ROLES",
    "create_key",
    "hash_secret",
    "list_keys",
    "parse_key",
    "revoke_key",
    "role_allows",
    "verify_secret",
]

#: The roles, least privileged first; each allows everything the ones before it allow.
ROLES = ("read", "predict", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_DKLEN = 32
# Enough for n=2**14, r=8 (16 MiB) with room to raise the parameters once; a tampered row
# asking for more is refused by OpenSSL instead of exhausting memory.
_MAXMEM = 64 * 1024 * 1024

#: The longest string that can be a key; longer input is rejected before any hashing.
MAX_KEY_LENGTH = 160
_KEY = re.compile(r"mlc_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
# What a message may quote of text that was meant to be a key id: a mistyped whole key must
# not end up, secret and all, in a terminal, a CI log or a shell history of error output.
_SHOWN_CHARS = 8
_NAME_MAX = 256


def check_role(role: object, owner: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else the one bad-parameter error."""
    if not isinstance(role, str) or role not in _RANK:
        raise bad_parameter("role", owner, f"one of {', '.join(ROLES)}", role)
    return role


def role_allows(role: str, needed: str) -> bool:
    """Whether a key with ``role`` may do what ``needed`` requires (both from :data:`ROLES`)."""
    return _RANK[check_role(role, "role_allows()")] >= _RANK[check_role(needed, "role_allows()")]


def parse_key(key: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, or None for anything else."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        return None
    match = _KEY.fullmatch(key)
    return (match[1], match[2]) if match else None


def hash_secret(secret: str, *, salt: bytes | None = None) -> KeyHash:
    """Hash a secret with scrypt and a fresh random salt (or ``salt``)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(
        secret.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=_DKLEN,
        maxmem=_MAXMEM,
    )
    return KeyHash(salt, digest, SCRYPT_N, SCRYPT_R, SCRYPT_P)


def verify_secret(secret: str, stored: KeyHash) -> bool:
    """Whether ``secret`` hashes to ``stored``: one full scrypt, compared in constant time."""
    try:
        candidate = hashlib.scrypt(
            secret.encode(),
            salt=stored.salt,
            n=stored.n,
            r=stored.r,
            p=stored.p,
            dklen=len(stored.digest),
            maxmem=_MAXMEM,
        )
    except ValueError:  # parameters OpenSSL refuses: no secret can match them
        return False
    return hmac.compare_digest(candidate, stored.digest)


def _check_name(name: object) -> str:
    if name is None:
        return ""
    if (
        not isinstance(name, str)
        or len(name) > _NAME_MAX
        or any(not ch.isprintable() for ch in name)
    ):
        raise bad_parameter(
            "name", "create_key()", f"text of at most {_NAME_MAX} printable characters", name
        )
    return name


def create_key(
    role: str,
    name: str | None = None,
    *,
    workspace: Workspace | None = None,
    actor: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the stored key and the plaintext, which is never shown again.

    ``actor`` (default: the configured user) is recorded on the key and in the audit log.

    >>> key, plaintext = create_key("predict", "ci")  # doctest: +SKIP
    >>> plaintext.startswith(key.prefix)  # doctest: +SKIP
    True
    """
    check_role(role, "create_key()")
    label = _check_name(name)
    ws = workspace or get_workspace()
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    stored = ws.store.create_api_key(
        key_id,
        role=role,
        name=label,
        secret_hash=hash_secret(secret),
        actor=actor or ws.settings.user,
    )
    return stored, f"mlc_{key_id}_{secret}"


def list_keys(workspace: Workspace | None = None) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first; secrets are never stored."""
    return (workspace or get_workspace()).store.list_api_keys()


def revoke_key(
    key_id: str, *, workspace: Workspace | None = None, actor: str | None = None
) -> ApiKey:
    """Revoke a key by its id (a whole key is accepted too); servers drop it on refresh.

    NotFoundError for an unknown id; ConflictError if the key is already revoked.
    """
    ws = workspace or get_workspace()
    return ws.store.revoke_api_key(_key_id(key_id), actor=actor or ws.settings.user)


def _key_id(text: str) -> str:
    """The id in ``text`` (an id or a whole key), else NotFoundError quoting a prefix only."""
    parsed = parse_key(text)
    if parsed is not None:
        return parsed[0]
    if not isinstance(text, str):
        raise bad_parameter("key_id", "revoke_key()", "a key id (12 hex digits)", type(text))
    if _KEY_ID.fullmatch(text):
        return text
    shown = text[:_SHOWN_CHARS] + ("…" if len(text) > _SHOWN_CHARS else "")
    raise NotFoundError(
        f"API key '{shown}' does not exist. List keys with: mlcycle keys list (an id is 12 "
        "hex digits; a whole key mlc_<id>_<secret> is accepted too)."
    )
