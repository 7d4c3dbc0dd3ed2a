"""PyTorch, optional: the import with its install hint, devices and precision."""

from __future__ import annotations

import contextlib
from typing import Any

from mlcycle.exceptions import BadParameterError, MissingDependencyError

__all__ = ["TORCH_HINT", "autocast", "require_torch", "resolve_device", "resolve_precision"]

TORCH_HINT = "pip install 'mlcycle[torch]' (it pins torch==2.13.0, the CPU build)"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def require_torch() -> Any:
    """The ``torch`` module, or MissingDependencyError with the install hint."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(f"PyTorch is not installed: {TORCH_HINT}.") from exc
    return torch


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without one is
    one clear error."""
    if device not in DEVICES:
        raise BadParameterError(f"device must be one of {', '.join(DEVICES)}, got {device!r}.")
    torch = require_torch()
    has_gpu = bool(torch.cuda.is_available())
    if device == "cuda" and not has_gpu:
        raise BadParameterError(
            "device='cuda' was asked for, but PyTorch sees no GPU here (torch.cuda.is_available() "
            "is False). Use device='auto' or 'cpu'."
        )
    if device == "auto":
        return "cuda" if has_gpu else "cpu"
    return device


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> bf16 on a GPU that has it, fp16 on other GPUs, fp32 on the CPU (bf16 on
    the CPU is not timed here, so it is asked for, not chosen); fp16 on the CPU is refused."""
    if precision not in PRECISIONS:
        raise BadParameterError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}."
        )
    if precision == "fp16" and device != "cuda":
        raise BadParameterError(
            "precision='fp16' needs a GPU (float16 autocast with gradient scaling); on the CPU "
            "use 'bf16' or 'fp32'."
        )
    if precision != "auto":
        return precision
    if device == "cuda":
        torch = require_torch()
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(torch: Any, device: str, precision: str) -> Any:
    """The autocast context for ``precision`` (none for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)
