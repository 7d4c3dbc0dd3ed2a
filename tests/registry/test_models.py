"""Registering models as versions and loading them back by reference, verified end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlcycle
from mlcycle.bundle import MANIFEST_NAME, write_bundle
from mlcycle.exceptions import (
    IntegrityError,
    InvalidNameError,
    MlcycleError,
    NotFoundError,
    TamperedBundleError,
)
from mlcycle.registry import ModelRef, Workspace, parse_model_ref

Trained = tuple[Any, Any, Any]


def _blob(ws: Workspace, digest: str) -> Path:
    return Path(ws.artifacts.root) / "sha256" / digest[:2] / digest


def _model_file_digest(ws: Workspace, bundle_digest: str) -> str:
    manifest = json.loads(ws.artifacts.get_bytes(bundle_digest))
    return str(manifest["files"]["model/model.skops"]["sha256"])


def _cache(ws: Workspace) -> Path:
    return ws.cache_dir / "bundles"


def test_register_object_and_load_by_every_kind_of_reference(
    workspace: Workspace, trained: Trained
) -> None:
    X, _, model = trained
    version = mlcycle.register_model("churn", model, alias="production", metrics={"auc": 0.99})
    assert (version.version, version.aliases) == (1, ("production",))
    expected = model.predict(X)
    for ref in ("churn@production", "churn/1", "churn:1", "churn", "models:/churn@production"):
        bundle = mlcycle.load_model(ref)
        np.testing.assert_array_equal(bundle.predict(X), expected)
        np.testing.assert_allclose(bundle.predict_proba(X), model.predict_proba(X))
        assert bundle.digest == version.bundle_digest
        assert bundle.metrics == {"auc": 0.99}


def test_register_a_bundle_folder(workspace: Workspace, trained: Trained, tmp_path: Path) -> None:
    X, _, model = trained
    mlcycle.register_model("churn", model)
    written = write_bundle(model, tmp_path / "bundle", params={"C": 1.0})
    version = mlcycle.register_model("churn", bundle=tmp_path / "bundle", description="v2")
    assert (version.version, version.bundle_digest) == (2, written.digest)
    assert workspace.store.get_version("churn", 2).description == "v2"
    loaded = mlcycle.load_model("churn")  # the latest version
    assert loaded.digest == written.digest
    assert loaded.params == {"C": 1.0}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_registering_inside_a_run_records_the_run(workspace: Workspace, trained: Trained) -> None:
    _, _, model = trained
    with mlcycle.start_run(experiment="train") as run:
        version = mlcycle.register_model("churn", model)
    assert version.run_id == run.id
    lineage = mlcycle.load_model("churn/1").lineage
    assert lineage is not None and lineage["run_id"] == run.id


def test_the_same_bundle_twice_is_two_versions_sharing_blobs(
    workspace: Workspace, trained: Trained, tmp_path: Path
) -> None:
    _, _, model = trained
    write_bundle(model, tmp_path / "b")
    first = mlcycle.register_model("churn", bundle=tmp_path / "b")
    blobs = {b.digest for b in workspace.artifacts.iter_blobs()}
    second = mlcycle.register_model("churn", bundle=tmp_path / "b")
    assert (first.version, second.version) == (1, 2)
    assert first.bundle_digest == second.bundle_digest
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == blobs


# -- references -----------------------------------------------------------------------------


def test_parse_model_ref() -> None:
    assert parse_model_ref("churn") == ModelRef("churn")
    assert parse_model_ref(" churn@production ") == ModelRef("churn", alias="production")
    assert parse_model_ref("models:/churn/12") == ModelRef("churn", version=12)
    assert str(parse_model_ref("churn/3")) == "churn/3"


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("", MlcycleError, "Model reference '' is not understood. Use NAME@ALIAS"),
        ("churn@prod@x", MlcycleError, "is not understood"),
        ("churn/one", MlcycleError, "is not understood"),
        ("churn/1/2", MlcycleError, "is not understood"),
        ("../churn", MlcycleError, "is not understood"),
        ("churn@", MlcycleError, "is not understood"),
        ("bad name", InvalidNameError, "Model name 'bad name' is not allowed"),
        ("churn@1st", InvalidNameError, "Alias '1st' is not allowed"),
        (None, MlcycleError, "Model reference None is not understood"),
    ],
)
def test_bad_references_are_refused(
    workspace: Workspace, ref: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        mlcycle.load_model(ref)


def test_unknown_references_are_not_found(workspace: Workspace, trained: Trained) -> None:
    mlcycle.register_model("churn", trained[2], alias="staging")
    with pytest.raises(NotFoundError, match=r"Model 'fraud' does not exist. Known models: churn"):
        mlcycle.load_model("fraud")
    with pytest.raises(NotFoundError, match="has no version 4; its versions are 1 to 1"):
        mlcycle.load_model("churn/4")
    with pytest.raises(NotFoundError, match=r"no alias 'production'. Its aliases: staging=v1"):
        mlcycle.load_model("churn@production")


def test_register_arguments_are_checked_before_anything_is_stored(
    workspace: Workspace, trained: Trained, tmp_path: Path
) -> None:
    _, _, model = trained
    write_bundle(model, tmp_path / "b")
    with pytest.raises(MlcycleError, match="needs exactly one of: a model object, bundle=PATH"):
        mlcycle.register_model("churn")
    with pytest.raises(MlcycleError, match="exactly one of"):
        mlcycle.register_model("churn", model, bundle=tmp_path / "b")
    with pytest.raises(MlcycleError, match="takes the bundle as written; unexpected: metrics"):
        mlcycle.register_model("churn", bundle=tmp_path / "b", metrics={"auc": 1})
    with pytest.raises(InvalidNameError, match="Model name 'churn model' is not allowed"):
        mlcycle.register_model("churn model", model)
    with pytest.raises(InvalidNameError, match="Alias 'prod uction' is not allowed"):
        mlcycle.register_model("churn", model, alias="prod uction")
    assert workspace.store.list_models() == []
    assert list(workspace.artifacts.iter_blobs()) == []


def test_a_tampered_bundle_folder_is_not_registered(
    workspace: Workspace, trained: Trained, tmp_path: Path
) -> None:
    write_bundle(trained[2], tmp_path / "b")
    with (tmp_path / "b" / "model" / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(TamperedBundleError, match="has been modified or corrupted"):
        mlcycle.register_model("churn", bundle=tmp_path / "b")
    assert workspace.store.list_models() == []


# -- verification on load -------------------------------------------------------------------


def test_a_tampered_blob_in_the_store_is_refused_on_load(
    workspace: Workspace, trained: Trained
) -> None:
    version = mlcycle.register_model("churn", trained[2])
    blob = _blob(workspace, _model_file_digest(workspace, version.bundle_digest))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        mlcycle.load_model("churn/1")
    assert not (_cache(workspace) / version.bundle_digest).exists()


def test_a_tampered_manifest_blob_is_refused_on_load(
    workspace: Workspace, trained: Trained
) -> None:
    version = mlcycle.register_model("churn", trained[2])
    _blob(workspace, version.bundle_digest).write_text(json.dumps({"files": {}}))
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        mlcycle.load_model("churn")


def test_a_missing_blob_is_reported(workspace: Workspace, trained: Trained) -> None:
    version = mlcycle.register_model("churn", trained[2])
    workspace.artifacts.delete(_model_file_digest(workspace, version.bundle_digest))
    with pytest.raises(MlcycleError, match="is missing from the store"):
        mlcycle.load_model("churn")


def test_loading_uses_a_verified_cache(workspace: Workspace, trained: Trained) -> None:
    X, _, model = trained
    version = mlcycle.register_model("churn", model)
    mlcycle.load_model("churn")
    cached = _cache(workspace) / version.bundle_digest
    assert (cached / MANIFEST_NAME).is_file()
    assert [p.name for p in _cache(workspace).iterdir()] == [version.bundle_digest]

    # a damaged cache entry is detected and replaced from the store
    model_file = cached / "model" / "model.skops"
    good = model_file.read_bytes()
    model_file.write_bytes(good[:-10])
    np.testing.assert_array_equal(mlcycle.load_model("churn").predict(X), model.predict(X))
    assert model_file.read_bytes() == good

    # a good cache entry is used as it is: the store is not read again
    workspace.artifacts.delete(_model_file_digest(workspace, version.bundle_digest))
    np.testing.assert_array_equal(mlcycle.load_model("churn/1").predict(X), model.predict(X))

    # an extra file planted in the cache is not trusted either
    shutil.copy(cached / MANIFEST_NAME, cached / "model" / "planted.skops")
    with pytest.raises(MlcycleError, match="is missing from the store"):
        mlcycle.load_model("churn")
