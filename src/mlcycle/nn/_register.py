"""What ``mlcycle.register_model`` does with a network or an ONNX file before it bundles it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BadParameterError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.flavours.tensor import TensorModel
    from mlcycle.schema import Schema

__all__ = ["as_tensor_model", "is_network_or_graph"]


def _is_module(model: object) -> bool:
    return any(cls.__module__.split(".")[0] == "torch" for cls in type(model).__mro__) and hasattr(
        model, "state_dict"
    )


def _is_onnx_path(model: object) -> bool:
    return isinstance(model, str | Path) and str(model).lower().endswith(".onnx")


def is_network_or_graph(model: object) -> bool:
    """Whether ``model`` is a ``torch.nn.Module`` or the path of an ``.onnx`` file."""
    return _is_module(model) or _is_onnx_path(model)


def _task_of(task: str | None, classes: list[Any] | None) -> str:
    if task is not None:
        if task not in ("binary", "multiclass", "regression"):
            raise BadParameterError(
                f"task= must be binary, multiclass or regression, got {task!r}."
            )
        return task
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


def as_tensor_model(
    model: Any,
    *,
    example: Any,
    schema: Schema | None,
    task: str | None,
    classes: list[Any] | None,
    output: str | None,
    feature_names: list[str] | None,
) -> tuple[TensorModel, Schema, pd.DataFrame | None]:
    """The tensor model, its schema and an input example (rows) for the load-back check."""
    import numpy as np
    import pandas as pd

    from mlcycle.flavours.tensor import OUTPUTS, TensorModel
    from mlcycle.schema import Column, Schema

    if output is not None and output not in OUTPUTS:
        raise BadParameterError(f"output= must be one of {', '.join(OUTPUTS)}, got {output!r}.")
    if classes is not None:
        classes = list(classes)
    names = list(feature_names) if feature_names is not None else None
    if schema is not None:
        if names is not None and names != schema.feature_names:
            raise BadParameterError(
                "feature_names= and schema= disagree; give one of them (the schema's features, "
                "in order, are the columns of the input tensor)."
            )
        names = list(schema.feature_names)
    if _is_onnx_path(model):
        path = Path(model)
        if not path.is_file():
            raise DataError(f"No ONNX file at {path}.")
        if names is None:
            raise BadParameterError(
                "An ONNX file needs schema= (or feature_names=): the columns of its input "
                "tensor, in order."
            )
        tensor = TensorModel.from_onnx(
            path.read_bytes(), columns=names, task=_task_of(task, classes), classes=classes,
            output=output,
        )  # fmt: skip
        rows = None
        if example is not None:
            rows = pd.DataFrame(np.asarray(example, dtype=np.float64), columns=names)
    else:
        from mlcycle.nn._export import from_module

        if example is None:
            raise BadParameterError(
                "register_model(name, module) needs example=: a batch of input rows (a tensor "
                "or array of shape (rows, features)) to export the module and check the export."
            )
        tensor = from_module(
            model, example, task=task, classes=classes, output=output, feature_names=names
        )
        names = tensor.feature_names_in_
        batch = example.detach().cpu().numpy() if hasattr(example, "detach") else example
        rows = pd.DataFrame(np.asarray(batch, dtype=np.float64), columns=names)
    if schema is None:
        if rows is not None:
            schema = Schema.from_dataframe(rows)
        else:
            schema = Schema([Column(n, "number", nullable=False) for n in names])
    return tensor, schema, rows
