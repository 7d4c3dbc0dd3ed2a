"""``update``: the champion learns from new rows incrementally, then faces the same gate.

Families that can continue learning without starting over: LightGBM (``init_model``: more
boosting rounds on the new rows, with the champion's parameters), XGBoost (``xgb_model``), and
scikit-learn estimators with ``partial_fit`` (SGD, naive Bayes, perceptrons, MLPs, ...). The
champion may be a bare estimator, a native booster bundle, a ``Pipeline`` (its fitted
preparation is kept; only the last step learns, on the prepared new rows) or an ensemble from
:func:`mlcycle.train` whose members all learn incrementally. Anything else is refused with a
pointer to ``mlcycle retrain``.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import BundleError, DataError, bad_parameter
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.monitoring._gate import (
    Champion,
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

__all__ = ["incremental_update", "update"]

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


def _update_estimator(
    estimator: Any, X: Any, y: np.ndarray, *, rounds: int | None, passes: int, seed: int
) -> tuple[Any, str]:
    """A copy of ``estimator`` that has also learned from ``(X, y)``; and what was done."""
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
        return model, f"{kind}: +{extra} boosting rounds ({trees} -> {trees + extra})"
    if library == "xgboost" and hasattr(model, "get_booster"):
        booster = model.get_booster()
        trees = int(booster.num_boosted_rounds())
        extra = _extra_rounds(trees, rounds)
        if getattr(model, "classes_", None) is not None:
            _all_classes(y, model.classes_, kind)
        model.set_params(n_estimators=extra)
        model.fit(X, y, xgb_model=booster, verbose=False)
        return model, f"{kind}: +{extra} boosting rounds ({trees} -> {trees + extra})"
    if hasattr(model, "partial_fit"):
        classes = getattr(model, "classes_", None)
        if classes is not None:
            _codes(y, classes)  # partial_fit cannot learn a class it was not set up with
        rng = np.random.default_rng(seed)
        for _ in range(passes):
            order = rng.permutation(len(y))
            rows = X.iloc[order] if hasattr(X, "iloc") else X[order]
            model.partial_fit(rows, y[order])
        return model, f"{kind}: {passes} partial_fit pass(es) over {len(y)} rows"
    raise _NotIncremental(kind)


def _update_native(
    model: Any, X: Any, y: np.ndarray, rounds: int | None, seed: int
) -> tuple[Any, str]:
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
        return fitted, f"{wrapper}: +{extra} boosting rounds ({trees} -> {trees + extra})"
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
    return fitted, f"{wrapper}: +{extra} boosting rounds ({trees} -> {trees + extra})"


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

    ``model`` is left as it was. ``rounds``: extra boosting rounds (default: 20 % of the
    trees, at least 10); ``passes``: ``partial_fit`` passes over the rows (shuffled, seeded).
    Raises :class:`BundleError` naming the part that cannot learn incrementally.
    """
    from sklearn.pipeline import Pipeline

    from mlcycle.bundle import NativeModel
    from mlcycle.estimators import WeightedEnsemble

    labels = np.asarray(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(model, NativeModel):
            return _update_native(model, X, labels, rounds, seed)
        if isinstance(model, WeightedEnsemble):
            target = labels if model.classes_ is None else _codes(labels, model.classes_)
            members, lines = [], []
            for member in model.estimators_:
                try:
                    updated, line = incremental_update(
                        member, X, target, rounds=rounds, passes=passes, seed=seed
                    )
                except _NotIncremental as exc:
                    raise _NotIncremental(f"ensemble with a {exc} member") from None
                members.append(updated)
                lines.append(line)
            ensemble = WeightedEnsemble(model.task).set_members(
                members, list(model.weights_), classes=model.classes_
            )
            return ensemble, f"ensemble of {len(members)}: " + "; ".join(lines)
        if isinstance(model, Pipeline):
            head = model[:-1]
            prepared = head.transform(X) if len(model.steps) > 1 else X
            last_name, last = model.steps[-1]
            updated, line = _update_estimator(
                last, prepared, labels, rounds=rounds, passes=passes, seed=seed
            )
            steps = [*copy.deepcopy(model.steps[:-1]), (last_name, updated)]
            return Pipeline(steps), line
        return _update_estimator(model, X, labels, rounds=rounds, passes=passes, seed=seed)


def _refusal(champion: Champion, part: str) -> BundleError:
    family = champion.params.get("best_family")
    named = f"{part} (family {family})" if family and not part.startswith("ensemble") else part
    return BundleError(
        f"{champion.name} v{champion.version} (@{champion.alias}) is a {named}, which cannot "
        "learn incrementally: only LightGBM, XGBoost and scikit-learn models with partial_fit "
        f"can. Train a challenger instead: `mlcycle retrain {champion.name} --data FILE`."
    )


def _bundle_fields(champion: Champion, train_part: pd.DataFrame, how: str) -> dict[str, Any]:
    from mlcycle.data import fingerprint

    bundle = champion.bundle
    extras: dict[str, bytes] = {}
    for rel in bundle.files:
        extra = rel.removeprefix("extra/")
        if extra != rel and extra not in _MODEL_EXTRAS:
            data = bundle.extra_file(extra)  # checked against the manifest again
            if data is not None:
                extras[extra] = data
    params = {**champion.params, "updated_from": champion.version, "update": how}
    params.setdefault("task", champion.task)
    params.setdefault("target", champion.target)
    params.setdefault("metric", champion.metric.name)
    lineage = {
        "trainer": "mlcycle.update",
        "parent_version": champion.version,
        "data_fingerprint": fingerprint(train_part),
        "train_rows": len(train_part),
    }
    return {
        "schema": bundle.schema,
        "params": params,
        "lineage": lineage,
        "reference_profile": bundle.reference_profile,
        "extra_files": extras,
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
        updated, how = incremental_update(
            champion.model,
            train_part[features],
            train_part[champion.target].to_numpy(),
            rounds=None if rounds is None else int(rounds),
            passes=int(passes),
            seed=seed,
        )
    except _NotIncremental as exc:
        raise _refusal(champion, str(exc)) from None
    notes = list(champion.notes)
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
            **_bundle_fields(champion, train_part, how),
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
            notes=notes,
        )
