"""The flavour contract suite: every flavour and every AutoML family, one set of checks.

In the manner of scikit-learn's ``check_estimator`` and Optuna's storage tests: each case
is a fitted model; the checks are written once. A new family (``FAMILIES``) or flavour
(``FLAVOURS``) is covered by adding nothing here: families are enumerated from their table,
flavours from theirs, each through its own ``Flavour.example`` (an abstract method: a
flavour cannot be registered without one).
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcycle.bundle import MANIFEST_NAME, read_bundle, write_bundle
from mlcycle.data import build_preparer
from mlcycle.exceptions import BundleError, MissingDependencyError, TamperedBundleError
from mlcycle.flavours import FLAVOURS, Flavour, get_flavour
from mlcycle.schema import Schema
from mlcycle.training import FAMILIES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"


def _table(task: str, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 15, n).round(1),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )
    X.loc[rng.choice(n, 12, replace=False), "income"] = np.nan
    score = 0.05 * (X.age - 45) + 0.04 * (X.income.fillna(50) - 50) + (X.plan == "pro") * 0.8
    if task == "regression":
        return X, (score + rng.normal(0, 0.3, n)).to_numpy()
    if task == "binary":
        return X, np.where(score + rng.normal(0, 0.5, n) > 0.2, "yes", "no")
    return X, np.select([score < -0.5, score < 0.5], ["low", "mid"], "high")


@dataclass(frozen=True)
class Case:
    flavour: str
    model: Any
    X: pd.DataFrame
    threshold: float | None = None


def _family_case(family: str, task: str) -> Case:
    from sklearn.pipeline import Pipeline

    spec = FAMILIES[family]
    assert spec.available(), f"{spec.module} is not installed: pip install -e '.[dev]'"
    X, y = _table(task)
    codes = y if task == "regression" else np.unique(y, return_inverse=True)[1]
    preparer = build_preparer(X, task=task, seed=0)
    estimator = spec.build(spec.defaults(task, len(X)), task, 0, 1)
    if spec.boosted and "n_estimators" in estimator.get_params():
        estimator.set_params(n_estimators=20)
    model = Pipeline([("prepare", preparer), ("model", estimator)]).fit(X, codes)
    return Case("sklearn", model, X, 0.4 if task == "binary" else None)


def _flavour_case(flavour: str, task: str) -> Case:
    model, X = get_flavour(flavour).example(task)
    return Case(flavour, model, X, 0.35 if task == "binary" else None)


TASKS = ("binary", "multiclass", "regression")
CASES: dict[str, Callable[[], Case]] = {
    **{
        f"family-{family}-{task}": (lambda f=family, t=task: _family_case(f, t))
        for family in FAMILIES
        for task in TASKS
    },
    **{
        f"flavour-{flavour}-{task}": (lambda f=flavour, t=task: _flavour_case(f, t))
        for flavour in FLAVOURS
        for task in TASKS
    },
}
"""Every AutoML family and every registered flavour (through its ``example``), each task."""


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


def _write(case: Case, path: Path) -> Any:
    return write_bundle(
        case.model, path, schema=Schema.from_dataframe(case.X), decision_threshold=case.threshold
    )


def test_round_trip_gives_identical_outputs(case: Case, tmp_path: Path) -> None:
    written = _write(case, tmp_path / "b")
    loaded = read_bundle(tmp_path / "b")

    assert loaded.flavour == written.flavour == case.flavour
    want, got = written.predict_outputs(case.X), loaded.predict_outputs(case.X)
    np.testing.assert_array_equal(got.labels, want.labels)
    if want.probabilities is not None:
        np.testing.assert_array_equal(got.probabilities, want.probabilities)
        assert got.classes == want.classes == loaded.decision.classes
    if case.flavour != "onnx":  # the bundle answers as the model itself (threshold aside)
        # a network is served by its ONNX export, which float32 rounds apart from PyTorch
        atol = 1e-5 if case.flavour == "torch" else 1e-12
        raw = case.model.predict_proba(case.X) if loaded.decision.is_classifier else None
        if raw is not None:
            np.testing.assert_allclose(got.probabilities, raw, rtol=0, atol=atol)
        else:
            np.testing.assert_allclose(got.labels, case.model.predict(case.X), rtol=atol)
    if loaded.decision.threshold is not None:
        assert got.probabilities is not None
        expected = np.asarray(loaded.decision.classes)[
            (got.probabilities[:, 1] >= case.threshold).astype(int)
        ]
        np.testing.assert_array_equal(got.labels, expected)


def test_loading_never_unpickles(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(case, tmp_path / "b")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used to load a bundle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded = read_bundle(tmp_path / "b")
    assert len(loaded.predict(case.X)) == len(case.X)


def test_tampered_extra_and_missing_files_are_refused(case: Case, tmp_path: Path) -> None:
    bundle = _write(case, tmp_path / "b")
    model_file = bundle.manifest["model"]["path"]

    changed = tmp_path / "changed"
    shutil.copytree(tmp_path / "b", changed)
    data = bytearray((changed / model_file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (changed / model_file).write_bytes(bytes(data))
    with pytest.raises(TamperedBundleError, match="SHA-256"):
        read_bundle(changed)

    extra = tmp_path / "extra"
    shutil.copytree(tmp_path / "b", extra)
    (extra / "model" / "payload.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(TamperedBundleError, match="not listed"):
        read_bundle(extra)

    missing = tmp_path / "missing"
    shutil.copytree(tmp_path / "b", missing)
    (missing / model_file).unlink()
    with pytest.raises(TamperedBundleError, match="missing"):
        read_bundle(missing)


def test_flavour_describes_what_it_saved(case: Case) -> None:
    flavour: Flavour = get_flavour(case.flavour)
    assert flavour.accepts(case.model)
    saved = flavour.save(case.model, Schema.from_dataframe(case.X))
    assert saved.files and saved.info["path"] in saved.files
    assert "class" in flavour.describe(case.model)


# -- refusals that do not depend on the model ----------------------------------------------


@pytest.fixture
def small_bundle(tmp_path: Path) -> Path:
    case = _flavour_case("lightgbm", "binary")
    _write(case, tmp_path / "b")
    return tmp_path / "b"


def _rewrite_manifest(path: Path, **changes: Any) -> None:
    manifest = json.loads((path / MANIFEST_NAME).read_bytes())
    manifest.update(changes)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_unknown_flavour_is_refused_by_name(small_bundle: Path) -> None:
    _rewrite_manifest(small_bundle, flavour="tensorflow-savedmodel")
    with pytest.raises(BundleError, match="Unknown model flavour 'tensorflow-savedmodel'"):
        read_bundle(small_bundle)


def test_newer_bundle_format_is_refused(small_bundle: Path) -> None:
    _rewrite_manifest(small_bundle, format=3)
    with pytest.raises(BundleError, match=r"format 3.*Upgrade mlcycle"):
        read_bundle(small_bundle)


def test_newer_flavour_format_is_refused(small_bundle: Path) -> None:
    _rewrite_manifest(small_bundle, flavour_format=9)
    with pytest.raises(BundleError, match="flavour format 9"):
        read_bundle(small_bundle)


def test_missing_library_gives_the_install_hint(
    small_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    bundle = read_bundle(small_bundle)
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'mlcycle\[lightgbm\]'"):
        bundle.load()


# -- bundles written by the previous release -----------------------------------------------


@pytest.mark.parametrize("name", ["v1-automl-binary", "v1-lightgbm", "v1-xgboost"])
def test_format_1_bundle_still_loads_and_predicts(name: str) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())[name]
    rows = pd.read_csv(FIXTURES / "rows.csv")
    bundle = read_bundle(FIXTURES / name)
    X = rows[bundle.schema.feature_names]

    assert bundle.format == 1
    out = bundle.predict_outputs(X)
    if "proba" in expected:
        proba = np.asarray(expected["proba"])
        np.testing.assert_allclose(out.probabilities, proba, rtol=0, atol=1e-12)
        threshold = expected["threshold"]
        classes = np.asarray(bundle.decision.classes, dtype=object)
        if threshold is not None:  # the tuned threshold from params.json now applies
            assert bundle.decision.threshold == threshold
            want = classes[(proba[:, 1] >= threshold).astype(int)]
        else:
            want = classes[np.argmax(proba, axis=1)]
        assert list(out.labels) == list(want)
    else:
        np.testing.assert_allclose(out.labels, expected["predict"], rtol=1e-6)


def test_trusted_types_are_exactly_mlcycles_bundle_types() -> None:
    from mlcycle.estimators import BUNDLE_TYPES
    from mlcycle.flavours._sklearn import TRUSTED_NAMES

    assert {name for name in TRUSTED_NAMES if name.startswith("mlcycle.")} == set(BUNDLE_TYPES)


def test_loading_a_bundle_imports_neither_training_nor_serving() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from mlcycle.bundle import read_bundle\n"
        f"bundle = read_bundle({str(FIXTURES / 'v1-automl-binary')!r})\n"
        f"rows = pd.read_csv({str(FIXTURES / 'rows.csv')!r})\n"
        "bundle.predict(rows[bundle.schema.feature_names])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['mlcycle', 'training'], ['mlcycle', 'serving'], ['mlcycle', 'data'])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rows_out_of_order_answer_the_same_and_text_numbers_are_one_clear_error(
    tmp_path: Path,
) -> None:
    from mlcycle.exceptions import SchemaError

    case = _family_case("linear", "binary")
    bundle = _write(case, tmp_path / "b")
    shuffled = case.X[["plan", "income", "age"]]
    np.testing.assert_array_equal(
        bundle.predict_outputs(shuffled).probabilities,
        bundle.predict_outputs(case.X).probabilities,
    )
    as_text = case.X.head(5).astype({"age": str})
    with pytest.raises(SchemaError, match="age"):
        bundle.predict_outputs(as_text)
    records = case.X.head(5).to_dict(orient="records")
    np.testing.assert_allclose(
        bundle.predict_outputs(records).probabilities,
        bundle.predict_outputs(case.X.head(5)).probabilities,
        rtol=0,
        atol=1e-12,
    )


def test_a_manifest_that_lies_about_its_flavour_is_one_clear_error(small_bundle: Path) -> None:
    manifest = json.loads((small_bundle / MANIFEST_NAME).read_bytes())
    manifest["flavour"] = "xgboost"  # the files are LightGBM's
    (small_bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="XGBoost model cannot be read"):
        read_bundle(small_bundle).load()
    manifest["flavour"], manifest["model"] = "lightgbm", {"path": "model/model.txt"}
    (small_bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="LightGBM model cannot be read"):
        read_bundle(small_bundle).load()
