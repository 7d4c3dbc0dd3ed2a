"""The model server: HTTP app, request checking, micro-batching, prediction log, auth.

``mlcycle.serve("churn@production")`` checks the request and runs the app on uvicorn;
:func:`create_app` gives the ASGI app itself (for tests and embedding). Batch scoring of
files lives here too (:func:`predict_file`), since it reads bundles the same way.
"""

from mlcycle.serving._app import create_app
from mlcycle.serving._batch import BatchReport, predict, predict_file
from mlcycle.serving._config import ModelRoute, ServeConfig, build_config, is_loopback
from mlcycle.serving._input import MAX_ROWS, CompiledSchema, RequestError
from mlcycle.serving._model import ENGINES, Outputs, ServedModel, load_served_model
from mlcycle.serving._predlog import FeedbackLog, PredictionLog
from mlcycle.serving._server import prepare, run_server, serve

__all__ = [
    "ENGINES",
    "MAX_ROWS",
    "BatchReport",
    "CompiledSchema",
    "FeedbackLog",
    "ModelRoute",
    "Outputs",
    "PredictionLog",
    "RequestError",
    "ServeConfig",
    "ServedModel",
    "build_config",
    "create_app",
    "is_loopback",
    "load_served_model",
    "predict",
    "predict_file",
    "prepare",
    "run_server",
    "serve",
]
