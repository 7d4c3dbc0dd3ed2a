"""The schema contract: inferred, round-tripped, hand-edited, enforced with field-level issues."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle.exceptions import SchemaError
from mlcycle.schema import ISSUE_CODES, Column, Issue, Policy, Schema


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


@pytest.fixture
def schema(train: pd.DataFrame) -> Schema:
    return Schema.from_dataframe(train, target="churned")


def good_record(**changes: Any) -> dict[str, Any]:
    record = {
        "age": 30,
        "income": 40_000.0,
        "plan": "pro",
        "active": False,
        "signed_up": "2023-03-01T12:30:00Z",
        "tier": "b",
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not ...}


def codes(issues: list[Issue]) -> list[tuple[int | None, str | None, str]]:
    return [(i.row, i.column, i.code) for i in issues]


def restated(schema: Schema, **policy: str) -> Schema:
    """``schema`` with ``policy`` set in every column it applies to (as a hand edit would)."""
    data = schema.to_dict()
    for column in data["columns"]:
        for key, value in policy.items():
            applies = {
                "missing": True,
                "unseen": column["dtype"] == "category",
                "out_of_range": column["dtype"] in ("number", "integer"),
            }[key]
            if applies:
                column[key] = value
    return Schema.from_dict(data)


# -- inference and the JSON file -----------------------------------------------------------


def test_from_dataframe_infers_types_nulls_categories_and_ranges(schema: Schema) -> None:
    assert [(c.name, c.dtype) for c in schema.columns] == [
        ("age", "integer"),
        ("income", "number"),
        ("plan", "category"),
        ("active", "boolean"),
        ("signed_up", "datetime"),
        ("tier", "category"),
        ("churned", "integer"),
    ]
    assert schema.column("age") == Column(
        "age", "integer", False, min=25.0, max=51.0, missing="refuse", out_of_range="allow"
    )
    assert schema.column("income").nullable and schema.column("income").max == 72_000.0
    assert schema.column("plan").categories == ["basic", "pro"]
    assert schema.column("tier").categories == ["a", "b", "c"]
    assert schema.target == "churned"
    assert schema.feature_names == ["age", "income", "plan", "active", "signed_up", "tier"]
    assert schema.defaults == Policy("auto", "refuse", "allow")
    assert schema.unexpected == "refuse"


def test_inference_states_every_policy_in_the_file(schema: Schema) -> None:
    columns = {c["name"]: c for c in json.loads(schema.to_json(indent=2))["columns"]}

    assert columns["income"]["missing"] == "allow"  # nulls seen in training
    assert columns["age"]["missing"] == "refuse" and columns["age"]["out_of_range"] == "allow"
    assert columns["plan"]["unseen"] == "refuse" and "out_of_range" not in columns["plan"]
    assert all(c["optional"] is False for c in columns.values())
    lenient = Schema.from_dataframe(
        pd.DataFrame({"x": [1.0], "k": ["a"]}), defaults=Policy("impute", "map_to_missing", "clip")
    )
    assert lenient.column("x").to_dict() == {
        "name": "x", "dtype": "number", "nullable": False, "optional": False,
        "categories": None, "min": 1.0, "max": 1.0, "missing": "impute", "out_of_range": "clip",
    }  # fmt: skip
    assert lenient.column("k").unseen == "map_to_missing"


def test_many_distinct_strings_are_free_text() -> None:
    df = pd.DataFrame({"comment": [f"text {i}" for i in range(100)]})

    assert Schema.from_dataframe(df).column("comment").dtype == "string"


def test_default_policies_resolve_per_column() -> None:
    columns = [Column("age", "integer", False), Column("income", "number", True)]
    schema = Schema(columns)  # hand-built: policies left to the defaults
    assert schema.policy("income") == Policy("allow", "refuse", "allow")  # nulls seen in training
    assert schema.policy("age") == Policy("refuse", "refuse", "allow")  # none seen
    edited = Schema(columns, None, Policy("impute", "allow", "clip"))
    assert edited.policy("age") == Policy("impute", "allow", "clip")
    schema.column("age").missing = "allow"
    assert schema.policy("age").missing == "allow"  # a column's own policy wins


def test_round_trip_through_dict_and_json(schema: Schema) -> None:
    assert Schema.from_dict(schema.to_dict()) == schema
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.to_json() == Schema.from_json(schema.to_json()).to_json()
    assert Schema.from_json(schema.to_json(indent=2)) == schema
    assert schema.to_dict()["format"] == 4


def test_pretty_json_is_hand_editable(schema: Schema) -> None:
    text = schema.to_json(indent=2)
    assert text.startswith('{\n  "format": 4,\n  "target": "churned",\n  "defaults": {')
    assert '"name": "age",\n      "dtype": "integer"' in text  # reading order, not sorted
    assert "unseen" not in json.loads(text)["columns"][0]  # policies that do not apply

    data = json.loads(text)
    data["columns"][0]["out_of_range"] = "refuse"
    data["columns"][2].update(unseen="map_to_missing", missing="impute")
    data["columns"][1]["missing"] = "refuse"
    edited = Schema.from_json(json.dumps(data, indent=4))

    assert edited.policy("plan") == Policy("impute", "map_to_missing", "allow")
    assert edited.policy("income").missing == "refuse"
    assert Schema.from_json(edited.to_json(indent=2)) == edited
    assert edited.check([good_record(plan="gold", age=99)]) == [
        Issue(
            0,
            "age",
            "out_of_range",
            "Row 0, column 'age': 99 is outside the range seen in training (25 to 51).",
        )
    ]


def test_numpy_scalars_in_a_hand_built_column_become_json() -> None:
    column = Column("k", "category", categories=[np.int64(2), np.float64(1.5)], min=np.int64(0))

    assert column.categories == [2, 1.5] and type(column.categories[0]) is int
    assert json.loads(Schema([column]).to_json()) == Schema([column]).to_dict()


def test_format_1_files_still_read() -> None:
    old = {
        "format": 1,
        "target": None,
        "columns": [
            {
                "name": "x",
                "dtype": "number",
                "nullable": False,
                "categories": None,
                "min": 0.0,
                "max": 1.0,
            }
        ],
    }
    schema = Schema.from_dict(old)

    assert schema.defaults == Policy() and schema.unexpected == "allow"
    assert schema.policy("x").missing == "refuse" and not schema.column("x").optional
    assert schema.to_dict()["format"] == 4
    assert Schema.from_dict(schema.to_dict()) == schema  # "allow" is now written down


def test_format_2_files_still_read_and_absent_columns_are_refused() -> None:
    old = {
        "format": 2,
        "target": None,
        "defaults": {"missing": "auto", "unseen": "refuse", "out_of_range": "allow"},
        "unexpected": "allow",
        "columns": [
            {"name": "x", "dtype": "number", "nullable": True, "categories": None,
             "min": 0.0, "max": 1.0},
            {"name": "k", "dtype": "category", "nullable": False, "categories": ["a"],
             "min": None, "max": None, "unseen": "map_to_missing", "missing": "impute"},
        ],
    }  # fmt: skip
    schema = Schema.from_dict(old)

    assert schema.policy("x").missing == "allow" and schema.policy("k").unseen == "map_to_missing"
    assert codes(schema.check([{"k": "a"}])) == [(None, "x", "missing_column")]  # was: imputed
    assert schema.check([{"x": None, "k": "a", "other": 1}]) == []  # its policy: allow


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(colums=[]), r"Unknown key 'colums' in the schema\. Expected: format"),
        (
            lambda d: d["columns"][0].update(nulable=True),
            r"Unknown key 'nulable' in schema column 'age'",
        ),
        (
            lambda d: d["defaults"].update(missng="allow"),
            r"Unknown key 'missng' in the schema's 'defaults'",
        ),
        (
            lambda d: d["defaults"].update(missing="drop"),
            r"'missing' policy must be one of auto, allow",
        ),
        (
            lambda d: d["columns"][0].update(missing="auto"),
            r"'missing' policy of column 'age' must be",
        ),
        (
            lambda d: d["columns"][2].update(unseen="ignore"),
            r"'unseen' policy of column 'plan' must",
        ),
        (
            lambda d: d["columns"][0].update(unseen="allow"),
            r"applies to category columns; column 'age'",
        ),
        (
            lambda d: d["columns"][2].update(out_of_range="clip"),
            r"'out_of_range' policy applies to num",
        ),
        (
            lambda d: d.update(unexpected="warn"),
            r"'unexpected' policy must be one of allow, refuse",
        ),
        (
            lambda d: d["columns"][0].update(min=60),
            r"'min' of column 'age' is greater than its 'max'",
        ),
        (
            lambda d: d["columns"][0].update(max="51"),
            r"'min' and 'max' of column 'age' must be finite",
        ),
        (
            lambda d: d["columns"][0].update(nullable="no"),
            r"'nullable' of column 'age' must be true",
        ),
        (
            lambda d: d["columns"][2].update(categories="basic"),
            r"'categories' of column 'plan' must be a list",
        ),
        (lambda d: d["columns"][2].update(categories=[{}]), r"must hold strings, finite numbers"),
        (lambda d: d.update(format=5), r"format 5; this mlcycle reads formats 1 to 4"),
        (lambda d: d.update(ignored="email"), r"'ignored' must be a list of column names"),
        (lambda d: d.update(ignored=["plan"]), r"both a schema column and ignored"),
        (
            lambda d: d["columns"][0].update(optional="yes"),
            r"'optional' of column 'age' must be true or false",
        ),
        (
            lambda d: d["columns"][0].update(optional=True),
            r"Column 'age' is optional, so it may be absent .* refuses missing values",
        ),
        (lambda d: d.update(target=1), r"'target' must be a column name or null"),
        (lambda d: d["columns"].append(5), r"A schema column must be an object"),
    ],
)
def test_hand_edits_that_break_the_schema_are_refused_by_name(
    schema: Schema, edit: Any, message: str
) -> None:
    data = json.loads(schema.to_json(indent=2))
    edit(data)

    with pytest.raises(SchemaError, match=message):
        Schema.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ('{"columns": [], "format": NaN}', "NaN is not allowed"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("[1]", "needs a 'columns' list"),
        ("null", "needs a 'columns' list"),
    ],
)
def test_broken_json_is_a_schema_error(text: str | bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Schema.from_json(text)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Column("x", "float"), "must be one of number, integer"),
        (lambda: Column("", "number"), "non-empty string"),
        (lambda: Schema([Column("x", "number"), Column("x", "string")]), "appears twice"),
        (lambda: Schema([Column("x", "number")], target="y"), "target 'y' is not one"),
        (lambda: Schema.from_dict({"columns": [{"name": "x"}]}), "needs 'name' and 'dtype'"),
        (lambda: Schema.from_dataframe([1, 2]), "pandas DataFrame"),
        (lambda: Schema.from_dataframe(pd.DataFrame({"a": [1]}), target="b"), "'b' is not"),
        (lambda: Schema([Column("a", "number")]).validate(5), "DataFrame, a list of records"),
        (lambda: Schema([Column("a", "number")]).check("a,b"), "Got builtins.str"),
        (lambda: Schema([Column("a", "number")]).policy("b"), "has no column 'b'"),
    ],
)
def test_invalid_schemas_and_inputs_are_refused(build: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        build()


# -- enforcement: issues, messages, inputs ------------------------------------------------


def test_training_data_and_serving_rows_pass(train: pd.DataFrame, schema: Schema) -> None:
    schema.validate(train)
    schema.validate(train.drop(columns="churned"))
    schema.validate(train.assign(extra=1), carried=True)  # batch scoring copies it through
    schema.validate([good_record(), good_record(income=None)])
    assert schema.check(good_record()) == []


def test_missing_column_message_names_it_and_the_expected_columns() -> None:
    schema = Schema.from_dataframe(pd.DataFrame({"age": [1], "income": [2.0], "plan": ["basic"]}))
    exact = r"^Column 'age' is missing from the input\. The model expects: age, income, plan\.$"

    with pytest.raises(SchemaError, match=exact):
        schema.validate(pd.DataFrame({"income": [1.0], "plan": ["basic"]}))
    with pytest.raises(SchemaError, match=exact):
        schema.validate([{"income": 1.0, "plan": "basic"}])
    with pytest.raises(SchemaError, match=r"^Columns 'age', 'plan' are missing"):
        schema.validate(pd.DataFrame({"income": [1.0]}))


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"age": ...}, "missing_column", r"^Column 'age' is missing from the input\. The model"),
        ({"age": "old"}, "wrong_type", r"^Row 0, column 'age': 'old' is not an integer\.$"),
        ({"age": 2.5}, "wrong_type", r"'age': 2\.5 is not an integer"),
        ({"age": True}, "wrong_type", r"'age': True is not an integer"),
        ({"income": "lots"}, "wrong_type", r"'income': 'lots' is not a number"),
        ({"income": [1]}, "wrong_type", r"'income': \[1\] is not a number"),
        ({"active": 3}, "wrong_type", r"'active': 3 is not true or false"),
        ({"signed_up": "yesterday"}, "wrong_type", r"'yesterday' is not a date-time \(ISO 8601"),
        ({"signed_up": 1_700_000_000}, "wrong_type", r"1700000000 is not a date-time"),
        ({"plan": {"a": 1}}, "wrong_type", r"'plan': \{'a': 1\} is not a category value"),
        ({"age": None}, "missing_value", r"^Row 0, column 'age': a value is required, but it"),
        ({"age": float("nan")}, "missing_value", r"'age': a value is required"),
        (
            {"plan": "platinum"},
            "unseen_category",
            r"^Row 0, column 'plan': 'platinum' is not a known category \(known: basic, pro\)\.$",
        ),
        ({"income": math.inf}, "out_of_range", r"'income': inf is infinite or too large"),
        ({"income": -math.inf}, "out_of_range", r"'income': -inf is infinite"),
        ({"income": 10**400}, "out_of_range", r"'income': 1000.*\.\.\. is infinite or too large"),
        (
            {"age": 2**70},
            "out_of_range",
            r"'age': 1180591620717411303424 is too large for a 64-bit",
        ),
    ],
)
def test_every_issue_code_names_row_column_and_value(
    schema: Schema, changes: dict[str, Any], code: str, message: str
) -> None:
    issues = schema.check([good_record(**changes)])

    assert [i.code for i in issues] == [code]
    assert issues[0].row == (None if code == "missing_column" else 0)
    with pytest.raises(SchemaError, match=message):
        schema.validate([good_record(**changes)])


def test_unknown_columns_are_refused_unless_allowed(schema: Schema) -> None:
    record = good_record(agee=30)
    assert schema.check(record) == [
        Issue(
            None,
            "agee",
            "unexpected_column",
            "Column 'agee' is not one the model knows; remove it. The model expects: age, "
            "income, plan, active, signed_up, tier.",
        )
    ]
    assert schema.check({**good_record(), "churned": 1}) == []  # the target is known
    assert schema.check(record, carried=True) == []  # batch scoring copies it to the output
    assert schema.to_json_schema()["additionalProperties"] is False

    lenient = Schema(schema.columns, schema.target, unexpected="allow")
    assert lenient.check(record) == []
    assert lenient.to_json_schema()["additionalProperties"] is True


@pytest.mark.parametrize("spelling", ["Age", " age", "AGE ", "a ge"])
@pytest.mark.parametrize("unexpected", ["allow", "refuse"])
def test_a_column_spelt_in_other_case_or_spacing_is_refused_whatever_the_policy(
    schema: Schema, spelling: str, unexpected: str
) -> None:
    edited = restated(schema, missing="allow")  # even where 'age' could be all missing
    edited.unexpected = unexpected
    record = {**good_record(age=...), spelling: 30}

    issues = edited.check([record])
    assert codes(issues) == [(None, "age", "missing_column"), (None, spelling, "unexpected_column")]
    assert f"(it has {spelling!r}: did you mean 'age'?)" in issues[0].message
    assert "did you mean 'age'? Column names must match exactly" in issues[1].message
    assert codes(edited.check([record], carried=True)) == codes(issues)
    with pytest.raises(SchemaError, match=r"^Column 'age' is missing from the input \(it has"):
        edited.validate(pd.DataFrame([record]))


def test_a_misspelt_column_is_named_in_the_missing_message(schema: Schema) -> None:
    (issue,) = schema.check([good_record(income=..., incme=5.0)], carried=True)

    assert issue.message.startswith(
        "Column 'income' is missing from the input (it has 'incme': did you mean 'income'?)."
    )


def test_an_optional_column_may_be_absent_and_is_then_all_missing(schema: Schema) -> None:
    data = schema.to_dict()
    data["columns"][1].update(optional=True)  # income: missing values allowed
    edited = Schema.from_dict(data)

    assert edited.check([good_record(income=...)]) == []
    assert edited.coerce([good_record(income=...)])["income"].isna().all()
    assert codes(edited.check([good_record(age=...)])) == [(None, "age", "missing_column")]
    assert codes(edited.check([good_record(income="x")])) == [(0, "income", "wrong_type")]
    doc = edited.to_json_schema()
    assert "income" not in doc["required"] and "age" in doc["required"]
    assert doc["properties"]["income"]["x-mlcycle-policy"]["optional"] is True
    assert Schema.from_json(edited.to_json()) == edited
    with pytest.raises(SchemaError, match="'age' is optional, so it may be absent"):
        Schema([Column("age", "integer", False, optional=True)])


def test_the_same_issues_from_a_dataframe_records_and_columns(schema: Schema) -> None:
    records = [good_record(), good_record(plan="gold", age="x"), good_record(income=None, age=None)]
    frame = pd.DataFrame(records)
    columns = {key: [r[key] for r in records] for key in records[0]}
    expected = [
        (1, "age", "wrong_type"),
        (2, "age", "missing_value"),
        (1, "plan", "unseen_category"),
    ]

    for data in (records, frame, columns, tuple(records)):
        assert sorted(codes(schema.check(data))) == sorted(expected)


def test_malformed_containers_are_issues_not_crashes(schema: Schema) -> None:
    assert codes(schema.check([good_record(), 7, None])) == [
        (1, None, "wrong_type"),
        (2, None, "wrong_type"),
    ]  # a row that is not a record is reported once, not once per column
    assert (
        schema.check([7])[0].message
        == "Row 0: 7 is not a record (an object of column names to values)."
    )
    uneven = schema.check({"age": [1, 2], "plan": ["pro"]})
    assert codes(uneven) == [(None, "plan", "wrong_type")]
    assert "has 1 values but column 'age' has 2" in uneven[0].message
    assert schema.check([]) == []
    assert list(schema.coerce([]).columns) == schema.feature_names


def test_nan_none_and_absent_keys_are_missing_values(schema: Schema) -> None:
    records = [good_record(tier=None), good_record(tier=float("nan")), good_record(tier=...)]

    assert codes(schema.check(records)) == [(i, "tier", "missing_value") for i in range(3)]


def test_integers_accept_integral_floats_and_numpy_scalars(
    train: pd.DataFrame, schema: Schema
) -> None:
    schema.validate(train.astype({"age": float}))
    schema.validate([good_record(age=30.0, income=np.float32(1.5)), good_record(age=np.int64(3))])


@pytest.mark.parametrize(
    "stamp",
    [
        "2020-01-01",
        "2020-01-01T10:00",
        "2020-01-01 10:00:00.123456",
        "2020-01-01T10:00:00+02:00",
        "2020-01-01T10:00:00Z",
        pd.Timestamp("2020-01-01", tz="Europe/Paris"),
        np.datetime64("2020-01-01"),
    ],
)
def test_datetimes_accept_iso_strings_and_timestamps(schema: Schema, stamp: Any) -> None:
    assert schema.check([good_record(signed_up=stamp)]) == []


@pytest.mark.parametrize("stamp", ["01/02/2020", "2020-13-45", "2020-01-01T10", "now", ""])
def test_datetimes_refuse_other_text(schema: Schema, stamp: str) -> None:
    assert codes(schema.check([good_record(signed_up=stamp)])) == [(0, "signed_up", "wrong_type")]


def test_validate_lists_the_first_few_issues_of_each_kind(schema: Schema) -> None:
    records = [good_record(plan="gold", age="x") for _ in range(10)]

    with pytest.raises(SchemaError) as caught:
        schema.validate(records)
    message = str(caught.value)
    assert message.startswith("Row 0, column 'age': 'x' is not an integer. Row 0, column 'plan'")
    assert message.endswith("(15 more issues not shown.)")


def test_check_limit_and_findings_count_without_listing_everything(schema: Schema) -> None:
    records = [good_record(plan="gold")] * 1000

    assert len(schema.check(records, limit=3)) == 3
    (finding,) = schema.findings(records, examples=2)
    assert (finding.column, finding.code, finding.count) == ("plan", "unseen_category", 1000)
    assert [i.row for i in finding.examples] == [0, 1] and finding.values == ("gold", "gold")


# -- policies ------------------------------------------------------------------------------


def with_policy(schema: Schema, name: str, **policy: str) -> Schema:
    data = schema.to_dict()
    next(c for c in data["columns"] if c["name"] == name).update(policy)
    return Schema.from_dict(data)


@pytest.mark.parametrize(
    ("missing", "issues"),
    [("refuse", [(0, "income", "missing_value")]), ("allow", []), ("impute", [])],
)
def test_missing_policy(schema: Schema, missing: str, issues: list[Any]) -> None:
    edited = with_policy(schema, "income", missing=missing)

    assert codes(edited.check([good_record(income=None)])) == issues
    absent = edited.check([good_record(income=...)])
    assert codes(absent) == [(None, "income", "missing_column")]  # absent is not missing
    if not issues:  # passed through as NaN for the pipeline's imputer
        assert edited.coerce([good_record(income=None)])["income"].isna().all()


def test_unseen_policy(schema: Schema) -> None:
    gold = [good_record(plan="gold"), good_record()]

    assert codes(schema.check(gold)) == [(0, "plan", "unseen_category")]
    allowed = with_policy(schema, "plan", unseen="allow")
    assert allowed.coerce(gold)["plan"].tolist() == ["gold", "pro"]
    mapped = with_policy(schema, "plan", unseen="map_to_missing")  # but plan refuses missing
    assert "count as missing, and this column needs a value" in mapped.check(gold)[0].message
    mapped = with_policy(schema, "plan", unseen="map_to_missing", missing="impute")
    plan = mapped.coerce(gold)["plan"]
    assert plan.isna().tolist() == [True, False] and plan.dtype == object


def test_out_of_range_policy(schema: Schema) -> None:
    rows = [good_record(age=99, income=-5.0), good_record(age=10)]

    assert schema.check(rows) == []  # ranges are recorded, not enforced, by default
    refused = restated(schema, out_of_range="refuse")
    assert codes(refused.check(rows)) == [
        (0, "age", "out_of_range"),
        (1, "age", "out_of_range"),
        (0, "income", "out_of_range"),
    ]
    clipped = with_policy(schema, "age", out_of_range="clip").coerce(rows)
    assert clipped["age"].tolist() == [51, 25] and clipped["age"].dtype == np.int64
    assert clipped["income"].tolist() == [-5.0, 40_000.0]  # income still allows any value
    inf = with_policy(schema, "income", out_of_range="clip").check([good_record(income=math.inf)])
    assert codes(inf) == [(0, "income", "out_of_range")]  # infinity is never clipped


def test_coerce_returns_model_ready_columns(schema: Schema, train: pd.DataFrame) -> None:
    records = [good_record(), good_record(income=None, tier="c", active=True)]
    X = schema.coerce(records)

    assert list(X.columns) == schema.feature_names
    assert X.dtypes.astype(str).tolist()[:4] == ["int64", "float64", "object", "bool"]
    assert str(X["signed_up"].dtype).startswith("datetime64") and X["signed_up"].dt.tz is None
    assert X["signed_up"].iloc[0] == pd.Timestamp("2023-03-01T12:30:00")  # naive UTC
    assert math.isnan(X["income"].iloc[1]) and X["tier"].tolist() == ["b", "c"]
    frame = schema.coerce(train.set_index(pd.Index(list("wxyz"))))
    assert list(frame.index) == list("wxyz") and frame["age"].tolist() == [25, 32, 47, 51]
    with pytest.raises(SchemaError, match="'platinum' is not a known category"):
        schema.coerce([good_record(plan="platinum")])


def test_coerce_keeps_missing_booleans_and_integers_as_missing(schema: Schema) -> None:
    lenient = restated(schema, missing="allow")
    X = lenient.coerce([good_record(active=None, age=None), good_record()])

    assert X["age"].dtype == np.float64 and np.isnan(X["age"].iloc[0])
    assert X["active"].dtype == object and X["active"].tolist()[1] is False
    assert np.isnan(X["active"].iloc[0])


# -- JSON Schema ---------------------------------------------------------------------------


def test_json_schema_describes_one_record(schema: Schema) -> None:
    doc = with_policy(schema, "age", out_of_range="refuse").to_json_schema(title="churn input")

    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["title"] == "churn input" and doc["type"] == "object"
    types = {name: {k: v for k, v in p.items() if not k.startswith(("x-", "desc"))}
             for name, p in doc["properties"].items()}  # fmt: skip
    assert types == {
        "age": {"type": "integer", "minimum": 25, "maximum": 51},
        "income": {"type": ["number", "null"]},
        "plan": {"type": "string", "enum": ["basic", "pro"]},
        "active": {"type": "boolean"},
        "signed_up": {"type": "string", "format": "date-time"},
        "tier": {"type": "string", "enum": ["a", "b", "c"]},
    }
    assert doc["required"] == ["age", "income", "plan", "active", "signed_up", "tier"]
    assert doc["additionalProperties"] is False and doc["x-mlcycle-unexpected"] == "refuse"
    json.dumps(doc, allow_nan=False)


def test_json_schema_states_each_columns_policies(schema: Schema) -> None:
    props = schema.to_json_schema()["properties"]

    assert props["income"]["x-mlcycle-policy"] == {
        "optional": False, "missing": "allow", "out_of_range": "allow"
    }  # fmt: skip
    assert props["income"]["description"] == (
        "Required; null accepted; training range 30000.5 to 72000.0 not enforced."
    )
    assert props["plan"]["x-mlcycle-policy"] == {
        "optional": False, "missing": "refuse", "unseen": "refuse"
    }  # fmt: skip
    assert props["plan"]["description"] == (
        "Required; null refused; a value not seen in training is refused."
    )
    mapped = with_policy(schema, "plan", unseen="map_to_missing", missing="impute")
    plan = mapped.to_json_schema()["properties"]["plan"]
    assert plan["x-mlcycle-policy"]["unseen"] == "map_to_missing"
    assert "a value not seen in training counts as null" in plan["description"]


def test_json_schema_follows_the_policies(schema: Schema) -> None:
    lenient = restated(schema, missing="impute", unseen="allow", out_of_range="clip")
    props = lenient.to_json_schema()["properties"]

    assert lenient.to_json_schema()["required"] == schema.feature_names  # absent is not null
    assert props["age"]["type"] == ["integer", "null"] and "minimum" not in props["age"]
    assert props["age"]["description"] == "Required; null passed to the model's imputer; "\
        "clipped to 25 to 51."  # fmt: skip
    assert props["plan"]["examples"] == ["basic", "pro"] and "enum" not in props["plan"]
    nullable_enum = with_policy(schema, "plan", missing="allow").to_json_schema()["properties"]
    assert nullable_enum["plan"]["enum"] == ["basic", "pro", None]
    ints = Schema([Column("grade", "category", False, categories=[1, 2, 3])]).to_json_schema()
    assert ints["properties"]["grade"]["type"] == "integer"
    assert ints["properties"]["grade"]["enum"] == [1, 2, 3]


def conforms(doc: dict[str, Any], record: dict[str, Any]) -> bool:
    """The subset of JSON Schema that to_json_schema() writes, checked by hand."""
    kinds = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "integer": lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, float) and v.is_integer())
        ),
    }
    if any(name not in record for name in doc["required"]):
        return False
    for name, value in record.items():
        prop = doc["properties"].get(name)
        if prop is None:
            if not doc["additionalProperties"]:
                return False
            continue
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        same = [v for v in prop.get("enum", [value]) if type(v) is type(value) and v == value]
        if not any(kinds[t](value) for t in types) or not same:
            return False
        low, high = prop.get("minimum", -math.inf), prop.get("maximum", math.inf)
        if kinds["number"](value) and not low <= value <= high:
            return False
    return True


def test_records_the_json_schema_accepts_or_refuses(schema: Schema) -> None:
    strict = restated(schema, out_of_range="refuse")
    doc = strict.to_json_schema()

    assert conforms(doc, good_record())
    assert conforms(doc, good_record(income=None))
    bad_records = ({"plan": "gold"}, {"age": 99}, {"age": "30"}, {"active": 1}, {"age": ...})
    for bad in (*bad_records, {"income": ...}, {"extra": 1}):
        assert not conforms(doc, good_record(**bad))
        assert strict.check(good_record(**bad))


# -- properties ----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["2020-01-01", "2020-01-01T10:00:00Z", "basic", "pro", "NaN", "inf", ""])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.sampled_from(["age", "income", "plan", "active", "signed_up", "tier", "churned", "x"])
json_records = st.dictionaries(names | st.text(max_size=8), json_values, max_size=8)


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    columns = []
    for i in range(draw(st.integers(1, 6))):
        dtype = draw(
            st.sampled_from(["number", "integer", "boolean", "category", "string", "datetime"])
        )
        column = Column(f"c{i}", dtype, draw(st.booleans()))
        if dtype in ("number", "integer"):
            low = draw(st.integers(-1000, 1000))
            column.min, column.max = low, low + draw(st.integers(0, 1000))
            column.out_of_range = draw(st.sampled_from([None, "allow", "clip", "refuse"]))
        if dtype == "category":
            cats = st.text(min_size=1, max_size=8) | st.integers(-5, 5)
            column.categories = draw(st.lists(cats, min_size=1, max_size=6, unique_by=str))
            column.unseen = draw(st.sampled_from([None, "refuse", "allow", "map_to_missing"]))
        column.missing = draw(st.sampled_from([None, "allow", "refuse", "impute"]))
        columns.append(column)
    defaults = Policy(draw(st.sampled_from(["auto", "allow", "refuse", "impute"])))
    schema = Schema(
        columns, defaults=defaults, unexpected=draw(st.sampled_from(["allow", "refuse"]))
    )
    for column in schema.columns:
        if schema.policy(column.name).missing != "refuse":
            column.optional = draw(st.booleans())
    return schema


def valid_value(draw: st.DrawFn, schema: Schema, column: Column) -> Any:
    policy = schema.policy(column.name)
    if policy.missing != "refuse" and draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from([None, ...]))
    low, high = column.min, column.max
    if column.dtype in ("number", "integer") and policy.out_of_range != "refuse":
        low, high = -(10**12), 10**12
    if column.dtype == "integer":
        return draw(st.integers(low, high))
    if column.dtype == "number":
        return draw(st.floats(low, high, allow_nan=False) | st.integers(low, high))
    if column.dtype == "boolean":
        return draw(st.booleans())
    if column.dtype == "datetime":
        stamp = draw(
            st.datetimes(
                pd.Timestamp("1900-01-01").to_pydatetime(),
                pd.Timestamp("2200-01-01").to_pydatetime(),
            )
        )
        return stamp.isoformat()
    if column.dtype == "category":
        return draw(st.sampled_from(column.categories or ["any"]))
    return draw(st.text(max_size=20))


@st.composite
def schema_and_records(draw: st.DrawFn) -> tuple[Schema, list[dict[str, Any]]]:
    schema = draw(schemas())
    records = []
    for _ in range(draw(st.integers(1, 5))):
        record = {c.name: valid_value(draw, schema, c) for c in schema.columns}
        records.append({k: v for k, v in record.items() if v is not ...})
    return schema, records


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(schema_and_records())
def test_records_generated_from_a_schema_always_pass(case: tuple[Schema, list[Any]]) -> None:
    schema, records = case
    records = [{**{n: None for n in required(schema)}, **r} for r in records]  # null, not absent

    assert schema.check(records) == []
    schema.validate(records)
    X = schema.coerce(records)
    assert list(X.columns) == schema.feature_names and len(X) == len(records)
    assert all(conforms(schema.to_json_schema(), r) for r in records)
    assert Schema.from_json(schema.to_json(indent=2)) == schema


def required(schema: Schema) -> list[str]:
    return [name for name in schema.feature_names if not schema.column(name).optional]


@PROPERTY
@given(schema_and_records(), st.data())
def test_an_absent_column_is_refused_unless_optional(
    case: tuple[Schema, list[Any]], data: st.DataObject
) -> None:
    schema, records = case
    name = data.draw(st.sampled_from(schema.feature_names))
    records = [{**{n: None for n in required(schema)}, **r} for r in records]
    records = [{k: v for k, v in r.items() if k != name} for r in records]
    spelling = data.draw(st.sampled_from([None, name.upper(), f" {name}"]))
    if spelling is not None:
        records = [{**r, spelling: 1} for r in records]

    whole = [(i.column, i.code) for i in schema.check(records) if i.row is None]
    expected = [] if schema.column(name).optional else [(name, "missing_column")]
    expected += [] if spelling is None else [(spelling, "unexpected_column")]
    assert whole == expected
    assert [(i.column, i.code) for i in schema.check(pd.DataFrame(records))] == expected


@PROPERTY
@given(schema=schemas() | st.just(None), data=json_records | st.lists(json_records, max_size=4))
def test_arbitrary_records_give_issues_never_crashes(schema: Schema | None, data: Any) -> None:
    if schema is None:
        schema = Schema.from_dataframe(pd.DataFrame([good_record(churned=1)]), target="churned")
    issues = schema.check(data)

    assert all(isinstance(i, Issue) and i.code in ISSUE_CODES and i.message for i in issues)
    assert all(i.row is None or isinstance(i.row, int) for i in issues)
    for method in (schema.validate, schema.coerce):
        try:
            method(data)
        except SchemaError as exc:
            assert issues and str(exc)
        else:
            assert not issues


@PROPERTY
@given(columns=st.dictionaries(names, st.lists(json_scalars, max_size=4), min_size=1, max_size=6))
def test_arbitrary_dicts_of_columns_give_issues_never_crashes(columns: dict[str, Any]) -> None:
    schema = Schema.from_dataframe(pd.DataFrame([good_record(churned=1)]), target="churned")

    issues = schema.check(columns)

    assert all(i.code in ISSUE_CODES for i in issues)
    try:
        X = schema.coerce(columns)
    except SchemaError:
        assert issues
    else:
        assert not issues and list(X.columns) == schema.feature_names


iso_like = st.from_regex(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?",
    fullmatch=True,
)


@PROPERTY
@given(st.lists(iso_like | st.text(max_size=25), min_size=1, max_size=8))
def test_datetime_text_gets_the_same_verdict_in_bulk_and_value_by_value(texts: list[str]) -> None:
    import datetime as dt

    schema = Schema([Column("d", "datetime", False)])
    in_bulk = schema.check([{"d": t} for t in texts])  # all text: one RE2 pass (pyarrow)
    mixed = schema.check([{"d": t} for t in texts] + [{"d": dt.date(2020, 1, 1)}])

    assert in_bulk == mixed  # the date makes the column mixed: checked value by value


def test_import_is_light() -> None:
    code = "import sys, mlcycle.schema; print('pandas' in sys.modules or 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
