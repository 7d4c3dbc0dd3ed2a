"""PyTorch networks to tensor models: ONNX export checked against the network, safetensors.

Every network mlcycle stores goes through :func:`export_tensor_model`: the network is
exported to ONNX with a free batch dimension, the graph is run on ONNX Runtime beside the
network on the same inputs and refused when the two disagree, and the weights are written
as safetensors (a flat table of tensors; nothing in it is executed on load).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BadParameterError, BundleError
from mlcycle.flavours.tensor import AGREEMENT, TensorModel
from mlcycle.nn._torch import require_torch

if TYPE_CHECKING:
    import numpy as np

__all__ = ["export_onnx", "export_tensor_model", "from_module", "load_weights", "rebuild"]

OPSET = 17


def export_onnx(module: Any, inputs: list[Any], names: list[str]) -> bytes:
    """``module`` (on the CPU, in eval mode, float32) as ONNX bytes, batch dimension free."""
    torch = require_torch()
    module = module.eval()
    axes = {name: {0: "rows"} for name in [*names, "output"]}
    with tempfile.TemporaryDirectory(prefix="mlcycle-onnx-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of torch.export's (dynamo=True),
            # which needs onnxscript and took 3.3 s against 1.3 s for a two-layer MLP here (first
            # export in a fresh process, one run each),
            # for the same outputs; it is used while PyTorch ships it.
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    module, tuple(inputs), path, input_names=names, output_names=["output"],
                    dynamic_axes=axes, opset_version=OPSET, dynamo=False,
                )  # fmt: skip
            except Exception as exc:  # torch's exporter raises many types
                raise BundleError(
                    f"The network cannot be exported to ONNX ({type(exc).__name__}: {exc}). "
                    "mlcycle serves networks as ONNX graphs; see "
                    "https://docs.pytorch.org/docs/stable/onnx.html for what exports."
                ) from exc
        with open(path, "rb") as handle:
            return handle.read()


def _agree(want: np.ndarray, got: np.ndarray, what: str) -> None:
    import numpy as np

    if want.shape != got.shape:
        raise BundleError(
            f"The ONNX export of {what} gives outputs of shape {got.shape}, the network "
            f"{want.shape}."
        )
    if not np.all(np.isfinite(want)):
        raise BundleError(f"{what} gives NaN or infinite outputs on its example.")
    gap = float(np.max(np.abs(want - got) / (1.0 + np.abs(want)))) if want.size else 0.0
    if not gap <= AGREEMENT:
        raise BundleError(
            f"The ONNX export of {what} disagrees with the network by {gap:.3g} (relative) on "
            f"its example, more than {AGREEMENT:g}: it cannot be served as it is. Data-"
            "dependent control flow in forward() is the usual cause."
        )


def _weights(module: Any) -> bytes:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    return bytes(save(state, metadata={"format": "pt"}))


def _run_graph(graph: bytes, feed: dict[str, Any]) -> np.ndarray:
    import numpy as np

    from mlcycle.flavours.tensor import open_session

    out = open_session(graph, None).run(None, feed)[0]
    return np.asarray(out, dtype=np.float64).reshape(len(out), -1)


def export_tensor_model(
    module: Any, spec: dict[str, Any], architecture: dict[str, Any]
) -> TensorModel:
    """mlcycle's own network (built from ``architecture``) with its encoding ``spec``."""
    import numpy as np

    torch = require_torch()
    module = module.to("cpu").float().eval()
    rng = np.random.default_rng(0)
    feed: dict[str, Any] = {}
    for item in spec["inputs"]:
        width = len(item["columns"])
        if item["kind"] == "numeric":
            feed[item["name"]] = rng.normal(size=(8, width)).astype(np.float32)
        else:
            highs = [len(v) + 1 for v in item["vocab"]]
            feed[item["name"]] = np.column_stack([rng.integers(0, h, 8) for h in highs]).astype(
                np.int64
            )
    names = [item["name"] for item in spec["inputs"]]
    tensors = [torch.from_numpy(feed[n]) for n in names]
    graph = export_onnx(module, tensors, names)
    with torch.no_grad():
        want = module(*tensors).double().numpy().reshape(8, -1)
    _agree(want, _run_graph(graph, feed), "the network")
    return TensorModel(graph, spec, weights=_weights(module), architecture=architecture)


def from_module(
    module: Any,
    example: Any,
    *,
    task: str | None = None,
    classes: list[Any] | None = None,
    output: str | None = None,
    feature_names: list[str] | None = None,
) -> TensorModel:
    """A user's ``torch.nn.Module`` taking one float tensor (rows, features), exported to
    ONNX and checked against the module on ``example`` (a batch of such rows).

    ``task``: binary, multiclass or regression (default: regression for one output
    column without ``classes``, else by the number of classes). ``output``: what the
    module returns, ``logits`` (default for classifiers), ``probabilities`` or ``values``.
    ``feature_names``: the columns, in the order of the tensor's second axis (default
    ``x0``, ``x1``, ...).
    """
    import numpy as np

    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise BadParameterError(f"Expected a torch.nn.Module, got {type(module).__name__}.")
    try:
        batch = example if torch.is_tensor(example) else torch.from_numpy(np.array(example))
    except (TypeError, ValueError) as exc:
        raise BadParameterError(
            f"example= must be a tensor or array of numbers, shape (rows, features): {exc}"
        ) from exc
    if batch.ndim != 2 or batch.shape[0] < 1 or batch.shape[1] < 1:
        raise BadParameterError(
            f"example= must be a batch of rows, shape (rows, features); got shape "
            f"{tuple(batch.shape)}. (Networks on images come with the image families.)"
        )
    if not batch.is_floating_point():
        raise BadParameterError(f"example= must hold floats, got {batch.dtype}.")
    batch = batch.float().cpu()
    if not torch.isfinite(batch).all():
        raise BadParameterError("example= holds NaN or infinite values.")
    columns = (
        list(feature_names)
        if feature_names is not None
        else [f"x{i}" for i in range(batch.shape[1])]
    )
    if len(columns) != batch.shape[1] or len(set(columns)) != len(columns):
        raise BadParameterError(
            f"feature_names= must name the {batch.shape[1]} columns of example=, once each."
        )
    module = module.to("cpu").float().eval()
    with torch.no_grad():
        try:
            want = module(batch)
        except Exception as exc:  # the user's forward()
            raise BadParameterError(
                f"The module could not run on example= ({type(exc).__name__}: {exc})."
            ) from exc
    if not torch.is_tensor(want) or want.ndim not in (1, 2) or len(want) != len(batch):
        raise BadParameterError(
            "The module must return one tensor with one row (or one value) per input row."
        )
    want_np = want.double().numpy().reshape(len(batch), -1)
    width = want_np.shape[1]
    task = task or ("regression" if width == 1 and classes is None else None)
    if task is None:
        n = len(classes) if classes is not None else width
        task = "binary" if n == 2 else "multiclass"
    if task != "regression":
        if classes is None:
            raise BadParameterError(
                f"A {task} module needs classes=[...]: the label of each output column."
            )
        if width not in (len(classes), 1 if len(classes) == 2 else -1):
            raise BadParameterError(
                f"The module returns {width} columns for {len(classes)} classes; give one "
                "column per class (or one logit for a binary model)."
            )
    graph = export_onnx(module, [batch], ["input"])
    _agree(want_np, _run_graph(graph, {"input": batch.numpy()}), type(module).__name__)
    spec: dict[str, Any] = {
        "task": task,
        "output": output or ("values" if task == "regression" else "logits"),
        "classes": None if classes is None else list(classes),
        "inputs": [{"name": "input", "kind": "numeric", "columns": columns}],
        "dtype": "float32",
    }
    if classes is not None:
        dtype = np.asarray(classes).dtype.str
        spec["classes_dtype"] = "|O" if dtype.startswith("<U") else dtype
    architecture = {
        "architecture": "user",
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "parameters": int(sum(p.numel() for p in module.parameters())),
    }
    return TensorModel(graph, spec, weights=_weights(module), architecture=architecture)


def rebuild(model: TensorModel) -> Any:
    """The ``torch.nn.Module`` of a stored mlcycle network, its weights loaded (to fine-tune
    it or run it in PyTorch). A user's own module is rebuilt with :func:`load_weights`."""
    from mlcycle.nn._mlp import ARCHITECTURE, build_network

    arch = model.architecture or {}
    if arch.get("architecture") != ARCHITECTURE:
        raise BadParameterError(
            f"This network's architecture is {arch.get('class') or arch.get('architecture')!r}, "
            "whose code mlcycle does not have: build the module yourself and call "
            "mlcycle.nn.load_weights(model, module)."
        )
    module = build_network(arch)
    return load_weights(model, module)


def load_weights(model: TensorModel, module: Any) -> Any:
    """``module`` with the stored weights loaded (strict: every tensor, every shape)."""
    from safetensors.torch import load

    if model.weights is None:
        raise BadParameterError("This tensor model has no stored weights.")
    try:
        module.load_state_dict(load(model.weights), strict=True)
    except RuntimeError as exc:
        raise BadParameterError(f"The stored weights do not fit the module: {exc}") from exc
    return module.eval()
