"""`retrain`: a challenger on fresh data replaces the champion only when it wins the gate."""

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
from mlcycle.evaluation import METRICS
from mlcycle.exceptions import DataError, MlcycleError, NotFoundError, SchemaError
from mlcycle.monitoring import retrain
from mlcycle.registry import get_workspace, resolve_version, search_runs
from mlcycle.schema import Schema

FEATURES = ["x0", "x1", "x2"]
QUICK = {"budget": 8, "max_trials": 4, "workers": 1, "progress": False}


def table(n: int, seed: int, rule: str = "x0") -> pd.DataFrame:
    """Three numbers and a category; the label follows one column (``rule``) plus noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["plan"] = rng.choice(["basic", "pro"], n)
    frame["churned"] = np.where(frame[rule] + rng.normal(scale=0.3, size=n) > 0, "yes", "no")
    return frame


@pytest.fixture
def champion(clean_env: Path) -> str:
    """``churn`` v1 at @production, trained by mlcycle.train on data where x0 decides."""
    mlcycle.train(
        table(400, seed=0), "churned", name="churn", alias="production", budget=8,
        families=["linear", "lgbm"], max_trials=4, cv=3, workers=1, progress=False,
        explain=False, card=False,
    )  # fmt: skip
    return "churn"


@pytest.fixture
def quick_champion(clean_env: Path) -> str:
    """``quick`` v1 at @production: a logistic regression registered with train's params."""
    from sklearn.linear_model import LogisticRegression

    frame = table(200, seed=0)
    model = LogisticRegression().fit(frame[FEATURES], frame["churned"])
    mlcycle.register_model(
        "quick", model, alias="production",
        schema=Schema.from_dataframe(frame[[*FEATURES, "churned"]], target="churned"),
        params={"task": "binary", "metric": "auc", "target": "churned", "cv": 3,
                "best_family": "linear"},
    )  # fmt: skip
    return "quick"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


# -- the two outcomes ----------------------------------------------------------------------


def test_a_challenger_that_wins_is_promoted_by_the_cli(champion: str, tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    table(400, seed=1, rule="x1").to_csv(path, index=False)  # the relationship changed
    done = cli(
        "retrain", champion, "--data", str(path), "--budget", "8", "--max-trials", "4",
        "--workers", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["promoted"] and decision["wins"] and decision["alias_moved"] == "production"
    assert decision["champion_version"] == 1 and decision["challenger_version"] == 2
    assert decision["difference"] > 0.2 and decision["p_value"] < 0.05
    assert decision["ci"][0] > 0 and decision["holdout_rows"] == 100
    assert decision["families_source"] == "the champion's bundle"
    assert sorted(decision["families"]) == ["lgbm", "linear"]
    assert "promoted to @production" in decision["reason"]
    production = resolve_version("churn@production")
    assert production.version == 2 and set(production.aliases) == {"production", "challenger"}


def test_a_challenger_within_the_margin_changes_nothing(champion: str) -> None:
    decision = retrain(champion, table(400, seed=2), margin=0.05, seed=0, **QUICK)
    assert not decision.wins and not decision.promoted and decision.alias_moved is None
    assert decision.difference <= 0.05
    assert "not promoted" in decision.reason and "@production stays at v1" in decision.reason
    assert resolve_version("churn@production").version == 1
    assert resolve_version("churn@challenger").version == 2  # kept for inspection
    # the decision is stored: a tracking run with its JSON, and an audit event
    runs = search_runs("retrain-churn")
    run = next(r for r in runs if r.id == decision.run_id)
    assert run.tags["decision"] == "kept" and run.params["margin"] == "0.05"
    assert run.metrics["p_value"] == pytest.approx(decision.p_value)
    ws = get_workspace()
    stored = json.loads(ws.artifacts.get_bytes(
        next(a.digest for a in ws.store.list_artifacts(run.id) if a.path == "decision.json")
    ))  # fmt: skip
    assert stored["reason"] == decision.reason
    events = [e for e in ws.store.audit_events(entity_id="churn") if e.action == "model.retrain"]
    assert len(events) == 1 and events[0].details["promoted"] is False
    assert events[0].details["champion_score"] == pytest.approx(decision.champion_score)


def test_canary_sends_a_winner_to_the_canary_alias_only(champion: str) -> None:
    decision = retrain(champion, table(400, seed=1, rule="x1"), canary=10, **QUICK)
    assert decision.wins and not decision.promoted and decision.alias_moved == "canary"
    assert "--route churn production=90,canary=10" in decision.reason
    assert resolve_version("churn@production").version == 1
    assert resolve_version("churn@canary").version == decision.challenger_version == 2


# -- bad inputs ----------------------------------------------------------------------------


def test_unknown_model_or_alias_is_refused(quick_champion: str) -> None:
    with pytest.raises(NotFoundError, match=r"nobody"):
        retrain("nobody", table(200, seed=1), **QUICK)
    with pytest.raises(NotFoundError, match=r"staging"):
        retrain(quick_champion, table(200, seed=1), alias="staging", **QUICK)


def test_new_data_without_the_target_or_a_feature_is_refused(quick_champion: str) -> None:
    with pytest.raises(SchemaError, match=r"'churned' is not in"):
        retrain(quick_champion, table(200, seed=1).drop(columns="churned"), **QUICK)
    with pytest.raises(SchemaError, match=r"lacks the champion's feature.*'x2'"):
        retrain(quick_champion, table(200, seed=1).drop(columns="x2"), **QUICK)


def test_too_few_rows_are_refused_before_training(quick_champion: str) -> None:
    with pytest.raises(DataError, match=r"has 40 rows.*needs at least 80"):
        retrain(quick_champion, table(40, seed=1), **QUICK)


def test_bad_parameters_say_what_is_expected(quick_champion: str) -> None:
    with pytest.raises(MlcycleError, match=r"'margin' parameter of retrain"):
        retrain(quick_champion, table(200, seed=1), margin=-1, **QUICK)
    with pytest.raises(MlcycleError, match=r"'canary' parameter of retrain.*percentage"):
        retrain(quick_champion, table(200, seed=1), canary=150, **QUICK)
    with pytest.raises(MlcycleError, match=r"'alpha' parameter"):
        retrain(quick_champion, table(200, seed=1), alpha=1.5, **QUICK)


def test_a_model_not_trained_by_mlcycle_cannot_be_retrained(clean_env: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = table(200, seed=0)
    model = LogisticRegression().fit(frame[FEATURES], frame["churned"])
    schema = Schema.from_dataframe(frame[[*FEATURES, "churned"]], target="churned")
    mlcycle.register_model("own", model, alias="production", schema=schema)
    with pytest.raises(MlcycleError, match=r"not trained by mlcycle.train.*mlcycle update"):
        retrain("own", frame, **QUICK)


def test_the_cli_prints_one_line_and_exits_2_on_errors(clean_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    table(200, seed=1).to_csv(path, index=False)
    done = cli("retrain", "nobody", "--data", str(path))
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


# -- the statistic -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
def test_weighted_scores_with_unit_weights_are_the_metric_tables(name: str) -> None:
    from mlcycle.monitoring._gate import Outputs, resampled_scores

    metric = METRICS[name]
    rng = np.random.default_rng(0)
    n = 300
    if "regression" in metric.tasks:
        y = rng.normal(loc=3.0, size=n)
        outputs, classes, values = Outputs(y + rng.normal(size=n)), None, None
        values = outputs.predictions
    else:
        k = 2 if "binary" in metric.tasks else 3
        classes = np.arange(k)
        y = rng.integers(0, k, n)
        proba = rng.dirichlet(np.ones(k), n)
        proba[:30] = proba[0]  # ties
        outputs = Outputs(proba.argmax(axis=1), proba)
        values = proba if metric.needs_proba else outputs.predictions
    ours = resampled_scores(metric, y, outputs, classes, np.ones((1, n)))[0]
    assert ours == pytest.approx(metric(y, values, classes), rel=1e-9, abs=1e-12)
    counts = rng.multinomial(n, np.full(n, 1 / n), size=3)
    rows = [np.repeat(np.arange(n), c) for c in counts]
    expected = [metric(y[r], np.asarray(values)[r], classes) for r in rows]
    assert resampled_scores(metric, y, outputs, classes, counts) == pytest.approx(expected)


def test_the_paired_bootstrap_separates_a_real_gain_from_none() -> None:
    from mlcycle.monitoring._gate import Outputs, compare

    rng = np.random.default_rng(0)
    classes = np.array(["no", "yes"])
    y = rng.choice(classes, 400)
    signal = (y == "yes").astype(float)
    weak = np.clip(0.5 + 0.1 * (signal - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    strong = np.clip(0.5 + 0.6 * (signal - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)

    def outputs(p: np.ndarray) -> Outputs:
        return Outputs(classes[(p >= 0.5).astype(int)], np.column_stack([1 - p, p]))

    gain = compare(y, outputs(weak), outputs(strong), metric=METRICS["auc"], classes=classes)
    assert gain.difference > 0.2 and gain.p_value < 0.001 and gain.ci[0] > 0.1
    assert gain.ttest_p < 0.001 and gain.ttest_loss == "log loss"
    same = compare(y, outputs(weak), outputs(weak), metric=METRICS["log_loss"], classes=classes)
    assert same.difference == 0 and same.p_value == 1.0 and same.ci == (0.0, 0.0)
    # lower is better for log-loss: the difference is oriented so that a gain is positive
    better = compare(y, outputs(weak), outputs(strong), metric=METRICS["log_loss"], classes=classes)
    assert better.difference > 0 and better.challenger_score < better.champion_score
