"""The main job reads its table once: one load, one target drop, one type inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlcycle
import mlcycle.data
import mlcycle.data._kinds as kinds_module
from mlcycle.exceptions import BadParameterError
from mlcycle.schema import Schema
from mlcycle.training import TrainPlan, TrainTable, run_job, train

FAST = {"workers": 1, "progress": False, "explain": False, "card": False, "max_trials": 2}


def _churn(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 10, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )
    frame.loc[::29, "income"] = np.nan
    frame["churned"] = np.where(frame["income"].fillna(50) + rng.normal(0, 5, n) > 52, "y", "n")
    frame.loc[::40, "churned"] = None
    return frame


def test_the_main_job_loads_and_infers_types_once(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "churn.csv"
    _churn().to_csv(path, index=False)
    calls: dict[str, int] = {"load": 0, "infer_kinds": 0, "schema": 0}
    real_load, real_kinds = mlcycle.data.load, kinds_module.infer_kinds
    real_schema = Schema.from_dataframe.__func__  # type: ignore[attr-defined]

    def load(*args: Any, **kwargs: Any) -> pd.DataFrame:
        calls["load"] += 1
        return real_load(*args, **kwargs)

    def infer_kinds(*args: Any, **kwargs: Any) -> dict[str, str]:
        calls["infer_kinds"] += 1
        return real_kinds(*args, **kwargs)

    def from_dataframe(cls: type[Schema], *args: Any, **kwargs: Any) -> Schema:
        calls["schema"] += 1
        return real_schema(cls, *args, **kwargs)

    monkeypatch.setattr(mlcycle.data, "load", load)
    monkeypatch.setattr(kinds_module, "infer_kinds", infer_kinds)
    monkeypatch.setattr(Schema, "from_dataframe", classmethod(from_dataframe))
    job = run_job(path, "churned", budget=30, **FAST)
    assert calls == {"load": 1, "infer_kinds": 1, "schema": 1}
    dropped = [w for w in job.train.warnings if w.startswith("Dropped")]
    assert dropped == ["Dropped 6 rows whose target 'churned' is missing."]


def test_the_bundle_carries_the_schema_inferred_with_the_profile(clean_env: Path) -> None:
    frame = _churn()
    table = TrainTable.inspect(mlcycle.data.load(frame, target="churned"), "churned")
    result = train(table.frame, "churned", budget=30, name="churn", profile=table, **FAST)
    bundle = mlcycle.load_model("churn/1")
    assert bundle.schema is not None
    assert (
        bundle.schema.to_dict()
        == table.types.select(["age", "income", "plan", "churned"]).schema.to_dict()
    )
    # inferred from every row with a target, not only the training split
    assert bundle.schema.column("plan").categories == ["basic", "pro", "team"]
    assert bundle.schema.column("age").max == table.frame["age"].max()
    assert result.features == ["age", "income", "plan"]


def test_a_train_table_must_be_the_data_it_describes(clean_env: Path) -> None:
    frame = _churn()
    table = TrainTable.inspect(frame, "churned")
    with pytest.raises(BadParameterError, match="'profile' parameter of train"):
        train(frame, "churned", budget=30, profile=table, **FAST)


def test_the_plan_is_checked_before_any_data_is_read() -> None:
    with pytest.raises(BadParameterError, match="'cv' parameter of train"):
        TrainPlan.check(
            "y",
            task=None,
            budget=10,
            metric=None,
            search="tpe",
            families=None,
            cv=1,
            time_column=None,
            group_column=None,
            seed=0,
            workers=1,
            test_size=0.2,
            name=None,
            alias=None,
            experiment="automl",
            explain=False,
            ensemble=True,
            allow_leakage=False,
            max_trials=None,
            progress=False,
            card=False,
            model_card=None,
        )
