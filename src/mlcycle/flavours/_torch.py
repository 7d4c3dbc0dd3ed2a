"""The ``torch`` flavour: a PyTorch network as weights, architecture and an ONNX graph.

Files: ``model/weights.safetensors`` (the state dict; safetensors holds tensors only, nothing
in it runs on load), ``model/architecture.json`` (what network it is: mlcycle's own
architectures can be rebuilt from it with :func:`mlcycle.nn.rebuild`; a user's module names
its class), ``model/model.onnx`` (the network exported and checked against it when it was
stored) and ``model/tensor.json`` (how rows become the graph's inputs). Serving runs the
graph on ONNX Runtime: a server needs neither PyTorch nor the code that defined the network.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError
from mlcycle.flavours._base import Reader, SavedModel, canonical_json, example_table
from mlcycle.flavours.tensor import (
    GRAPH_FILE,
    SPEC_FILE,
    TensorFlavour,
    TensorModel,
    _read_json,
    check_columns,
)

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = ["TorchFlavour"]

WEIGHTS_FILE = "model/weights.safetensors"
ARCHITECTURE_FILE = "model/architecture.json"


def _is_mlcycle_network(model: object) -> bool:
    return type(model).__module__.startswith("mlcycle.nn.") and hasattr(model, "to_tensor_model")


def check_safetensors(data: bytes) -> None:
    """BundleError unless ``data`` is a safetensors file: an 8-byte header length, a JSON
    header of tensors whose byte ranges lie inside the file."""
    if len(data) < 8:
        raise BundleError("The network's weights file is truncated.")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise BundleError("The network's weights file is malformed: its header runs past its end.")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"The network's weights file has no readable header: {exc}.") from exc
    body = len(data) - 8 - size
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise BundleError(f"The network's weights file is malformed at tensor {name!r}.")


class TorchFlavour(TensorFlavour):
    """mlcycle's networks (``mlcycle.nn.MLPEstimator``) and a user's module made servable
    by :func:`mlcycle.nn.from_module` (a ``TensorModel`` with weights)."""

    name = "torch"
    requires = (("onnxruntime", "onnxruntime"),)  # serving runs the graph; torch only rebuilds

    @classmethod
    def accepts(cls, model: object) -> bool:
        if isinstance(model, TensorModel):
            return model.weights is not None
        return _is_mlcycle_network(model)

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        tensor: TensorModel = model if isinstance(model, TensorModel) else model.to_tensor_model()
        check_columns(tensor, schema)
        assert tensor.weights is not None
        check_safetensors(tensor.weights)
        files = {
            GRAPH_FILE: tensor.graph,
            SPEC_FILE: canonical_json(tensor.spec, "tensor description"),
            WEIGHTS_FILE: tensor.weights,
            ARCHITECTURE_FILE: canonical_json(tensor.architecture or {}, "architecture"),
        }
        info = {
            "loader": "torch",
            "path": GRAPH_FILE,
            "spec": SPEC_FILE,
            "weights": WEIGHTS_FILE,
            "architecture": ARCHITECTURE_FILE,
        }
        return SavedModel(files, info)

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        self.check_installed()
        spec = _read_json(read, info, "spec")
        architecture = _read_json(read, info, "architecture")
        try:
            weights = read(info["weights"])
            graph = read(info["path"])
        except KeyError as exc:
            raise BundleError(f"The bundle's model entry lacks {exc}.") from exc
        check_safetensors(weights)
        model = TensorModel(graph, spec, weights=weights, architecture=architecture)
        model.session()  # a graph that does not load is refused here, not at the first request
        return model

    def describe(self, model: Any) -> dict[str, Any]:
        tensor = model if isinstance(model, TensorModel) else None
        arch = (tensor.architecture if tensor is not None else model.architecture_) or {}
        classes = getattr(model, "classes_", None)
        return {
            "class": arch.get("class") or arch.get("architecture") or "torch network",
            "classes": None if classes is None else len(classes),
        }

    def example(self, task: str) -> tuple[Any, Any]:
        from mlcycle.nn import MLPEstimator

        X, y = example_table(task)
        model = MLPEstimator(task=task, hidden=(16,), max_epochs=4, batch_size=64, seed=0)
        return model.fit(X, y), X
