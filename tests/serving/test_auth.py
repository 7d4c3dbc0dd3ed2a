"""KeyVerifier: roles from headers, a cache in front of scrypt, revocation on refresh."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlcycle.exceptions import StoreUnavailableError
from mlcycle.registry import Workspace, create_key, list_keys, revoke_key
from mlcycle.serving._auth import KeyVerifier


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts calls of hashlib.scrypt (each costs about 50 ms): one entry per call."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    yield calls


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> Callable[[Workspace], None]:
    """Make every store read fail, to show that checks never touch the database."""

    def cut(ws: Workspace) -> None:
        def down(*_: Any, **__: Any) -> Any:
            raise StoreUnavailableError("the database is down")

        for name in ("list_api_keys", "get_api_key", "record_api_key_use"):
            monkeypatch.setattr(ws.store, name, down)

    return cut


def _wrong_secret(plaintext: str) -> str:
    return plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")


def test_bearer_and_raw_keys_give_the_role(sqlite_workspace: Workspace) -> None:
    _, reader = create_key("read", workspace=sqlite_workspace)
    _, admin = create_key("admin", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    assert verifier.check(reader) == "read"
    assert verifier.check(f"Bearer {reader}") == "read"
    assert verifier.check(f"bearer   {admin} ") == "admin"
    assert verifier.check(f"  {admin}") == "admin"


@pytest.mark.parametrize(
    "credentials",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "mlc_",
        "mlc_0123456789ab_",
        "mlc_0123456789ab_" + "A" * 43,  # well-formed, unknown id
        "Bearer mlc_0123456789ab_" + "A" * 43,
        "mlc_0123456789ab_" + "A" * 500,
        "Token mlc_0123456789ab_" + "A" * 43,
    ],
)
def test_malformed_and_unknown_keys_are_refused_without_scrypt(
    sqlite_workspace: Workspace, scrypt_calls: list[int], credentials: str | None
) -> None:
    create_key("admin", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    before = len(scrypt_calls)
    assert verifier.check(credentials) is None
    assert len(scrypt_calls) == before


def test_a_wrong_secret_is_refused_and_never_cheap(
    sqlite_workspace: Workspace, scrypt_calls: list[int]
) -> None:
    _, plaintext = create_key("admin", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    assert verifier.check(plaintext) == "admin"
    scrypt_calls.clear()
    guesses = [plaintext[:-1] + c for c in "abcde" if not plaintext.endswith(c)]
    for guess in guesses:
        assert verifier.check(guess) is None
        assert verifier.check(f"Bearer {guess}") is None  # a repeat may be refused cheaply
    assert len(scrypt_calls) == len(guesses)  # every new guess pays a full scrypt
    assert verifier.check(plaintext) == "admin"  # the right key is unaffected


def test_a_verified_key_is_not_hashed_again(
    sqlite_workspace: Workspace, scrypt_calls: list[int], no_database: Callable[..., None]
) -> None:
    _, plaintext = create_key("predict", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    no_database(sqlite_workspace)  # from here on, any database access would fail the test
    scrypt_calls.clear()
    assert verifier.check(plaintext) == "predict"
    assert len(scrypt_calls) == 1
    for _ in range(50):
        assert verifier.check(f"Bearer {plaintext}") == "predict"
        assert verifier.check(plaintext) == "predict"
    assert len(scrypt_calls) == 1


def test_the_plaintext_is_not_kept(sqlite_workspace: Workspace) -> None:
    _, plaintext = create_key("read", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    assert verifier.check(plaintext) == "read"
    secret = plaintext[-20:]  # the token may itself hold "_": never split on it
    state = repr({k: v for k, v in vars(verifier).items() if k != "workspace"})
    assert secret not in state and plaintext not in state
    assert hashlib.sha256(plaintext.encode()).digest() in verifier._verified


def test_revocation_takes_effect_at_the_next_refresh(
    workspace: Workspace, scrypt_calls: list[int]
) -> None:
    key, plaintext = create_key("admin")
    _, other = create_key("read")
    verifier = KeyVerifier(workspace)
    assert verifier.check(plaintext) == "admin"
    revoke_key(key.id)
    assert verifier.check(plaintext) == "admin"  # no database access between refreshes
    verifier.refresh()
    scrypt_calls.clear()
    assert verifier.check(plaintext) is None
    assert verifier.check(f"Bearer {plaintext}") is None
    assert verifier.check(_wrong_secret(plaintext)) is None
    assert scrypt_calls == []  # a revoked id is refused without hashing
    assert verifier.check(other) == "read"


def test_a_key_revoked_before_its_first_check_is_refused(sqlite_workspace: Workspace) -> None:
    key, plaintext = create_key("admin", workspace=sqlite_workspace)
    revoke_key(key.id, workspace=sqlite_workspace)
    assert KeyVerifier(sqlite_workspace).check(plaintext) is None


def test_a_new_key_works_after_the_next_refresh(workspace: Workspace) -> None:
    verifier = KeyVerifier(workspace)
    _, plaintext = create_key("predict")
    assert verifier.check(plaintext) is None  # unknown ids never trigger a database read
    verifier.refresh()
    assert verifier.check(plaintext) == "predict"


def test_a_failed_refresh_keeps_the_table_in_force(
    sqlite_workspace: Workspace, no_database: Callable[..., None]
) -> None:
    _, plaintext = create_key("read", workspace=sqlite_workspace)
    _, unseen = create_key("admin", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    assert verifier.check(plaintext) == "read"
    no_database(sqlite_workspace)
    with pytest.raises(StoreUnavailableError):
        verifier.refresh()
    assert verifier.check(plaintext) == "read"
    assert verifier.check(unseen) == "admin"  # its hash was loaded before the outage


def test_refresh_records_the_last_use_at_most_once_a_minute(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, plaintext = create_key("read", workspace=sqlite_workspace)
    _, idle = create_key("read", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    writes: list[dict[str, int]] = []
    real = sqlite_workspace.store.record_api_key_use

    def recording(used: dict[str, int]) -> None:
        writes.append(dict(used))
        real(used)

    monkeypatch.setattr(sqlite_workspace.store, "record_api_key_use", recording)
    assert verifier.check(plaintext) == "read"
    verifier.refresh()
    assert list(writes[-1]) == [key.id]
    used = {k.id: k.last_used_at for k in list_keys(sqlite_workspace)}
    assert used[key.id] is not None and used[key.id] == writes[-1][key.id]
    assert sum(v is None for v in used.values()) == 1  # the idle key was never used

    assert verifier.check(plaintext) == "read"
    verifier.refresh()
    assert writes[-1] == {}  # used again within a minute: no write
    assert idle not in str(writes)


def test_checks_are_thread_safe_across_refreshes(sqlite_workspace: Workspace) -> None:
    doomed, doomed_key = create_key("admin", workspace=sqlite_workspace)
    _, kept_key = create_key("predict", workspace=sqlite_workspace)
    verifier = KeyVerifier(sqlite_workspace)
    stop = threading.Event()
    seen: set[tuple[str, str | None]] = set()

    def hammer(credentials: str) -> None:
        while not stop.is_set():
            seen.add((credentials, verifier.check(credentials)))

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(hammer, k) for k in (doomed_key, kept_key) * 3]
        deadline = time.monotonic() + 30
        while (doomed_key, "admin") not in seen and time.monotonic() < deadline:
            verifier.refresh()
        revoke_key(doomed.id, workspace=sqlite_workspace)
        verifier.refresh()
        stop.set()
        for future in futures:
            future.result()
    assert (kept_key, "predict") in seen and (kept_key, None) not in seen
    assert (doomed_key, "admin") in seen
    assert verifier.check(doomed_key) is None
    assert verifier.check(kept_key) == "predict"
