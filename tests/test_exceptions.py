"""The exception tree: each class maps once to a status and exit code, and is what is raised."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest

import mlcycle
from mlcycle import exceptions
from mlcycle.exceptions import (
    BadParameterError,
    ConflictError,
    DataError,
    MlcycleError,
    NotFoundError,
    error_exit_code,
    error_status,
)

ERROR_CLASSES = [
    obj
    for name in exceptions.__all__
    if inspect.isclass(obj := getattr(exceptions, name)) and issubclass(obj, MlcycleError)
]


def test_the_tree_is_exported() -> None:
    assert {c.__name__ for c in ERROR_CLASSES} >= {
        "MlcycleError",
        "BadParameterError",
        "NotFoundError",
        "ConflictError",
        "DataError",
        "SchemaError",
        "BundleError",
        "ConfigError",
    }


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_each_error_maps_to_a_client_or_service_status_never_500(cls: type) -> None:
    error = cls("message")
    assert 400 <= error_status(error) <= 599
    assert error_status(error) != 500
    assert error_exit_code(error) == 2


def test_specific_statuses() -> None:
    assert error_status(NotFoundError("x")) == 404
    assert error_status(ConflictError("x")) == 409
    assert error_status(DataError("x")) == 422
    assert error_status(BadParameterError("x")) == 400


def test_anything_else_is_a_bug() -> None:
    assert error_status(RuntimeError("boom")) == 500
    assert error_exit_code(RuntimeError("boom")) == 1


def test_bad_parameter_is_a_value_error() -> None:
    assert issubclass(BadParameterError, ValueError)
    error = exceptions.bad_parameter("budget", "train()", "a number of seconds > 0", -5)
    assert isinstance(error, BadParameterError)
    with pytest.raises(ValueError, match="'budget' parameter of train"):
        raise error


def test_unknown_model_is_not_found(clean_env: Path) -> None:
    with pytest.raises(NotFoundError, match="'nope' does not exist"):
        mlcycle.load_model("nope")


def test_bad_budget_is_a_bad_parameter(clean_env: Path) -> None:
    df = pd.DataFrame({"x": range(20), "y": [0, 1] * 10})
    expected = "The 'budget' parameter of train() must be a number of seconds > 0. Got -5 instead."
    with pytest.raises(BadParameterError) as caught:
        mlcycle.train(df, target="y", budget=-5)
    assert str(caught.value) == expected


def test_logging_without_a_run_is_a_conflict(clean_env: Path) -> None:
    with pytest.raises(ConflictError, match="No active run"):
        mlcycle.log_metric("auc", 0.9)


def test_unusable_tables_are_data_errors() -> None:
    from mlcycle.data import profile, split

    with pytest.raises(DataError, match="no columns"):
        profile(pd.DataFrame())
    with pytest.raises(DataError, match="at least one training and one test row"):
        split(pd.DataFrame({"x": [1]}), strategy="random")
    with pytest.raises(BadParameterError, match="'df' parameter of split"):
        split([1, 2, 3])  # type: ignore[arg-type]
