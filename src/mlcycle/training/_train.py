"""``train``: from a table to the best model a time budget allows, evaluated and explained.

The stages, each a function over typed objects (``_plan`` and ``_stages``): check the
parameters into a :class:`~mlcycle.training._plan.TrainPlan` → load the table once, drop
rows without a target, profile it and infer its types (schema and kinds) once, into a
:class:`~mlcycle.training._plan.TrainTable` → check the target for leakage and hold out a
test split → search (Optuna, cross-validated, pruned, early-stopped; see ``_search``) →
select the best trial or an ensemble → refit on all training rows → evaluate on the test
split and explain → track every trial as a child run and register the bundle, with the
schema inferred at profile time and its model card. The budget is a deadline for the whole
call: the search and the refit end early enough to leave the evaluation, explanations and
records their share (:func:`after_refit_seconds`); ``fit_seconds`` is the time to the end of
the refit. See ``docs/automl.md``.

>>> result = mlcycle.train(df, target="churned", budget=60, name="churn")  # doctest: +SKIP
>>> result.evaluation.metrics["auc"], result.version.version  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.decision import DecisionRule, Predictions
from mlcycle.exceptions import BadParameterError, BundleError, bad_parameter
from mlcycle.training._plan import SEARCHES, TrainPlan, TrainTable
from mlcycle.training._stages import detect_task

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.evaluation import Evaluation
    from mlcycle.explanation import Importance
    from mlcycle.registry import ModelVersion
    from mlcycle.training._search import TrialRecord
    from mlcycle.training._stages import Evaluated, Prepared, Selection

__all__ = ["SEARCHES", "TrainResult", "detect_task", "train"]


# -- results -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train` produced: the model, how it was found, how good it is, where it is."""

    model: Any
    task: str
    metric: str
    target: str
    features: list[str]
    classes_: np.ndarray | None
    best_family: str
    best_params: dict[str, Any]
    cv_score: float
    cv_std: float
    fold_scores: list[float]
    train_score: float | None
    trials: list[TrialRecord]
    ensemble: dict[str, Any] | None
    threshold: float | None
    fit_seconds: float
    budget: float
    seed: int
    evaluation: Evaluation | None = None
    importance: Importance | None = None
    warnings: list[str] = field(default_factory=list)
    run_id: str | None = None
    version: ModelVersion | None = None
    card_path: Path | None = None
    total_seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None  # Unix seconds: when train() was called
    left_out: dict[str, str] = field(default_factory=dict)
    """Columns left out of the features as personal data or identifiers: column -> why."""

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def n_pruned(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)

    @property
    def decision(self) -> DecisionRule:
        """The decision rule the bundle stores: class order and the tuned threshold."""
        if self.classes_ is None:
            return DecisionRule("regression")
        classes = np.asarray(self.classes_)
        task = "binary" if len(classes) == 2 else "multiclass"
        threshold = self.threshold if task == "binary" else None
        return DecisionRule(task, tuple(classes.tolist()), threshold, classes.dtype.str)

    def predict_outputs(self, X: pd.DataFrame) -> Predictions:
        """Labels, probabilities and class order, by the same rule as the registered bundle."""
        rule = self.decision
        if rule.is_classifier:
            return rule.outputs(np.asarray(self.model.predict_proba(X)))
        return rule.outputs(np.asarray(self.model.predict(X)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions of the final model (labels for classification)."""
        return self.predict_outputs(X).labels

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities of the final model, columns in ``classes_`` order."""
        proba = self.predict_outputs(X).probabilities
        if proba is None:
            raise BundleError("A regression model does not predict probabilities.")
        return proba

    def summary(self) -> dict[str, Any]:
        """The headline figures as plain data (what the terminal summary and the card show)."""
        return {
            "task": self.task,
            "metric": self.metric,
            "best_family": self.best_family,
            "cv_score": self.cv_score,
            "cv_std": self.cv_std,
            "n_trials": self.n_trials,
            "n_pruned": self.n_pruned,
            "ensemble": self.ensemble,
            "fit_seconds": round(self.fit_seconds, 2),
            "budget": self.budget,
            "test": None if self.evaluation is None else self.evaluation.metrics,
            "version": None if self.version is None else self.version.version,
            "run_id": self.run_id,
            "card": None if self.card_path is None else str(self.card_path),
            "left_out": dict(self.left_out),
        }

    def render(self, console: Console | None = None) -> None:
        """Print the terminal summary."""
        from mlcycle.training._summary import render_summary

        render_summary(self, console)


def train(
    data: pd.DataFrame | str | os.PathLike[str],
    target: str,
    *,
    task: str | None = None,
    budget: float = 60.0,
    metric: str | None = None,
    search: str = "tpe",
    families: list[str] | str | None = None,
    cv: int = 5,
    time_column: str | None = None,
    group_column: str | None = None,
    seed: int = 0,
    workers: int | None = None,
    test_size: float = 0.2,
    name: str | None = None,
    alias: str | None = None,
    experiment: str = "automl",
    explain: bool = True,
    ensemble: bool = True,
    allow_leakage: bool = False,
    allow_pii: bool = False,
    max_trials: int | None = None,
    progress: bool = True,
    card: bool = True,
    model_card: dict[str, str] | None = None,
    profile: Any = None,
    console: Console | None = None,
) -> TrainResult:
    """Search for the best model of ``target`` within ``budget`` seconds; see the module doc.

    ``name`` registers the result as a new version of that model (``alias`` moves an alias
    to it); without it nothing is registered, but the search is still tracked as runs in
    ``experiment``. ``test_size=0`` uses every row for the search (no test evaluation).
    ``workers`` (default: the CPU count, at most 8) run trials in parallel processes; with
    ``workers=1`` and ``max_trials`` the result is the same for the same ``seed``.
    ``model_card`` fills the card's intended-use fields (intended_use, out_of_scope, owners,
    ethical_considerations, caveats). Columns the profile flags as personal data (e-mail
    addresses, names, phone numbers, ...) and unique identifiers are left out of the
    features, with a warning (``result.left_out`` says which and why); ``allow_pii=True``
    trains on them, and the bundle's schema, monitoring reference and explanations still
    keep none of their values. ``profile``: the data's profile when already made
    (``mlcycle.data.profile(data, target=target)``), to skip profiling it again; or a
    :class:`~mlcycle.training.TrainTable` of ``data`` (``data`` must then be its ``frame``),
    to skip loading it and inferring its types again.
    """
    started_total = time.perf_counter()
    started_wall = time.time()  # the budget counts from here: data checks, search, refit
    plan = TrainPlan.check(
        target,
        task=task,
        budget=budget,
        metric=metric,
        search=search,
        families=families,
        cv=cv,
        time_column=time_column,
        group_column=group_column,
        seed=seed,
        workers=workers,
        test_size=test_size,
        name=name,
        alias=alias,
        experiment=experiment,
        explain=explain,
        ensemble=ensemble,
        allow_leakage=allow_leakage,
        allow_pii=allow_pii,
        max_trials=max_trials,
        progress=progress,
        card=card,
        model_card=model_card,
    )
    table = _table(data, plan, profile)
    result = _fit(plan, table, console=console, started=(started_total, started_wall))
    return replace(result, total_seconds=time.perf_counter() - started_total)


def _table(data: Any, plan: TrainPlan, profile: Any) -> TrainTable:
    """The table loaded once, its target rows kept, profiled and typed (unless given so)."""
    from mlcycle.data import load

    if isinstance(profile, TrainTable):
        if data is not profile.frame or profile.target != plan.target:
            expected = f"the TrainTable of this data and target '{plan.target}'"
            raise bad_parameter("profile", "train()", expected, type(profile))
        _check_columns(profile.frame, plan)
        return profile
    if not isinstance(plan.target, str) or not plan.target:
        raise bad_parameter("target", "train()", "the name of the target column", plan.target)
    if not isinstance(data, pd.DataFrame | str | os.PathLike):
        raise bad_parameter(
            "data", "train()", "a pandas DataFrame or the path of a table", type(data)
        )
    frame = load(data, target=plan.target)
    _check_columns(frame, plan)
    return TrainTable.inspect(frame, plan.target, task=plan.task, seed=plan.seed, profile=profile)


def _check_columns(frame: pd.DataFrame, plan: TrainPlan) -> None:
    for column, parameter in (
        (plan.time_column, "time_column"),
        (plan.group_column, "group_column"),
    ):
        if column is not None and column not in frame.columns:
            raise BadParameterError(
                f"The {parameter} '{column}' is not in the data. "
                f"Columns: {', '.join(map(str, frame.columns))}."
            )


def _fit(
    plan: TrainPlan,
    table: TrainTable,
    *,
    console: Console | None,
    started: tuple[float, float],
) -> TrainResult:
    """Every stage after the table: search, select, refit, evaluate, record."""
    from mlcycle.training import _stages
    from mlcycle.training._record import record

    started_total, started_wall = started
    _preload(plan)
    prepared = _stages.prepare_data(plan, table)
    _announce_personal_data(plan, prepared, console)
    with tempfile.TemporaryDirectory(prefix="mlcycle-search-") as scratch:
        search_started = time.perf_counter()
        # the search and the refit end by this deadline; the search stops early enough for
        # the refit (estimated from the trials' times), and what is left after the deadline
        # pays for the evaluation and the records
        ctx, trials = _stages.search(
            plan,
            prepared,
            scratch=scratch,
            deadline=started_wall + plan.budget - after_refit_seconds(plan),
            console=console,
        )
        searched = time.perf_counter()
        selection = _stages.select(plan, prepared, ctx, trials, ctx.deadline)
        model = _stages.refit(prepared, ctx, selection, workers=plan.workers)
        fit_seconds = time.perf_counter() - started_total
        timings = {
            "checks": round(search_started - started_total, 3),
            "search": round(searched - search_started, 3),
            "refit": round(time.perf_counter() - searched, 3),
        }
    evaluated = _stages.evaluate(plan, prepared, selection, ctx.valid_mask, model)
    result = _result(plan, table, prepared, selection, evaluated, model, fit_seconds, timings)
    result = replace(result, started_at=started_wall)
    return record(result, plan=plan, table=table, prepared=prepared)


def _preload(plan: TrainPlan) -> None:
    """Import what the records need (the registry, matplotlib for the card) in a thread
    while the search runs: a cold import costs seconds that the deadline cannot foresee."""
    import importlib
    import threading

    names = ["mlcycle.registry", "mlcycle.bundle"]
    if plan.card:
        names.append("matplotlib.pyplot")

    def run() -> None:
        if plan.card:
            import matplotlib

            matplotlib.use("Agg")
        for name in names:
            importlib.import_module(name)

    threading.Thread(target=run, name="mlcycle-preload", daemon=True).start()


def after_refit_seconds(plan: TrainPlan) -> float:
    """Seconds of the budget kept for what follows the refit: the test-split evaluation,
    the explanations (when asked for) and the records (trials, bundle, reference)."""
    reserve = 1.0 + 0.03 * plan.budget
    if plan.explain:
        reserve += 0.07 * plan.budget
    return min(reserve, 0.3 * plan.budget)


def _announce_personal_data(plan: TrainPlan, prepared: Prepared, console: Console | None) -> None:
    """Say before the search, where the progress is shown, which personal data and identifier
    columns are left out (or kept, with allow_pii); the summary and the card repeat it."""
    if not plan.progress:
        return
    from rich.console import Console
    from rich.markup import escape

    console = console or Console(stderr=True)
    for note in prepared.personal_data_notes():
        console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)


def _result(
    plan: TrainPlan,
    table: TrainTable,
    prepared: Prepared,
    selection: Selection,
    evaluated: Evaluated,
    model: Any,
    fit_seconds: float,
    timings: dict[str, float],
) -> TrainResult:
    """The result before it is recorded: the model, how it was found, how good it is."""
    metric, best, members = prepared.metric, selection.best, selection.members
    cv_score = float(metric.from_loss(selection.value))
    ensemble = None
    if len(members) > 1:
        ensemble = {
            "members": [
                {"trial": t.number, "family": t.family, "weight": float(w)}
                for t, w in zip(members, selection.weights, strict=True)
            ],
            "cv_score": cv_score,
            "best_single_cv_score": metric.from_loss(selection.best_value),
        }
    notes = [
        *table.notes,
        *prepared.personal_data_notes(),
        *prepared.notes,
        *selection.notes,
        *evaluated.notes,
    ]
    return TrainResult(
        model=model,
        task=prepared.task,
        metric=metric.name,
        target=plan.target,
        features=[str(c) for c in prepared.X.columns],
        classes_=prepared.labels,
        best_family=best.family,
        best_params=best.params,
        cv_score=cv_score,
        cv_std=float(np.std(best.fold_scores)) if best.fold_scores else 0.0,
        fold_scores=best.fold_scores,
        train_score=evaluated.train_score,
        trials=selection.trials,
        ensemble=ensemble,
        threshold=evaluated.threshold,
        fit_seconds=fit_seconds,
        budget=plan.budget,
        seed=plan.seed,
        evaluation=evaluated.evaluation,
        importance=evaluated.importance,
        warnings=notes,
        left_out=dict(prepared.left_out),
        extras={
            "name": plan.name,
            "model_card": dict(plan.model_card),
            "timings": timings,
            "cv": plan.cv,
            "cv_repeats": len(prepared.folds) // plan.cv,
        },
    )
