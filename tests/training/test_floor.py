"""The no-search floor: the families' defaults, strong and cheap first, then the portfolio."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mlcycle.training import train
from mlcycle.training._families import FAMILIES, FIRST, PORTFOLIO
from mlcycle.training._search import SearchContext, default_trials

FAST = {"workers": 1, "progress": False, "explain": False, "card": False, "budget": 120}


def _context(families: list[str], task: str = "binary", rows: int = 400) -> SearchContext:
    return SearchContext(
        X=pd.DataFrame({"a": np.arange(rows)}),
        y=np.arange(rows) % 2,
        task=task,
        metric="auc",
        n_classes=2,
        folds=[],
        families=families,
        kinds={"a": "numeric"},
        seed=0,
        search="tpe",
        deadline=0.0,
        budget=60.0,
        out_dir="",
    )


def test_defaults_come_first_strong_and_cheap_families_leading_then_the_portfolio() -> None:
    trials = default_trials(_context(list(FAMILIES)))
    families = [t["family"] for t in trials]
    assert families[: len(FAMILIES)] == list(FIRST)
    assert families[0] == "hgb"  # what one second of defaults gets is the first trial
    assert families[len(FAMILIES) :] == [name for name, _ in PORTFOLIO]
    # families left out of the search are left out of the portfolio too
    assert {t["family"] for t in default_trials(_context(["linear", "knn"]))} == {"linear", "knn"}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_first_trial_lies_inside_its_familys_search_space(task: str) -> None:
    """An enqueued value outside the space would be clipped or warned about by Optuna and
    the configuration tried would not be the one intended."""
    ctx = _context(list(FAMILIES), task=task, rows=5000)
    queued = default_trials(ctx)
    study = optuna.create_study()
    for params in queued:
        study.enqueue_trial(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns about fixed values out of range
        for expected in queued:
            trial = study.ask()
            family = trial.suggest_categorical("family", list(FAMILIES))
            FAMILIES[family].space(trial, task, 5000)
            assert trial.params == expected
            study.tell(trial, 0.0)


def test_the_first_trial_is_scikit_learns_default_histogram_boosting(
    cancer: pd.DataFrame, clean_env: Path
) -> None:
    result = train(cancer, "diagnosis", max_trials=1, **FAST)  # type: ignore[arg-type]
    assert result.best_family == "hgb"
    fitted = result.model.named_steps["model"]
    default = HistGradientBoostingClassifier()
    for name in ("learning_rate", "max_leaf_nodes", "min_samples_leaf", "max_iter"):
        assert getattr(fitted, name) == getattr(default, name)
    assert fitted.early_stopping is False  # 'auto' is off below 10,000 rows
