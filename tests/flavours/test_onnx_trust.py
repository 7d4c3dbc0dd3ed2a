"""A crafted ONNX graph must not read the server's files (issue 14, found writing
docs/security.md).

ONNX Runtime reads a tensor marked as external data from the path the graph names; for a
graph given as bytes, as a bundle's is, that path is relative to the working directory and
``../`` is followed (ONNX Runtime 1.32). A graph whose output is such a tensor answers every
prediction with the file's bytes. Every graph mlcycle writes holds its tensors inline, so a
graph naming external data is refused before ONNX Runtime sees it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlcycle.bundle import MANIFEST_NAME, read_bundle, write_bundle
from mlcycle.exceptions import BundleError
from mlcycle.flavours import get_flavour
from mlcycle.schema import Schema


def _external(name: str, location: str, length: int) -> object:
    from onnx import TensorProto

    tensor = TensorProto(name=name, data_type=TensorProto.UINT8, dims=[length])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def test_a_graph_naming_external_data_is_refused_and_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx
    from onnx import TensorProto, helper

    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"db-password!")
    workdir = tmp_path / "server"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    graph, X = get_flavour("onnx").example("binary")
    bundle = tmp_path / "bundle"
    write_bundle(graph, bundle, schema=Schema.from_dataframe(X))
    model = onnx.load_model_from_string((bundle / "model/model.onnx").read_bytes())
    model.graph.initializer.append(_external("leak", "../secret.txt", 12))
    model.graph.node.append(helper.make_node("Identity", ["leak"], ["leaked"]))
    model.graph.output.append(helper.make_tensor_value_info("leaked", TensorProto.UINT8, [12]))
    crafted = model.SerializeToString()
    (bundle / "model/model.onnx").write_bytes(crafted)
    manifest = json.loads((bundle / MANIFEST_NAME).read_bytes())
    entry = {"sha256": hashlib.sha256(crafted).hexdigest(), "size": len(crafted)}
    manifest["files"]["model/model.onnx"] = entry
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))

    opened = read_bundle(bundle)  # the hashes are valid: the graph itself is what is refused
    with pytest.raises(BundleError, match="external data"):
        opened.predict(X.head(2))
