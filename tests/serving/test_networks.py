"""Networks through the real server: mlcycle's MLP, a user's own torch.nn.Module and an ONNX
file from any framework register, serve on ONNX Runtime and answer as they did before
registration; what cannot be served is refused before anything is stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import mlcycle
from mlcycle.exceptions import BadParameterError, BundleError, DataError, NotFoundError
from mlcycle.schema import Schema

torch = pytest.importorskip("torch", reason="pip install 'mlcycle[torch]'")

from mlcycle.nn import MLPEstimator  # noqa: E402

CLASSES = ["benign", "malignant"]


def _table() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8].copy()
    X.columns = [f"f{i}" for i in range(8)]
    return X, np.asarray(CLASSES, dtype=object)[y.to_numpy()]


def _user_network(X: pd.DataFrame, y: np.ndarray) -> torch.nn.Module:
    """A user's own module, trained by the user's own loop, with its own normalisation."""
    torch.manual_seed(0)
    mean = torch.tensor(X.mean().to_numpy(), dtype=torch.float32)
    std = torch.tensor(X.std().to_numpy(), dtype=torch.float32)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers((x - self.mean) / self.std)

    net = Net()
    inputs = torch.tensor(X.to_numpy(), dtype=torch.float32)
    target = torch.tensor((y == "malignant").astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), target).backward()
        optimizer.step()
    return net.eval()


def _served(live, ref: str, records: list[dict]) -> dict:
    name = ref.split("@")[0]
    server = live([ref], log_predictions=False)
    with server.client() as client:
        response = client.post(f"/v1/models/{name}/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_mlp_registers_and_serves_like_itself(live, clean_env: Path) -> None:
    torch.set_num_threads(1)
    X, y = _table()
    X["size"] = np.where(X.f0 > X.f0.median(), "large", "small")
    model = MLPEstimator(seed=0, hidden=(32,), max_epochs=20).fit(X, y)
    version = mlcycle.register_model("mlp", model, reference_data=X, alias="production")
    assert mlcycle.load_model("mlp@production").flavour == "torch"
    assert version.version == 1
    answer = _served(live, "mlp@production", X.head(40).to_dict(orient="records"))
    assert answer["predictions"] == list(model.predict(X.head(40)))
    np.testing.assert_allclose(
        answer["probabilities"], model.predict_proba(X.head(40)), rtol=0, atol=1e-5
    )


def test_a_users_own_module_is_exported_checked_and_served(live, clean_env: Path) -> None:
    X, y = _table()
    net = _user_network(X, y)
    batch = torch.tensor(X.head(16).to_numpy(), dtype=torch.float32)
    mlcycle.register_model(
        "byo", net, example=batch, classes=CLASSES, feature_names=list(X.columns),
        alias="production",
    )  # fmt: skip
    bundle = mlcycle.load_model("byo@production")
    assert bundle.flavour == "torch"
    assert bundle.schema.feature_names == list(X.columns)
    with torch.no_grad():
        proba = torch.softmax(net(torch.tensor(X.to_numpy(), dtype=torch.float32)), 1).numpy()
    want = np.asarray(CLASSES, dtype=object)[proba.argmax(1)]
    assert (want == y).mean() > 0.9  # the user's network learned something
    answer = _served(live, "byo@production", X.to_dict(orient="records"))
    assert answer["predictions"] == list(want)
    np.testing.assert_allclose(answer["probabilities"], proba, rtol=0, atol=1e-5)
    weights = bundle.load().weights  # kept as safetensors, loadable into the user's module
    from mlcycle.nn import load_weights

    fresh = _user_network(X.head(30), y[:30])
    load_weights(bundle.load(), fresh)
    assert weights is not None and torch.equal(fresh.layers[0].weight, net.layers[0].weight)


def test_an_onnx_file_from_another_framework_registers_and_serves(
    live, clean_env: Path, tmp_path: Path
) -> None:
    X, y = _table()
    net = _user_network(X, y)
    path = tmp_path / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            net, (torch.zeros(1, 8),), str(path), input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False,
        )  # fmt: skip
        proba = torch.softmax(net(torch.tensor(X.to_numpy(), dtype=torch.float32)), 1).numpy()
    mlcycle.register_model(
        "fromfile", str(path), schema=Schema.from_dataframe(X), classes=CLASSES,
        alias="production",
    )  # fmt: skip
    assert mlcycle.load_model("fromfile@production").flavour == "tensor"
    answer = _served(live, "fromfile@production", X.head(50).to_dict(orient="records"))
    np.testing.assert_allclose(answer["probabilities"], proba[:50], rtol=0, atol=1e-5)


def test_what_cannot_be_served_is_refused_and_nothing_is_registered(
    clean_env: Path, tmp_path: Path
) -> None:
    X, y = _table()
    net = _user_network(X.head(40), y[:40])
    batch = torch.tensor(X.head(4).to_numpy(), dtype=torch.float32)
    with pytest.raises(BadParameterError, match="needs example="):
        mlcycle.register_model("bad", net, classes=CLASSES)
    with pytest.raises(BadParameterError, match=r"shape \(rows, features\)"):
        mlcycle.register_model("bad", net, example=batch[0], classes=CLASSES)
    with pytest.raises(BadParameterError, match="needs classes"):
        mlcycle.register_model("bad", net, example=batch, task="binary")
    with pytest.raises(BadParameterError, match="could not run"):
        mlcycle.register_model("bad", net, example=batch[:, :3], classes=CLASSES)
    with pytest.raises(DataError, match="No ONNX file"):
        mlcycle.register_model("bad", str(tmp_path / "absent.onnx"), feature_names=["a"])
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(BundleError, match="cannot be"):
        mlcycle.register_model("bad", str(tmp_path / "junk.onnx"), feature_names=["a"])
    path = tmp_path / "model.onnx"
    torch.onnx.export(net, (batch,), str(path), dynamo=False)
    with pytest.raises(BadParameterError, match="needs schema="):
        mlcycle.register_model("bad", str(path), classes=CLASSES)
    with pytest.raises(BundleError, match=r"\(rows, 3\)"):
        mlcycle.register_model("bad", str(path), feature_names=["a", "b", "c"], classes=CLASSES)
    with pytest.raises(BadParameterError, match=r"describe a torch\.nn\.Module"):
        mlcycle.register_model("bad", MLPEstimator(), example=batch)
    with pytest.raises(NotFoundError):
        mlcycle.load_model("bad")


def test_a_network_answers_alike_through_every_door_and_refuses_bad_rows(
    live, clean_env: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    torch.set_num_threads(1)
    X, y = _table()
    model = MLPEstimator(seed=1, hidden=(16,), max_epochs=10).fit(X, y)
    mlcycle.register_model("doors", model, reference_data=X, alias="production")
    rows = X.head(25)
    want = mlcycle.load_model("doors@production").predict_proba(rows)

    server = live(["doors@production"])
    with server.client() as client:
        info = client.get("/v1/models/doors").json()["targets"]["production"]
        answer = client.post("/v1/models/doors/predict", json={"records": rows.to_dict("records")})
        explained = client.post(
            "/v1/models/doors/explain", json={"records": rows.head(2).to_dict("records")}
        )
        bad = rows.head(2).to_dict("records")
        bad[0]["f0"] = "not a number"
        refused = client.post("/v1/models/doors/predict", json={"records": bad})
        missing = client.post("/v1/models/doors/predict", json={"records": [{"f0": 1.0}]})
    assert info["engine"] == "onnx"
    np.testing.assert_allclose(answer.json()["probabilities"], want, rtol=0, atol=1e-12)
    assert explained.status_code == 200, explained.text
    first = explained.json()["explanations"][0]
    assert set(first["contributions"]) == set(X.columns)
    assert refused.status_code == 422 and "f0" in refused.text
    assert missing.status_code == 422

    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    done = subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "predict", "doors@production", str(source),
         "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out)
    np.testing.assert_allclose(scored["proba_malignant"], want[:, 1], rtol=0, atol=1e-9)
