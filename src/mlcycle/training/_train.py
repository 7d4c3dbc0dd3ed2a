"""``train``: from a table to the best model a time budget allows, evaluated and explained.

The steps, each a function call: check the inputs and the target for leakage → hold out a
test split → search (Optuna, cross-validated, pruned, early-stopped; see ``_search``) →
ensemble the best trials when that beats the best one out of fold → refit on all training
rows → evaluate on the test split → explain → track every trial as a child run → register
the bundle with its model card. The budget covers the data checks, the search and the refit
(``fit_seconds``); evaluation, explanations and registration follow it.

>>> result = mlcycle.train(df, target="churned", budget=60, name="churn")  # doctest: +SKIP
>>> result.evaluation.metrics["auc"], result.version.version  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.decision import DecisionRule, Predictions
from mlcycle.exceptions import DataError, MlcycleError, bad_parameter
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.training._families import FAMILIES, check_families

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.evaluation import Evaluation
    from mlcycle.explanation import Importance
    from mlcycle.registry import ModelVersion
    from mlcycle.training._search import SearchContext, TrialRecord

__all__ = ["SEARCHES", "TrainResult", "detect_task", "train"]

SEARCHES = ("tpe", "random", "grid")
_ENSEMBLE_CANDIDATES = 20
_MAX_CLASSES = 100
_SMALL = 300  # training rows under which model selection is mostly noise


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
            raise MlcycleError("A regression model does not predict probabilities.")
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
        }

    def render(self, console: Console | None = None) -> None:
        """Print the terminal summary."""
        from mlcycle.training._summary import render_summary

        render_summary(self, console)


# -- checking the inputs -------------------------------------------------------------------


def _bad(name: str, expected: str, got: object) -> MlcycleError:
    return bad_parameter(name, "train()", expected, got)


def _check_number(name: str, value: object, expected: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad(name, expected, value)
    number = float(value)
    if not math.isfinite(number) or number <= minimum:
        raise _bad(name, expected, value)
    return number


def detect_task(y: pd.Series, task: str | None = None) -> str:
    """``binary``, ``multiclass`` or ``regression`` for target ``y`` (``task`` overrides)."""
    from mlcycle.evaluation import TASKS

    values = y.dropna()
    if task is not None:
        if task not in TASKS:
            raise _bad("task", f"one of {', '.join(TASKS)} or None", task)
        distinct = values.nunique()
        if task == "binary" and distinct != 2:
            raise MlcycleError(
                f"task='binary' needs a target with exactly 2 classes; '{y.name}' has "
                f"{distinct}. Use task='multiclass' or 'regression'."
            )
        if task == "regression" and not pd.api.types.is_numeric_dtype(values.dtype):
            raise MlcycleError(
                f"task='regression' needs a numeric target; '{y.name}' holds "
                f"{values.dtype} values such as {values.iloc[0]!r}."
            )
        if task == "multiclass" and distinct < 2:
            raise MlcycleError(f"The target '{y.name}' has only one class; nothing to learn.")
        return task
    distinct = values.nunique()
    if distinct < 2:
        raise MlcycleError(
            f"The target '{y.name}' has {distinct} distinct value(s); a model needs at least "
            "two classes or a varying number."
        )
    if distinct == 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if not numeric:
        return "multiclass"
    as_float = values.to_numpy(dtype=np.float64)
    integral = bool(np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)))
    if integral and distinct <= min(20, max(3, len(values) // 20)):
        return "multiclass"
    return "regression"


def _load(data: Any, target: object) -> pd.DataFrame:
    from mlcycle.data import load

    if not isinstance(target, str) or not target:
        raise _bad("target", "the name of the target column", target)
    if not isinstance(data, pd.DataFrame | str | os.PathLike):
        raise _bad("data", "a pandas DataFrame or the path of a table", type(data))
    return load(data, target=target)


def _check_leakage(frame: pd.DataFrame, profile: Any, target: str, allow: bool) -> list[str]:
    suspects = list(getattr(profile, "leakage", []) or [])
    if not suspects:
        return []
    lines = [f"'{s.column}' ({s.detail})" for s in suspects]
    if not allow:
        columns = ", ".join(f"'{s.column}'" for s in suspects)
        raise DataError(
            f"Column(s) {columns} look like they leak the target '{target}': "
            f"{'; '.join(lines)}. A model trained on them would not work in use. Drop them, "
            "or pass allow_leakage=True (--allow-leakage) if they are known at prediction time."
        )
    return [f"Kept suspected leakage (allow_leakage): {line}" for line in lines]


# -- the steps -----------------------------------------------------------------------------


def _encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "regression":
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise DataError(
                f"The target '{y.name}' has values that are not finite numbers (inf or text); "
                "fix or drop those rows."
            )
        return values, None
    labels, codes = np.unique(y.to_numpy(), return_inverse=True)
    if len(labels) > _MAX_CLASSES:
        raise DataError(
            f"The target '{y.name}' has {len(labels)} classes, more than {_MAX_CLASSES}. Is it "
            "a number? Pass task='regression'."
        )
    return codes.astype(np.int64), labels


def _folds(
    X: pd.DataFrame,
    y: np.ndarray,
    task: str,
    cv: int,
    seed: int,
    groups: pd.Series | None,
    times: pd.Series | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    from mlcycle.data import cv_splitter

    if len(y) < cv:
        raise DataError(
            f"There are {len(y)} training rows for cv={cv} folds; each fold needs rows to "
            f"validate on. Use more rows or a smaller --cv (at least 2)."
        )
    labels = y if task != "regression" else None
    if labels is not None:
        counts = np.bincount(labels)
        if counts.min() < 2:
            raise DataError(
                f"A class of the target has {int(counts.min())} training row; every class "
                "needs at least 2 rows to be learned and validated. Drop or merge rare classes."
            )
        if counts.min() < cv and groups is None and times is None:
            raise DataError(
                f"The rarest class of the target has {int(counts.min())} training rows, fewer "
                f"than the {cv} folds. Lower --cv to {max(2, int(counts.min()))} or add rows."
            )
    group_values = None if groups is None else groups.to_numpy()
    # Small tables: repeat the K-fold with other shuffles, so that a trial's score is the
    # mean over several partitions and the search does not chase one partition's noise.
    repeats = 1 if groups is not None or times is not None else _repeats(len(y))
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    for repeat in range(repeats):
        splitter = cv_splitter(
            "auto",
            n_splits=cv,
            seed=seed + repeat,
            y=labels,
            groups=group_values,
            times=None if times is None else times.to_numpy(),
        )
        folds.extend(
            (np.asarray(a), np.asarray(b))
            for a, b in splitter.split(X, labels if labels is not None else y, group_values)
        )
    return folds


def _repeats(n_rows: int) -> int:
    """How many times the K-fold is repeated: 3 under 500 rows, 2 under 2,000, else 1."""
    return 3 if n_rows < 500 else 2 if n_rows < 2000 else 1


def _grid(families: list[str], task: str, n_rows: int) -> list[dict[str, Any]]:
    """Every point of each family's small grid, interleaved across families."""
    from mlcycle.training._grid import grid_points

    per_family = [grid_points(name, task, n_rows) for name in families]
    out: list[dict[str, Any]] = []
    for i in range(max(len(p) for p in per_family)):
        out.extend(points[i] for points in per_family if i < len(points))
    return out


SMALL_TABLE_ROWS = 10_000
"""Below this many rows one thread fits faster than two: OpenMP's per-node barriers cost more
than they save, and on a busy machine they stall (scikit-learn's histogram boosting most)."""


def _threads(n_rows: int) -> int:
    """Threads for one fit: one on small tables, up to two cores on larger ones."""
    return 1 if n_rows < SMALL_TABLE_ROWS else min(2, os.cpu_count() or 1)


def _pipeline(
    family: str,
    params: dict[str, Any],
    rounds: int | None,
    ctx: SearchContext,
    y: np.ndarray,
    n_jobs: int,
) -> Any:
    """Refit one configuration on all training rows: a Pipeline of preparer and estimator."""
    from sklearn.pipeline import Pipeline

    from mlcycle.training._search import _preparer, fit_family

    preparer = _preparer(ctx, FAMILIES[family].scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = preparer.fit_transform(ctx.X, y)
    estimator, _ = fit_family(
        family, params, ctx.task, prepared, y, seed=ctx.seed, n_jobs=n_jobs, rounds=rounds
    )
    return Pipeline([("prepare", preparer), ("model", estimator)])


def _final_rounds(record: TrialRecord) -> int | None:
    if not FAMILIES[record.family].boosted or not record.rounds:
        return None
    # all rows instead of 85 % of a training fold: a few more rounds
    return max(1, round(float(np.mean(record.rounds)) * 1.2))


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
    ethical_considerations, caveats). ``profile``: the data's profile when already made
    (``mlcycle.data.profile(data, target=target)``), to skip profiling it again.
    """
    started_total = time.perf_counter()
    started_wall = time.time()  # the budget counts from here: data checks, search, refit
    from mlcycle.evaluation import DEFAULT_METRICS, get_metric

    budget = _check_number("budget", budget, "a number of seconds > 0", 0.0)
    if not _is_int(cv) or int(cv) < 2:
        raise _bad("cv", "an integer >= 2", cv)
    if not _is_int(seed):
        raise _bad("seed", "an integer", seed)
    if workers is None:
        workers = max(1, min(8, os.cpu_count() or 1))
    elif not _is_int(workers) or int(workers) < 1:
        raise _bad("workers", "an integer >= 1", workers)
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise _bad("test_size", "a number in [0, 1)", test_size)
    if not 0 <= float(test_size) < 1:
        raise _bad("test_size", "a number in [0, 1)", test_size)
    if search not in SEARCHES:
        raise _bad("search", f"one of {', '.join(SEARCHES)}", search)
    if max_trials is not None and (not _is_int(max_trials) or int(max_trials) < 1):
        raise _bad("max_trials", "an integer >= 1 or None", max_trials)
    chosen_families = check_families(families)
    if name is not None:
        from mlcycle.registry import parse_model_ref

        parse_model_ref(name)  # a bad name fails now, not after the search
    notes: list[str] = []

    frame = _load(data, target)
    notes.extend(frame.attrs.get("mlcycle_warnings", []))
    for column, parameter in ((time_column, "time_column"), (group_column, "group_column")):
        if column is not None and column not in frame.columns:
            raise MlcycleError(
                f"The {parameter} '{column}' is not in the data. "
                f"Columns: {', '.join(map(str, frame.columns))}."
            )
    known = frame[target].notna()
    if not known.all():
        frame = frame.loc[known]
        notes.append(f"Dropped {int((~known).sum())} rows whose target '{target}' is missing.")
    if len(frame) < 2:
        raise DataError(f"The data has {len(frame)} row(s) with a target; training needs more.")
    task = detect_task(frame[target], task)
    _encode_target(frame[target], task)  # a bad target fails before any work
    chosen_metric = get_metric(metric or DEFAULT_METRICS[task], task)

    from mlcycle.data import profile as make_profile

    data_profile = profile if profile is not None else make_profile(frame, target=target, seed=seed)
    notes.extend(_check_leakage(frame, data_profile, target, allow_leakage))

    from mlcycle.data import split

    if time_column is not None:
        frame = frame.sort_values(time_column, kind="stable")
    if test_size > 0:
        strategy = "time" if time_column else "group" if group_column else "auto"
        train_frame, test_frame = split(
            frame,
            strategy=strategy,
            target=target if task != "regression" else None,
            group_column=group_column,
            time_column=time_column,
            test_size=float(test_size),
            seed=int(seed),
        )
    else:
        train_frame, test_frame = frame, None
    X = train_frame.drop(columns=[target])
    y, labels = _encode_target(train_frame[target], task)
    folds = _folds(
        X,
        y,
        task,
        int(cv),
        int(seed),
        None if group_column is None else X[group_column],
        None if time_column is None else X[time_column],
    )
    if group_column is not None:
        X = X.drop(columns=[group_column])
    from mlcycle.data import infer_kinds

    kinds = {str(k): str(v) for k, v in infer_kinds(X).items()}
    if "hgb" in chosen_families and "text" in kinds.values():  # TF-IDF features are sparse
        if families is not None:
            raise MlcycleError(
                "Histogram gradient boosting cannot use free-text features (sparse TF-IDF). "
                "Leave 'hgb' out of the families for this data."
            )
        chosen_families.remove("hgb")

    from mlcycle.training._search import SearchContext, load_oof, run_search

    with tempfile.TemporaryDirectory(prefix="mlcycle-search-") as scratch:
        search_started = time.perf_counter()
        # trials stop a little early: what is left pays for worker start-up and the refit
        deadline = started_wall + 0.9 * budget
        final_deadline = started_wall + budget
        ctx = SearchContext(
            X=X,
            y=y,
            task=task,
            metric=chosen_metric.name,
            n_classes=0 if labels is None else len(labels),
            folds=folds,
            families=chosen_families,
            kinds=kinds,
            seed=int(seed),
            search=search,
            deadline=deadline,
            budget=budget,
            out_dir=scratch,
            max_trials=None if max_trials is None else int(max_trials),
            n_jobs=1 if workers > 1 else _threads(len(y)),
            grid=_grid(chosen_families, task, len(y)) if search == "grid" else [],
        )
        from mlcycle.training._summary import search_progress

        with search_progress(ctx, chosen_metric, enabled=progress, console=console) as update:
            trials = run_search(ctx, workers=int(workers), on_progress=update)
        searched = time.perf_counter()
        complete = sorted(
            (t for t in trials if t.state == "complete" and t.value is not None),
            key=lambda t: (t.value, t.number),
        )
        if not complete:
            failed = next((t.error for t in trials if t.error), None)
            why = f" The last error: {failed}" if failed else ""
            raise MlcycleError(
                f"No trial finished within the budget of {budget:g} s ({len(trials)} started)."
                f"{why} Raise --budget or use fewer rows or lighter families."
            )
        best = complete[0]
        best_value = float(best.value)  # type: ignore[arg-type]  # complete trials have one
        candidates = _candidates(complete)
        oofs = [load_oof(ctx, t.number) for t in candidates]
        pairs = [(t, o) for t, o in zip(candidates, oofs, strict=True) if o is not None]
        mask = ctx.valid_mask
        weights = np.asarray([1.0])
        members = [best]
        ensemble_value = best_value
        if ensemble and len(pairs) > 1:
            from mlcycle.training._ensemble import select_ensemble

            w, value = select_ensemble(
                [o for _, o in pairs],
                y,
                mask,
                chosen_metric,
                None if labels is None else np.arange(len(labels)),
            )
            if value < best_value - 1e-9:
                chosen = [(t, wi) for (t, _), wi in zip(pairs, w, strict=True) if wi > 0]
                chosen = _affordable(chosen, final_deadline)
                members = [t for t, _ in chosen]
                weights = np.asarray([wi for _, wi in chosen])
                weights = weights / weights.sum()
                ensemble_value = value if len(members) > 1 else best_value
        # on small tables the ensemble's out-of-fold score is flattered by its own selection:
        # there the linear model need only match the best single trial
        reference = best_value if len(y) < _SMALL else min(best_value, ensemble_value)
        simple = _simplest_within_noise(complete, best, reference, chosen_metric)
        if simple is not None:
            members, weights, ensemble_value = [simple], np.asarray([1.0]), float(simple.value or 0)
            notes.append(
                f"Chose the linear model (trial {simple.number}): its cv {chosen_metric.name} is "
                "within one standard error of the best, and simpler models generalise more "
                "reliably."
            )
            best = simple
        oof_final = _blend(pairs, members, weights)

        n_jobs = _threads(len(y))
        if len(members) == 1 and (labels is None or best.family != "xgb"):
            # one Pipeline, trained on the original labels so that it predicts them itself
            values = y if labels is None else train_frame[target].to_numpy()
            model = _pipeline(best.family, best.params, _final_rounds(best), ctx, values, n_jobs)
        else:  # members learn class codes; the ensemble maps them back to the labels
            from mlcycle.training._ensemble import WeightedEnsemble

            fitted = [
                _pipeline(t.family, t.params, _final_rounds(t), ctx, y, n_jobs) for t in members
            ]
            model = WeightedEnsemble(task).set_members(fitted, list(weights), classes=labels)
        fit_seconds = time.perf_counter() - started_total
        timings = {
            "checks": round(search_started - started_total, 3),
            "search": round(searched - search_started, 3),
            "refit": round(time.perf_counter() - searched, 3),
        }

    from mlcycle.evaluation import choose_threshold, overfitting

    threshold = None
    if task == "binary" and oof_final is not None and labels is not None:
        threshold = float(choose_threshold(y[mask], oof_final[mask][:, -1], np.arange(2)))
    best_scores = best.fold_scores
    cv_score = chosen_metric.from_loss(ensemble_value)
    train_score = float(np.mean(best.train_scores)) if best.train_scores else None
    if train_score is not None:
        warning = overfitting(train_score, float(np.mean(best_scores)), chosen_metric)
        if warning:
            notes.append(warning)
    result = TrainResult(
        model=model,
        task=task,
        metric=chosen_metric.name,
        target=target,
        features=[str(c) for c in X.columns],
        classes_=labels,
        best_family=best.family,
        best_params=best.params,
        cv_score=float(cv_score),
        cv_std=float(np.std(best_scores)) if best_scores else 0.0,
        fold_scores=best_scores,
        train_score=train_score,
        trials=trials,
        ensemble=None
        if len(members) == 1
        else {
            "members": [
                {"trial": t.number, "family": t.family, "weight": float(w)}
                for t, w in zip(members, weights, strict=True)
            ],
            "cv_score": float(cv_score),
            "best_single_cv_score": chosen_metric.from_loss(best_value),
        },
        threshold=threshold,
        fit_seconds=fit_seconds,
        budget=budget,
        seed=int(seed),
        warnings=notes,
        extras={
            "name": name,
            "model_card": dict(model_card or {}),
            "timings": timings,
            "cv": int(cv),
            "cv_repeats": len(folds) // int(cv),
        },
    )
    if test_frame is not None and len(test_frame):
        from mlcycle.evaluation import evaluate

        result.evaluation = evaluate(
            model,
            test_frame.drop(columns=[target]),
            test_frame[target],
            task=task,
            labels=labels,
            threshold=threshold,
        )
    if explain:
        from mlcycle.explanation import global_importance

        sample = test_frame if test_frame is not None and len(test_frame) >= 50 else train_frame
        try:
            result.importance = global_importance(
                model,
                sample.drop(columns=[target]),
                sample[target],
                task=task,
                metric=chosen_metric.name,
                seed=int(seed),
            )
        except MlcycleError as exc:
            notes.append(f"No explanation: {exc}")
    from mlcycle.training._record import record

    record(
        result,
        train_frame=train_frame,
        test_frame=test_frame,
        profile=data_profile,
        name=name,
        alias=alias,
        experiment=experiment,
        card=card,
        search=search,
        cv=int(cv),
        workers=int(workers),
    )
    result.total_seconds = time.perf_counter() - started_total
    return result


def _simplest_within_noise(
    complete: list[TrialRecord], best: TrialRecord, best_loss: float, metric: Any
) -> TrialRecord | None:
    """The best linear trial when it is within one standard error of the best model.

    The one-standard-error rule (Breiman et al.): differences smaller than the fold-to-fold
    spread are noise, and among models the data cannot tell apart the simplest is the one
    to trust. The spread is that of the best single trial's fold scores.
    """
    from mlcycle.evaluation import loss

    if best.family == "linear" or len(best.fold_scores) < 2:
        return None
    linear = next((t for t in complete if t.family == "linear"), None)
    if linear is None or linear.value is None:
        return None
    losses = np.asarray([loss(metric, s) for s in best.fold_scores], dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    if len(losses) < 2:
        return None
    standard_error = float(np.std(losses, ddof=1) / np.sqrt(len(losses)))
    return linear if linear.value <= best_loss + standard_error else None


def _candidates(complete: list[TrialRecord]) -> list[TrialRecord]:
    """The best trials overall plus the best two of each family: an ensemble needs variety."""
    chosen = complete[:_ENSEMBLE_CANDIDATES]
    numbers = {t.number for t in chosen}
    for family in dict.fromkeys(t.family for t in complete):
        for trial in [t for t in complete if t.family == family][:2]:
            if trial.number not in numbers:
                chosen.append(trial)
                numbers.add(trial.number)
    return chosen


def _blend(
    pairs: list[tuple[TrialRecord, np.ndarray]], members: list[TrialRecord], weights: np.ndarray
) -> np.ndarray | None:
    """The final model's out-of-fold predictions: its members' blended with its weights."""
    by_number = {t.number: o for t, o in pairs}
    if not all(m.number in by_number for m in members):
        return None
    total = np.zeros_like(by_number[members[0].number])
    for member, weight in zip(members, weights, strict=True):
        total = total + float(weight) * by_number[member.number]
    return total


def _affordable(
    chosen: list[tuple[TrialRecord, float]], deadline: float
) -> list[tuple[TrialRecord, float]]:
    """Keep the heaviest members whose refits fit before the deadline (at least one)."""
    ordered = sorted(chosen, key=lambda pair: -pair[1])
    left = deadline - time.time()
    kept: list[tuple[TrialRecord, float]] = []
    for trial, weight in ordered:
        cost = trial.refit_seconds()
        if kept and cost > left:
            continue
        kept.append((trial, weight))
        left -= cost
    return kept
