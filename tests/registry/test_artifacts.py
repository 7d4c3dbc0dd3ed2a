"""The content-addressed artifact store and the path checks that keep files inside it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlcycle.exceptions import ArtifactError, ArtifactPathError, IntegrityError
from mlcycle.registry import ArtifactStore, resolve_within, safe_relpath


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _blob_path(store: ArtifactStore, digest: str) -> Path:
    return Path(store.root) / "sha256" / digest[:2] / digest


# -- storing and reading --------------------------------------------------------------------


def test_bytes_round_trip_under_their_sha256(store: ArtifactStore) -> None:
    data = b"\x00\x01 model weights \xff" * 1000
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert _blob_path(store, digest).read_bytes() == data
    assert store.exists(digest)
    assert store.get_bytes(digest) == data


def test_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "report.html"
    source.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several streaming chunks
    digest = store.put_file(source)
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    copy = store.get_file(digest, tmp_path / "out" / "copy.html")
    assert copy.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.html"]  # no .part left


def test_put_is_idempotent_and_leaves_no_temporary_files(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"same content")
    digests = {store.put_bytes(b"same content"), store.put_bytes(b"same content")}
    digests.add(store.put_file(source))
    assert len(digests) == 1
    assert [b.digest for b in store.iter_blobs()] == list(digests)
    assert list(store.iter_temp()) == []


def test_different_content_gets_different_addresses(store: ArtifactStore) -> None:
    a, b = store.put_bytes(b"a"), store.put_bytes(b"b")
    assert a != b
    assert {blob.digest for blob in store.iter_blobs()} == {a, b}
    assert {blob.size for blob in store.iter_blobs()} == {1}


def test_tampered_blob_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"the real model")
    _blob_path(store, digest).write_bytes(b"the evil model")
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        store.get_bytes(digest)
    dest = tmp_path / "dest" / "model.bin"
    with pytest.raises(IntegrityError, match="altered or corrupted"):
        store.get_file(digest, dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_truncated_blob_is_refused(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"0123456789")
    _blob_path(store, digest).write_bytes(b"01234")
    with pytest.raises(IntegrityError, match=digest[:12]):
        store.get_bytes(digest)


def test_missing_blob_is_an_artifact_error_with_advice(
    store: ArtifactStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(b"soon gone")
    assert store.delete(digest) is True
    assert store.delete(digest) is False
    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match=r"is missing from the store.*mlcycle restore"):
        store.get_bytes(digest)
    with pytest.raises(ArtifactError, match="is missing"):
        store.get_file(digest, tmp_path / "x")
    with pytest.raises(ArtifactError, match="is missing"):
        store.open(digest)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("digest", ["abc", "A" * 64, "../" + "0" * 61, "0" * 63 + "g", ""])
def test_malformed_digests_are_refused(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(ArtifactError, match="is not a SHA-256 digest"):
        store.get_bytes(digest)


def test_storing_a_folder_or_missing_file_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a readable file"):
        store.put_file(tmp_path)
    with pytest.raises(ArtifactError, match="not a readable file"):
        store.put_file(tmp_path / "nope.txt")


def test_temporary_files_outside_incoming_are_not_deleted(
    store: ArtifactStore, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    with pytest.raises(ArtifactPathError, match="not a temporary file"):
        store.delete_temp(str(victim))
    assert victim.read_text() == "keep me"


def test_unusable_location_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ArtifactError, match="Cannot create the artifact store"):
        ArtifactStore(blocker / "artifacts").put_bytes(b"x")


# -- logical paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("plots/./roc.png", "plots/roc.png"),
        ("a//b.txt", "a/b.txt"),
        ("model/model.skops", "model/model.skops"),
        ("dir/", "dir"),
        ("...", "..."),
        ("a..b/c", "a..b/c"),
        ("résumé/日本.txt", "résumé/日本.txt"),
    ],
)
def test_safe_paths_are_normalised(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected


KNOWN_ESCAPES = [
    "",
    ".",
    "..",
    "../etc/passwd",
    "a/../../b",
    "a/b/../../../c",
    "/etc/passwd",
    "//server/share",
    "~/.ssh/id_rsa",
    "~root",
    "C:/Windows",
    "c:evil",
    "..\\..\\windows",
    "a\\b",
    "%2e%2e/secret",
    "%2E%2E%2Fsecret",
    "%252e%252e/secret",
    "%25252e%25252e/secret",
    "a/%2e%2e/%2e%2e/b",
    "%2fetc%2fpasswd",
    "%5c..%5c",
    "..%2f..%2fx",
    "\uff0e\uff0e/x",  # fullwidth dots fold to '..' under NFKC
    "\u2025/x",  # two-dot leader folds to '..'
    "a/\x00/b",
    "a%00b",
    "line\nbreak",
    "\x7f",
    "\ud800",
    "a/\udcff",
]


@pytest.mark.parametrize("path", KNOWN_ESCAPES)
def test_known_escapes_are_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactPathError, match=r"not allowed|does not name a file|not valid"):
        safe_relpath(path)
    with pytest.raises(ArtifactPathError):
        resolve_within(tmp_path, path)


def test_non_text_paths_are_refused() -> None:
    with pytest.raises(ArtifactPathError, match="must be text, got bytes"):
        safe_relpath(b"a/b")  # type: ignore[arg-type]


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactPathError, match="resolves outside"):
        resolve_within(root, "link/secret.txt")
    assert resolve_within(root, "plots/roc.png") == root.resolve() / "plots" / "roc.png"


# -- property: nothing leaves the root ------------------------------------------------------


@pytest.fixture(scope="module")
def jail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding a symlink that points out of it, to make escapes reachable."""
    base = tmp_path_factory.mktemp("jail")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (base / "outside").mkdir()
    (root / "out").symlink_to(base / "outside", target_is_directory=True)
    (root / "up").symlink_to("..", target_is_directory=True)
    return root.resolve()


_PIECES = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "//",
        "\\",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%25",
        "%252e",
        "%00",
        "~",
        "C:",
        "sub",
        "out",
        "up",
        "a",
        "\uff0e",
        "\u2025",
        "\u2024",
        "\ufe52",
        "é",
        "\ud800",
        "\x00",
    ]
)
_PATHS = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
    st.lists(_PIECES, max_size=12).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PATHS)
@example("out/../../x")
@example("up/x")
@example("sub/../up/../x")
def test_any_path_stays_inside_the_root_or_is_refused(jail: Path, path: str) -> None:
    try:
        target = resolve_within(jail, path)
    except ArtifactPathError:
        return
    assert target == jail or jail in target.parents
