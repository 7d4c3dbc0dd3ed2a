"""The search: Optuna trials over model families, scored by cross-validation.

Every trial is one configuration of one family, fitted on each training fold and scored on
the validation fold; its out-of-fold predictions are kept for the ensemble. The folds are
prepared once per preparation variant (scaled for linear and kNN models, unscaled for
trees) and reused by every trial, so a trial costs only its estimator's fits. Poor trials
are pruned after a fold (median rule); boosted trees stop early on the validation fold.

Trials run in this process (``workers=1``, deterministic for a seed and a trial limit) or in
``workers`` spawned processes that share one Optuna study through a journal file.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcycle.evaluation import Metric, get_metric, loss
from mlcycle.training._families import (
    EARLY_STOPPING_ROUNDS,
    EARLY_STOPPING_SHARE,
    FAMILIES,
    FIRST,
    PORTFOLIO,
)

__all__ = ["SearchContext", "TrialRecord", "fit_family", "prepare_folds", "run_search"]

_PRUNE_STARTUP = 8
_OOF_NAME = "trial-{:05d}.npy"
STOP_FILE = "STOP"  # written when the study stops, so trials in other workers stop too


@dataclass
class SearchContext:
    """Everything a trial needs; sent to worker processes as it is, so keep it plain data."""

    X: pd.DataFrame
    y: np.ndarray  # class codes 0..k-1 for classification, floats for regression
    task: str
    metric: str
    n_classes: int
    folds: list[tuple[np.ndarray, np.ndarray]]
    families: list[str]
    kinds: dict[str, str]
    seed: int
    search: str
    deadline: float  # wall clock (time.time()) when the search *and the refit* must be done
    budget: float
    out_dir: str
    max_trials: int | None = None
    n_jobs: int = 1
    grid: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.y), dtype=bool)
        for _, valid in self.folds:
            mask[valid] = True
        return mask


@dataclass
class TrialRecord:
    """A finished trial as the rest of training sees it."""

    number: int
    family: str
    params: dict[str, Any]
    state: str  # complete | pruned | failed
    value: float | None  # the loss on the out-of-fold rows (lower is better)
    fold_scores: list[float]
    fold_seconds: list[float]
    rounds: list[int]
    train_scores: list[float]
    duration: float
    error: str | None = None
    started_at: float | None = None  # Unix seconds
    ended_at: float | None = None

    def refit_seconds(self) -> float:
        """An estimate of one fit on all training rows."""
        return refit_estimate(self.fold_seconds)


def refit_estimate(fold_seconds: list[float]) -> float:
    """Seconds one fit on all training rows takes, from the folds' fits (1 s if none)."""
    if not fold_seconds:
        return 1.0
    return float(np.mean(fold_seconds)) * 1.3 + 0.05


# -- preparation of the folds --------------------------------------------------------------


def _preparer(ctx: SearchContext, scaled: bool) -> Any:
    from mlcycle.data import PrepareOptions, build_preparer

    options = PrepareOptions(scale=scaled, missing_indicators=True)
    return build_preparer(ctx.X, kinds=ctx.kinds, options=options, task=ctx.task, seed=ctx.seed)


def prepare_folds(ctx: SearchContext, scaled: bool) -> list[tuple[Any, Any]]:
    """(train matrix, validation matrix) of each fold, the preparer fitted on the train part."""
    from sklearn.base import clone

    base = _preparer(ctx, scaled)
    prepared = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, valid in ctx.folds:
            prep = clone(base)
            X_train = prep.fit_transform(ctx.X.iloc[train], ctx.y[train])
            prepared.append((X_train, prep.transform(ctx.X.iloc[valid])))
    return prepared


def _dense(matrix: Any) -> Any:
    return matrix.toarray() if hasattr(matrix, "toarray") else matrix


# -- fitting one configuration -------------------------------------------------------------


def _lgbm_deadline(deadline: float) -> Any:
    """A LightGBM callback that ends boosting at ``deadline`` (after early stopping's)."""
    import lightgbm as lgb

    def callback(env: Any) -> None:
        if time.time() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # type: ignore[attr-defined]  # LightGBM runs callbacks by order
    return callback


def _xgb_deadline(deadline: float) -> Any:
    """An XGBoost callback that ends boosting at ``deadline``."""
    import xgboost as xgb

    class Deadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return time.time() > deadline

    return Deadline()


def _inner_split(y: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a training fold's rows to fit on and to stop early on (15 %)."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    stratify = y if task != "regression" and np.bincount(y).min() >= 2 else None
    try:
        fit, stop = train_test_split(
            positions, test_size=EARLY_STOPPING_SHARE, random_state=seed, stratify=stratify
        )
    except ValueError:  # a class too rare to stratify on: a plain random split
        fit, stop = train_test_split(positions, test_size=EARLY_STOPPING_SHARE, random_state=seed)
    return np.sort(fit), np.sort(stop)


def fit_family(
    family_name: str,
    params: dict[str, Any],
    task: str,
    X_train: Any,
    y_train: np.ndarray,
    *,
    seed: int,
    n_jobs: int,
    early_stopping: bool = False,
    rounds: int | None = None,
    deadline: float | None = None,
) -> tuple[Any, int | None]:
    """Fit one estimator; boosted families stop early or train ``rounds`` rounds.

    Early stopping watches 15 % of the *training* rows, never the validation fold: stopping
    on the rows a trial is scored on would make boosted trees look better than they are,
    most on small tables. Boosting also stops at ``deadline`` (wall clock), so one slow
    configuration cannot overrun the budget. Returns the estimator and the rounds it kept
    (None for other families).
    """
    from threadpoolctl import threadpool_limits

    family = FAMILIES[family_name]
    values = dict(params)
    if family.boosted and rounds is not None:
        values["n_estimators"] = max(1, int(rounds))
    estimator = family.build(values, task, seed, n_jobs)
    if family_name == "hgb":
        X_train = _dense(X_train)
    # OpenMP and BLAS pools sized to this trial's share of the cores: oversubscribed pools
    # spin and make small fits many times slower (scikit-learn's HistGradientBoosting most)
    with threadpool_limits(limits=n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family.boosted and rounds is None and early_stopping:
            fit, stop = _inner_split(y_train, task, seed)
            X_fit, y_fit, X_stop, y_stop = X_train[fit], y_train[fit], X_train[stop], y_train[stop]
            if family_name == "lgbm":
                import lightgbm as lgb

                callbacks = [lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
                if deadline is not None:
                    callbacks.append(_lgbm_deadline(deadline))
                estimator.fit(X_fit, y_fit, eval_set=[(X_stop, y_stop)], callbacks=callbacks)
                kept = int(estimator.best_iteration_ or estimator.n_estimators)
            else:
                estimator.set_params(early_stopping_rounds=EARLY_STOPPING_ROUNDS)
                if deadline is not None:
                    estimator.set_params(callbacks=[_xgb_deadline(deadline)])
                estimator.fit(X_fit, y_fit, eval_set=[(X_stop, y_stop)], verbose=False)
                kept = int(estimator.best_iteration) + 1
            return estimator, kept
        estimator.fit(X_train, y_train)
    return estimator, int(estimator.n_iter_) if family_name == "hgb" else None


def predict_output(estimator: Any, X: Any, task: str, n_classes: int, family: str) -> np.ndarray:
    """Probabilities (n x classes) for classification, values for regression."""
    if family == "hgb":
        X = _dense(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            return np.asarray(estimator.predict(X), dtype=np.float64)
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    if proba.shape[1] != n_classes:  # a fold missed a class: put columns in their places
        full = np.zeros((proba.shape[0], n_classes))
        full[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
        proba = full
    return proba


def _oof_value(metric: Metric, y: np.ndarray, oof: np.ndarray, mask: np.ndarray, n: int) -> float:
    labels = np.arange(n) if n else None
    return loss(metric, metric(y[mask], oof[mask], labels))


# -- the objective -------------------------------------------------------------------------


class Objective:
    """Optuna objective over all families; one instance per process (it caches the folds)."""

    def __init__(self, ctx: SearchContext) -> None:
        self.ctx = ctx
        self.metric = get_metric(ctx.metric, ctx.task)
        self._folds: dict[bool, list[tuple[Any, Any]]] = {}
        self.mask = ctx.valid_mask
        self.fold_seconds: dict[str, float] = {}  # the last fold's time, per family
        self.stop_file = Path(ctx.out_dir) / STOP_FILE

    def folds(self, scaled: bool) -> list[tuple[Any, Any]]:
        if scaled not in self._folds:
            self._folds[scaled] = prepare_folds(self.ctx, scaled)
        return self._folds[scaled]

    def expected_fold(self, family: str, seconds: list[float]) -> float:
        """Seconds the next fold of ``family`` will take: its last fold's, else the slowest
        family's last fold (a family not yet fitted may be as slow as any)."""
        if seconds:
            return seconds[-1]
        if family in self.fold_seconds:
            return self.fold_seconds[family]
        return max(self.fold_seconds.values(), default=0.0)

    def __call__(self, trial: Any) -> float:
        import optuna

        ctx = self.ctx
        # the search ends early enough to refit the best trials on every row by ctx.deadline
        search_end = ctx.deadline - refit_reserve(trial.study, ctx)
        family_name = trial.suggest_categorical("family", ctx.families)
        family = FAMILIES[family_name]
        params = family.space(trial, ctx.task, len(ctx.y))
        trial.set_user_attr("params", params)
        oof = np.zeros((len(ctx.y), ctx.n_classes) if ctx.task != "regression" else len(ctx.y))
        counts = np.zeros(len(ctx.y))  # repeated folds predict a row once per repeat
        scores: list[float] = []
        train_scores: list[float] = []
        seconds: list[float] = []
        rounds: list[int] = []
        labels = np.arange(ctx.n_classes) if ctx.n_classes else None
        for step, ((train, valid), (X_train, X_valid)) in enumerate(
            zip(ctx.folds, self.folds(family.scaled), strict=True)
        ):
            expected = self.expected_fold(family_name, seconds)
            late = time.time() + expected > search_end and _any_complete(trial.study)
            if late or self.stop_file.exists():
                if late and time.time() + min(self.fold_seconds.values()) > search_end:
                    self.stop_file.touch()  # not even the cheapest family's fold fits
                trial.set_user_attr("stopped", "budget")
                raise optuna.TrialPruned("the search budget ran out")
            started = time.perf_counter()
            estimator, kept = fit_family(
                family_name,
                params,
                ctx.task,
                X_train,
                ctx.y[train],
                seed=ctx.seed,
                n_jobs=ctx.n_jobs,
                early_stopping=True,
                deadline=search_end,
            )
            seconds.append(time.perf_counter() - started)
            self.fold_seconds[family_name] = seconds[-1]
            if kept is not None:
                rounds.append(kept)
            out = predict_output(estimator, X_valid, ctx.task, ctx.n_classes, family_name)
            oof[valid] += out
            counts[valid] += 1
            scores.append(self.metric(ctx.y[valid], out, labels))
            if step == 0:  # the train score of one fold shows over-fitting
                fitted = predict_output(estimator, X_train, ctx.task, ctx.n_classes, family_name)
                train_scores.append(self.metric(ctx.y[train], fitted, labels))
            trial.set_user_attr("fold_scores", scores)
            trial.set_user_attr("fold_seconds", seconds)
            running = float(np.nanmean([loss(self.metric, s) for s in scores]))
            trial.report(running, step)
            if step < len(ctx.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
        seen = np.maximum(counts, 1)
        oof = oof / (seen[:, None] if oof.ndim == 2 else seen)
        value = _oof_value(self.metric, ctx.y, oof, self.mask, ctx.n_classes)
        trial.set_user_attr("rounds", rounds)
        trial.set_user_attr("train_scores", train_scores)
        if math.isfinite(value):
            np.save(Path(ctx.out_dir) / _OOF_NAME.format(trial.number), oof, allow_pickle=False)
        return value


# -- study set-up and running --------------------------------------------------------------


def _sampler(ctx: SearchContext, worker: int) -> Any:
    import optuna

    seed = ctx.seed + 1000 * worker
    if ctx.search == "tpe":
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=max(10, len(ctx.families) + 3),
            multivariate=True,
            group=True,
            constant_liar=True,
        )
    return optuna.samplers.RandomSampler(seed=seed)


def _storage(ctx: SearchContext) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = Path(ctx.out_dir) / "study.journal"
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def default_trials(ctx: SearchContext) -> list[dict[str, Any]]:
    """The first trials, as Optuna parameters: each family's defaults (strong and cheap
    families first, :data:`~mlcycle.training._families.FIRST`), then the portfolio."""
    n_rows = len(ctx.y)
    order = [name for name in FIRST if name in ctx.families]
    order += [name for name in ctx.families if name not in order]
    configs: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in order]
    configs += [(name, values) for name, values in PORTFOLIO if name in ctx.families]
    trials = []
    for name, values in configs:
        params = {**FAMILIES[name].defaults(ctx.task, n_rows), **values}
        trials.append({"family": name, **{f"{name}.{k}": v for k, v in params.items()}})
    return trials


def _stopper(ctx: SearchContext) -> Callable[[Any, Any], None]:
    """Stop the study when the trial limit is reached or the refit reserve would not fit."""
    import optuna

    def callback(study: Any, trial: Any) -> None:
        done = study.get_trials(
            deepcopy=False,
            states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED),
        )
        if ctx.max_trials is not None and len(done) >= ctx.max_trials:
            study.stop()
            return
        if ctx.grid and len(done) >= len(ctx.grid):
            study.stop()
            return
        if time.time() + refit_reserve(study, ctx) >= ctx.deadline:
            (Path(ctx.out_dir) / STOP_FILE).touch()
            study.stop()

    return callback


def _complete(study: Any) -> list[Any]:
    """The study's finished trials (one read of its storage)."""
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _any_complete(study: Any) -> bool:
    """Whether a trial has finished: until one has, the budget stops nothing, because a
    model a little late is better than none at all."""
    return bool(_complete(study))


def refit_reserve(study: Any, ctx: SearchContext, complete: list[Any] | None = None) -> float:
    """Seconds to keep before ``ctx.deadline`` for refitting the best configurations (an
    ensemble's members) on all rows, from the trials' measured fold times; ``complete``:
    the study's finished trials when the caller has read them already.

    Fold times are measured on this machine as it is now, so a core taken by another
    process makes the trials, and so the reserve, longer: the budget holds under load.
    """
    scored = [
        t
        for t in (_complete(study) if complete is None else complete)
        if t.value is not None and math.isfinite(t.value)
    ]
    complete = sorted(scored, key=lambda t: t.value)
    estimate = sum(refit_estimate(t.user_attrs.get("fold_seconds") or []) for t in complete[:4])
    return min(0.3 * ctx.budget, 1.2 * estimate + 0.5)


def run_worker(
    ctx: SearchContext,
    worker: int,
    study_name: str,
    callbacks: list[Callable[[Any, Any], None]] | None = None,
) -> int:
    """Run trials until the study stops; used in-process and in worker processes."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=_storage(ctx),
        sampler=_sampler(ctx, worker),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=_PRUNE_STARTUP, n_warmup_steps=1),
    )
    objective = Objective(ctx)
    timeout = max(0.0, ctx.deadline - time.time())
    study.optimize(
        objective,
        timeout=timeout,
        callbacks=[_stopper(ctx), *(callbacks or [])],
        catch=(Exception,),
        gc_after_trial=False,
    )
    return worker


def run_search(
    ctx: SearchContext,
    *,
    workers: int,
    on_progress: Callable[[list[TrialRecord]], None] | None = None,
) -> list[TrialRecord]:
    """Run the whole search; returns every trial, in order of their numbers."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name = "search"
    study = optuna.create_study(study_name=study_name, storage=_storage(ctx), direction="minimize")
    for params in ctx.grid or default_trials(ctx):
        study.enqueue_trial(params, skip_if_exists=True)
    if workers <= 1:
        callbacks = []
        if on_progress is not None:
            progress = on_progress
            callbacks.append(lambda study, trial: progress(records(study)))
        run_worker(ctx, 0, study_name, callbacks)
        return records(study)

    from mlcycle.exceptions import DataError

    procs = _start_workers(ctx, workers, study_name)
    grace = max(1.0, 0.02 * ctx.budget)  # a fold that overran its estimate is cut off
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(0.25)
            if on_progress is not None:
                on_progress(records(study))
            complete = _complete(study)  # read once for the reserve and the check below
            late = time.time() > ctx.deadline - refit_reserve(study, ctx, complete) + grace
            if late and complete:
                for p in procs:
                    p.kill()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [i for i, p in enumerate(procs) if p.returncode != 0]
    if failed and not records(study):
        log = (Path(ctx.out_dir) / f"worker-{failed[0]}.log").read_text(errors="replace")
        last = log.strip().splitlines()[-1] if log.strip() else "no output"
        raise DataError(
            f"The search worker process failed (exit code {procs[failed[0]].returncode}): {last}"
        )
    return records(study)


def save_context(ctx: SearchContext) -> Path:
    """Write the context into its ``out_dir`` for worker processes (Parquet, NumPy, JSON)."""
    import json

    folder = Path(ctx.out_dir)
    frame = ctx.X.copy()
    frame.columns = [str(c) for c in frame.columns]
    try:
        frame.to_parquet(folder / "X.parquet", index=False)
    except Exception:  # mixed Python objects: the preparer reads them as text anyway
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
        frame.to_parquet(folder / "X.parquet", index=False)
    np.save(folder / "y.npy", ctx.y, allow_pickle=False)
    arrays: dict[str, Any] = {}
    for i, (train, valid) in enumerate(ctx.folds):
        arrays[f"train{i}"], arrays[f"valid{i}"] = train, valid
    np.savez(folder / "folds.npz", **arrays)
    keys = (
        "task",
        "metric",
        "n_classes",
        "families",
        "kinds",
        "seed",
        "search",
        "deadline",
        "budget",
        "out_dir",
        "max_trials",
        "n_jobs",
        "grid",
    )
    path = folder / "context.json"
    path.write_text(json.dumps({key: getattr(ctx, key) for key in keys}), encoding="utf-8")
    return path


def load_context(folder: Path) -> SearchContext:
    """The context :func:`save_context` wrote; nothing is unpickled."""
    import json

    plain = json.loads((folder / "context.json").read_text(encoding="utf-8"))
    X = pd.read_parquet(folder / "X.parquet")
    y = np.load(folder / "y.npy", allow_pickle=False)
    with np.load(folder / "folds.npz", allow_pickle=False) as arrays:
        n = len(arrays.files) // 2
        folds = [(arrays[f"train{i}"], arrays[f"valid{i}"]) for i in range(n)]
    return SearchContext(X=X, y=y, folds=folds, **plain)


def _start_workers(ctx: SearchContext, workers: int, study_name: str) -> list[Any]:
    """Worker interpreters (``python -m mlcycle.training._worker``) on the shared study."""
    import os
    import subprocess
    import sys

    save_context(ctx)
    env = {**os.environ, "OMP_NUM_THREADS": str(ctx.n_jobs), "PYTHONWARNINGS": "ignore"}
    procs = []
    for worker in range(workers):
        with (Path(ctx.out_dir) / f"worker-{worker}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "mlcycle.training._worker",
                        ctx.out_dir,
                        str(worker),
                        study_name,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            )
    return procs


def records(study: Any) -> list[TrialRecord]:
    """The study's finished trials as :class:`TrialRecord` objects."""
    import optuna

    states = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
        optuna.trial.TrialState.FAIL: "failed",
    }
    out = []
    for t in study.get_trials(deepcopy=False, states=tuple(states)):
        attrs = t.user_attrs
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else 0.0
        )
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        out.append(
            TrialRecord(
                number=t.number,
                family=str(t.params.get("family", "?")),
                params=dict(attrs.get("params") or {}),
                state=states[t.state],
                value=None if value is None or not math.isfinite(value) else float(value),
                fold_scores=[float(s) for s in attrs.get("fold_scores", [])],
                fold_seconds=[float(s) for s in attrs.get("fold_seconds", [])],
                rounds=[int(r) for r in attrs.get("rounds", [])],
                train_scores=[float(s) for s in attrs.get("train_scores", [])],
                duration=duration,
                error=attrs.get("fail_reason") or t.system_attrs.get("fail_reason"),
                started_at=t.datetime_start.timestamp() if t.datetime_start else None,
                ended_at=t.datetime_complete.timestamp() if t.datetime_complete else None,
            )
        )
    return sorted(out, key=lambda r: r.number)


def load_oof(ctx: SearchContext, number: int) -> np.ndarray | None:
    """The out-of-fold predictions a completed trial saved, or None."""
    path = Path(ctx.out_dir) / _OOF_NAME.format(number)
    if not path.is_file():
        return None
    return np.load(path, allow_pickle=False)
