"""Real scikit-learn models fitted once per session on scikit-learn's bundled data sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Case:
    model: Any
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    task: str


def _case(loader: Any, model: Any, task: str, stratify: bool) -> Case:
    X, y = loader(return_X_y=True, as_frame=True)
    y = y.to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y if stratify else None
    )
    return Case(model.fit(X_train, y_train), X_train, y_train, X_test, y_test, task)


def _pipeline(estimator: Any) -> Pipeline:
    return make_pipeline(StandardScaler(), estimator)


@pytest.fixture(scope="session")
def binary() -> Case:
    """Breast cancer, a scaled logistic regression; classes 0 and 1."""
    return _case(load_breast_cancer, _pipeline(LogisticRegression(max_iter=2000)), "binary", True)


@pytest.fixture(scope="session")
def binary_strings() -> Case:
    """Breast cancer with string labels, a random forest (an ensemble)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    names = np.where(y.to_numpy() == 1, "benign", "malignant")
    X_train, X_test, y_train, y_test = train_test_split(
        X, names, test_size=0.3, random_state=0, stratify=names
    )
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1)
    return Case(forest.fit(X_train, y_train), X_train, y_train, X_test, y_test, "binary")


@pytest.fixture(scope="session")
def multiclass() -> Case:
    """Wine, three classes, a scaled logistic regression."""
    return _case(load_wine, _pipeline(LogisticRegression(max_iter=2000)), "multiclass", True)


@pytest.fixture(scope="session")
def regression() -> Case:
    """Diabetes, a ridge regression."""
    return _case(load_diabetes, _pipeline(Ridge(alpha=1.0)), "regression", False)
