"""A user's own module as a tensor model: every output layout reads as the module meant it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.exceptions import BadParameterError, BundleError
from mlcycle.schema import Schema

torch = pytest.importorskip("torch", reason="pip install 'mlcycle[torch]'")

from mlcycle.nn import from_module  # noqa: E402

COLUMNS = ["a", "b", "c"]


def _rows(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(0).normal(size=(n, 3)), columns=COLUMNS)


def _round_trip(model, rows: pd.DataFrame, tmp_path: Path):
    write_bundle(model, tmp_path / "b", schema=Schema.from_dataframe(rows))
    return read_bundle(tmp_path / "b")


def _net(outputs: int, last: torch.nn.Module | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, outputs)]
    return torch.nn.Sequential(*layers, *([last] if last is not None else [])).eval()


def _run(net: torch.nn.Module, rows: pd.DataFrame) -> np.ndarray:
    with torch.no_grad():
        return net(torch.tensor(rows.to_numpy(), dtype=torch.float32)).double().numpy()


def test_a_regression_module_answers_its_own_values(tmp_path: Path) -> None:
    rows, net = _rows(), _net(1)
    model = from_module(net, rows.head(4).to_numpy(np.float32), feature_names=COLUMNS)
    assert model.task == "regression"
    bundle = _round_trip(model, rows, tmp_path)
    assert bundle.decision.task == "regression"
    np.testing.assert_allclose(bundle.predict(rows), _run(net, rows)[:, 0], rtol=1e-5)


def test_one_logit_of_a_binary_module_reads_as_a_sigmoid(tmp_path: Path) -> None:
    rows, net = _rows(), _net(1)
    model = from_module(net, rows.head(4).to_numpy(np.float32), classes=[0, 1],
                        feature_names=COLUMNS)  # fmt: skip
    proba = _round_trip(model, rows, tmp_path).predict_proba(rows)
    p = 1 / (1 + np.exp(-_run(net, rows)[:, 0]))
    np.testing.assert_allclose(proba[:, 1], p, rtol=0, atol=1e-6)
    assert model.classes_.tolist() == [0, 1]


def test_a_module_that_ends_in_softmax_says_so_with_output_probabilities(
    tmp_path: Path,
) -> None:
    rows, net = _rows(), _net(3, torch.nn.Softmax(dim=1))
    model = from_module(net, rows.head(4).to_numpy(np.float32), classes=["x", "y", "z"],
                        output="probabilities", feature_names=COLUMNS)  # fmt: skip
    bundle = _round_trip(model, rows, tmp_path)
    np.testing.assert_allclose(bundle.predict_proba(rows), _run(net, rows), rtol=0, atol=1e-6)
    assert set(bundle.predict(rows)) <= {"x", "y", "z"}


def test_wrong_examples_and_outputs_are_one_clear_error() -> None:
    net = _net(3)
    with pytest.raises(BadParameterError, match="must hold floats"):
        from_module(net, torch.ones(2, 3, dtype=torch.int64), classes=["x", "y", "z"])
    with pytest.raises(BadParameterError, match="NaN"):
        from_module(net, torch.full((2, 3), float("nan")), classes=["x", "y", "z"])
    with pytest.raises(BadParameterError, match="3 columns for 2 classes"):
        from_module(net, torch.ones(2, 3), classes=["x", "y"])
    with pytest.raises(BadParameterError, match="feature_names"):
        from_module(net, torch.ones(2, 3), classes=["x", "y", "z"], feature_names=["a"])
    with pytest.raises(BadParameterError, match=r"torch\.nn\.Module"):
        from_module(lambda x: x, torch.ones(2, 3))


def test_a_schema_without_the_tensors_columns_is_refused(tmp_path: Path) -> None:
    model = from_module(_net(1), torch.ones(2, 3), feature_names=COLUMNS)
    other = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(BundleError, match="columns the schema does not have: c"):
        write_bundle(model, tmp_path / "b", schema=Schema.from_dataframe(other))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"classes_dtype": "V8"}, "classes_dtype"),
        ({"task": "binary", "classes": ["x", "y", "z"]}, "cannot have 3 classes"),
        (
            {
                "inputs": [
                    {
                        "name": "input",
                        "kind": "numeric",
                        "columns": COLUMNS,
                        "mean": [0, 0, 0],
                        "scale": [1, 0, 1],
                    }
                ]
            },
            "scale of 0",
        ),
        (
            {
                "inputs": [
                    {"name": "input", "kind": "numeric", "columns": COLUMNS, "fill": [1e999, 0, 0]}
                ]
            },
            "finite",
        ),
        ({"inputs": [{"name": "other", "kind": "numeric", "columns": COLUMNS}]}, "belong"),
        ({"inputs": [{"name": "input", "kind": "code", "columns": COLUMNS}]}, "kind 'code'"),
        ({"dtype": "object"}, "dtype"),
    ],
)
def test_a_crafted_description_is_refused_by_name(change: dict, match: str, tmp_path: Path) -> None:
    import json

    from tests.flavours.crafting import rewrite

    rows = _rows()
    model = from_module(_net(3), torch.ones(2, 3), classes=["x", "y", "z"], feature_names=COLUMNS)
    write_bundle(model, tmp_path / "b", schema=Schema.from_dataframe(rows))
    spec = {**model.spec, **change}
    rewrite(tmp_path / "b", "model/tensor.json", json.dumps(spec).encode())
    with pytest.raises(BundleError, match=match):
        read_bundle(tmp_path / "b").predict(rows)
