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
    BadParameterError,
    BundleError,
    IntegrityError,
    InvalidNameError,
    MlcycleError,
    NotFoundError,
    SchemaError,
    TamperedBundleError,
)
from mlcycle.registry import ModelRef, Workspace, parse_model_ref
from mlcycle.schema import Schema

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


def test_a_bundle_is_hashed_once_to_register_and_once_to_load_from_the_cache(
    workspace: Workspace, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every SHA-256 over bundle bytes goes through hashlib in mlcycle.bundle or the artifact
    store: count the bytes hashed. Registering hashes each file once (write_bundle); the
    stored bytes are the hashed ones. Opening a cached version hashes each file once."""
    import hashlib

    import mlcycle.bundle
    import mlcycle.registry._artifacts as artifacts

    hashed: list[int] = []

    class Counting:
        @staticmethod
        def sha256(data: bytes = b"") -> Any:
            hashed.append(len(data))
            return hashlib.sha256(data)

    for module in (mlcycle.bundle, artifacts):
        monkeypatch.setattr(module, "hashlib", Counting)
    _, _, model = trained
    version = mlcycle.register_model("churn", model)
    registering = sum(hashed)
    manifest_bytes = workspace.artifacts.get_bytes(version.bundle_digest)
    files = sum(e["size"] for e in json.loads(manifest_bytes)["files"].values())
    assert registering == files + len(manifest_bytes)  # each file and the manifest, once
    mlcycle.load_model("churn")  # first load: downloads into the cache (checked as it lands)
    hashed.clear()
    mlcycle.load_model("churn")  # from the cache
    assert sum(hashed) == files + len(manifest_bytes)


# -- loaded back before anything is stored ---------------------------------------------------

MAIN_CLASS_SCRIPT = """
import sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlcycle
from mlcycle.bundle import write_bundle
from mlcycle.exceptions import BundleError


class Smoothed(LogisticRegression):  # a scikit-learn estimator defined in the script
    pass


X, y = load_iris(return_X_y=True, as_frame=True)
for model in (Smoothed(max_iter=500).fit(X, y),
              make_pipeline(StandardScaler(), Smoothed(max_iter=500)).fit(X, y)):
    try:
        mlcycle.register_model("iris", model, input_example=X.head())
    except BundleError as exc:
        print("REFUSED", exc)
    else:
        print("REGISTERED")
write_bundle(Smoothed(max_iter=500).fit(X, y), sys.argv[1])
"""


def test_a_class_defined_in_main_is_refused_and_nothing_is_stored(
    workspace: Workspace, trained: Trained, tmp_path: Path, child_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    mlcycle.register_model("iris", trained[2])
    blobs = {b.digest for b in workspace.artifacts.iter_blobs()}
    script = tmp_path / "train_iris.py"
    script.write_text(MAIN_CLASS_SCRIPT)
    folder = tmp_path / "main-bundle"
    done = subprocess.run(
        [sys.executable, str(script), str(folder)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["REFUSED", "REFUSED"]
    for line in lines:
        assert "Model 'iris' was not registered" in line
        assert "__main__.Smoothed is defined in the running script (__main__)" in line
        assert "Build the model from scikit-learn, LightGBM or XGBoost classes" in line
    assert workspace.store.get_model("iris").latest_version == 1
    assert len(workspace.store.list_versions("iris")) == 1
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == blobs
    # the same model as a bundle folder written by that script: refused as well
    with pytest.raises(BundleError, match=r"would not load back.*__main__\.Smoothed"):
        mlcycle.register_model("iris", bundle=folder)
    assert {b.digest for b in workspace.artifacts.iter_blobs()} == blobs


def test_an_example_the_model_cannot_take_is_refused(
    workspace: Workspace, trained: Trained
) -> None:
    X, _, model = trained
    with pytest.raises(SchemaError, match=r"not the columns it was fitted with: the schema lacks"):
        mlcycle.register_model("churn", model, input_example=X.drop(columns="mean radius"))
    with pytest.raises(SchemaError, match="input example does not meet its schema"):
        mlcycle.register_model(
            "churn", model, input_example=X.head().assign(**{"mean radius": "large"}),
            schema=Schema.from_dataframe(X),
        )  # fmt: skip
    with pytest.raises(BadParameterError, match="'input_example' parameter of register_model"):
        mlcycle.register_model("churn", model, input_example=X.to_numpy())
    assert workspace.store.list_models() == []
    assert list(workspace.artifacts.iter_blobs()) == []


# -- the schema, inferred ---------------------------------------------------------------------


def test_the_schema_is_inferred_from_the_input_example(
    workspace: Workspace, trained: Trained
) -> None:
    X, _, model = trained
    mlcycle.register_model("churn", model, input_example=X.head(50))
    schema = mlcycle.load_model("churn").schema
    assert schema is not None
    assert schema.feature_names == list(X.columns)
    radius = schema.column("mean radius")
    assert (radius.dtype, radius.min, radius.max) == ("number", X["mean radius"].head(50).min(),
                                                       X["mean radius"].head(50).max())  # fmt: skip


def test_without_an_example_the_fitted_feature_names_give_the_schema(
    workspace: Workspace, trained: Trained
) -> None:
    X, _, model = trained
    mlcycle.register_model("churn", model)
    schema = mlcycle.load_model("churn").schema
    assert schema is not None
    assert schema.feature_names == list(X.columns)
    assert {(c.dtype, c.nullable) for c in schema.columns} == {("number", False)}
    with pytest.raises(SchemaError, match="missing"):
        schema.validate(X.head(2).assign(**{"mean radius": None}))


def test_an_explicit_schema_wins(workspace: Workspace, trained: Trained) -> None:
    X, y, model = trained
    given = Schema.from_dataframe(X.assign(benign=y), target="benign")
    mlcycle.register_model("churn", model, input_example=X.head(3), schema=given)
    assert mlcycle.load_model("churn").schema == given


def test_a_model_fitted_on_arrays_has_no_schema_and_says_so(
    workspace: Workspace, trained: Trained
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y, _ = trained
    model = LogisticRegression(max_iter=5000).fit(X.to_numpy(), y)
    with pytest.warns(UserWarning, match="registered without an input schema.*input_example="):
        mlcycle.register_model("churn", model)
    assert mlcycle.load_model("churn").schema is None


# -- reference_data: what monitoring compares with --------------------------------------------


def test_reference_data_gives_the_drift_reference_sample_and_detector(
    workspace: Workspace, trained: Trained
) -> None:
    from mlcycle.data import score_anomalies
    from mlcycle.monitoring import drift

    X, y, model = trained
    mlcycle.register_model(
        "churn", model, reference_data=X.assign(benign=y), target="benign", metrics={"auc": 1.0}
    )
    bundle = mlcycle.load_model("churn")
    assert bundle.metrics == {"auc": 1.0}
    assert bundle.schema is not None and bundle.schema.target == "benign"
    assert bundle.schema.feature_names == list(X.columns)
    reference = bundle.drift_reference
    assert reference is not None
    assert reference["rows"] == len(X) and set(reference["features"]) == set(X.columns)
    assert reference["target"]["name"] == "benign"
    assert reference["prediction"]["class"] == "1"  # the probability of the last class
    sample = bundle.reference_sample()
    assert sample is not None
    assert list(sample.columns) == [*X.columns, "benign"] and len(sample) == len(X)
    detector = bundle.anomaly_detector()
    odd = X.head(5) * 40
    assert (score_anomalies(detector, odd) > score_anomalies(detector, X.head(5))).all()
    # and drift is computed against it: the same rows do not drift, moved ones do
    assert drift(bundle, X.sample(300, random_state=1)).drifted == []
    moved = X.sample(300, random_state=1).assign(**{"mean radius": lambda f: f["mean radius"] + 9})
    assert "mean radius" in drift(bundle, moved).drifted


def test_reference_data_is_checked(workspace: Workspace, trained: Trained, tmp_path: Path) -> None:
    X, y, model = trained
    write_bundle(model, tmp_path / "b")
    with pytest.raises(BadParameterError, match="needs the model object"):
        mlcycle.register_model("churn", bundle=tmp_path / "b", reference_data=X)
    with pytest.raises(BadParameterError, match="'reference_data' parameter of register_model"):
        mlcycle.register_model("churn", model, reference_data=X.to_numpy())
    with pytest.raises(BadParameterError, match="names a column of reference_data"):
        mlcycle.register_model("churn", model, target="benign")
    with pytest.raises(SchemaError, match="has benign, which the model was not fitted on"):
        mlcycle.register_model("churn", model, reference_data=X.assign(benign=y))
    assert workspace.store.list_models() == []
    assert list(workspace.artifacts.iter_blobs()) == []
