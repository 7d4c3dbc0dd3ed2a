"""mlcycle.train on real data: the search, the final model, the registry and the card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlcycle
from mlcycle.training import FAMILIES, TrainResult, WeightedEnsemble, detect_task, train

FAST = {"workers": 1, "progress": False, "explain": False, "card": False}


def _fit(frame: pd.DataFrame, target: str, **options: object) -> TrainResult:
    return train(frame, target, **{"budget": 120, **FAST, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("family", "fixture", "target"),
    [
        ("linear", "cancer", "diagnosis"),
        ("rf", "wine", "cultivar"),
        ("et", "diabetes", "progression"),
        ("hgb", "cancer", "diagnosis"),
        ("lgbm", "wine", "cultivar"),
        ("xgb", "cancer", "diagnosis"),
        ("knn", "diabetes", "progression"),
        ("lgbm", "diabetes", "progression"),
        ("xgb", "wine", "cultivar"),
    ],
)
def test_each_family_round_trips_through_bundle_and_registry(
    family: str, fixture: str, target: str, clean_env: Path, request: pytest.FixtureRequest
) -> None:
    frame = request.getfixturevalue(fixture)
    result = _fit(frame, target, families=[family], max_trials=1, name=f"m-{family}")
    assert result.best_family == family
    assert result.version is not None and result.version.version == 1
    loaded = mlcycle.load_model(f"m-{family}/1")
    rows = frame.drop(columns=[target]).head(40)
    if result.task == "regression":
        np.testing.assert_allclose(loaded.predict(rows), result.model.predict(rows), rtol=1e-9)
    else:
        np.testing.assert_allclose(
            loaded.predict_proba(rows), result.model.predict_proba(rows), atol=1e-9
        )
        labels = set(frame[target].unique())
        assert set(loaded.predict(rows)) <= labels  # original labels, not class codes
    assert loaded.schema is not None and loaded.schema.target == target
    assert loaded.metrics and f"cv_{result.metric}" in loaded.metrics
    assert loaded.lineage and loaded.lineage["data_fingerprint"]


def test_an_ensemble_round_trips_and_never_scores_below_its_best_member(
    fishing: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(
        fishing,
        "mode",
        families=["linear", "knn", "lgbm"],
        max_trials=6,
        name="ens",
        ensemble=True,
    )
    assert result.ensemble is not None, "three unlike families should ensemble on this data"
    assert isinstance(result.model, WeightedEnsemble)
    assert result.ensemble["cv_score"] <= result.ensemble["best_single_cv_score"]  # log-loss
    assert abs(sum(m["weight"] for m in result.ensemble["members"]) - 1) < 1e-9
    loaded = mlcycle.load_model("ens")
    rows = fishing.drop(columns=["mode"]).tail(25)
    np.testing.assert_allclose(loaded.predict_proba(rows), result.predict_proba(rows), atol=1e-9)
    assert set(loaded.predict(rows)) <= set(fishing["mode"])


def test_same_seed_one_worker_gives_the_same_best_configuration(
    wine: pd.DataFrame, clean_env: Path
) -> None:
    options = {"families": ["linear", "knn", "rf"], "max_trials": 10, "seed": 3}
    first = _fit(wine, "cultivar", **options)
    second = _fit(wine, "cultivar", **options)
    assert (first.best_family, first.best_params) == (second.best_family, second.best_params)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert first.cv_score == second.cv_score
    other = _fit(wine, "cultivar", **{**options, "seed": 4})
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


def test_every_trial_is_a_child_run_with_params_and_fold_scores(
    diabetes: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(diabetes, "progression", families=["linear", "knn"], max_trials=5)
    assert result.run_id is not None
    children = mlcycle.search_runs("automl", filter=f"parent_run_id = '{result.run_id}'")
    assert len(children) == result.n_trials == 5
    for child in children:
        assert child.params["family"] in ("linear", "knn")
        assert "seconds" in child.metrics
    complete = [c for c in children if c.tags.get("state") == "complete"]
    assert all("cv_rmse" in c.metrics for c in complete)
    parent = mlcycle.get_run(result.run_id)
    assert parent.params["task"] == "regression" and parent.params["metric"] == "rmse"


def test_run_times_span_the_training_and_each_trial(
    diabetes: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(diabetes, "progression", families=["linear", "knn"], max_trials=4)
    parent = mlcycle.get_run(result.run_id)
    children = mlcycle.search_runs("automl", filter=f"parent_run_id = '{result.run_id}'")
    assert parent.duration_s is not None and parent.duration_s >= result.fit_seconds
    assert len(children) == 4
    for child in children:
        # each trial's run lasts as long as the trial did (times kept in ms), within the parent
        assert child.duration_s == pytest.approx(child.metrics["seconds"], abs=0.002)
        assert child.duration_s > 0
        assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time


def test_boosted_trees_stop_early_and_refit_with_the_rounds_they_reached(
    cancer: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(cancer, "diagnosis", families=["lgbm"], max_trials=1)
    trial = result.trials[0]
    assert result.extras["cv_repeats"] == 3  # 455 training rows: the K-fold is repeated
    assert len(trial.rounds) == 5 * 3
    assert max(trial.rounds) < FAMILIES["lgbm"].build({}, "binary", 0, 1).n_estimators
    expected = round(float(np.mean(trial.rounds)) * 1.2)
    assert result.model.named_steps["model"].n_estimators == expected


def test_poor_trials_are_pruned_and_random_search_samples_both_families(
    wine: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(wine, "cultivar", families=["linear", "knn"], search="random", max_trials=30)
    states = {t.state for t in result.trials}
    assert "pruned" in states
    assert {t.family for t in result.trials} == {"linear", "knn"}
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert all(len(t.fold_scores) < 5 * result.extras["cv_repeats"] for t in pruned)


def test_grid_search_tries_the_grid_points_then_stops(
    diabetes: pd.DataFrame, clean_env: Path
) -> None:
    result = _fit(diabetes, "progression", families=["linear"], search="grid")
    alphas = sorted(t.params["alpha"] for t in result.trials)
    assert alphas == [0.01, 0.1, 1.0, 10.0, 100.0]


def test_test_split_evaluation_threshold_and_explanation(
    cancer: pd.DataFrame, clean_env: Path
) -> None:
    result = train(
        cancer,
        "diagnosis",
        budget=120,
        workers=1,
        progress=False,
        families=["lgbm", "linear"],
        max_trials=3,
        name="card",
    )
    assert result.evaluation is not None
    assert result.evaluation.n_rows == round(len(cancer) * 0.2 + 0.5)  # ceil
    assert 0.85 < result.evaluation.metrics["auc"] <= 1
    assert result.threshold is not None and 0 < result.threshold < 1
    assert result.importance is not None and len(result.importance.values) == 10
    assert result.card_path is not None and result.card_path.is_file()
    card = result.card_path.read_text()
    for section in ("Intended use", "Data", "Search", "Performance", "Explanations", "Lineage"):
        assert f"<h2>{section}</h2>" in card
    assert card.count("<svg") >= 5  # trials, roc, pr, calibration, confusion, importance...
    bundle = mlcycle.load_model("card")
    assert "extra/model_card.html" in bundle.files
    assert bundle.explanation and bundle.explanation["method"] in ("shap", "permutation")
    stored = json.loads((bundle.path / "extra" / "evaluation.json").read_text())
    assert stored["metrics"]["auc"] == pytest.approx(result.evaluation.metrics["auc"])


def test_string_categories_and_missing_values_train(mixed: pd.DataFrame, clean_env: Path) -> None:
    frame = mixed.copy()
    frame.loc[frame.index[::7], "income"] = np.nan
    _fit(frame, "work", families=["lgbm", "rf"], max_trials=2, name="mroz")
    rows = frame.drop(columns=["work"]).head(10)
    assert set(mlcycle.load_model("mroz").predict(rows)) <= {"yes", "no"}


def test_time_and_group_columns_split_without_mixing(
    diabetes: pd.DataFrame, clean_env: Path
) -> None:
    frame = diabetes.assign(
        day=pd.date_range("2024-01-01", periods=len(diabetes), freq="D"),
        clinic=np.arange(len(diabetes)) % 20,
    )
    by_time = _fit(
        frame.drop(columns=["clinic"]),
        "progression",
        families=["linear"],
        max_trials=1,
        time_column="day",
    )
    assert by_time.evaluation is not None
    by_group = _fit(
        frame.drop(columns=["day"]),
        "progression",
        families=["linear"],
        max_trials=1,
        group_column="clinic",
    )
    assert "clinic" not in by_group.features


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([1, 2, 3, 4] * 25, "multiclass"),
        (list(range(100)), "regression"),
        ([0.5, 1.5, 2.25] * 10, "regression"),
    ],
)
def test_detect_task(values: list[object], expected: str) -> None:
    assert detect_task(pd.Series(values, name="y")) == expected


def test_the_task_can_be_overridden(wine: pd.DataFrame, clean_env: Path) -> None:
    result = _fit(wine, "cultivar", task="regression", families=["linear"], max_trials=1)
    assert result.task == "regression" and result.metric == "rmse"


@pytest.mark.parametrize("target", ["../../escaped", "{tmp}/absolute"])
def test_the_card_stays_in_the_workspace_whatever_the_target_is_called(
    cancer: pd.DataFrame, clean_env: Path, tmp_path: Path, target: str
) -> None:
    target = target.format(tmp=tmp_path)
    frame = cancer.rename(columns={"diagnosis": target})
    result = _fit(frame, target, families=["linear"], max_trials=1, card=True, name=None)
    assert result.card_path is not None and result.card_path.is_file()
    assert result.card_path.resolve().parent.parent == (clean_env / "reports").resolve()
    outside = [p for p in tmp_path.rglob("model_card.html") if not p.is_relative_to(clean_env)]
    assert outside == []
