"""The tabular network: it learns real tables, uses its categories, stops early on the best
epoch, logs every epoch, and is stored as weights + architecture + a checked ONNX graph."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.exceptions import BadParameterError, BundleError, DataError, MissingDependencyError
from mlcycle.schema import Schema

torch = pytest.importorskip("torch", reason="pip install 'mlcycle[torch]'")

from mlcycle.nn import MLPEstimator, rebuild  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_it_learns_a_real_binary_table() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    model = MLPEstimator(seed=0).fit(X_train, y_train)
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) > 0.98
    assert list(model.classes_) == [0, 1]


def test_it_learns_a_real_regression_table_in_the_targets_units() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = MLPEstimator(seed=0, dropout=0.0).fit(X_train, y_train)
    predicted = model.predict(X_test)
    assert r2_score(y_test, predicted) > 0.2
    assert 50 < predicted.mean() < 250  # de-standardised: diabetes' target is ~25..346


def test_a_category_is_learned_through_its_embedding() -> None:
    rng = np.random.default_rng(0)
    n = 900
    X = pd.DataFrame({"noise": rng.normal(size=n), "city": rng.choice(list("abcdefghij"), n)})
    y = np.where(X.city.isin(list("aceg")), "yes", "no")  # only the category decides
    model = MLPEstimator(seed=0, hidden=(32,)).fit(X.iloc[:600], y[:600])
    assert (model.predict(X.iloc[600:]) == y[600:]).mean() > 0.95
    assert model.architecture_["embeddings"] == [[10, model.architecture_["embeddings"][0][1]]]
    unseen = pd.DataFrame({"noise": [0.0, 0.1], "city": ["zzz", None]})
    assert model.predict_proba(unseen).shape == (2, 2)  # unseen and missing: index 0


def test_every_epoch_is_logged_and_the_best_epochs_weights_are_kept() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    seen: list[dict[str, float]] = []
    model = MLPEstimator(seed=0, max_epochs=60, patience=3, lr=0.05).fit(
        X, y, on_epoch=lambda epoch, record: seen.append(record)
    )
    assert seen == model.history_
    assert {"train_loss", "val_loss", "val_accuracy", "seconds"} <= set(seen[0])
    assert model.n_epochs_ < 60  # stopped early
    best = min(r["val_loss"] for r in seen)
    assert model.history_[model.best_epoch_ - 1]["val_loss"] == best
    assert model.n_epochs_ == model.best_epoch_ + 3


def test_a_pruning_callback_stops_training() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)

    class Pruned(Exception):
        pass

    def prune(epoch: int, record: dict[str, float]) -> None:
        if epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        MLPEstimator(max_epochs=20).fit(X, y, on_epoch=prune)


def test_the_bundle_holds_weights_architecture_and_a_graph_and_rebuilds(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6].copy()
    X["grade"] = np.where(X.iloc[:, 0] > X.iloc[:, 0].median(), "high", "low")
    model = MLPEstimator(seed=0, hidden=(16, 8), max_epochs=5).fit(X, y)
    bundle = write_bundle(model, tmp_path / "b", schema=Schema.from_dataframe(X))
    assert bundle.flavour == "torch"
    assert {"model/weights.safetensors", "model/architecture.json", "model/model.onnx",
            "model/tensor.json"} <= set(bundle.files)  # fmt: skip
    architecture = json.loads((tmp_path / "b" / "model" / "architecture.json").read_text())
    assert architecture["architecture"] == "mlcycle.tabular-mlp"
    assert architecture["hidden"] == [16, 8]

    loaded = read_bundle(tmp_path / "b")
    served = loaded.predict_proba(X)
    np.testing.assert_allclose(served, model.predict_proba(X), rtol=0, atol=1e-5)
    network = rebuild(loaded.load())  # from the safetensors and the architecture alone
    from mlcycle.flavours.tensor import encode

    inputs = encode(loaded.load().spec, X)
    with torch.no_grad():
        logits = network(*(torch.from_numpy(inputs[k]) for k in ("numeric", "categorical")))
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logits.double().numpy()[:, 0])), served[:, 1], rtol=0, atol=1e-5
    )


def test_a_stored_network_serves_without_torch(tmp_path: Path, monkeypatch) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = MLPEstimator(seed=0, max_epochs=3).fit(X, y)
    write_bundle(model, tmp_path / "b", schema=Schema.from_dataframe(X))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    loaded = read_bundle(tmp_path / "b")
    assert loaded.predict(X.head(5)).shape == (5,)
    with pytest.raises(MissingDependencyError, match=r"mlcycle\[torch\]"):
        MLPEstimator().fit(X, y)


def test_crafted_weights_are_refused_before_anything_reads_them() -> None:
    from mlcycle.flavours._torch import check_safetensors

    with pytest.raises(BundleError, match="truncated"):
        check_safetensors(b"\x01")
    with pytest.raises(BundleError, match="runs past its end"):
        check_safetensors((10**9).to_bytes(8, "little") + b"{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 999]}}).encode()
    with pytest.raises(BundleError, match="tensor 'w'"):
        check_safetensors(len(header).to_bytes(8, "little") + header + b"\0" * 16)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"hidden": ()}, "hidden"),
        ({"dropout": 1.5}, "dropout"),
        ({"schedule": "linear"}, "schedule"),
        ({"device": "tpu"}, "device must be one of"),
        ({"precision": "fp16"}, "needs a GPU"),
        ({"task": "ranking"}, "task must be"),
    ],
)
def test_bad_settings_are_one_clear_error(params: dict, match: str) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with pytest.raises(BadParameterError, match=match):
        MLPEstimator(**params).fit(X.head(50), y.head(50))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with pytest.raises(BadParameterError, match="sees no GPU"):
        MLPEstimator(device="cuda").fit(X.head(50), y.head(50))


def test_bf16_on_the_cpu_trains() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = MLPEstimator(device="cpu", precision="bf16", max_epochs=8, seed=0).fit(X, y)
    assert model.precision_ == "bf16"
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.9


def test_bad_data_is_one_clear_error() -> None:
    X = pd.DataFrame({"a": [1.0, np.inf, 2.0, 3.0]})
    with pytest.raises(DataError, match="infinite"):
        MLPEstimator().fit(X, [0, 1, 0, 1])
    with pytest.raises(DataError, match="one value"):
        MLPEstimator().fit(pd.DataFrame({"a": ["x", "y", "z"]}), ["k", "k", "k"])
    with pytest.raises(DataError, match="rows"):
        MLPEstimator().fit(pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 2.0, 3.0])


def test_a_second_fit_forgets_the_first() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = MLPEstimator(max_epochs=2).fit(X, np.where(y == 1, "yes", "no"))
    model.fit(X, np.where(y == 1, "b", "a"))
    assert list(model.classes_) == ["a", "b"]
    regression = MLPEstimator(max_epochs=2, task="regression").fit(X, y * 10.0)
    regression.fit(X, y * 100.0)
    assert 20 < regression.target_mean_ < 80
