"""The run filter and sort-key grammar: what parses to what, and how bad input is reported."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle.exceptions import FilterError
from mlcycle.registry._filter import (
    And,
    Compare,
    Not,
    Or,
    SortKey,
    parse_filter,
    parse_order,
)


def _c(kind: str, key: str, op: str, value: object) -> Compare:
    return Compare(kind, key, op, value)  # type: ignore[arg-type]


# -- what parses ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", [None, "", "   ", "\t\n"])
def test_no_filter_means_none(source: str | None) -> None:
    assert parse_filter(source) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("metrics.auc > 0.9", _c("metrics", "auc", ">", 0.9)),
        ("metrics.auc >= -1e-3", _c("metrics", "auc", ">=", -0.001)),
        ("metrics.auc < .5", _c("metrics", "auc", "<", 0.5)),
        ("metrics.auc <= 3", _c("metrics", "auc", "<=", 3.0)),
        ("metrics.auc == 1", _c("metrics", "auc", "=", 1.0)),
        ("metrics.auc <> 1", _c("metrics", "auc", "!=", 1.0)),
        ("metrics.auc != 1", _c("metrics", "auc", "!=", 1.0)),
        ("metric.auc = 1", _c("metrics", "auc", "=", 1.0)),
        ("params.family = 'lgbm'", _c("params", "family", "=", "lgbm")),
        ('params.family = "lgbm"', _c("params", "family", "=", "lgbm")),
        ("param.lr = 0.1", _c("params", "lr", "=", 0.1)),
        ("tags.owner = 'ann'", _c("tags", "owner", "=", "ann")),
        ("tag.owner != 'ann'", _c("tags", "owner", "!=", "ann")),
        ("status = 'FINISHED'", _c("attributes", "status", "=", "FINISHED")),
        ("attributes.status = 'FAILED'", _c("attributes", "status", "=", "FAILED")),
        ("attribute.name = 'x'", _c("attributes", "name", "=", "x")),
        ("run.user = 'bob'", _c("attributes", "user", "=", "bob")),
        ("start_time > 1700000000000", _c("attributes", "start_time", ">", 1.7e12)),
        ("experiment = 'churn'", _c("attributes", "experiment", "=", "churn")),
        ("params.family like 'lg%'", _c("params", "family", "like", "lg%")),
        ("params.family ILIKE 'LG%'", _c("params", "family", "ilike", "LG%")),
        ("params.family in ('a', 'b')", _c("params", "family", "in", ("a", "b"))),
        ("params.depth IN (3, 5)", _c("params", "depth", "in", (3.0, 5.0))),
        ("params.depth not in (3)", _c("params", "depth", "not in", (3.0,))),
        ("metrics.`val auc` > 0.5", _c("metrics", "val auc", ">", 0.5)),
        ('metrics."val auc" > 0.5', _c("metrics", "val auc", ">", 0.5)),
        ("metrics.val.auc > 0.5", _c("metrics", "val.auc", ">", 0.5)),
        ("metrics.val-auc > 0.5", _c("metrics", "val-auc", ">", 0.5)),
        ("params.note = 'it''s'", _c("params", "note", "=", "it's")),
        ("params.note = 'a\\'b'", _c("params", "note", "=", "a'b")),
        ('params.note = "say \\"hi\\""', _c("params", "note", "=", 'say "hi"')),
        ("params.`1` = 'x'", _c("params", "1", "=", "x")),
    ],
)
def test_single_comparisons(source: str, expected: Compare) -> None:
    assert parse_filter(source) == expected


def test_and_binds_tighter_than_or() -> None:
    a = _c("metrics", "a", ">", 1.0)
    b = _c("metrics", "b", ">", 2.0)
    c = _c("metrics", "c", ">", 3.0)
    assert parse_filter("metrics.a > 1 or metrics.b > 2 and metrics.c > 3") == Or((a, And((b, c))))
    assert parse_filter("(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3") == And(
        (Or((a, b)), c)
    )


def test_not_applies_to_the_next_factor_only() -> None:
    a = _c("metrics", "a", ">", 1.0)
    b = _c("metrics", "b", ">", 2.0)
    assert parse_filter("not metrics.a > 1 and metrics.b > 2") == And((Not(a), b))
    assert parse_filter("NOT (metrics.a > 1 and metrics.b > 2)") == Not(And((a, b)))
    assert parse_filter("not not metrics.a > 1") == Not(Not(a))


def test_long_flat_conjunctions_are_flat() -> None:
    source = " and ".join(f"metrics.m{i} > {i}" for i in range(50))
    tree = parse_filter(source)
    assert isinstance(tree, And)
    assert len(tree.items) == 50


def test_moderate_nesting_parses() -> None:
    source = "(" * 50 + "status = 'FINISHED'" + ")" * 50
    assert parse_filter(source) == _c("attributes", "status", "=", "FINISHED")


# -- what is refused, and how it is explained ---------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("metrics.auc >", r"expected a number or a quoted string, the filter ended"),
        ("metrics.auc > 0.9 and", r"expected more input, the filter ended"),
        ("metrics.auc 0.9", r"expected an operator .*found '0\.9' at position 12"),
        ("(metrics.auc > 1", r"expected '\)', the filter ended"),
        ("metrics.auc > 0.9 metrics.x", r"expected 'and', 'or' or the end.*position 18"),
        ("metrics. = 1", r"expected a key after 'metrics\.', found '=' at position 9"),
        ("metrics.`` = 1", r"expected a non-empty key"),
        ("params.a not 1", r"expected 'in' after 'not', found '1' at position 13"),
        ("params.a in 1", r"expected '\(', found '1' at position 12"),
        ("params.a in (1,", r"expected a number or a quoted string"),
        ("= 1", r"expected a name such as metrics\.auc.*position 0"),
        ("()", r"expected a name such as metrics\.auc.*found '\)' at position 1"),
        ("params.a = 1 $", r"Cannot read the filter at position 13: '\$'"),
        ("params.a = 'unterminated", r"Cannot read the filter at position 11"),
        ("metrics.auc > 'high'", r"metrics\.auc is a number but is compared with text"),
        ("start_time > 'yesterday'", r"start_time is a number but is compared with text"),
        ("metrics.auc in (1, 'x')", r"is a number but is compared with text"),
        ("params.a like 5", r"'like' needs a quoted pattern"),
        ("foo.bar = 1", r"Unknown field 'foo'.*metrics\.KEY, params\.KEY, tags\.KEY"),
        ("colour = 'red'", r"Unknown run attribute 'colour'.*Known attributes: id, name"),
        ("attributes.colour = 'red'", r"Unknown run attribute 'colour'"),
        ("params.a = status", r"expected a number or a quoted string, found 'status'"),
        ("not", r"the filter ended"),
    ],
)
def test_malformed_filters_say_where_and_what_was_expected(source: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(source)


@pytest.mark.parametrize(
    "source",
    ["(" * 5000, "(" * 500 + "status = 'x'" + ")" * 500, "not " * 5000 + "status = 'x'"],
)
def test_deep_nesting_is_a_filter_error_not_a_crash(source: str) -> None:
    with pytest.raises(FilterError, match="more than 100 levels deep"):
        parse_filter(source)


# -- sort keys ------------------------------------------------------------------------------


def test_sort_keys() -> None:
    assert parse_order(None) == []
    assert parse_order("metrics.auc DESC, start_time") == [
        SortKey("metrics", "auc", True),
        SortKey("attributes", "start_time", False),
    ]
    assert parse_order(["params.`a b` asc", "tags.t desc"]) == [
        SortKey("params", "a b", False),
        SortKey("tags", "t", True),
    ]
    assert parse_order(("name",)) == [SortKey("attributes", "name", False)]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("metrics.auc DESC extra", r"Malformed sort key 'metrics\.auc DESC extra'.*ASC\|DESC"),
        ([""], r"Empty sort key"),
        (["colour"], r"Unknown run attribute 'colour'"),
        (["foo.bar"], r"Unknown field 'foo'"),
        (["metrics.auc > 1"], r"Malformed sort key"),
    ],
)
def test_malformed_sort_keys(keys: str | list[str], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_order(keys)


# -- properties ------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "metrics.",
        "params.",
        "tags.",
        "attributes.",
        "status",
        "start_time",
        "auc",
        "`k`",
        '"k"',
        "'v'",
        "''",
        "1",
        "-2.5e3",
        ".",
        ",",
        "(",
        ")",
        "=",
        "!=",
        "<",
        ">=",
        " and ",
        " or ",
        " not ",
        " in ",
        " like ",
        " ",
        "\\",
        "é",
        "٣",
    ]
)
_FILTERISH = st.lists(_FRAGMENTS, max_size=25).map("".join)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.one_of(st.text(max_size=80), _FILTERISH))
def test_any_text_parses_or_raises_filter_error(source: str) -> None:
    try:
        tree = parse_filter(source)
    except FilterError as exc:
        assert str(exc)
        return
    assert tree is None or isinstance(tree, Compare | And | Or | Not)


@_SETTINGS
@given(st.one_of(st.text(max_size=60), _FILTERISH, st.lists(_FILTERISH, max_size=3)))
def test_any_sort_text_parses_or_raises_filter_error(keys: str | list[str]) -> None:
    try:
        result = parse_order(keys)
    except FilterError:
        return
    assert all(isinstance(k, SortKey) for k in result)
