"""Neural networks on PyTorch (optional: ``pip install 'mlcycle[torch]'``).

:class:`MLPEstimator` is a tabular network (embeddings, batch norm, dropout, AdamW, a
one-cycle schedule, early stopping). :func:`from_module` turns a user's own
``torch.nn.Module`` into a servable tensor model (ONNX, checked against the module);
:func:`rebuild` and :func:`load_weights` bring stored weights back into PyTorch.
Importing this package does not import torch.
"""

from __future__ import annotations

from mlcycle._lazy import lazy_exports

__all__ = [
    "TORCH_HINT",
    "MLPEstimator",
    "build_network",
    "from_module",
    "is_network_or_graph",
    "load_weights",
    "rebuild",
    "require_torch",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MLPEstimator": "mlcycle.nn._mlp",
        "build_network": "mlcycle.nn._mlp",
        "TORCH_HINT": "mlcycle.nn._torch",
        "require_torch": "mlcycle.nn._torch",
        "from_module": "mlcycle.nn._export",
        "load_weights": "mlcycle.nn._export",
        "rebuild": "mlcycle.nn._export",
        "as_tensor_model": "mlcycle.nn._register",
        "is_network_or_graph": "mlcycle.nn._register",
    },
    globals(),
)
