"""Model flavours: how each kind of model is stored in a bundle and loaded back, no pickle.

``sklearn`` (skops with a fixed trusted-type list), ``lightgbm`` (the booster's text
format), ``xgboost`` (the booster's JSON format), ``onnx`` (a graph from :func:`to_onnx`),
``torch`` (a network: safetensors weights, its architecture and its checked ONNX export) and
``tensor`` (an ONNX graph from any framework fed one tensor; :mod:`mlcycle.flavours.tensor`).
See :class:`Flavour` for the contract every flavour meets. :mod:`mlcycle.flavours.onnx`
converts models to ONNX graphs (the server's fast path and the ``onnx`` flavour).
"""

from __future__ import annotations

from mlcycle._lazy import lazy_exports

__all__ = [
    "FLAVOURS",
    "Flavour",
    "NativeModel",
    "OnnxGraph",
    "OnnxPredictor",
    "SavedModel",
    "TensorModel",
    "canonical_json",
    "detect_flavour",
    "get_flavour",
    "load_skops",
    "to_onnx",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FLAVOURS": "mlcycle.flavours._base",
        "Flavour": "mlcycle.flavours._base",
        "SavedModel": "mlcycle.flavours._base",
        "canonical_json": "mlcycle.flavours._base",
        "detect_flavour": "mlcycle.flavours._base",
        "get_flavour": "mlcycle.flavours._base",
        "NativeModel": "mlcycle.flavours._native",
        "OnnxGraph": "mlcycle.flavours._onnx_flavour",
        "OnnxPredictor": "mlcycle.flavours._onnx_flavour",
        "load_skops": "mlcycle.flavours._sklearn",
        "to_onnx": "mlcycle.flavours._onnx_flavour",
        "TensorModel": "mlcycle.flavours.tensor",
    },
    globals(),
)
