"""mlcycle: from a table of data to a model that is trained, explained, versioned, served,
monitored and retrained.

``import mlcycle`` is cheap: the SDK's names are imported on first use.

>>> import mlcycle
>>> with mlcycle.start_run(experiment="quickstart") as run:  # doctest: +SKIP
...     mlcycle.log_param("family", "logistic")
...     mlcycle.log_metric("auc", 0.93)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle._lazy import lazy_exports
from mlcycle._version import __version__
from mlcycle.exceptions import MlcycleError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from mlcycle.explanation import explain
    from mlcycle.monitoring import abtest, drift, monitor, retrain
    from mlcycle.registry import (
        ActiveRun,
        ModelVersion,
        Workspace,
        active_run,
        backup,
        collect_garbage,
        delete_run,
        get_run,
        load_model,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        restore,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from mlcycle.schema import Schema
    from mlcycle.serving import predict, serve
    from mlcycle.training import run_job, train

_LAZY = {
    "ActiveRun": "mlcycle.registry",
    "active_run": "mlcycle.registry",
    "backup": "mlcycle.registry",
    "collect_garbage": "mlcycle.registry",
    "delete_run": "mlcycle.registry",
    "get_run": "mlcycle.registry",
    "load_model": "mlcycle.registry",
    "log_artifact": "mlcycle.registry",
    "log_metric": "mlcycle.registry",
    "log_metrics": "mlcycle.registry",
    "log_param": "mlcycle.registry",
    "log_params": "mlcycle.registry",
    "restore": "mlcycle.registry",
    "search_runs": "mlcycle.registry",
    "set_tag": "mlcycle.registry",
    "set_tags": "mlcycle.registry",
    "start_run": "mlcycle.registry",
    "train": "mlcycle.training",
    "run_job": "mlcycle.training",
    "explain": "mlcycle.explanation",
    "predict": "mlcycle.serving",
    "abtest": "mlcycle.monitoring",
    "drift": "mlcycle.monitoring",
    "monitor": "mlcycle.monitoring",
    "retrain": "mlcycle.monitoring",
    "serve": "mlcycle.serving",
}

__all__ = [
    "ActiveRun",
    "MlcycleError",
    "__version__",
    "abtest",
    "active_run",
    "backup",
    "collect_garbage",
    "delete_run",
    "drift",
    "explain",
    "get_run",
    "load_model",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "monitor",
    "predict",
    "register_model",
    "restore",
    "retrain",
    "run_job",
    "search_runs",
    "serve",
    "set_tag",
    "set_tags",
    "start_run",
    "train",
]


def register_model(
    name: str,
    model: Any = None,
    *,
    bundle: str | Path | None = None,
    input_example: pd.DataFrame | None = None,
    reference_data: pd.DataFrame | None = None,
    target: str | None = None,
    schema: Schema | None = None,
    alias: str | None = None,
    workspace: Workspace | None = None,
    example: Any = None,
    task: str | None = None,
    classes: list[Any] | None = None,
    output: str | None = None,
    feature_names: list[str] | None = None,
    **fields: Any,
) -> ModelVersion:
    """Register a model trained anywhere as a version that serves and is monitored.

    ``model`` is a fitted estimator (scikit-learn, LightGBM, XGBoost, mlcycle's networks), a
    ``torch.nn.Module`` taking one float tensor of shape (rows, features), with ``example=``
    a batch of such rows (it is exported to ONNX and checked against the module; the
    weights are kept as safetensors), or the path of an ``.onnx`` file from any framework,
    with ``schema=`` (or ``feature_names=``) naming the input tensor's columns in order.
    For the last two, ``task=`` (binary, multiclass, regression), ``classes=`` (the label of
    each output column) and ``output=`` (``logits``, ``probabilities`` or ``values``) say
    how the output reads.

    :func:`mlcycle.registry.register_model` (which this calls) loads the model back as
    serving will, refuses what would not load, and infers the input schema: ``schema=``,
    else from ``reference_data`` (its categories, ranges and gaps are the representative
    contract), else from ``input_example``, else from the fitted feature names.

    ``reference_data`` (the training features, with the ``target`` column if you like)
    gives the model what an AutoML model gets for monitoring: the drift reference, a
    reference sample and an anomaly detector (:func:`mlcycle.data.monitoring_reference`).
    Other keywords (``run``, ``description``, ``metrics``, ``params``, ...) are passed on.

    >>> mlcycle.register_model("iris", model, reference_data=X)  # doctest: +SKIP
    """
    from mlcycle.nn import is_network_or_graph
    from mlcycle.registry import check_schema_matches
    from mlcycle.registry import register_model as register

    if model is not None and is_network_or_graph(model):
        from mlcycle.nn import as_tensor_model

        model, schema, rows = as_tensor_model(
            model, example=example, schema=schema, task=task, classes=classes, output=output,
            feature_names=feature_names,
        )  # fmt: skip
        if input_example is None:
            input_example = rows
    elif example is not None or task or classes is not None or output or feature_names:
        from mlcycle.exceptions import BadParameterError

        raise BadParameterError(
            "register_model(example=, task=, classes=, output=, feature_names=) describe a "
            "torch.nn.Module or an .onnx file; this model carries its own."
        )
    if reference_data is not None:
        import pandas as pd

        from mlcycle.data import monitoring_reference
        from mlcycle.exceptions import BadParameterError, bad_parameter
        from mlcycle.schema import Schema

        if model is None:
            raise BadParameterError(
                "register_model(reference_data=...) needs the model object: a bundle folder "
                "is registered as written."
            )
        if not isinstance(reference_data, pd.DataFrame) or len(reference_data) == 0:
            raise bad_parameter(
                "reference_data", "register_model()", "a non-empty pandas DataFrame",
                type(reference_data),
            )  # fmt: skip
        target = target or (schema.target if schema is not None else None)
        present = target if target in reference_data.columns else None
        if schema is None:
            schema = Schema.from_dataframe(reference_data, target=present)
        check_schema_matches(model, schema, name)
        reference = monitoring_reference(model, reference_data, target=present, schema=schema)
        profile = dict(fields.pop("reference_profile", None) or {})
        fields["reference_profile"] = {**profile, "rows": len(reference_data)}
        fields["monitoring"] = reference
    elif target is not None:
        from mlcycle.exceptions import BadParameterError

        raise BadParameterError("register_model(target=...) names a column of reference_data=.")
    if schema is not None:
        fields["schema"] = schema
    return register(
        name, model, bundle=bundle, input_example=input_example, alias=alias,
        workspace=workspace, **fields,
    )  # fmt: skip


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
