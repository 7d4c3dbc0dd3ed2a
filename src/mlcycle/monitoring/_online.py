"""``update``: the champion learns from new rows incrementally, then faces the same gate.

Families that can continue learning without starting over: LightGBM (``init_model``: more
boosting rounds on the new rows, with the champion's parameters), XGBoost (``xgb_model``), and
scikit-learn estimators with ``partial_fit`` (SGD, naive Bayes, perceptrons, MLPs, ...). The
champion may be a bare estimator, a native booster bundle, a ``Pipeline`` (its fitted
preparation is kept, so the columns and encodings stay the champion's; only the last step
learns, on the prepared new rows) or an ensemble from :func:`mlcycle.train` (its weights and
classes are kept; each member learns as its family can).

A scikit-learn model that cannot learn incrementally (logistic regression, random forest,
histogram gradient boosting, ...) is refit, with its settings, on the new rows only: the
champion's training rows are not kept, so the result says which parts were continued and
which refit, on how many rows, and the refit is refused when the new rows are too few for it
(:data:`MIN_REFIT_ROWS`, :data:`MIN_REFIT_CLASS_ROWS`). What can be neither continued nor
refit is refused with a pointer to ``mlcycle retrain``.

The updated model is registered as a new version at ``@challenger`` with the champion's
schema, parameters, reference profile and data extras; it replaces the champion only when
the gate says so, and the decision is stored as for a retrain (experiment ``retrain-NAME``,
audit action ``model.update``).
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import BundleError, DataError, bad_parameter
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.monitoring._gate import (
    Champion,
    MemberUpdate,
    RetrainDecision,
    check_gate_parameters,
    conclude,
    fresh_data,
    gate,
    load_champion,
    reason_text,
    verdict,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MIN_REFIT_CLASS_ROWS", "MIN_REFIT_ROWS", "incremental_update", "update"]

MIN_REFIT_ROWS = 100
"""A model that cannot learn incrementally is refit on the new rows only if it gets this many."""
MIN_REFIT_CLASS_ROWS = 10
"""... and, for a classifier, this many rows of every class it knows."""

_EXTRA_ROUNDS_SHARE = 0.2
_MIN_EXTRA_ROUNDS = 10
# LightGBM's learning parameters (native name -> scikit-learn wrapper name), to continue a
# native booster with the parameters it was trained with
_LGBM_PARAMS = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "max_depth": "max_depth",
    "min_data_in_leaf": "min_child_samples",
    "min_sum_hessian_in_leaf": "min_child_weight",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "feature_fraction": "colsample_bytree",
    "lambda_l1": "reg_alpha",
    "lambda_l2": "reg_lambda",
    "min_gain_to_split": "min_split_gain",
    "max_bin": "max_bin",
}
# bundle extras that describe the data (kept) rather than the old model (dropped)
_MODEL_EXTRAS = ("model_card.html", "evaluation.json")


class _NotIncremental(BundleError):
    """The model (or a part of it) has no way to learn from new rows without starting over."""


def _extra_rounds(trees: int, rounds: int | None) -> int:
    if rounds is not None:
        return rounds
    return max(_MIN_EXTRA_ROUNDS, math.ceil(_EXTRA_ROUNDS_SHARE * trees))


def _codes(y: np.ndarray, classes: Any) -> np.ndarray:
    """Labels as positions in ``classes`` (what members of an ensemble learned)."""
    index = {value: i for i, value in enumerate(np.asarray(classes).tolist())}
    unknown = sorted({str(v) for v in y.tolist() if v not in index})
    if unknown:
        raise DataError(
            f"The new rows have label(s) {', '.join(unknown)} that the champion does not know "
            f"(its classes: {', '.join(map(str, index))}). An update cannot add classes: "
            "train a challenger with `mlcycle retrain`."
        )
    return np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=len(y))


def _all_classes(y: np.ndarray, classes: Any, what: str) -> None:
    """Boosters re-read the classes from the labels: every known class must be there."""
    _codes(y, classes)
    absent = [str(c) for c in np.asarray(classes).tolist() if c not in set(y.tolist())]
    if absent:
        raise DataError(
            f"Continuing the {what} needs rows of every class it knows; the new training rows "
            f"have none of: {', '.join(absent)}. Send more rows, or use `mlcycle retrain`."
        )


def _continued(kind: str, trees: int, extra: int, rows: int) -> MemberUpdate:
    detail = f"continued, +{extra} boosting rounds ({trees} -> {trees + extra})"
    return MemberUpdate(kind, "continued", detail, rows)


def _update_estimator(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    *,
    rounds: int | None,
    passes: int,
    seed: int,
    names: Any = None,
) -> tuple[Any, MemberUpdate]:
    """A copy of ``estimator`` that has also learned from ``(X, y)``; and how it learned.

    ``names``: the labels behind ``y``'s class codes (an ensemble's members learn codes),
    for messages.
    """
    kind = type(estimator).__name__
    library = type(estimator).__module__.split(".")[0]
    model = copy.deepcopy(estimator)
    if library == "lightgbm" and hasattr(model, "booster_"):
        import lightgbm as lgb

        trees = int(model.booster_.current_iteration())
        extra = _extra_rounds(trees, rounds)
        if getattr(model, "classes_", None) is not None:
            _all_classes(y, model.classes_, kind)
        model.set_params(n_estimators=extra)
        model.fit(X, y, init_model=model.booster_)
        # the continued booster holds a predictor for its init model, which the bundle's
        # loader does not trust: keep the trees only
        model._Booster = lgb.Booster(model_str=model.booster_.model_to_string())
        return model, _continued(kind, trees, extra, len(y))
    if library == "xgboost" and hasattr(model, "get_booster"):
        booster = model.get_booster()
        trees = int(booster.num_boosted_rounds())
        extra = _extra_rounds(trees, rounds)
        if getattr(model, "classes_", None) is not None:
            _all_classes(y, model.classes_, kind)
        model.set_params(n_estimators=extra)
        model.fit(X, y, xgb_model=booster, verbose=False)
        return model, _continued(kind, trees, extra, len(y))
    if hasattr(model, "partial_fit"):
        classes = getattr(model, "classes_", None)
        if classes is not None:
            _codes(y, classes)  # partial_fit cannot learn a class it was not set up with
        rng = np.random.default_rng(seed)
        for _ in range(passes):
            order = rng.permutation(len(y))
            rows = X.iloc[order] if hasattr(X, "iloc") else X[order]
            model.partial_fit(rows, y[order])
        detail = f"{passes} partial_fit pass(es) over {len(y)} rows"
        return model, MemberUpdate(kind, "partial_fit", detail, len(y))
    return _refit(estimator, X, y, names=names)


def _refit(estimator: Any, X: Any, y: np.ndarray, *, names: Any) -> tuple[Any, MemberUpdate]:
    """``estimator``'s settings fitted again on the new rows alone (its old rows are gone)."""
    from sklearn.base import clone

    kind = type(estimator).__name__
    try:
        model = clone(estimator)
    except (TypeError, RuntimeError):  # not a scikit-learn estimator: nothing to refit
        raise _NotIncremental(kind) from None
    _check_refit_rows(estimator, y, names)
    if kind.startswith("HistGradientBoosting") and hasattr(X, "toarray"):
        X = X.toarray()  # as the search fitted it: it takes no sparse input
    try:
        model.fit(X, y)
    except ValueError as exc:
        raise DataError(
            f"Refitting the {kind} on the {len(y)} new rows failed: {exc} Send more labelled "
            "rows, or train a challenger with `mlcycle retrain`."
        ) from None
    return model, MemberUpdate(kind, "refit", f"refit on the {len(y)} new rows only", len(y))


def _check_refit_rows(estimator: Any, y: np.ndarray, names: Any) -> None:
    """Refuse a refit on too few rows, or on rows missing a class the model predicts."""
    kind = type(estimator).__name__
    # a k-nearest-neighbours model needs at least k rows
    minimum = max(MIN_REFIT_ROWS, int(getattr(estimator, "n_neighbors", 0) or 0))
    if len(y) < minimum:
        raise DataError(
            f"The {kind} cannot learn incrementally, so an update refits it on the new rows "
            f"alone, which needs at least {minimum} rows to learn from; the new data leaves "
            f"{len(y)} after the holdout. Send more labelled rows, or train a challenger "
            "with `mlcycle retrain`."
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return
    _codes(y, classes)
    counts = {c: 0 for c in np.asarray(classes).tolist()}
    for value in y.tolist():
        counts[value] += 1
    # an ensemble's members learn class codes: name the labels behind them
    label = (lambda c: c) if names is None else (lambda c: np.asarray(names)[int(c)])
    short = [f"{label(c)} ({n})" for c, n in counts.items() if n < MIN_REFIT_CLASS_ROWS]
    if short:
        raise DataError(
            f"The {kind} cannot learn incrementally, so an update refits it on the new rows "
            f"alone, which needs at least {MIN_REFIT_CLASS_ROWS} rows of every class; the new "
            f"rows to learn from have too few of: {', '.join(short)}. Send more labelled "
            "rows, or train a challenger with `mlcycle retrain`."
        )


def _update_native(
    model: Any, X: Any, y: np.ndarray, rounds: int | None, seed: int
) -> tuple[Any, MemberUpdate]:
    """Continue a native booster bundle through its scikit-learn wrapper (same labels)."""
    wrapper = str(model.meta.get("wrapper", ""))
    X = X[model.feature_names_in_] if model.feature_names_in_ else X
    if type(model.booster).__module__.startswith("lightgbm"):
        import lightgbm as lgb

        cls = {"LGBMClassifier": lgb.LGBMClassifier, "LGBMRegressor": lgb.LGBMRegressor}.get(
            wrapper
        )
        if cls is None:
            raise _NotIncremental(f"LightGBM {wrapper or 'Booster'}")
        booster = model.booster
        trees = int(booster.current_iteration())
        extra = _extra_rounds(trees, rounds)
        loaded = dict(booster.params or {})
        kwargs = {ours: loaded[native] for native, ours in _LGBM_PARAMS.items() if native in loaded}
        if cls is lgb.LGBMRegressor and loaded.get("objective"):
            kwargs["objective"] = loaded["objective"]
        if model.classes_ is not None:
            _all_classes(y, model.classes_, "LightGBM model")
        fitted = cls(n_estimators=extra, verbose=-1, random_state=seed, **kwargs)
        fitted.fit(X, y, init_model=booster)
        return fitted, _continued(wrapper, trees, extra, len(y))
    import xgboost as xgb

    xcls = {"XGBClassifier": xgb.XGBClassifier, "XGBRegressor": xgb.XGBRegressor}.get(wrapper)
    if xcls is None:
        raise _NotIncremental(f"XGBoost {wrapper or 'Booster'}")
    booster = model.booster
    trees = int(booster.num_boosted_rounds())
    extra = _extra_rounds(trees, rounds)
    target = y
    if model.classes_ is not None:  # the wrapper learned class codes 0..k-1
        _all_classes(y, model.classes_, "XGBoost model")
        target = _codes(y, model.classes_)
    fitted = xcls(n_estimators=extra, random_state=seed)
    fitted.fit(X, target, xgb_model=booster, verbose=False)
    return fitted, _continued(wrapper, trees, extra, len(y))


def _describe(members: list[MemberUpdate]) -> str:
    """One line: the model's update, or the ensemble's member by member."""
    if len(members) == 1 and members[0].weight is None:
        return members[0].line
    parts = [f"{m.line} (weight {m.weight:.2f})" for m in members]
    return f"ensemble of {len(members)}: " + "; ".join(parts)


def _update_model(
    model: Any, X: pd.DataFrame, labels: np.ndarray, *, rounds: int | None, passes: int, seed: int
) -> tuple[Any, list[MemberUpdate]]:
    """The updated model and how each of its parts learned (one entry per ensemble member)."""
    from mlcycle.bundle import NativeModel
    from mlcycle.estimators import WeightedEnsemble

    options: dict[str, Any] = {"rounds": rounds, "passes": passes, "seed": seed}
    if isinstance(model, NativeModel):
        fitted, how = _update_native(model, X, labels, rounds, seed)
        return fitted, [how]
    if isinstance(model, WeightedEnsemble):
        names = model.classes_
        target = labels if names is None else _codes(labels, names)
        members, hows = [], []
        for member, weight in zip(model.estimators_, model.weights_, strict=True):
            try:
                updated, how = _update_single(member, X, target, **options, names=names)
            except _NotIncremental as exc:
                raise _NotIncremental(f"ensemble with a {exc} member") from None
            members.append(updated)
            hows.append(replace(how, weight=round(float(weight), 4)))
        ensemble = WeightedEnsemble(model.task).set_members(
            members, list(model.weights_), classes=model.classes_
        )
        return ensemble, hows
    updated, how = _update_single(model, X, labels, **options)
    return updated, [how]


def _update_single(
    model: Any,
    X: pd.DataFrame,
    labels: np.ndarray,
    *,
    rounds: int | None,
    passes: int,
    seed: int,
    names: Any = None,
) -> tuple[Any, MemberUpdate]:
    """A Pipeline (its preparation kept, its last step learning) or a bare estimator."""
    from sklearn.pipeline import Pipeline

    options: dict[str, Any] = {"rounds": rounds, "passes": passes, "seed": seed, "names": names}
    if isinstance(model, Pipeline):
        prepared = model[:-1].transform(X) if len(model.steps) > 1 else X
        last_name, last = model.steps[-1]
        updated, how = _update_estimator(last, prepared, labels, **options)
        steps = [*copy.deepcopy(model.steps[:-1]), (last_name, updated)]
        return Pipeline(steps), how
    return _update_estimator(model, X, labels, **options)


def incremental_update(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    rounds: int | None = None,
    passes: int = 1,
    seed: int = 0,
) -> tuple[Any, str]:
    """A new model: ``model`` after also learning from ``(X, y)``; and a line saying how.

    ``model`` is left as it was. Boosters continue (``rounds``: extra boosting rounds,
    default 20 % of the trees, at least 10), ``partial_fit`` models make ``passes`` passes
    over the rows (shuffled, seeded), other scikit-learn models are refit on ``(X, y)``
    alone; an ensemble's members each learn as they can, its weights kept. Raises
    :class:`BundleError` naming the part that can be neither continued nor refit, and
    :class:`DataError` when ``(X, y)`` are too few for a refit.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        updated, members = _update_model(
            model, X, np.asarray(y), rounds=rounds, passes=passes, seed=seed
        )
    return updated, _describe(members)


def _refusal(champion: Champion, part: str) -> BundleError:
    family = champion.params.get("best_family")
    named = f"{part} (family {family})" if family and not part.startswith("ensemble") else part
    return BundleError(
        f"{champion.name} v{champion.version} (@{champion.alias}) is a {named}, which an "
        "update can neither continue nor refit: it continues LightGBM, XGBoost and "
        "partial_fit models and refits scikit-learn estimators. Train a challenger instead: "
        f"`mlcycle retrain {champion.name} --data FILE`."
    )


def _refit_note(members: list[MemberUpdate]) -> str | None:
    """Say plainly that refit parts forgot the champion's rows (they are not kept)."""
    refit = [m for m in members if m.method == "refit"]
    if not refit:
        return None
    which = ", ".join(m.estimator for m in refit)
    part = "The model" if len(members) == 1 else f"{len(refit)} of {len(members)} members ({which})"
    return (
        f"{part} cannot learn incrementally and {'was' if len(refit) == 1 else 'were'} refit on "
        f"the {refit[0].rows} new rows only, with the champion's settings: the champion's "
        "training rows are not kept. `mlcycle retrain` searches again on the new rows."
    )


def _bundle_fields(
    champion: Champion, train_part: pd.DataFrame, members: list[MemberUpdate]
) -> dict[str, Any]:
    from mlcycle.data import fingerprint

    bundle = champion.bundle
    extras: dict[str, bytes] = {}
    for rel in bundle.files:
        extra = rel.removeprefix("extra/")
        if extra != rel and extra not in _MODEL_EXTRAS:
            data = bundle.extra_file(extra)  # checked against the manifest again
            if data is not None:
                extras[extra] = data
    params = {**champion.params, "updated_from": champion.version, "update": _describe(members)}
    params.setdefault("task", champion.task)
    params.setdefault("target", champion.target)
    params.setdefault("metric", champion.metric.name)
    lineage = {
        "trainer": "mlcycle.update",
        "parent_version": champion.version,
        "data_fingerprint": fingerprint(train_part),
        "train_rows": len(train_part),
        "update_members": [asdict(m) for m in members],
    }
    return {
        "schema": bundle.schema,
        "params": params,
        "lineage": lineage,
        "reference_profile": bundle.reference_profile,
        "extra_files": extras,
        # the gate scored the update with the champion's threshold: serve it with that too
        "decision_threshold": champion.threshold,
    }


def update(
    name: str,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    alias: str = "production",
    margin: float = 0.0,
    alpha: float = 0.05,
    holdout: float = 0.25,
    canary: float | None = None,
    rounds: int | None = None,
    passes: int = 1,
    seed: int = 0,
) -> RetrainDecision:
    """Update ``name@alias`` incrementally on ``data``; promote it only if it wins the gate.

    The gate, its parameters and the storage are those of :func:`mlcycle.monitoring.retrain`;
    ``rounds`` and ``passes`` are those of :func:`incremental_update`.
    """
    from mlcycle.monitoring._retrain import check_canary
    from mlcycle.registry import get_workspace, register_model, start_run

    started = time.perf_counter()
    check_gate_parameters("update", margin=margin, alpha=alpha, holdout=holdout)
    canary = check_canary("update", canary)
    if rounds is not None and (not _is_int(rounds) or int(rounds) < 1):
        raise bad_parameter("rounds", "update()", "an integer >= 1 or None", rounds)
    if not _is_int(passes) or int(passes) < 1:
        raise bad_parameter("passes", "update()", "an integer >= 1", passes)
    ws = get_workspace()
    champion = load_champion(name, alias, ws)
    train_part, holdout_part = fresh_data(data, champion, holdout=holdout, seed=seed)
    features = champion.bundle.schema.feature_names
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            updated, members = _update_model(
                champion.model,
                train_part[features],
                train_part[champion.target].to_numpy(),
                rounds=None if rounds is None else int(rounds),
                passes=int(passes),
                seed=seed,
            )
    except _NotIncremental as exc:
        raise _refusal(champion, str(exc)) from None
    how = _describe(members)
    notes = list(champion.notes)
    refit = _refit_note(members)
    if refit is not None:
        notes.append(refit)
    with start_run(experiment=f"retrain-{name}", name=f"update {name}@{alias}") as run:
        comparison = gate(
            champion,
            updated,
            holdout_part[[*features, champion.target]],
            challenger_threshold=champion.threshold,
            margin=margin,
            seed=seed,
            notes=notes,
        )
        moved = verdict(comparison, margin=margin, alpha=alpha, canary=canary, alias=alias)
        reason = reason_text(
            comparison,
            champion_version=champion.version,
            margin=margin,
            alpha=alpha,
            alias=alias,
            moved=moved,
            model=name,
            canary=canary,
        )
        version = register_model(
            name,
            updated,
            run=run,
            alias="challenger",
            description=f"mlcycle.update of v{champion.version}: {how}. {reason}",
            metrics={
                f"holdout_{comparison.metric}": comparison.challenger_score,
                f"holdout_{comparison.metric}_champion": comparison.champion_score,
            },
            workspace=ws,
            **_bundle_fields(champion, train_part, members),
        )
        return conclude(
            comparison,
            champion,
            version.version,
            kind="update",
            margin=margin,
            alpha=alpha,
            canary=canary,
            train_rows=len(train_part),
            started=started,
            workspace=ws,
            run=run,
            detail=how,
            members=members,
            notes=notes,
        )
