"""Loading: every format round-trips, sniffing finds encoding and delimiter, bad files say why."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlcycle.data import Kind, infer_kinds, load
from mlcycle.data import _load as load_module
from mlcycle.exceptions import MlcycleError, SchemaError

PEOPLE = pd.DataFrame(
    {
        "name": ["José", "François", "Zoë", "Jürgen"],
        "age": [31, 45, 22, 60],
        "score": [1.5, np.nan, 3.25, 4.0],
        "plan": ["free", "pro", None, "pro"],
        "active": [True, False, True, True],
    }
)


def _write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _assert_people(df: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(df, PEOPLE, check_dtype=False, check_index_type=False)


# -- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "write"),
    [
        (".csv", lambda df, p: df.to_csv(p, index=False)),
        (".tsv", lambda df, p: df.to_csv(p, index=False, sep="\t")),
        (".parquet", lambda df, p: df.to_parquet(p, index=False)),
        (".jsonl", lambda df, p: df.to_json(p, orient="records", lines=True, force_ascii=False)),
        (".json", lambda df, p: df.to_json(p, orient="records", force_ascii=False)),
    ],
)
def test_every_format_round_trips(tmp_path, suffix, write):
    path = tmp_path / f"people{suffix}"
    write(PEOPLE, path)
    df = load(path)
    _assert_people(df)
    source = df.attrs["mlcycle_source"]
    assert source["path"] == str(path)
    assert source["format"] == suffix.lstrip(".")
    assert (source["rows"], source["columns"]) == (4, 5)
    assert df.attrs["mlcycle_warnings"] == []


def test_a_dataframe_is_checked_and_returned_without_touching_the_original():
    original = PEOPLE.copy()
    df = load(original, target="age", columns=["name"])
    assert list(df.columns) == ["name", "age"]  # the target is read with the columns
    assert df.attrs["mlcycle_source"]["format"] == "dataframe"
    assert "mlcycle_source" not in original.attrs
    _assert_people(load(original))


def test_public_data_round_trips_through_csv_with_the_same_kinds(public, tmp_path):
    frame = public("birthwt").frame.reset_index(drop=True)
    frame.to_csv(tmp_path / "birthwt.csv", index=False)
    df = load(tmp_path / "birthwt.csv", target="low")
    pd.testing.assert_frame_equal(df, frame, check_dtype=False)
    assert infer_kinds(df) == infer_kinds(frame)
    assert infer_kinds(df)["race"] == Kind.INTEGER_CATEGORY


def test_columns_reads_only_those(tmp_path):
    PEOPLE.to_parquet(tmp_path / "p.parquet")
    PEOPLE.to_csv(tmp_path / "p.csv", index=False)
    for name in ("p.parquet", "p.csv"):
        df = load(tmp_path / name, columns=["age", "name"], target="plan")
        assert list(df.columns) == ["age", "name", "plan"]  # as asked, the target last


# -- sniffing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "text", "expected"),
    [
        ("latin-1", "name,city\nJosé,Málaga\nFrançois,Besançon\nJürgen,Köln\n", "latin-1"),
        ("cp1252", "name,quote\nRené,“déjà vu” \u2013 oui\nZoë,naïve café 3€\n", "cp1252"),
        ("utf-8", "name,city\nJosé,Málaga\n", "utf-8"),
        ("utf-8-sig", "name,city\nJosé,Málaga\n", "utf-8-sig"),
        ("utf-16", "name,city\nJosé,Málaga\n", "utf-16"),
    ],
)
def test_encoding_is_detected(tmp_path, encoding, text, expected):
    df = load(_write(tmp_path / "t.csv", text, encoding))
    rows = [line.split(",") for line in text.strip().splitlines()]
    assert list(df.columns) == rows[0]
    assert df.to_numpy().tolist() == rows[1:]
    assert df.attrs["mlcycle_source"]["encoding"] == expected


@pytest.mark.parametrize(
    ("text", "suffix", "delimiter"),
    [
        ("a;b;c\n1,5;2;x\n3;4;y\n", ".csv", ";"),
        ("a\tb\tc\n1\t2\tx\n3\t4\ty\n", ".tsv", "\t"),
        ("a\tb\tc\n1\t2\tx\n3\t4\ty\n", ".csv", "\t"),
        ("a|b|c\n1|2|x\n3|4|y\n", ".txt", "|"),
        ('a,b,c\n"1;2",2,x\n3,4,y\n', ".csv", ","),
    ],
)
def test_delimiter_is_sniffed(tmp_path, text, suffix, delimiter):
    df = load(_write(tmp_path / f"t{suffix}", text))
    assert list(df.columns) == ["a", "b", "c"]
    assert len(df) == 2
    assert df.attrs["mlcycle_source"]["delimiter"] == delimiter


def test_explicit_encoding_and_delimiter_are_used(tmp_path):
    path = _write(tmp_path / "t.csv", "a;b\né;1\n", "latin-1")
    df = load(path, encoding="latin-1", delimiter=";")
    assert df.loc[0, "a"] == "é"


# -- bad files ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(MlcycleError, match=r"'.*nope\.csv' does not exist.*check the path"):
        load(tmp_path / "nope.csv")


def test_a_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(MlcycleError, match="is not a file"):
        load(tmp_path / "d.csv")


def test_empty_file(tmp_path):
    with pytest.raises(MlcycleError, match=r"is empty \(0 bytes\)\. Expected a header row"):
        load(_write(tmp_path / "e.csv", ""))


def test_blank_lines_only(tmp_path):
    with pytest.raises(MlcycleError, match="holds only blank lines"):
        load(_write(tmp_path / "e.csv", "\n\n  \n"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_header_only(tmp_path, suffix):
    path = tmp_path / f"h{suffix}"
    if suffix == ".csv":
        _write(path, "age,income,plan\n")
    else:
        PEOPLE.iloc[:0].to_parquet(path)
    with pytest.raises(MlcycleError, match=r"has columns \(.*age.*\) but no rows"):
        load(path)


def test_no_header(tmp_path):
    with pytest.raises(MlcycleError, match=r"first row .* looks like data, not column names"):
        load(_write(tmp_path / "n.csv", "1,2.5,-3\n4,5,6\n"))


def test_wrong_delimiter_says_which_to_pass(tmp_path):
    path = _write(tmp_path / "s.csv", "age;income;plan\n1;2;x\n")
    with pytest.raises(MlcycleError, match=r"single column named 'age;income;plan'.*"
                       r"Pass delimiter=';'"):  # fmt: skip
        load(path, delimiter=",")
    tabbed = _write(tmp_path / "t.csv", "age\tincome\n1\t2\n")
    with pytest.raises(MlcycleError, match=r"Pass delimiter='\\t'"):
        load(tabbed, delimiter="|")


def test_ragged_rows(tmp_path):
    with pytest.raises(MlcycleError, match=r"has 3 fields where the header has 2"):
        load(_write(tmp_path / "r.csv", "a,b\n1,2\n3,4,5\n"))


def test_unreadable_encoding(tmp_path):
    garbage = bytes(np.random.default_rng(0).integers(0x80, 0x100, 3000).astype(np.uint8))
    path = tmp_path / "g.csv"
    path.write_bytes(b"a,b\n" + garbage)
    with pytest.raises(MlcycleError, match=r"Cannot read the text encoding .* Pass encoding="):
        load(path)


def test_wrong_explicit_encoding(tmp_path):
    path = _write(tmp_path / "l.csv", "name\nJosé\n", "latin-1")
    with pytest.raises(MlcycleError, match=r"not valid utf-8 text \(byte 0xe9"):
        load(path, encoding="utf-8")


def test_invalid_utf8_beyond_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(load_module, "_SAMPLE_BYTES", 64)
    path = tmp_path / "late.csv"
    path.write_bytes(b"name,n\n" + b"plain,1\n" * 20 + "José,2\n".encode("latin-1"))
    with pytest.raises(MlcycleError, match=r"not valid utf-8 text beyond the sampled start"):
        load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 8, r"not a text file: it holds binary data"),
        (b"PAR1\x00\x00garbage", r"it is a Parquet file: pass format='parquet'"),
        (b"\x1f\x8b\x08\x00rest", r"gzip-compressed: decompress it first"),
        (b"PK\x03\x04rest", r"ZIP archive \(an Excel \.xlsx workbook is one\)"),
    ],
)
def test_binary_garbage(tmp_path, content, message):
    path = tmp_path / "b.csv"
    path.write_bytes(content)
    with pytest.raises(MlcycleError, match=message):
        load(path)


def test_a_text_file_named_parquet(tmp_path):
    with pytest.raises(MlcycleError, match=r"not a Parquet file .*pass format='csv'"):
        load(_write(tmp_path / "x.parquet", "a,b\n1,2\n"))


def test_a_damaged_parquet_file(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1" + b"\x01" * 50)
    with pytest.raises(MlcycleError, match="damaged Parquet file"):
        load(path)


def test_unknown_extension_and_explicit_format(tmp_path):
    path = _write(tmp_path / "data.xlsx", "a,b\n1,2\n")
    with pytest.raises(MlcycleError, match=r"extension '\.xlsx'.*Pass format="):
        load(path)
    assert load(path, format="csv").shape == (1, 2)
    with pytest.raises(MlcycleError, match=r"has no extension"):
        load(_write(tmp_path / "data", "a\n1\n"))


def test_bad_json_lines(tmp_path):
    path = _write(tmp_path / "r.jsonl", '{"a": 1}\n{"a": 2,\n')
    with pytest.raises(MlcycleError, match=r"Line 2 of .* is not valid JSON"):
        load(path)
    with pytest.raises(MlcycleError, match="is not JSON lines"):
        load(_write(tmp_path / "s.jsonl", "a,b\n1,2\n"))


def test_duplicated_column_names(tmp_path):
    with pytest.raises(SchemaError, match=r"'a' appears twice .*columns 1 and 3"):
        load(_write(tmp_path / "d.csv", "a,b,a\n1,2,3\n"))
    frame = pd.DataFrame([[1, 2]], columns=["x", "x"])
    with pytest.raises(SchemaError, match=r"'x' appears twice in the DataFrame"):
        load(frame)


def test_target_missing_lists_columns_and_suggests(tmp_path):
    PEOPLE.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(
        SchemaError,
        match=r"Target column 'Plan ' is not in .*Its columns: name, age, score, plan, active\. "
        r"Did you mean 'plan'\?",
    ):
        load(tmp_path / "p.csv", target="Plan ")


def test_columns_missing(tmp_path):
    PEOPLE.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(SchemaError, match=r"Column agee not found .*Did you mean 'age'"):
        load(tmp_path / "p.parquet", columns=["agee"])


def test_empty_dataframe():
    with pytest.raises(MlcycleError, match=r"the DataFrame has columns .* but no rows"):
        load(PEOPLE.iloc[:0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "xls"}, r"The 'format' parameter of load\(\) must be one of 'csv'"),
        ({"encoding": "utf-9"}, r"The 'encoding' parameter of load\(\) .* Got 'utf-9' instead"),
        ({"delimiter": ";;"}, r"The 'delimiter' parameter of load\(\) must be a single"),
        ({"columns": "age"}, r"The 'columns' parameter .* Got 'age' instead"),
        ({"target": 3}, r"The 'target' parameter .* Got 3 instead"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(MlcycleError, match=message):
        load(PEOPLE, **kwargs)


def test_bad_source():
    with pytest.raises(MlcycleError, match=r"'source' parameter .* Got list instead"):
        load([1, 2, 3])  # type: ignore[arg-type]


# -- mixed types, empty columns, target notes -------------------------------------------


def test_mixed_types_are_kept_as_text_with_a_warning(tmp_path):
    rows = "".join(f"{i},{i % 3}\n" for i in range(40))
    path = _write(tmp_path / "m.csv", "age,y\n" + rows + "unknown,1\n?,0\n")
    df = load(path)
    assert df["age"].tolist()[-2:] == ["unknown", "?"]
    (note,) = df.attrs["mlcycle_warnings"]
    assert "'age' mixes numbers with text: 2 of 42 values are not numbers (unknown, ?)" in note
    with pytest.raises(SchemaError, match=r"'age' mixes numbers with text.*strict=False"):
        load(path, strict=True)


def test_mixed_types_after_the_first_block(tmp_path):
    n = 150_000  # more than pyarrow's first block, so the words come after inference
    path = tmp_path / "late.csv"
    path.write_text("id,v\n" + "".join(f"{i},{i}\n" for i in range(n)) + f"{n},oops\n")
    df = load(path)
    assert df["v"].iloc[-1] == "oops"
    assert "'v' mixes numbers with text: 1 of" in df.attrs["mlcycle_warnings"][0]


def test_mixed_python_objects_in_a_dataframe():
    frame = pd.DataFrame({"x": pd.Series([1, 2, "three", 4], dtype=object)})
    assert "'x' mixes numbers with text" in load(frame).attrs["mlcycle_warnings"][0]
    with pytest.raises(SchemaError, match="mixes numbers with text"):
        load(frame, strict=True)


def test_mixed_json_lines_are_kept_with_a_warning(tmp_path):
    records = [{"a": i, "b": "x"} for i in range(5)] + [{"a": "six", "b": "y"}]
    path = _write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in records))
    df = load(path)
    assert df["a"].tolist()[-1] == "six"
    assert "'a' mixes numbers with text" in df.attrs["mlcycle_warnings"][0]


def test_all_missing_column_and_target_notes(tmp_path):
    path = _write(tmp_path / "n.csv", "a,empty,y\n1,,1\n2,,\n3,,1\n")
    notes = load(path, target="y").attrs["mlcycle_warnings"]
    assert "Column 'empty' is empty: every value is missing." in notes
    assert any("Target 'y' is missing in 1 of 3 rows" in note for note in notes)
    assert any("one value (1.0) in every row" in note for note in notes)


# -- memory ------------------------------------------------------------------------------


def test_a_file_larger_than_memory_is_refused(tmp_path, monkeypatch):
    PEOPLE.to_csv(tmp_path / "p.csv", index=False)
    PEOPLE.to_parquet(tmp_path / "p.parquet")
    monkeypatch.setattr(load_module, "_available_memory", lambda: 100)
    for name in ("p.csv", "p.parquet"):
        with pytest.raises(
            MlcycleError, match=r"needs about .* of memory .* only 100 bytes is available.*"
            r"columns=\[\.\.\.\]"
        ):  # fmt: skip
            load(tmp_path / name)


def test_available_memory_is_a_positive_number():
    available = load_module._available_memory()
    assert available is None or available > 0
