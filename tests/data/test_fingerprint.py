"""Fingerprint: the same data gives the same digest anywhere; any change gives another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from mlcycle.data import fingerprint
from mlcycle.exceptions import MlcycleError
from mlcycle.schema import Schema


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 22],
            "income": [1.5, np.nan, 3.25],
            "plan": ["free", "pro", None],
            "tier": pd.Categorical(["a", "b", "a"]),
            "joined": pd.to_datetime(["2020-01-01", "2021-06-30", "2022-02-02"]),
            "active": [True, False, True],
        }
    )


def test_digest_is_hex_sha256_and_repeatable():
    digest = fingerprint(_frame())
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert fingerprint(_frame()) == digest


def test_digest_is_the_same_in_another_process():
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
        "from test_fingerprint import _frame; from mlcycle.data import fingerprint;"
        "print(fingerprint(_frame()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == fingerprint(_frame())


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.assign(age=[31, 45, 23]),
        lambda df: df.assign(plan=["free", "pro", "team"]),
        lambda df: df.assign(income=[1.5, 0.0, 3.25]),
        lambda df: df.assign(tier=pd.Categorical(["a", "b", "b"])),
        lambda df: df.assign(joined=df["joined"] + pd.Timedelta(seconds=1)),
        lambda df: df.rename(columns={"age": "Age"}),
        lambda df: df.astype({"age": "float64"}),
        lambda df: df.astype({"plan": object}),
        lambda df: df[list(reversed(df.columns))],
        lambda df: df.iloc[::-1],
        lambda df: df.iloc[:2],
        lambda df: df.drop(columns="active"),
    ],
)
def test_any_change_changes_the_digest(change):
    assert fingerprint(change(_frame())) != fingerprint(_frame())


def test_the_index_does_not_matter():
    shifted = _frame()
    shifted.index = [10, 20, 30]
    assert fingerprint(shifted) == fingerprint(_frame())


def test_schema_is_part_of_the_digest():
    df = _frame()
    schema = Schema.from_dataframe(df)
    with_schema = fingerprint(df, schema)
    assert with_schema != fingerprint(df)
    assert with_schema == fingerprint(df, Schema.from_dataframe(_frame()))
    assert fingerprint(df, Schema.from_dataframe(df, target="age")) != with_schema


def test_public_data_and_unhashable_cells(public):
    frame = public("birthwt").frame
    assert fingerprint(frame) == fingerprint(frame.copy())
    lists = pd.DataFrame({"tags": [["a"], ["b", "c"]]})
    assert fingerprint(lists) != fingerprint(pd.DataFrame({"tags": [["a"], ["b"]]}))


def test_bad_arguments():
    with pytest.raises(MlcycleError, match=r"'df' parameter of fingerprint\(\) must be"):
        fingerprint([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(MlcycleError, match="'schema' parameter"):
        fingerprint(_frame(), schema="not a schema")


_frames = data_frames(
    columns=[
        column("a", dtype=int),
        column("b", dtype=float),
        column("c", elements=st.text(max_size=5)),
    ],
    index=range_indexes(min_size=1, max_size=20),
)


@settings(max_examples=50, deadline=None)
@given(_frames)
def test_equal_frames_have_equal_digests(df):
    assert fingerprint(df) == fingerprint(df.copy(deep=True))


@settings(max_examples=50, deadline=None)
@given(_frames, st.data())
def test_a_changed_cell_changes_the_digest(df, data):
    row = data.draw(st.integers(0, len(df) - 1))
    changed = df.copy()
    position = changed.columns.get_loc("c")
    changed.iloc[row, position] = str(changed.iloc[row, position]) + "!"
    assert fingerprint(changed) != fingerprint(df)
    bumped = df.copy()
    bumped.iloc[row, 0] = int(bumped.iloc[row, 0]) ^ 1
    assert fingerprint(bumped) != fingerprint(df)
