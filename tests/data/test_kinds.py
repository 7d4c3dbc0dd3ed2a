"""Column kinds: the rules of mlcycle.data._kinds on the public suite and on made-up columns."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcycle.data import Kind, infer_kinds
from mlcycle.data._kinds import infer_kind


def test_kind_constants_are_the_seven_documented_strings():
    assert Kind.ALL == (
        "numeric",
        "integer_category",
        "category",
        "boolean",
        "datetime",
        "text",
        "identifier",
    )


def test_birthwt(public):
    kinds = infer_kinds(public("birthwt").frame)
    assert kinds["race"] == Kind.INTEGER_CATEGORY
    assert kinds["bwt"] == Kind.NUMERIC
    assert kinds["low"] == Kind.BOOLEAN
    assert kinds["smoke"] == Kind.BOOLEAN
    assert kinds["age"] == Kind.NUMERIC
    assert kinds["ftv"] == Kind.INTEGER_CATEGORY


def test_aids2(public):
    kinds = infer_kinds(public("aids2").frame)
    assert kinds["sex"] == Kind.CATEGORY
    assert kinds["state"] == Kind.CATEGORY
    assert kinds["T.categ"] == Kind.CATEGORY
    # diag and death are day numbers, not date strings: numbers they stay
    assert kinds["diag"] == Kind.NUMERIC
    assert Kind.DATETIME not in kinds.values()


def test_yes_no_text_is_boolean(public):
    assert infer_kinds(public("star").frame)["freelunk"] == Kind.BOOLEAN


@pytest.mark.parametrize("name", ["breast_cancer", "heating", "housing", "wine"])
def test_every_column_of_the_suite_gets_a_known_kind(public, name):
    data = public(name)
    kinds = infer_kinds(data.frame, exclude=[data.target])
    assert data.target not in kinds
    assert set(kinds) == set(data.frame.columns) - {data.target}
    assert set(kinds.values()) <= set(Kind.ALL)


@pytest.mark.parametrize(
    "values",
    [
        [True, False, True],
        ["yes", "no", "Yes"],
        ["Y", "N", "N"],
        ["t", "f", "t"],
        [" TRUE", "false", "false"],
        [0, 1, 1],
        [0.0, 1.0, np.nan],
        ["1", "0", None],
    ],
)
def test_booleans(values):
    assert infer_kind(pd.Series(values * 10)) == Kind.BOOLEAN


@pytest.mark.parametrize("values", [["yes", "maybe"], ["a", "b"], [1, 2], ["y", "no"]])
def test_two_values_that_are_not_a_boolean_pair(values):
    assert infer_kind(pd.Series(values * 10)) != Kind.BOOLEAN


def test_a_rare_third_value_beyond_the_sample_prevents_boolean():
    values = pd.Series(["yes", "no"] * 15_000 + ["maybe"])
    assert infer_kind(values) == Kind.CATEGORY


@pytest.mark.parametrize(
    "values",
    [
        ["2020-01-31", "2021-12-01"],
        ["2020-01-31 10:00:00", "2021-12-01 23:59:59"],
        ["31/01/2020", "01/12/2021"],
        ["Jan 5, 2020", "5 March 2021"],
        ["2020-01-05T10:00:00Z", "2020-01-05T10:00:00+01:00"],
    ],
)
def test_date_strings(values):
    assert infer_kind(pd.Series(values * 30)) == Kind.DATETIME


@pytest.mark.parametrize("values", [["1-5", "2-6"], ["2020", "2021"], ["12:30", "13:45"]])
def test_strings_that_are_not_dates(values):
    assert infer_kind(pd.Series(values * 30)) != Kind.DATETIME


def test_datetime_dtypes():
    frame = pd.DataFrame(
        {
            "naive": pd.date_range("2020-01-01", periods=5),
            "aware": pd.date_range("2020-01-01", periods=5, tz="UTC"),
        }
    )
    assert infer_kinds(frame) == {"naive": Kind.DATETIME, "aware": Kind.DATETIME}


def test_integers():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "few": rng.integers(1, 4, 500),
            "many": rng.integers(0, 1000, 500),
            "constant": np.full(500, 7),
        }
    )
    assert infer_kinds(frame) == {
        "few": Kind.INTEGER_CATEGORY,
        "many": Kind.NUMERIC,
        "constant": Kind.INTEGER_CATEGORY,
    }


def test_integers_widened_to_float_by_missing_values_follow_the_integer_rules():
    codes = pd.Series([1.0, 2.0, 3.0, np.nan] * 50)
    whole_measurements = pd.Series([1.0, 2.0, 3.0, 4.0] * 50)
    fractions = pd.Series([1.5, 2.0, np.nan, 3.0] * 50)
    assert infer_kind(codes) == Kind.INTEGER_CATEGORY
    assert infer_kind(whole_measurements) == Kind.NUMERIC
    assert infer_kind(fractions) == Kind.NUMERIC


def test_identifiers():
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        {
            "customer_id": rng.permutation(n) + 10_000,
            "orderId": [f"x{i}" for i in rng.permutation(n)],
            "row": np.arange(n),
            "token": [uuid.UUID(int=int(rng.integers(2**62)) << 40).hex for _ in range(n)],
            "sku": [f"AB{i:05d}" for i in rng.permutation(n)],
            "income": rng.permutation(n) * 37,
            "score": rng.normal(size=n),
        }
    )
    assert infer_kinds(frame) == {
        "customer_id": Kind.IDENTIFIER,
        "orderId": Kind.IDENTIFIER,
        "row": Kind.IDENTIFIER,
        "token": Kind.IDENTIFIER,
        "sku": Kind.IDENTIFIER,
        "income": Kind.NUMERIC,  # unique but neither named nor shaped like an id
        "score": Kind.NUMERIC,
    }


def test_a_small_table_has_no_identifiers():
    assert infer_kind(pd.Series(np.arange(20), name="id")) != Kind.IDENTIFIER


def test_free_text_and_categories_with_long_labels():
    rng = np.random.default_rng(2)
    words = ["good", "bad", "slow", "fast", "service", "food", "price", "staff", "clean"]
    comments = [" ".join(rng.choice(words, 6)) + f" {i}" for i in range(300)]
    labels = ["Some college but no degree", "High school graduate", "Bachelor degree or more"]
    frame = pd.DataFrame({"comment": comments, "education": rng.choice(labels, 300)})
    assert infer_kinds(frame) == {"comment": Kind.TEXT, "education": Kind.CATEGORY}


def test_all_missing_columns_get_a_kind_and_no_error():
    frame = pd.DataFrame(
        {
            "floats": [np.nan] * 5,
            "objects": [None] * 5,
            "strings": pd.Series([None] * 5, dtype="str"),
        }
    )
    assert infer_kinds(frame) == {
        "floats": Kind.NUMERIC,
        "objects": Kind.CATEGORY,
        "strings": Kind.CATEGORY,
    }


def test_categorical_dtype_and_python_objects():
    frame = pd.DataFrame(
        {
            "plan": pd.Categorical(["free", "pro", "team"] * 10),
            "flag": pd.Categorical(["yes", "no"] * 15),
            "numbers_as_objects": pd.Series([1, 2, 3] * 10, dtype=object),
        }
    )
    assert infer_kinds(frame) == {
        "plan": Kind.CATEGORY,
        "flag": Kind.BOOLEAN,
        "numbers_as_objects": Kind.INTEGER_CATEGORY,
    }


def test_duplicated_column_names_are_read_by_position():
    frame = pd.DataFrame([[1.5, "a"], [2.5, "b"]], columns=["x", "y"])
    frame.columns = ["x", "x"]
    assert infer_kinds(frame) == {"x": Kind.CATEGORY}  # the last one wins in a dict


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(-5, 5),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=12),
            st.booleans(),
        ),
        max_size=80,
    )
)
def test_any_column_gets_a_known_kind(values):
    assert infer_kind(pd.Series(values, dtype=object)) in Kind.ALL


# -- one vocabulary: the schema dtype is the contract, the kind refines it -----------------


def test_every_schema_dtype_has_its_kinds_and_every_kind_a_dtype() -> None:
    from mlcycle.data import DTYPE_KINDS, Kind
    from mlcycle.schema import DTYPES

    assert set(DTYPE_KINDS) == set(DTYPES)
    assert set().union(*DTYPE_KINDS.values()) == set(Kind.ALL)


def test_inferred_kinds_refine_the_inferred_schema_dtypes() -> None:
    from mlcycle.data import infer_types

    n = 120
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flag": rng.choice(["yes", "no"], n),
            "bit": rng.integers(0, 2, n),
            "truth": rng.integers(0, 2, n).astype(bool),
            "when": pd.date_range("2024-01-01", periods=n, freq="D"),
            "when_text": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "user_id": [f"u{i:05d}" for i in range(n)],
            "row": np.arange(n),
            "note": [f"customer said thing number {i} about the plan" for i in range(n)],
            "plan": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "grade": rng.integers(1, 4, n),
            "amount": rng.normal(size=n),
            "wait": pd.to_timedelta(rng.integers(1, 100, n), unit="s"),
            "empty": [None] * n,
        }
    )
    types = infer_types(frame)
    pairs = {c.name: (c.dtype, types.kinds[c.name]) for c in types.schema.columns}
    assert pairs["flag"] == ("category", "boolean")
    assert pairs["bit"] == ("integer", "boolean")
    assert pairs["when_text"] == ("string", "datetime")
    assert pairs["note"] == ("string", "text")
    assert pairs["empty"] == ("string", "category")
    assert pairs["user_id"][1] == "identifier"
    assert pairs["grade"] == ("integer", "integer_category")
    assert pairs["wait"] == ("string", "numeric")


def test_a_kind_that_contradicts_its_dtype_is_refused() -> None:
    from mlcycle.data import TableTypes
    from mlcycle.exceptions import SchemaError
    from mlcycle.schema import Column, Schema

    schema = Schema([Column("age", "number"), Column("plan", "category")])
    with pytest.raises(SchemaError, match=r"'age' cannot be of kind 'text'.*dtype is 'number'"):
        TableTypes(schema, {"age": "text"})
    with pytest.raises(SchemaError, match="'city' has a kind but is not in the schema"):
        TableTypes(schema, {"city": "category"})
    narrowed = TableTypes(schema, {"age": "numeric", "plan": "category"}).select(["plan"])
    assert [c.name for c in narrowed.schema.columns] == ["plan"]
    assert dict(narrowed.kinds) == {"plan": "category"}
