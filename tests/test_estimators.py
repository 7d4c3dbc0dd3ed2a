"""mlcycle's own bundled types: one stable bottom-layer module, old paths still importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlcycle import estimators
from mlcycle.estimators import (
    BUNDLE_TYPES,
    FORMER_NAMES,
    PREPARER_TYPES,
    ColumnCaster,
    QuantileClipper,
    WeightedEnsemble,
    type_name,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bundles"


def test_every_bundled_type_is_named_by_this_module() -> None:
    assert BUNDLE_TYPES == (
        "mlcycle.estimators.ColumnCaster",
        "mlcycle.estimators.DatetimeFeatures",
        "mlcycle.estimators.QuantileClipper",
        "mlcycle.estimators.WeightedEnsemble",
    )
    assert set(PREPARER_TYPES) < set(BUNDLE_TYPES)
    for name in BUNDLE_TYPES:
        assert type_name(getattr(estimators, name.rsplit(".", 1)[1])) == name


def test_the_old_import_paths_give_the_same_classes() -> None:
    from mlcycle.data._prepare import SKOPS_TYPES
    from mlcycle.data._prepare import ColumnCaster as OldCaster
    from mlcycle.training import WeightedEnsemble as PublicEnsemble
    from mlcycle.training._ensemble import WeightedEnsemble as OldEnsemble

    assert OldCaster is ColumnCaster
    assert OldEnsemble is WeightedEnsemble is PublicEnsemble
    assert SKOPS_TYPES == PREPARER_TYPES


def test_importing_the_types_imports_neither_training_nor_data_nor_serving() -> None:
    code = (
        "import sys, mlcycle.estimators\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mlcycle.training', "
        "'mlcycle.data', 'mlcycle.serving', 'mlcycle.evaluation', 'mlcycle.monitoring'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_format_1_bundles_name_only_types_with_a_known_new_name() -> None:
    """The integrator maps these former names to the new ones when loading old bundles."""
    import skops.io as sio

    found: set[str] = set()
    for model in FIXTURES.glob("v1-*/model/*.skops"):
        found |= set(sio.get_untrusted_types(data=model.read_bytes()))
    ours = {name for name in found if name.startswith("mlcycle.")}
    assert ours, "the format-1 fixtures hold mlcycle types"
    assert ours <= set(FORMER_NAMES)
    assert set(FORMER_NAMES.values()) == set(BUNDLE_TYPES)


def test_a_new_dump_names_the_new_paths() -> None:
    import skops.io as sio

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int).to_numpy()
    member = make_pipeline(ColumnCaster("numeric"), QuantileClipper(), LogisticRegression())
    member.fit(X, y)
    ensemble = WeightedEnsemble("binary").set_members([member], [1.0], classes=np.array([0, 1]))
    found = set(sio.get_untrusted_types(data=sio.dumps(ensemble)))
    assert {name for name in found if name.startswith("mlcycle.")} == {
        "mlcycle.estimators.ColumnCaster",
        "mlcycle.estimators.QuantileClipper",
        "mlcycle.estimators.WeightedEnsemble",
    }
    np.testing.assert_array_equal(ensemble.predict(X), member.predict(X))


def test_an_ensemble_refuses_to_be_refitted() -> None:
    with pytest.raises(TypeError, match="refit it by training again"):
        WeightedEnsemble("binary").fit(np.zeros((2, 1)), [0, 1])
