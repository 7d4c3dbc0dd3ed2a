"""The schema contract: inferred from training data, round-tripped, enforced with clear messages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlcycle.exceptions import SchemaError
from mlcycle.schema import Column, Schema


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25, 32, 47, 51],
            "income": [30_000.5, np.nan, 72_000.0, 51_000.0],
            "plan": ["basic", "pro", "basic", "pro"],
            "active": [True, False, True, True],
            "signed_up": pd.to_datetime(["2020-01-01", "2021-05-03", "2019-07-08", "2022-02-02"]),
            "tier": pd.Categorical(["a", "b", "a", "c"]),
            "churned": [0, 1, 0, 1],
        }
    )


def test_from_dataframe_infers_types_nulls_categories_and_ranges(train: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(train, target="churned")

    assert [(c.name, c.dtype) for c in schema.columns] == [
        ("age", "integer"),
        ("income", "number"),
        ("plan", "category"),
        ("active", "boolean"),
        ("signed_up", "datetime"),
        ("tier", "category"),
        ("churned", "integer"),
    ]
    assert schema.column("age") == Column("age", "integer", False, min=25.0, max=51.0)
    assert schema.column("income").nullable and schema.column("income").max == 72_000.0
    assert schema.column("plan").categories == ["basic", "pro"]
    assert schema.column("tier").categories == ["a", "b", "c"]
    assert schema.target == "churned"
    assert schema.feature_names == ["age", "income", "plan", "active", "signed_up", "tier"]


def test_many_distinct_strings_are_free_text() -> None:
    df = pd.DataFrame({"comment": [f"text {i}" for i in range(100)]})

    assert Schema.from_dataframe(df).column("comment").dtype == "string"


def test_round_trip_through_dict_and_json(train: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(train, target="churned")

    assert Schema.from_dict(schema.to_dict()) == schema
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.to_json() == Schema.from_json(schema.to_json()).to_json()
    assert schema.to_dict()["format"] == 1


def test_validate_accepts_training_data_and_serving_rows_without_target(
    train: pd.DataFrame,
) -> None:
    schema = Schema.from_dataframe(train, target="churned")

    schema.validate(train)
    schema.validate(train.drop(columns="churned").assign(extra=1))


def test_missing_column_message_names_it_and_the_expected_columns() -> None:
    schema = Schema.from_dataframe(pd.DataFrame({"age": [1], "income": [2.0], "plan": ["basic"]}))

    with pytest.raises(
        SchemaError,
        match=r"^Column 'age' is missing from the input\. The model expects: age, income, plan\.$",
    ):
        schema.validate(pd.DataFrame({"income": [1.0], "plan": ["basic"]}))
    with pytest.raises(SchemaError, match="Columns 'age', 'plan' are missing"):
        schema.validate(pd.DataFrame({"income": [1.0]}))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age", "old", r"Column 'age' must hold integer values\. Got 'old' of type str \(row 0\)"),
        ("age", 2.5, r"Column 'age' must hold integer values\. Got 2\.5 of type float"),
        ("income", "lots", "Column 'income' must hold number values"),
        ("active", 3, "Column 'active' must hold boolean values"),
        ("signed_up", "yesterday", "Column 'signed_up' must hold datetime values"),
        ("plan", "platinum", "Column 'plan' has values the model has not seen: 'platinum'"),
    ],
)
def test_wrong_values_are_named_per_column(
    train: pd.DataFrame, column: str, value: object, message: str
) -> None:
    schema = Schema.from_dataframe(train, target="churned")
    bad = train.astype({column: object})
    bad.loc[0, column] = value

    with pytest.raises(SchemaError, match=message):
        schema.validate(bad)


def test_nulls_in_a_column_that_never_had_any_are_refused(train: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(train)
    bad = train.astype({"age": float})
    bad.loc[1, "age"] = np.nan

    with pytest.raises(SchemaError, match="Column 'age' has 1 missing value"):
        schema.validate(bad)
    schema.validate(train.assign(income=np.nan))  # income had nulls in training


def test_every_problem_is_reported_at_once(train: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(train)
    bad = train.drop(columns="plan").astype({"age": object})
    bad.loc[0, "age"] = "x"

    with pytest.raises(SchemaError, match=r"'plan' is missing.*Column 'age' must hold integer"):
        schema.validate(bad)


def test_integral_floats_are_integers(train: pd.DataFrame) -> None:
    Schema.from_dataframe(train).validate(train.astype({"age": float}))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Column("x", "float"), "must be one of number, integer"),
        (lambda: Column("", "number"), "non-empty string"),
        (lambda: Schema([Column("x", "number"), Column("x", "string")]), "appears twice"),
        (lambda: Schema([Column("x", "number")], target="y"), "target 'y' is not one"),
        (lambda: Schema.from_dict({"columns": [{"name": "x"}]}), "needs 'name' and 'dtype'"),
        (lambda: Schema.from_dict({"format": 9, "columns": []}), "format 9"),
        (lambda: Schema.from_json("{"), "not valid JSON"),
        (lambda: Schema.from_dataframe([1, 2]), "pandas DataFrame"),
        (lambda: Schema.from_dataframe(pd.DataFrame({"a": [1]}), target="b"), "'b' is not"),
        (lambda: Schema([Column("a", "number")]).validate({"a": [1]}), "pandas DataFrame"),
    ],
)
def test_invalid_schemas_and_inputs_are_refused(build: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        build()  # type: ignore[operator]


def test_import_is_light() -> None:
    code = "import sys, mlcycle.schema; print('pandas' in sys.modules or 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
