"""Numbers written in a locale's format: decimal commas read as numbers, text numbers named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle.data import load
from mlcycle.exceptions import DataError


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return X.assign(progression=y * 1.5)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_decimal_commas_are_read_as_numbers_where_the_delimiter_is_no_comma(
    diabetes: pd.DataFrame, tmp_path: Path, sep: str
) -> None:
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, sep=sep, decimal=",", index=False)
    assert "32,1" in path.read_text()  # the file really has decimal commas
    df = load(path, target="progression")
    assert all(pd.api.types.is_float_dtype(t) for t in df.dtypes), df.dtypes
    pd.testing.assert_frame_equal(df, diabetes, check_dtype=False)
    assert df.attrs["mlcycle_source"]["decimal"] == ","
    assert df.attrs["mlcycle_warnings"] == []


def test_digit_groups_and_blanks_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "item;price;count;when\na;1.234,5;3;31.01.2020\nb;12,25;;01.02.2020\nc;;7;02.02.2020\n"
        "d;1\u00a0000,0;1;03.02.2020\n",
        encoding="utf-8",
    )
    df = load(path)
    assert df["price"].tolist()[:2] == [1234.5, 12.25] and np.isnan(df["price"][2])
    assert df["price"][3] == 1000.0
    assert df["item"].tolist() == ["a", "b", "c", "d"]
    assert df["when"].tolist()[0] == "31.01.2020"  # dates are no numbers


def test_a_comma_separated_file_keeps_quoted_text_with_commas(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"tags": ["a,b", "c", "1,2"], "pair": ["1,5", "2,5", "3,5"], "x": [1.5, 2.0, 3.25]}
    )
    path = tmp_path / "tags.csv"
    frame.to_csv(path, index=False)
    df = load(path)
    pd.testing.assert_frame_equal(df, frame, check_dtype=False)
    assert df.attrs["mlcycle_source"]["decimal"] is None


def test_decimal_overrides_detection(diabetes: pd.DataFrame, tmp_path: Path) -> None:
    commas = tmp_path / "commas.csv"
    diabetes.head(50).to_csv(commas, sep=",", decimal=",", index=False)  # quoted "32,1"
    assert not pd.api.types.is_numeric_dtype(load(commas)["bmi"])
    pd.testing.assert_frame_equal(load(commas, decimal=","), diabetes.head(50), check_dtype=False)
    semicolons = tmp_path / "semicolons.csv"
    diabetes.head(50).to_csv(semicolons, sep=";", decimal=",", index=False)
    kept = load(semicolons, decimal=".")
    assert not pd.api.types.is_numeric_dtype(kept["bmi"])
    assert any("decimal commas" in note for note in kept.attrs["mlcycle_warnings"])
    grouped = tmp_path / "grouped.csv"
    grouped.write_text('n,amount\n1,"1,234.5"\n2,"12,000"\n3,7.25\n', encoding="utf-8")
    assert load(grouped, decimal=".")["amount"].tolist() == [1234.5, 12000.0, 7.25]


def test_a_word_among_decimal_commas_keeps_the_column_as_text_and_says_why(
    tmp_path: Path,
) -> None:
    rows = "\n".join(f"{i};{i},5" for i in range(40))
    path = tmp_path / "mixed.csv"
    path.write_text(f"id;price\n{rows}\n40;n.v.\n", encoding="utf-8")
    df = load(path)
    # no word silently becomes a missing value
    assert not pd.api.types.is_numeric_dtype(df["price"])
    (note,) = [n for n in df.attrs["mlcycle_warnings"] if "'price'" in n]
    assert "decimal commas" in note and "'n.v.'" in note and "--decimal ','" in note


@pytest.mark.parametrize(
    ("values", "cause"),
    [
        (["$12.50", "$3.00", "$7.25"], "currency or percent signs"),
        (["45%", "3%", "12,5%"], "currency or percent signs"),
        (["1,234.5", "12,000.0", "7.5"], "separators between digit groups"),
        (["1,5", "2.5", "3,25"], "in more than one format"),
    ],
)
def test_text_numbers_in_other_formats_are_named(
    values: list[str], cause: str, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"n": range(30), "value": values * 10}).to_csv(path, index=False)
    notes = load(path).attrs["mlcycle_warnings"]
    assert any("'value' holds numbers written as text" in n and cause in n for n in notes), notes


def test_a_bad_decimal_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'decimal' parameter of load\(\) must be ',' or '\.'"):
        load(pd.DataFrame({"a": ["1,5"]}), decimal=";")


def test_train_names_decimal_commas_in_a_text_target(clean_env: Path) -> None:
    from mlcycle import train

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    as_text = [f"{v:.3f}".replace(".", ",") for v in 10 * x + 50]
    frame = pd.DataFrame({"x": x, "price": as_text})
    expected = "'price' holds numbers written as text with decimal commas"
    with pytest.raises(DataError, match=expected):
        train(frame, "price", budget=5, families="linear", name=None)
    with pytest.raises(DataError, match="--decimal ','"):
        train(frame, "price", budget=5, families="linear", task="regression", name=None)
    assert pd.api.types.is_float_dtype(load(frame, decimal=",")["price"])


def test_codes_with_digit_groups_are_no_numbers(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    cards = ["4111 1111 1111 1111", "5500 0000 0000 0004", "06 12 34 56 78", "1.2.3"]
    pd.DataFrame({"n": range(40), "code": cards * 10}).to_csv(path, sep=";", index=False)
    df = load(path)
    assert df["code"].tolist()[:4] == cards and df.attrs["mlcycle_warnings"] == []
