"""``retrain``: a challenger trained on fresh data replaces the champion only if it wins.

The champion is the version at an alias (``production``). The new rows are split once into a
training part and a holdout; the challenger is searched with the champion's configuration
space (task, metric, families, folds) on the training part and registered as a new version
at ``@challenger``; both models are then scored on the same holdout rows and compared with a
paired bootstrap (see :mod:`mlcycle.monitoring._gate`). Only a winner moves the alias, or the
``canary`` alias with ``canary=``. The decision is stored on a tracking run in the experiment
``retrain-NAME`` (``decision.json``) and as a ``model.retrain`` audit event.

>>> decision = mlcycle.monitoring.retrain("churn", "new.csv", margin=0.01)  # doctest: +SKIP
>>> decision.promoted, decision.reason  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, MlcycleError, bad_parameter
from mlcycle.monitoring._gate import (
    Champion,
    RetrainDecision,
    check_gate_parameters,
    conclude,
    fresh_data,
    gate,
    load_champion,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mlcycle.registry import Workspace

__all__ = ["retrain"]


def check_canary(function: str, canary: object) -> float | None:
    """``canary`` as a share of traffic in percent (0, 100), or None."""
    if canary is None:
        return None
    if isinstance(canary, bool) or not isinstance(canary, int | float):
        raise bad_parameter("canary", f"{function}()", "a percentage in (0, 100) or None", canary)
    if not (math.isfinite(float(canary)) and 0 < float(canary) < 100):
        raise bad_parameter("canary", f"{function}()", "a percentage in (0, 100) or None", canary)
    return float(canary)


def _families(
    champion: Champion, families: list[str] | str | None, workspace: Workspace
) -> tuple[list[str], str]:
    """The families to search and where that list came from (said in the decision)."""
    from mlcycle.training import default_families

    def as_list(value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value)
        return [str(item).strip() for item in items if str(item).strip()]

    if families is not None:
        return as_list(families), "given"
    params = champion.params
    if params.get("families"):
        return as_list(params["families"]), "the champion's bundle"
    if champion.run_id:
        try:
            searched = workspace.store.get_run(champion.run_id).params.get("families")
        except MlcycleError:
            searched = None
        if searched:
            return as_list(searched), "the champion's training run"
    best = params.get("best_family")
    if best:
        return [best, *(f for f in default_families() if f != best)], (
            "the champion's family plus the defaults (the families it searched are not recorded)"
        )
    return default_families(), "the defaults (the champion records no family)"


def retrain(
    name: str,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    alias: str = "production",
    budget: float = 60.0,
    margin: float = 0.0,
    alpha: float = 0.05,
    holdout: float = 0.25,
    canary: float | None = None,
    families: list[str] | str | None = None,
    max_trials: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> RetrainDecision:
    """Train a challenger on ``data`` and promote it over ``name@alias`` only if it wins.

    Wins means: its holdout score beats the champion's by more than ``margin`` (in the
    metric's units, "bigger is better" orientation) and the paired bootstrap p-value is below
    ``alpha``. ``holdout`` is the share of ``data`` both are scored on; ``canary`` (a
    percentage) sends a winner to ``@canary`` instead of ``alias``. ``families`` overrides the
    champion's; ``budget``, ``max_trials``, ``seed``, ``workers`` go to :func:`mlcycle.train`.
    The challenger is registered (at ``@challenger``) whatever the verdict.
    """
    from mlcycle.registry import get_workspace, start_run
    from mlcycle.training import train

    started = time.perf_counter()
    check_gate_parameters("retrain", margin=margin, alpha=alpha, holdout=holdout)
    canary = check_canary("retrain", canary)
    ws = get_workspace()
    champion = load_champion(name, alias, ws)
    params = champion.params
    if "target" not in params or "task" not in params:
        raise BundleError(
            f"{name} v{champion.version} (@{alias}) was not trained by mlcycle.train, so its "
            f"search space is unknown. Train it with `mlcycle train`, or update it in place "
            f"with `mlcycle update {name} --data FILE` if its family learns incrementally."
        )
    chosen, source = _families(champion, families, ws)
    cv = int(params.get("cv") or 5)
    train_part, holdout_part = fresh_data(data, champion, holdout=holdout, seed=seed)
    notes = list(champion.notes)
    with start_run(experiment=f"retrain-{name}", name=f"retrain {name}@{alias}") as run:
        result = train(
            train_part,
            champion.target,
            task=champion.task,
            metric=champion.metric.name,
            families=chosen,
            cv=cv,
            budget=budget,
            seed=seed,
            workers=workers,
            max_trials=max_trials,
            test_size=0.0,
            name=name,
            alias="challenger",
            experiment=f"retrain-{name}",
            progress=progress,
            console=console,
        )
        assert result.version is not None  # train registers when given a name
        notes.extend(result.warnings)
        # score the registered bundle, exactly what a promotion would serve
        challenger = load_champion(name, alias, ws, version=result.version.version)
        comparison = gate(
            champion,
            challenger.model,
            holdout_part,
            challenger_threshold=challenger.threshold,
            margin=margin,
            seed=seed,
            notes=notes,
        )
        return conclude(
            comparison,
            champion,
            result.version.version,
            kind="retrain",
            margin=margin,
            alpha=alpha,
            canary=canary,
            train_rows=len(train_part),
            started=started,
            workspace=ws,
            run=run,
            families=chosen,
            families_source=source,
            detail=f"{result.best_family} (cv {result.metric} {result.cv_score:.4f})",
            notes=notes,
        )
