"""`abtest`: two live arms compared on the prediction log joined with the feedback log.

The logs are written here in the server's documented layout (hive partitions, the same
columns), with known accuracies, so the answers are known too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcycle.exceptions import MlcycleError, NotFoundError
from mlcycle.monitoring import abtest
from mlcycle.monitoring._abtest import _wilson
from mlcycle.monitoring._logs import since_time as parse_since

NOW = datetime.now(UTC)


def write_arm(
    home: Path,
    *,
    alias: str,
    version: int,
    n: int,
    accuracy: float,
    seed: int,
    when: datetime = NOW,
    feedback: bool = True,
    model: str = "churn",
) -> None:
    """``n`` logged binary predictions of ``alias`` (right with probability ``accuracy``)."""
    rng = np.random.default_rng(seed)
    ids = [f"{alias}-{seed}-{i}" for i in range(n)]
    label = rng.choice(["no", "yes"], n)
    right = rng.uniform(size=n) < accuracy
    predicted = np.where(right, label, np.where(label == "yes", "no", "yes"))
    p_yes = np.clip(np.where(predicted == "yes", 0.75, 0.25) + rng.normal(0, 0.1, n), 0.01, 0.99)
    stamp = pa.array(np.full(n, int(when.timestamp() * 1000))).cast(pa.timestamp("ms", tz="UTC"))
    day = when.strftime("%Y-%m-%d")
    log = pa.table(
        {
            "prediction_id": ids,
            "request_id": ids,
            "timestamp": stamp,
            "alias": [alias] * n,
            "role": ["primary"] * n,
            "latency_ms": np.ones(n),
            "input.x0": rng.normal(size=n),
            "prediction": predicted,
            "prediction_value": pa.nulls(n, pa.float64()),
            "proba.no": 1 - p_yes,
            "proba.yes": p_yes,
        }
    )
    folder = home / "predictions" / f"model={model}" / f"version={version}" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(log, folder / f"part-{alias}-{seed}.parquet")
    if feedback:
        labels = pa.table(
            {
                "prediction_id": ids,
                "timestamp": stamp,
                "label": label,
                "label_value": pa.nulls(n, pa.float64()),
            }
        )
        folder = home / "feedback" / f"model={model}" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(labels, folder / f"part-{alias}-{seed}.parquet")


def write_regression_arm(home: Path, *, alias: str, version: int, n: int, noise: float) -> None:
    rng = np.random.default_rng(version)
    ids = [f"{alias}-{i}" for i in range(n)]
    truth = rng.normal(10, 3, n)
    predicted = truth + rng.normal(0, noise, n)
    stamp = pa.array(np.full(n, int(NOW.timestamp() * 1000))).cast(pa.timestamp("ms", tz="UTC"))
    day = NOW.strftime("%Y-%m-%d")
    log = pa.table(
        {
            "prediction_id": ids,
            "request_id": ids,
            "timestamp": stamp,
            "alias": [alias] * n,
            "role": ["primary"] * n,
            "latency_ms": np.ones(n),
            "prediction": [repr(float(v)) for v in predicted],
            "prediction_value": predicted,
        }
    )
    folder = home / "predictions" / "model=price" / f"version={version}" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(log, folder / "part-0.parquet")
    labels = pa.table(
        {"prediction_id": ids, "timestamp": stamp, "label": [str(v) for v in truth],
         "label_value": truth}
    )  # fmt: skip
    folder = home / "feedback" / "model=price" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(labels, folder / f"part-{alias}.parquet")


def test_a_better_canary_is_significant(clean_env: Path) -> None:
    write_arm(clean_env, alias="production", version=3, n=800, accuracy=0.80, seed=1)
    write_arm(clean_env, alias="canary", version=4, n=400, accuracy=0.92, seed=2)
    result = abtest("churn", a="production", b="canary")
    assert result.significant and result.better == "canary" and result.p_value < 1e-4
    assert result.test == "two-proportion z-test" and result.metric == "accuracy"
    assert (result.a.versions, result.b.versions) == ([3], [4])
    assert (result.a.labelled, result.b.labelled) == (800, 400)
    assert result.a.ci[0] < result.a.value < result.a.ci[1]
    assert 0.05 < result.difference_ci[0] < result.difference < result.difference_ci[1]
    assert "canary (v4) is significantly better than production (v3)" in result.verdict
    assert set(result.a.metrics) == {"accuracy", "log_loss", "auc"}
    for metric in ("log_loss", "auc"):
        other = abtest("churn", metric=metric)
        assert other.significant and other.better == "canary", other.verdict
    assert json.loads(json.dumps(result.to_dict()))["b"]["versions"] == [4]


def test_equal_arms_are_not_significant(clean_env: Path) -> None:
    write_arm(clean_env, alias="production", version=3, n=500, accuracy=0.85, seed=1)
    write_arm(clean_env, alias="canary", version=4, n=500, accuracy=0.85, seed=2)
    result = abtest("churn")
    assert not result.significant and result.better is None and result.p_value > 0.05
    assert result.difference_ci[0] < 0 < result.difference_ci[1]
    assert "no significant difference" in result.verdict


def test_versions_can_be_arms_and_since_drops_old_rows(clean_env: Path) -> None:
    old = NOW - timedelta(days=30)
    write_arm(clean_env, alias="production", version=3, n=300, accuracy=0.5, seed=1, when=old)
    write_arm(clean_env, alias="production", version=3, n=200, accuracy=0.8, seed=2)
    write_arm(clean_env, alias="canary", version=4, n=200, accuracy=0.8, seed=3)
    everything = abtest("churn", a="v3", b="4")
    assert everything.a.labelled == 500 and everything.a.name == "v3"
    recent = abtest("churn", a="3", b="v4", since="7d")
    assert recent.a.labelled == 200 and not recent.significant


def test_regression_arms_are_compared_on_their_errors(clean_env: Path) -> None:
    write_regression_arm(clean_env, alias="production", version=1, n=300, noise=2.0)
    write_regression_arm(clean_env, alias="canary", version=2, n=300, noise=1.0)
    result = abtest("price")
    assert result.task == "regression" and result.metric == "rmse"
    assert result.a.value == pytest.approx(2.0, rel=0.15) and result.b.value < result.a.value
    assert result.significant and result.better == "canary"
    assert result.test == "Welch t-test on per-row squared errors"
    assert abtest("price", metric="mae").better == "canary"
    with pytest.raises(MlcycleError, match=r"choose one of: rmse, mae"):
        abtest("price", metric="accuracy")


def test_an_arm_without_feedback_or_traffic_says_what_to_do(clean_env: Path) -> None:
    write_arm(clean_env, alias="production", version=3, n=100, accuracy=0.8, seed=1)
    write_arm(clean_env, alias="canary", version=4, n=50, accuracy=0.8, seed=2, feedback=False)
    with pytest.raises(MlcycleError, match=r"No feedback labels for canary yet.*POST "
                       r"/v1/models/churn/feedback"):  # fmt: skip
        abtest("churn")
    with pytest.raises(MlcycleError, match=r"No logged primary predictions for churn@shadowy.*"
                       r"Aliases in the log: canary, production"):  # fmt: skip
        abtest("churn", b="shadowy")
    with pytest.raises(MlcycleError, match=r"both 'production'"):
        abtest("churn", b="production")


def test_a_model_without_a_log_is_refused(clean_env: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nobody"):
        abtest("nobody")


def test_since_accepts_durations_and_dates_only() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since(timedelta(hours=1), now) == now - timedelta(hours=1)
    with pytest.raises(MlcycleError, match=r"not understood.*7d"):
        parse_since("last week", now)


def test_the_wilson_interval_matches_the_textbook() -> None:
    low, high = _wilson(8, 10, 0.05)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)


def test_the_cli_prints_the_table_and_json(clean_env: Path) -> None:
    write_arm(clean_env, alias="production", version=3, n=300, accuracy=0.7, seed=1)
    write_arm(clean_env, alias="canary", version=4, n=300, accuracy=0.9, seed=2)
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "mlcycle.cli", "abtest", "churn"]
    shown = subprocess.run(
        [*command, "--a", "production", "--b", "canary"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "A/B test of churn on accuracy" in shown.stdout
    assert "significantly better" in shown.stdout
    data = subprocess.run(
        [*command, "--json", "--metric", "log_loss"], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert data.returncode == 0, data.stderr
    assert json.loads(data.stdout)["better"] == "canary"
    wrong = subprocess.run(
        [*command, "--since", "yesterday"], capture_output=True, text=True, env=env, timeout=120
    )
    assert wrong.returncode == 2 and "not understood" in wrong.stderr
