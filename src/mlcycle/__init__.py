"""mlcycle: from a table of data to a model that is trained, explained, versioned, served,
monitored and retrained.

``import mlcycle`` is cheap: the SDK's names are imported on first use.

>>> import mlcycle
>>> with mlcycle.start_run(experiment="quickstart") as run:  # doctest: +SKIP
...     mlcycle.log_param("family", "logistic")
...     mlcycle.log_metric("auc", 0.93)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcycle._lazy import lazy_exports
from mlcycle._version import __version__
from mlcycle.exceptions import MlcycleError

if TYPE_CHECKING:
    from mlcycle.explanation import explain
    from mlcycle.monitoring import abtest, drift, monitor, retrain
    from mlcycle.registry import (
        ActiveRun,
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
        register_model,
        restore,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
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
    "register_model": "mlcycle.registry",
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
