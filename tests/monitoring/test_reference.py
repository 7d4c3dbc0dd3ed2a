"""The drift reference stored in a bundle at training time: small, JSON-safe, no rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlcycle.data import build_reference, reference_sample
from mlcycle.exceptions import DataError, MlcycleError
from mlcycle.schema import Schema


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = 10_000
    return pd.DataFrame({
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10, 1, rows),
        "visits": rng.integers(0, 4, rows),  # few distinct values: edges collapse
        "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
        "active": rng.random(rows) < 0.7,
        "signup": pd.date_range("2024-01-01", periods=rows, freq="h"),
    })  # fmt: skip


def test_shapes(frame: pd.DataFrame) -> None:
    ref = build_reference(frame)

    assert ref["format"] == 1 and ref["rows"] == 10_000
    assert list(ref["features"]) == ["age", "income", "visits", "plan", "active"]
    assert ref["skipped"] == ["signup"]  # datetimes always move on
    age = ref["features"]["age"]
    assert age["kind"] == "numeric"
    assert len(age["quantiles"]) == 101 and age["quantiles"] == sorted(age["quantiles"])
    assert age["quantiles"][0] == frame["age"].min() and age["quantiles"][-1] == frame["age"].max()
    assert age["quantiles"][50] == pytest.approx(frame["age"].median())
    assert age["bins"][0] is None and age["bins"][-1] is None and len(age["bins"]) == 11
    assert len(age["counts"]) == 10 and sum(age["counts"]) == 10_000
    assert age["counts"] == pytest.approx([1000] * 10, abs=1)  # deciles
    assert age["mean"] == pytest.approx(frame["age"].mean())
    assert age["std"] == pytest.approx(frame["age"].std(ddof=0))
    visits = ref["features"]["visits"]
    assert visits["bins"] == [None, 0.0, 1.0, 2.0, 3.0, None]  # unique decile edges only
    assert visits["counts"][0] == 0 and sum(visits["counts"]) == 10_000
    plan = ref["features"]["plan"]
    assert plan["kind"] == "category" and list(plan["frequencies"]) == ["basic", "pro", "team"]
    assert sum(plan["frequencies"].values()) == 10_000 and plan["other"] == 0
    assert set(ref["features"]["active"]["frequencies"]) == {"True", "False"}
    assert ref["prediction"] is None and ref["target"] is None


def test_json_round_trip(frame: pd.DataFrame) -> None:
    ref = build_reference(frame.assign(empty=np.nan), target=frame["plan"].rename("y"))

    text = json.dumps(ref, allow_nan=False)
    assert json.loads(text) == ref
    assert len(text) < 20_000  # summaries, not rows


def test_missing_values_and_infinities() -> None:
    values = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 3.0, None], dtype=float)
    frame = pd.DataFrame({"x": values, "c": ["a", None, "b", np.nan, "a", "a", "b"]})

    ref = build_reference(frame)

    x, c = ref["features"]["x"], ref["features"]["c"]
    assert (x["count"], x["missing"]) == (7, 4)  # NaN, None and both infinities
    assert x["missing_share"] == pytest.approx(4 / 7)
    assert x["quantiles"][0] == 1.0 and x["quantiles"][-1] == 3.0
    assert sum(x["counts"]) == 3
    assert (c["missing"], c["frequencies"], c["other"]) == (2, {"a": 3, "b": 2}, 0)


def test_all_missing_columns() -> None:
    frame = pd.DataFrame({"x": [np.nan] * 5, "c": pd.Series([None] * 5, dtype=object)})

    ref = build_reference(frame)

    x = ref["features"]["x"]
    assert x["kind"] == "numeric" and x["missing_share"] == 1.0
    assert (x["quantiles"], x["bins"], x["counts"], x["mean"], x["std"]) == ([], [], [], None, None)
    c = ref["features"]["c"]
    assert (c["kind"], c["missing"], c["frequencies"], c["other"]) == ("category", 5, {}, 0)
    json.dumps(ref, allow_nan=False)


def test_category_cardinality_cap() -> None:
    # level i appears 1000 - i times; levels 0..999
    values = np.repeat([f"v{i:03d}" for i in range(1000)], np.arange(1000, 0, -1))
    frame = pd.DataFrame({"city": values})

    ref = build_reference(frame, max_categories=100)["features"]["city"]

    assert list(ref["frequencies"]) == [f"v{i:03d}" for i in range(100)]  # most frequent first
    assert ref["frequencies"]["v000"] == 1000
    assert ref["other"] == len(values) - sum(ref["frequencies"].values())


def test_ties_are_ordered_by_text() -> None:
    ref = build_reference(pd.DataFrame({"c": ["b", "a", "c", "a", "b", "c"]}))

    assert list(ref["features"]["c"]["frequencies"]) == ["a", "b", "c"]


def test_schema_decides_the_kinds(frame: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(frame)
    schema.column("visits").dtype = "category"  # an integer code

    ref = build_reference(frame, schema=schema)

    assert ref["features"]["visits"]["kind"] == "category"
    assert ref["features"]["visits"]["frequencies"].keys() == {"0", "1", "2", "3"}
    assert "signup" in ref["skipped"]


def test_outputs_of_a_binary_classifier_and_a_regressor(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    p = rng.random(len(frame))
    labels = np.where(p > 0.5, "yes", "no")

    binary = build_reference(
        frame,
        probabilities=np.c_[1 - p, p],
        classes=["no", "yes"],
        predictions=labels,
        target=pd.Series(labels, name="bought"),
    )
    assert binary["prediction"]["kind"] == "numeric" and binary["prediction"]["class"] == "yes"
    assert binary["prediction"]["quantiles"][50] == pytest.approx(np.median(p))
    assert binary["prediction"]["label"]["frequencies"].keys() == {"no", "yes"}
    assert binary["target"]["kind"] == "category" and binary["target"]["name"] == "bought"

    three = build_reference(frame, probabilities=rng.dirichlet([1, 1, 1], len(frame)),
                            classes=[0, 1, 2])  # fmt: skip
    assert three["prediction"]["kind"] == "category"
    assert three["prediction"]["frequencies"].keys() == {"0", "1", "2"}

    regression = build_reference(frame, predictions=p * 10, target=frame["income"])
    assert regression["prediction"]["kind"] == "numeric" and "class" not in regression["prediction"]
    assert regression["target"]["kind"] == "numeric" and regression["target"]["name"] == "income"


def test_bad_parameters(frame: pd.DataFrame) -> None:
    with pytest.raises(MlcycleError, match=r"The 'frame' parameter of build_reference\(\)"):
        build_reference(frame.to_dict())
    with pytest.raises(MlcycleError, match=r"'quantiles' parameter .* from 10 to 1000\. Got 5"):
        build_reference(frame, quantiles=5)
    with pytest.raises(MlcycleError, match="'max_categories' parameter"):
        build_reference(frame, max_categories=0)
    with pytest.raises(DataError, match="no rows"):
        build_reference(frame.iloc[:0])
    with pytest.raises(MlcycleError, match="'probabilities' parameter"):
        build_reference(frame, probabilities=np.ones((3, 2)))
    with pytest.raises(MlcycleError, match=r"'target' parameter .* one value per row"):
        build_reference(frame, target=pd.Series([1, 2]))
    schema = Schema.from_dataframe(frame)
    with pytest.raises(DataError, match="'age' of the schema is not in the table"):
        build_reference(frame.drop(columns="age"), schema=schema)


def test_reference_sample_is_seeded_and_ordered(frame: pd.DataFrame) -> None:
    first = reference_sample(frame, rows=500, seed=1)
    again = reference_sample(frame, rows=500, seed=1)
    other = reference_sample(frame, rows=500, seed=2)

    assert len(first) == 500 and list(first.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert first["signup"].is_monotonic_increasing  # rows keep their original order
    assert len(reference_sample(frame.head(10), rows=500)) == 10
    with pytest.raises(MlcycleError, match="'rows' parameter of reference_sample"):
        reference_sample(frame, rows=0)
