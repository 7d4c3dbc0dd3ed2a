"""The compiled request checks agree with ``Schema.check`` issue for issue (property test)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcycle.schema import Column, Policy, Schema
from mlcycle.serving import CompiledSchema, RequestError
from mlcycle.serving._input import parse_json, rows_of

SCHEMA = Schema(
    columns=[
        Column("x", "number", nullable=False, min=0.0, max=10.0, out_of_range="refuse"),
        Column("n", "integer", nullable=True),
        Column("flag", "boolean", nullable=True),
        Column("plan", "category", nullable=False, categories=["a", "b", 3]),
        Column("tier", "category", nullable=True, categories=["x", "y"], unseen="map_to_missing"),
        Column("note", "number", nullable=True, optional=True),
        Column("y", "number", nullable=False),
    ],
    target="y",
    defaults=Policy(),
    unexpected="refuse",
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["a", "b", "x", "y", "zzz", ""]),
    st.sampled_from([3, 3.0, 2.5, 1e300]),
    st.lists(st.integers(), max_size=2),
)
records = st.lists(
    st.dictionaries(
        st.sampled_from(["x", "n", "flag", "plan", "tier", "note", "extra", "Plan", " x"]), values
    ),
    min_size=1,
    max_size=6,
)


def _compiled_issues(schema: Schema, batch: list[dict]) -> set[tuple]:
    columns, n_rows, names = rows_of({"records": batch})
    compiled = CompiledSchema.build(schema)
    issues = {(i.row, i.column, i.code) for i in compiled.scan(columns, n_rows, names)[1]}
    try:
        compiled.check(columns, n_rows, names)
    except RequestError as error:
        assert {(d["row"], d["column"], d["code"]) for d in error.details} <= issues
    else:
        assert not issues
    return issues


@settings(max_examples=300, deadline=None)
@given(records, st.sampled_from(["allow", "refuse"]))
def test_compiled_checks_find_exactly_the_issues_schema_check_finds(
    batch: list[dict], unexpected: str
) -> None:
    schema = Schema(SCHEMA.columns, SCHEMA.target, SCHEMA.defaults, unexpected)
    expected = {(i.row, i.column, i.code) for i in schema.check(batch) if i.column != "y"}
    assert _compiled_issues(schema, batch) == expected


def test_an_absent_or_misspelt_column_is_refused_an_optional_one_is_not() -> None:
    compiled = CompiledSchema.build(SCHEMA)
    good = {"x": 1, "n": 2, "flag": True, "plan": "a", "tier": "x"}

    assert math.isnan(compiled.check(*rows_of({"records": [good]}))["note"][0])
    without = {name: {k: v for k, v in good.items() if k != name} for name in good}
    for body, first in [
        ({"records": [{**without["x"], "X": 1}]}, "Column 'x' is missing from the input (it has "),
        ({"columns": {k: [v] for k, v in without["n"].items()}}, "Column 'n' is missing"),
    ]:
        with pytest.raises(RequestError) as caught:
            compiled.check(*rows_of(body))
        assert caught.value.status == 422 and first in caught.value.message
        assert caught.value.details[0]["code"] == "missing_column"
    lenient = CompiledSchema.build(Schema(SCHEMA.columns, SCHEMA.target, unexpected="allow"))
    assert lenient.scan(*rows_of({"records": [{**good, "other": 1}]}))[1] == []
    (issue,) = lenient.scan(*rows_of({"records": [{**good, "Note": 1}]}))[1]
    assert issue.code == "unexpected_column" and "did you mean 'note'?" in issue.message


def test_clean_values_are_what_the_model_gets() -> None:
    compiled = CompiledSchema.build(SCHEMA)
    rows = [
        {"x": 1, "n": None, "flag": True, "plan": "a", "tier": "q"},
        {"x": 2.5, "n": 7, "flag": None, "plan": 3, "tier": "y"},
    ]
    out = compiled.check(*rows_of({"records": rows}))
    assert out["x"] == [1.0, 2.5]
    assert math.isnan(out["n"][0]) and out["n"][1] == 7.0
    assert out["flag"][0] == 1.0 and math.isnan(out["flag"][1])
    assert out["plan"] == ["a", 3]
    assert out["tier"] == [None, "y"]  # unseen, mapped to missing


def test_json_edge_cases() -> None:
    assert math.isnan(parse_json(b'{"a": NaN}')["a"])
    assert parse_json(b'{"a": 1e400}')["a"] == math.inf
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_json(b'{"a": }')
    with pytest.raises(RequestError, match="empty"):
        parse_json(b"")
    with pytest.raises(RequestError, match="exactly one of"):
        rows_of({"records": [{}], "columns": {}})
