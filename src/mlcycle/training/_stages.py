"""The stages of :func:`mlcycle.train`, each a function over typed objects.

``prepare_data`` (task, metric, leakage, test split, folds, kinds) → ``search`` (the
Optuna trials) → ``select`` (the final model, by a rule of ``_selection``) → ``refit``
(on all training rows) → ``evaluate`` (decision threshold, test metrics, explanations).
:func:`mlcycle.training._train.train` runs them in that order over a
:class:`~mlcycle.training._plan.TrainPlan` and a :class:`~mlcycle.training._plan.TrainTable`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError, bad_parameter
from mlcycle.training._families import FAMILIES

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.evaluation import Evaluation, Metric
    from mlcycle.explanation import Importance
    from mlcycle.training._plan import TrainPlan, TrainTable
    from mlcycle.training._search import SearchContext, TrialRecord
    from mlcycle.training._selection import Candidates

__all__ = [
    "Evaluated",
    "Prepared",
    "Selection",
    "check_target",
    "choose",
    "detect_task",
    "evaluate",
    "gather_candidates",
    "prepare_data",
    "refit",
    "search",
    "select",
]

_MAX_CLASSES = 100


@dataclass(frozen=True)
class Prepared:
    """What the search reads: the task, the metric, the split, the folds and the kinds."""

    target: str
    task: str
    metric: Metric
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame | None
    X: pd.DataFrame
    y: np.ndarray  # class codes 0..k-1 for classification, floats for regression
    labels: np.ndarray | None
    folds: list[tuple[np.ndarray, np.ndarray]]
    kinds: dict[str, str]
    families: list[str]
    notes: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)
    """Personal data and identifiers left out of the features: column -> why."""
    private: dict[str, str] = field(default_factory=dict)
    """Personal data and identifiers kept as features (allow_pii): column -> why. No raw
    value of theirs may reach the bundle's schema, monitoring reference or explanations."""

    def personal_data_notes(self) -> list[str]:
        """One warning per column of personal data or identifiers, left out or kept."""
        kept = [
            f"Trained on '{name}' ({why}) because allow_pii=True: the model itself holds "
            "what it learned from its values; the bundle's schema, drift reference, sample "
            "and explanations keep none of them."
            for name, why in self.private.items()
        ]
        return kept + [
            f"Left out of training: '{name}' ({why}). Personal data and identifiers stay "
            "out of models and bundles; pass allow_pii=True (--allow-pii) to train on it."
            for name, why in self.left_out.items()
        ]


@dataclass(frozen=True)
class Selection:
    """The model chosen from the trials: one trial, or weighted members of an ensemble."""

    trials: list[TrialRecord]
    best: TrialRecord
    best_value: float
    members: list[TrialRecord]
    weights: np.ndarray
    value: float  # the chosen model's out-of-fold loss
    oof: np.ndarray | None  # its out-of-fold predictions, when every member kept them
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluated:
    """The decision threshold, the test-split evaluation and the explanation of a model."""

    threshold: float | None
    train_score: float | None
    evaluation: Evaluation | None
    importance: Importance | None
    notes: tuple[str, ...] = ()


# -- prepare -------------------------------------------------------------------------------


def prepare_data(plan: TrainPlan, table: TrainTable) -> Prepared:
    """Task, metric and leakage check, then the test split, the folds and the kinds."""
    from mlcycle.evaluation import DEFAULT_METRICS, get_metric

    frame, target = table.frame, plan.target
    task = check_target(frame[target], plan.task)
    metric = get_metric(plan.metric or DEFAULT_METRICS[task], task)
    notes = _check_leakage(frame, table.profile, target, plan.allow_leakage)
    train_frame, test_frame = _split(plan, frame, task)
    X = train_frame.drop(columns=[target])
    y, labels = _encode_target(train_frame[target], task)
    groups, times = plan.group_column, plan.time_column
    folds = _folds(
        X,
        y,
        task,
        plan.cv,
        plan.seed,
        None if groups is None else X[groups],
        None if times is None else X[times],
    )
    if groups is not None:
        X = X.drop(columns=[groups])
    sensitive = {
        name: why
        for name, why in table.profile.sensitive_columns().items()
        if name in X.columns and name != times
    }
    left_out = {} if plan.allow_pii else sensitive
    X = X.drop(columns=list(left_out))
    if X.shape[1] == 0:
        raise DataError(
            "No feature is left to train on: every feature column is personal data or a "
            f"unique identifier ({', '.join(map(repr, sensitive))}). Add feature "
            "columns, or pass allow_pii=True (--allow-pii) to train on them."
        )
    kinds = {str(c): table.types.kinds[str(c)] for c in X.columns}
    families = list(plan.families)
    if "hgb" in families and "text" in kinds.values():  # TF-IDF features are sparse
        if plan.families_named:
            raise BadParameterError(
                "Histogram gradient boosting cannot use free-text features (sparse TF-IDF). "
                "Leave 'hgb' out of the families for this data."
            )
        families.remove("hgb")
    return Prepared(
        target,
        task,
        metric,
        train_frame,
        test_frame,
        X,
        y,
        labels,
        folds,
        kinds,
        families,
        tuple(notes),
        left_out,
        sensitive if plan.allow_pii else {},
    )


def _split(
    plan: TrainPlan, frame: pd.DataFrame, task: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The training and test rows: by time, by group, stratified or at random."""
    from mlcycle.data import split

    if plan.time_column is not None:
        frame = frame.sort_values(plan.time_column, kind="stable")
    if plan.test_size <= 0:
        return frame, None
    strategy = "time" if plan.time_column else "group" if plan.group_column else "auto"
    return split(
        frame,
        strategy=strategy,
        target=plan.target if task != "regression" else None,
        group_column=plan.group_column,
        time_column=plan.time_column,
        test_size=plan.test_size,
        seed=plan.seed,
    )


# -- search, select, refit -----------------------------------------------------------------


def search(
    plan: TrainPlan,
    prepared: Prepared,
    *,
    scratch: str,
    deadline: float,
    console: Console | None,
) -> tuple[SearchContext, list[TrialRecord]]:
    """Run the trials until ``deadline`` (wall clock); their files go under ``scratch``."""
    from mlcycle.training._search import SearchContext, run_search
    from mlcycle.training._summary import search_progress

    n_rows = len(prepared.y)
    ctx = SearchContext(
        X=prepared.X,
        y=prepared.y,
        task=prepared.task,
        metric=prepared.metric.name,
        n_classes=0 if prepared.labels is None else len(prepared.labels),
        folds=prepared.folds,
        families=prepared.families,
        kinds=prepared.kinds,
        seed=plan.seed,
        search=plan.search,
        deadline=deadline,
        budget=plan.budget,
        out_dir=scratch,
        max_trials=plan.max_trials,
        n_jobs=1 if plan.workers > 1 else _threads(n_rows),
        grid=_grid(prepared.families, prepared.task, n_rows) if plan.search == "grid" else [],
    )
    metric = prepared.metric
    with search_progress(ctx, metric, enabled=plan.progress, console=console) as update:
        trials = run_search(ctx, workers=plan.workers, on_progress=update)
    return ctx, trials


def select(
    plan: TrainPlan,
    prepared: Prepared,
    ctx: SearchContext,
    trials: list[TrialRecord],
    final_deadline: float,
    rule: str | None = None,
) -> Selection:
    """The final model chosen from the trials by ``rule`` (by default the production rule,
    :data:`~mlcycle.training._selection.RULE`; the others are in ``RULES``)."""
    from mlcycle.training._selection import RULE

    candidates = gather_candidates(plan, prepared, ctx, trials, final_deadline)
    return choose(candidates, trials, rule or RULE)


def gather_candidates(
    plan: TrainPlan,
    prepared: Prepared,
    ctx: SearchContext,
    trials: list[TrialRecord],
    final_deadline: float,
) -> Candidates:
    """What every selection rule picks from: the finished trials, the ensemble, the noise."""
    from mlcycle.training._search import default_trials, load_oof
    from mlcycle.training._selection import gather

    complete = sorted(
        (t for t in trials if t.state == "complete" and t.value is not None),
        key=lambda t: (t.value, t.number),
    )
    if not complete:
        failed = next((t.error for t in trials if t.error), None)
        why = f" The last error: {failed}" if failed else ""
        raise BadParameterError(
            f"No trial finished within the budget of {plan.budget:g} s ({len(trials)} "
            f"started).{why} Raise --budget or use fewer rows or lighter families."
        )
    return gather(
        complete,
        lambda t: load_oof(ctx, t.number),
        y=prepared.y,
        mask=ctx.valid_mask,
        metric=prepared.metric,
        labels=prepared.labels,
        ensemble=plan.ensemble,
        deadline=final_deadline,
        queued=len(ctx.grid or default_trials(ctx)),
    )


def choose(candidates: Candidates, trials: list[TrialRecord], rule: str) -> Selection:
    """The :class:`Selection` that the selection rule named ``rule`` makes of ``candidates``."""
    from mlcycle.training._selection import RULES

    choice = RULES[rule](candidates)
    best = choice.members[0] if len(choice.members) == 1 else candidates.best
    return Selection(
        trials,
        best,
        float(candidates.best.value),  # type: ignore[arg-type]  # complete trials have one
        list(choice.members),
        choice.weights,
        choice.value,
        candidates.blend(choice),
        () if choice.note is None else (choice.note,),
    )


def refit(prepared: Prepared, ctx: SearchContext, selection: Selection, workers: int = 1) -> Any:
    """The final model, fitted on every training row: a Pipeline or a weighted ensemble.

    Each fit runs on as many threads as the trials' fits did (``ctx.n_jobs``), so the time
    the search kept for it, estimated from the trials' fold times, holds; an ensemble's
    members are fitted ``workers`` at a time, in threads (the libraries release the GIL).
    Threads per fit are not raised for the refit: on a machine where another process
    holds a core, OpenMP's barriers stall: doctorcontacts' ensemble (20,000 rows) took
    50 s to refit on two threads, 3.5 s on one.
    """
    n_jobs = ctx.n_jobs
    members, labels, y = selection.members, prepared.labels, prepared.y
    if len(members) == 1 and (labels is None or selection.best.family != "xgb"):
        # one Pipeline, trained on the original labels so that it predicts them itself
        best = selection.best
        values = y if labels is None else prepared.train_frame[prepared.target].to_numpy()
        return _pipeline(best.family, best.params, _final_rounds(best), ctx, values, n_jobs)
    # members learn class codes; the ensemble maps them back to the labels
    from concurrent.futures import ThreadPoolExecutor

    from mlcycle.training._ensemble import WeightedEnsemble

    def fit(trial: TrialRecord) -> Any:
        return _pipeline(trial.family, trial.params, _final_rounds(trial), ctx, y, n_jobs)

    from threadpoolctl import threadpool_limits

    # each fit sets the thread pools' limits and the warning filters, which are global:
    # set here too, so that whatever order the threads restore them in, these are restored
    with (
        threadpool_limits(limits=n_jobs),
        warnings.catch_warnings(),
        ThreadPoolExecutor(max_workers=max(1, min(workers, len(members)))) as pool,
    ):
        fitted = list(pool.map(fit, members))
    return WeightedEnsemble(prepared.task).set_members(
        fitted, list(selection.weights), classes=labels
    )


# -- evaluate ------------------------------------------------------------------------------


def evaluate(
    plan: TrainPlan, prepared: Prepared, selection: Selection, mask: np.ndarray, model: Any
) -> Evaluated:
    """The tuned decision threshold, the overfitting check, test metrics and explanations."""
    from mlcycle.evaluation import choose_threshold, overfitting

    task, labels, metric, y = prepared.task, prepared.labels, prepared.metric, prepared.y
    target = plan.target
    notes: list[str] = []
    threshold = None
    if task == "binary" and selection.oof is not None and labels is not None:
        threshold = float(choose_threshold(y[mask], selection.oof[mask][:, -1], np.arange(2)))
    best = selection.best
    train_score = float(np.mean(best.train_scores)) if best.train_scores else None
    if train_score is not None:
        warning = overfitting(train_score, float(np.mean(best.fold_scores)), metric)
        if warning:
            notes.append(warning)
    test_frame, evaluation = prepared.test_frame, None
    if test_frame is not None and len(test_frame):
        from mlcycle.evaluation import evaluate as evaluate_model

        evaluation = evaluate_model(
            model,
            test_frame.drop(columns=[target]),
            test_frame[target],
            task=task,
            labels=labels,
            threshold=threshold,
        )
    importance = None
    if plan.explain:
        from mlcycle.exceptions import MlcycleError
        from mlcycle.explanation import global_importance

        large = test_frame is not None and len(test_frame) >= 50
        sample = test_frame if large and test_frame is not None else prepared.train_frame
        try:
            importance = global_importance(
                model,
                sample[prepared.X.columns],
                sample[target],
                task=task,
                metric=metric.name,
                seed=plan.seed,
            )
        except MlcycleError as exc:
            notes.append(f"No explanation: {exc}")
        else:
            importance = _without_private_values(importance, prepared.private)
    return Evaluated(threshold, train_score, evaluation, importance, tuple(notes))


def _without_private_values(importance: Importance, private: dict[str, str]) -> Importance:
    """The importance with no raw value of a private column: its partial-dependence grid
    (the column's own values, stored in explanation.json) is dropped and the sampled rows
    behind the card's dependence plots show it masked (``j***@example.com``)."""
    from mlcycle.data import mask_value

    if not private:
        return importance
    curves = {k: v for k, v in importance.partial_dependence.items() if k not in private}
    sample = importance.sample
    if sample is not None:
        sample = sample.copy()
        for name in set(private) & set(sample.columns):
            sample[name] = sample[name].astype(object).map(mask_value, na_action="ignore")
    return replace(importance, partial_dependence=curves, sample=sample)


# -- helpers -------------------------------------------------------------------------------


def _bad(name: str, expected: str, got: object) -> BadParameterError:
    return bad_parameter(name, "train()", expected, got)


def detect_task(y: pd.Series, task: str | None = None) -> str:
    """``binary``, ``multiclass`` or ``regression`` for target ``y`` (``task`` overrides)."""
    from mlcycle.evaluation import TASKS

    values = y.dropna()
    if task is not None:
        if task not in TASKS:
            raise _bad("task", f"one of {', '.join(TASKS)} or None", task)
        distinct = values.nunique()
        if task == "binary" and distinct != 2:
            raise BadParameterError(
                f"task='binary' needs a target with exactly 2 classes; '{y.name}' has "
                f"{distinct}. Use task='multiclass' or 'regression'."
            )
        if task == "regression" and not pd.api.types.is_numeric_dtype(values.dtype):
            _check_numbers_as_text(values)
            raise BadParameterError(
                f"task='regression' needs a numeric target; '{y.name}' holds "
                f"{values.dtype} values such as {values.iloc[0]!r}."
            )
        if task == "multiclass" and distinct < 2:
            raise DataError(f"The target '{y.name}' has only one class; nothing to learn.")
        return task
    distinct = values.nunique()
    if distinct < 2:
        raise DataError(
            f"The target '{y.name}' has {distinct} distinct value(s); a model needs at least "
            "two classes or a varying number."
        )
    if distinct == 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if not numeric:
        if distinct > 2:  # "3,14" read as text is no class label: say why, not "N classes"
            _check_numbers_as_text(values)
        return "multiclass"
    as_float = values.to_numpy(dtype=np.float64)
    integral = bool(np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)))
    if integral and distinct <= min(20, max(3, len(values) // 20)):
        return "multiclass"
    return "regression"


def _check_numbers_as_text(values: pd.Series) -> None:
    from mlcycle.data import numbers_as_text

    cause = numbers_as_text(values)
    if cause is not None:
        raise DataError(
            f"The target '{values.name}' {cause} Read as text it would be a class label per "
            "value; pass task='multiclass' if the values really are classes."
        )


def check_target(y: pd.Series, task: str | None) -> str:
    """The task of target ``y`` (rows with a target only), or a clear error for a bad one."""
    task = detect_task(y, task)
    _encode_target(y, task)
    return task


def _check_leakage(frame: pd.DataFrame, profile: Any, target: str, allow: bool) -> list[str]:
    suspects = list(getattr(profile, "leakage", []) or [])
    if not suspects:
        return []
    lines = [f"'{s.column}' ({s.detail})" for s in suspects]
    if not allow:
        columns = ", ".join(f"'{c}'" for c in dict.fromkeys(s.column for s in suspects))
        raise DataError(
            f"Column(s) {columns} look like they leak the target '{target}': "
            f"{'; '.join(lines)}. A model trained on them would not work in use. Drop them, "
            "or pass allow_leakage=True (--allow-leakage) if they are known at prediction time."
        )
    return [f"Kept suspected leakage (allow_leakage): {line}" for line in lines]


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
