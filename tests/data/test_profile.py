"""profile(): per-column facts, table problems, target, association, leakage and the reports."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from mlcycle.data import Profile, profile
from mlcycle.exceptions import MlcycleError


@pytest.fixture(scope="module")
def birthwt_profile(public) -> Profile:
    data = public("birthwt")
    return profile(data.frame, target=data.target)


def test_birthwt_flags_bwt_and_reports_class_balance(birthwt_profile):
    p = birthwt_profile
    assert p.task == "binary"
    assert [s.column for s in p.leakage] == ["bwt"]
    classes = p.target_summary["classes"]
    assert [(c["value"], c["count"]) for c in classes] == [(0, 130), (1, 59)]
    assert sum(c["share"] for c in classes) == pytest.approx(1.0)
    assert p.target_summary["imbalance_ratio"] == pytest.approx(130 / 59)
    assert p.duplicate_rows == 5  # birthwt repeats five mothers verbatim
    bwt = p.columns["bwt"]
    assert bwt.kind == "numeric"
    assert (bwt.stats["min"], bwt.stats["max"]) == (709.0, 4990.0)
    assert sum(bwt.histogram["counts"]) == 189
    assert len(bwt.histogram["edges"]) == len(bwt.histogram["counts"]) + 1 == 21
    assert next(iter(p.association)) == "bwt"  # the leak is also the strongest association


def _synthetic(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    spiky = rng.normal(0, 1, n)
    spiky[:7] = [50, -40, 60, 70, -80, 90, 100]  # far outside Q1 - 1.5 IQR .. Q3 + 1.5 IQR
    closed = rng.normal(size=n)
    closed[y == 1] = np.nan  # filled only for one outcome
    near = np.zeros(n)
    near[:3] = 1.0
    frame = pd.DataFrame(
        {
            "informative": y * 2.0 + rng.normal(0, 1, n),
            "noise": rng.normal(size=n),
            "spiky": spiky,
            "closed_amount": closed,
            "country": pd.array(["NL"] * n, dtype="str"),
            "mostly_zero": near,
            "empty": np.full(n, np.nan),
            "code": pd.array(
                np.where(np.arange(n) % 10 == 0, "?", (np.arange(n) % 40).astype(str)), dtype="str"
            ),
            "city": pd.array([f"city_{i % 300}" for i in range(n)], dtype="str"),
            "signup": pd.to_datetime("2024-01-15") + pd.to_timedelta(np.arange(n) % 90, unit="D"),
            "y": y,
        }
    )
    duplicates = frame.iloc[[10, 11, 12, 13]].copy()
    return pd.concat([frame, duplicates], ignore_index=True)


@pytest.fixture(scope="module")
def synthetic() -> Profile:
    return profile(_synthetic(), target="y")


def test_synthetic_table_problems(synthetic):
    p = synthetic
    assert p.rows == 1004 and p.n_columns == 11
    assert p.duplicate_rows == 4
    assert p.duplicate_share == pytest.approx(4 / 1004, abs=1e-6)
    assert p.constant == ["country"]
    assert p.near_constant == ["mostly_zero"]
    assert p.high_cardinality == ["city"]
    assert p.columns["spiky"].outliers["count"] >= 7
    assert p.outliers["spiky"]["count"] == p.columns["spiky"].outliers["count"]
    assert p.columns["noise"].outliers["share"] < 0.03
    codes = {(w.code, w.column) for w in p.warnings}
    assert {
        ("duplicates", None),
        ("constant", "country"),
        ("near_constant", "mostly_zero"),
        ("all_missing", "empty"),
        ("mixed_types", "code"),
        ("high_cardinality", "city"),
    } <= codes
    assert ("closed_amount", "missing_tied_to_target") in {(s.column, s.reason) for s in p.leakage}
    assert not any(s.column in ("informative", "noise") for s in p.leakage)


def test_column_facts(synthetic):
    p = synthetic
    spiky = p.columns["spiky"]
    assert spiky.stats["max"] == 100.0
    assert set(spiky.stats) >= {"mean", "std", "p1", "p5", "p25", "p50", "p75", "p95", "p99"}
    empty = p.columns["empty"]
    assert (empty.missing, empty.missing_share, empty.distinct) == (1004, 1.0, 0)
    signup = p.columns["signup"]
    assert signup.kind == "datetime"
    assert signup.datetime["period"] == "month"
    assert signup.datetime["labels"][0] == "2024-01"
    assert sum(signup.datetime["counts"]) == 1004
    city = p.columns["city"]
    assert city.distinct == 300
    assert len(city.top) == 20 and city.top[0]["count"] >= city.top[-1]["count"]
    assert city.text["max_length"] == len("city_100")


def test_association_ranks_informative_above_noise(synthetic):
    ranking = list(synthetic.association)
    assert all(0.0 <= v <= 1.0 for v in synthetic.association.values())
    assert ranking.index("informative") < ranking.index("noise")
    assert synthetic.association["informative"] > 2 * synthetic.association["noise"]
    assert "y" not in synthetic.association
    assert synthetic.columns["informative"].association == synthetic.association["informative"]


def test_regression_target_distribution(public):
    data = public("diabetes")
    p = profile(data.frame, target=data.target)
    assert p.task == "regression"
    assert p.leakage == []
    summary = p.target_summary
    assert "classes" not in summary
    assert summary["min"] < summary["p50"] < summary["max"]
    assert isinstance(summary["skew"], float)
    top = next(iter(p.association))
    assert top in ("bmi", "s5")


def test_json_round_trip_has_no_nan(synthetic):
    text = synthetic.to_json()
    assert not re.search(r"\bNaN\b|Infinity", text)
    data = json.loads(text)
    assert data["columns"]["empty"]["stats"] is None
    assert data["leakage"] and data["warnings"]
    assert Profile.from_json(text).to_dict() == data


def test_infinite_values_become_null_not_nan():
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan, 2.0], "y": ["a", "b", "a", "b", "a"]})
    p = profile(frame)
    data = json.loads(p.to_json())
    assert data["columns"]["x"]["stats"]["max"] == 2.0
    assert ("infinite_values", "x") in {(w.code, w.column) for w in p.warnings}


def test_html_is_self_contained_and_small(birthwt_profile):
    page = birthwt_profile.to_html()
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert "bwt" in page[: page.index("Overview of columns")]  # leakage is on top


def test_html_for_fifty_columns_is_under_two_megabytes():
    rng = np.random.default_rng(0)
    n = 5000
    columns: dict[str, object] = {}
    for i in range(20):
        columns[f"num_{i}"] = rng.lognormal(0, 1, n)
    for i in range(15):
        columns[f"cat_{i}"] = [f"level_{j}" for j in rng.integers(0, 5 + 10 * i, n)]
    for i in range(10):
        columns[f"int_{i}"] = rng.integers(0, 6, n)
    for i in range(4):
        columns[f"day_{i}"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(
            rng.integers(0, 3000, n), unit="D"
        )
    columns["y"] = rng.integers(0, 2, n)
    p = profile(pd.DataFrame(columns), target="y")
    page = p.to_html()
    assert len(columns) == 50
    assert len(page.encode()) < 2 * 2**20
    assert page.count("<svg") >= 50
    assert "http://" not in page and "https://" not in page


def test_personal_data_is_reported_and_masked():
    rng = np.random.default_rng(3)
    n = 300
    emails = [f"person{i}@example.org" for i in rng.integers(0, 40, n)]
    frame = pd.DataFrame({"email": emails, "spend": rng.gamma(2.0, 10.0, n)})
    p = profile(frame)
    assert [(f.column, f.kind) for f in p.pii] == [("email", "email")]
    assert p.columns["email"].masked
    for output in (p.to_json(), p.to_html()):
        assert "p***@example.org" in output
        assert not any(e in output for e in set(emails))


def test_render_mentions_leakage(birthwt_profile):
    console = Console(record=True, width=120)
    birthwt_profile.render(console)
    text = console.export_text()
    assert "LEAKAGE" in text and "bwt" in text
    assert "189 rows" in text
    assert "integer_category" in text  # the column table


def test_save_writes_html_and_json(birthwt_profile, tmp_path):
    folder = birthwt_profile.save(tmp_path / "report")
    assert json.loads((folder / "profile.json").read_text())["target"] == "low"
    assert "<svg" in (folder / "profile.html").read_text()


def test_sample_bounds_the_model_based_checks(public):
    data = public("birthwt")
    p = profile(data.frame, target=data.target, sample=100, seed=1)
    assert p.sample_rows == 100
    assert p.rows == 189 and p.columns["bwt"].count == 189  # exact facts use every row


def test_bad_input_is_a_clear_error(public):
    frame = public("birthwt").frame
    with pytest.raises(MlcycleError, match="target column 'nope' is not in the data"):
        profile(frame, target="nope")
    with pytest.raises(MlcycleError, match="needs a pandas DataFrame"):
        profile(frame.to_dict())  # type: ignore[arg-type]
    with pytest.raises(MlcycleError, match="'sample' parameter of profile"):
        profile(frame, sample=5)
    with pytest.raises(MlcycleError, match="no columns"):
        profile(pd.DataFrame())


def test_target_warnings():
    frame = pd.DataFrame({"x": np.arange(220.0), "y": [0] * 200 + [1] * 10 + [None] * 10})
    codes = {w.code for w in profile(frame, target="y").warnings}
    assert {"class_imbalance", "target_missing"} <= codes


def test_unusual_dtypes_and_names_profile_to_valid_json():
    rng = np.random.default_rng(4)
    n = 200
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "nullable_int": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.integers(0, 100, n)), dtype="Int64"
            ),
            "nullable_bool": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5), dtype="boolean"
            ),
            "mixed": pd.Series([1, "a", 2.5, None] * (n // 4), dtype=object),
            "aware": pd.date_range("2020-01-01", periods=n, freq="D", tz="Europe/Amsterdam"),
            "lists": pd.Series([[1, 2], [3]] * (n // 2), dtype=object),
            "month": pd.period_range("2000-01", periods=n, freq="M"),
            7: rng.normal(size=n) * 1e300,  # a non-string name; mean and std overflow
            "y": rng.integers(0, 2, n),
        }
    )
    p = profile(frame, target="y")
    data = json.loads(p.to_json())
    assert set(data["columns"]) == {str(c) for c in frame.columns}
    assert p.columns["aware"].datetime["labels"][0] == "2019-12"  # shown in UTC
    assert p.columns["month"].datetime["period"] == "year"  # 200 months: per year
    assert ("mixed_types", "mixed") in {(w.code, w.column) for w in p.warnings}
    assert "<svg" in p.to_html()
