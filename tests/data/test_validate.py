"""`mlcycle.data.validate`: a schema plus user rules, one pass/fail report for a CI gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from mlcycle.data import Rules, ValidationReport, load_rules, validate
from mlcycle.exceptions import ConfigError, MlcycleError, SchemaError
from mlcycle.schema import Schema

RULES_YAML = """\
rows: {min: 100, max: 1000}
columns:
  age: {range: [14, 45], not_null: true}
  bwt:
    not_null: true
    range: [0, null]
  race: {allowed: [1, 2, 3]}
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check(report: ValidationReport, source: str, name: str, column: str | None) -> Any:
    (found,) = [c for c in report.checks if (c.source, c.name, c.column) == (source, name, column)]
    return found


# -- rules files ---------------------------------------------------------------------------


def test_load_rules_from_yaml(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, RULES_YAML))

    assert isinstance(rules, Rules) and rules.source.endswith("rules.yaml")
    assert (rules.rows_min, rules.rows_max) == (100, 1000)
    assert rules.columns["age"].range == (14, 45) and rules.columns["age"].not_null
    assert rules.columns["bwt"].range == (0, None)
    assert rules.to_dict() == {
        "rows": {"min": 100, "max": 1000},
        "columns": {
            "age": {"range": [14, 45], "not_null": True},
            "bwt": {"range": [0, None], "not_null": True},
            "race": {"allowed": [1, 2, 3]},
        },
    }
    assert load_rules(rules.to_dict()).columns == rules.columns
    assert load_rules(rules) is rules


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: {age: {range: [1, 2]}\n", r"rules\.yaml is not valid YAML \(line 2, column 1\)"),
        ("- a\n- b\n", r"rules\.yaml: expected a mapping with 'columns' and/or 'rows'\. Got list"),
        ("", r"rules\.yaml is empty"),
        ("colums: {}\n", r"rules\.yaml: 'colums' is not a known key \(known: columns, rows\)"),
        (
            "columns: {age: {ranges: [1, 2]}}\n",
            r"rules\.yaml: 'columns\.age\.ranges' is not a known rule \(known: range, allowed",
        ),
        ("columns: {age: {range: 5}}\n", r"'columns\.age\.range' must be \[min, max\] with two"),
        ("columns: {age: {range: [1, 2, 3]}}\n", r"'columns\.age\.range' must be \[min, max\]"),
        ("columns: {age: {range: [a, 2]}}\n", r"'columns\.age\.range' must be .*Got \['a', 2\]"),
        ("columns: {age: {range: [1, 2020-01-01]}}\n", r"'columns\.age\.range' must be"),
        ("columns: {age: {range: [null, null]}}\n", r"'columns\.age\.range' must be"),
        (
            "columns: {age: {range: [5, 1]}}\n",
            r"'columns\.age\.range' has min 5 greater than max 1",
        ),
        ("columns: {age: {allowed: []}}\n", r"'columns\.age\.allowed' must be a non-empty list"),
        ("columns: {age: {allowed: 3}}\n", r"'columns\.age\.allowed' must be a non-empty list"),
        ("columns: {age: {unique: 3}}\n", r"'columns\.age\.unique' must be true or false\. Got 3"),
        ("columns: {age: {not_null: 'no'}}\n", r"'columns\.age\.not_null' must be true or false"),
        ("columns: {age: {regex: 5}}\n", r"'columns\.age\.regex' must be a string"),
        (
            "columns: {email: {regex: '[a-z'}}\n",
            r"'columns\.email\.regex' is not a valid regular expression: unterminated character",
        ),
        ("columns: {age: [1, 2]}\n", r"'columns\.age' must be a mapping of rules"),
        ("columns: [age]\n", r"'columns' must map column names to rules"),
        ("rows: 5\n", r"'rows' must be a mapping"),
        ("rows: {min: 1.5}\n", r"'rows\.min' must be a whole number of rows\. Got 1\.5"),
        ("rows: {min: -1}\n", r"'rows\.min' must be 0 or more"),
        ("rows: {min: 10, max: 5}\n", r"'rows' has min 10 greater than max 5"),
        ("rows: {minimum: 10}\n", r"'rows\.minimum' is not a known key \(known: min, max\)"),
    ],
)
def test_bad_rules_name_the_file_and_the_rule(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError, match=message) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


def test_unreadable_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"The rules file .*missing\.yaml cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    binary = tmp_path / "rules.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"cannot be read|not valid YAML"):
        load_rules(binary)
    with pytest.raises(ConfigError, match=r"'path_or_dict' parameter of load_rules\(\) must be"):
        load_rules(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"Invalid rules in <dict>: 'columns\.x\.nope'"):
        load_rules({"columns": {"x": {"nope": 1}}})


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    text = "columns: !!python/object/apply:os.system ['echo pwned']\n"

    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(write(tmp_path, text))


# -- rules on the public suite -------------------------------------------------------------


def test_rules_on_birthwt(public: Any, tmp_path: Path) -> None:
    df = public("birthwt").frame
    report = validate(df, rules=write(tmp_path, RULES_YAML))

    assert report.passed and report.exit_code == 0 and report
    assert check(report, "rules", "range", "age").passed  # ages 14 to 45
    assert check(report, "rules", "not_null", "bwt").passed
    assert check(report, "rules", "rows", None).detail == "189 rows; expected between 100 and 1000"
    assert (report.rows, report.columns) == (189, 10)


def test_failing_rules_count_and_show_examples(public: Any) -> None:
    df = public("birthwt").frame
    rules = {
        "rows": {"min": 200},
        "columns": {
            "bwt": {"range": [2500, None]},  # low birth weight is below 2500 g
            "race": {"allowed": [1, 2]},
            "lwt": {"unique": True},
            "age": {"range": [14, 45]},
            "nope": {"not_null": True},
        },
    }
    report = validate(df, rules=rules)

    assert not report.passed and report.exit_code == 1 and not report
    low = check(report, "rules", "range", "bwt")
    assert low.failing == int((df["bwt"] < 2500).sum()) == 59
    first = np.flatnonzero(df["bwt"] < 2500)[:5]
    assert low.examples == tuple({"row": int(i), "value": int(df["bwt"][i])} for i in first)
    assert check(report, "rules", "allowed", "race").failing == int((df["race"] == 3).sum())
    assert check(report, "rules", "unique", "lwt").failing == int(df["lwt"].duplicated(False).sum())
    assert check(report, "rules", "range", "age").passed
    assert not check(report, "rules", "rows", None).passed
    missing = check(report, "rules", "present", "nope")
    assert not missing.passed and missing.detail == "column 'nope' is not in the data"
    assert len(report.failed) == 5


# -- each rule -----------------------------------------------------------------------------


def test_rules_skip_nulls_except_not_null() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 3.0, np.nan], "s": ["a1", None, "b2", "zz", "a1x"]})
    rules = {
        "columns": {
            "x": {"range": [0, 2], "allowed": [1.0], "unique": True, "not_null": True},
            "s": {"regex": "[a-z][0-9]"},
        }
    }
    report = validate(df, rules=rules)

    assert check(report, "rules", "not_null", "x").failing == 2
    assert check(report, "rules", "range", "x").failing == 2
    assert check(report, "rules", "allowed", "x").failing == 2
    assert check(report, "rules", "unique", "x").failing == 2  # two 3.0s; NaNs are not counted
    regex = check(report, "rules", "regex", "s")  # the whole value must match
    assert regex.failing == 2 and [e["value"] for e in regex.examples] == ["zz", "a1x"]


def test_range_of_dates_and_of_values_that_are_not_numbers() -> None:
    df = pd.DataFrame(
        {
            "when": pd.to_datetime(["2020-01-05", "2021-06-01", "2019-12-31"]),
            "when_text": ["2020-01-05", "2021-06-01T00:00:00Z", "not a date"],
            "n": ["5", "x", "7"],
        }
    )
    rules = load_rules(
        {
            "columns": {
                "when": {"range": [pd.Timestamp("2020-01-01").date(), None]},
                "when_text": {"range": [pd.Timestamp("2020-01-01").date(), None]},
                "n": {"range": [0, 6]},
            }
        }
    )
    report = validate(df, rules=rules)

    assert [e["row"] for e in check(report, "rules", "range", "when").examples] == [2]
    assert [e["row"] for e in check(report, "rules", "range", "when_text").examples] == [2]
    assert [e["row"] for e in check(report, "rules", "range", "n").examples] == [1, 2]


def test_rules_on_categorical_and_unhashable_columns() -> None:
    df = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"]), "o": [[1], [1], [2]]})
    report = validate(df, rules={"columns": {"c": {"allowed": ["a"]}, "o": {"unique": True}}})

    assert check(report, "rules", "allowed", "c").failing == 1
    assert check(report, "rules", "unique", "o").failing == 2


def test_rules_on_a_million_rows() -> None:
    n = 1_000_000
    df = pd.DataFrame({"id": np.arange(n), "score": np.linspace(0, 1, n), "code": ["ab12"] * n})
    rules = {
        "rows": {"min": n},
        "columns": {
            "id": {"unique": True, "not_null": True},
            "score": {"range": [0, 0.5]},
            "code": {"regex": "[a-z]+[0-9]+", "allowed": ["ab12"]},
        },
    }
    report = validate(df, Schema.from_dataframe(df.head(1000)), rules)

    assert [(c.name, c.column, c.failing) for c in report.failed] == [
        ("range", "score", n // 2),
    ]  # the schema records ranges without enforcing them; the rule refuses half the scores


# -- schema and rules together -------------------------------------------------------------


def test_a_schema_inferred_from_the_data_passes_on_it(public: Any, tmp_path: Path) -> None:
    data = public("birthwt")
    schema = Schema.from_dataframe(data.frame, target=data.target)
    path = write(tmp_path, schema.to_json(indent=2), "schema.json")

    for given in (schema, schema.to_dict(), path, str(path)):
        report = validate(data.frame, schema=given)
        assert report.passed and report.checks
        assert {c.source for c in report.checks} == {"schema"}
    assert check(report, "schema", "range", "age").detail == "finite"
    assert check(report, "schema", "type", "age").detail == "integer values"


def test_schema_failures_become_failed_checks(public: Any) -> None:
    frame = public("birthwt").frame
    schema = Schema.from_dataframe(frame, target="low")
    schema.column("age").out_of_range = "refuse"  # each column states its own policies
    schema.unexpected = "refuse"
    bad = frame.drop(columns="lwt").assign(extra=1, age=frame["age"].astype(object))
    bad.loc[[3, 8], "age"] = ["old", 99]
    bad.loc[5, "bwt"] = np.nan
    report = validate(bad, schema, {"columns": {"age": {"not_null": True}}})

    failed = {(c.name, c.column): c for c in report.failed}
    assert set(failed) == {
        ("present", "lwt"),
        ("type", "age"),
        ("range", "age"),
        ("not missing", "bwt"),
        ("expected columns", None),
    }
    assert failed[("type", "age")].examples == ({"row": 3, "value": "old"},)
    assert failed[("type", "age")].detail == "Row 3, column 'age': 'old' is not an integer."
    assert failed[("range", "age")].examples == ({"row": 8, "value": 99},)
    assert failed[("not missing", "bwt")].examples == ({"row": 5, "value": "nan"},)
    assert failed[("expected columns", None)].examples == ({"row": None, "value": "extra"},)
    assert check(report, "rules", "not_null", "age").passed
    assert report.summary == f"FAIL: 5 of {len(report.checks)} checks failed on 189 rows."


def test_no_schema_no_rules_passes_with_no_checks() -> None:
    report = validate(pd.DataFrame({"a": [1]}))

    assert report.passed and report.checks == () and report.summary.startswith("PASS: 0 checks")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"df": [1, 2]}, SchemaError, r"'df' parameter of validate\(\) must be a pandas DataFrame"),
        ({"schema": 5}, SchemaError, r"'schema' parameter of validate\(\) must be a Schema"),
        ({"schema": "nowhere.json"}, SchemaError, r"schema file nowhere\.json cannot be read"),
        ({"schema": {"columns": 1}}, SchemaError, r"needs a 'columns' list"),
        ({"rules": "nowhere.yaml"}, ConfigError, r"rules file nowhere\.yaml cannot be read"),
    ],
)
def test_bad_inputs_are_errors_not_failed_checks(
    kwargs: dict[str, Any], error: type[MlcycleError], message: str
) -> None:
    arguments = {"df": pd.DataFrame({"a": [1]}), **kwargs}

    with pytest.raises(error, match=message):
        validate(**arguments)


def test_a_broken_schema_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '{"columns": [], "colour": 1}', "schema.json")

    with pytest.raises(SchemaError, match=r"schema\.json is invalid: Unknown key 'colour'"):
        validate(pd.DataFrame({"a": [1]}), schema=path)


# -- output --------------------------------------------------------------------------------


def test_report_to_dict_and_strict_json() -> None:
    df = pd.DataFrame({"x": [np.inf, np.nan, 1.0, -np.inf], "t": pd.date_range("2020", periods=4)})
    rules = {
        "columns": {"x": {"range": [0, 2]}, "t": {"range": [pd.Timestamp("2021").date(), None]}}
    }
    report = validate(df, rules=rules)
    data = json.loads(report.to_json())

    assert data == report.to_dict()
    assert data["passed"] is False and data["rows"] == 4
    x = next(c for c in data["checks"] if c["column"] == "x")
    assert x["examples"] == [{"row": 0, "value": "inf"}, {"row": 3, "value": "-inf"}]
    t = next(c for c in data["checks"] if c["column"] == "t")
    assert t["examples"][0] == {"row": 0, "value": "2020-01-01T00:00:00"}


def test_render_prints_a_table_and_a_coloured_summary(public: Any) -> None:
    df = public("birthwt").frame
    report = validate(
        df, rules={"columns": {"race": {"allowed": [1, 2]}, "age": {"not_null": True}}}
    )
    console = Console(record=True, width=120, force_terminal=True)
    report.render(console)
    text = console.export_text(clear=False)

    for word in ("check", "column", "result", "failing", "examples", "rules: allowed", "race"):
        assert word in text
    assert "FAIL: 1 of 2 checks failed on 189 rows." in text and "PASS" in text
    assert "row 1: 3" in text
    assert "\x1b[1;31mFAIL: 1 of 2 checks failed" in console.export_text(styles=True)

    passed = Console(record=True, width=120, force_terminal=True)
    validate(df, rules={"columns": {"age": {"not_null": True}}}).render(passed)
    assert "\x1b[1;32mPASS: 1 check passed" in passed.export_text(styles=True)


def test_render_escapes_markup_in_the_data() -> None:
    df = pd.DataFrame({"[bold]x": ["[red]boom"]})
    console = Console(record=True, width=120)
    validate(df, rules={"columns": {"[bold]x": {"allowed": ["ok"]}}}).render(console)

    text = console.export_text()

    assert "'[red]boom'" in text and "rules: allowed │ [bold]x" in text
