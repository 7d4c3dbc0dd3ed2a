"""The champion-challenger gate shared by ``retrain`` and ``update``: one statistic, one record.

Both models predict the same fresh holdout rows. With ``d`` the challenger's score minus the
champion's in the metric's "bigger is better" orientation (so for RMSE, champion - challenger),
B = 2,000 seeded *paired* bootstrap resamples of the holdout rows (each resample scores both
models on the same rows) give ``d*_1 .. d*_B``:

- ``p_value`` = the share of ``d*_b <= margin`` (H0: the challenger gains at most ``margin``);
- ``ci`` = the 2.5th and 97.5th percentiles of ``d*``;
- the challenger wins when ``d > margin`` and ``p_value < alpha``.

A paired t-test on per-row losses (log-loss, squared or 0/1 error) is reported beside it as a
second opinion; it never decides. Resamples are scored with count weights in NumPy (AUC by a
weighted Mann-Whitney sum), so 2,000 of them on 10,000 rows take a fraction of a second; a
metric without a weighted form is scored resample by resample with the metric table's own
function.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.decision import DecisionRule
from mlcycle.exceptions import (
    BadParameterError,
    BundleError,
    DataError,
    MlcycleError,
    bad_parameter,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.evaluation import Metric
    from mlcycle.registry import ActiveRun, Workspace

__all__ = [
    "MIN_HOLDOUT_ROWS",
    "RESAMPLES",
    "Champion",
    "Comparison",
    "Outputs",
    "RetrainDecision",
    "align_classes",
    "check_gate_parameters",
    "compare",
    "conclude",
    "fresh_data",
    "gate",
    "load_champion",
    "predict_outputs",
    "reason_text",
    "record_decision",
    "resampled_scores",
    "row_losses",
    "verdict",
    "weighted_auc",
]

RESAMPLES = 2000
_CHUNK_CELLS = 4_000_000  # resamples x rows scored at once: ~32 MB of weights
_EPS = 1e-15


# -- what a model says about the holdout ---------------------------------------------------


@dataclass
class Outputs:
    """One model's answers for the holdout rows: labels or values, and class probabilities.

    ``proba`` has one column per class of the comparison (``classes`` of :func:`compare`),
    zeros for a class the model does not know; None for regression or a model without them.
    """

    predictions: np.ndarray
    proba: np.ndarray | None = None


def align_classes(proba: np.ndarray, own: Any, classes: np.ndarray) -> np.ndarray:
    """``proba`` (columns in the model's ``own`` class order) re-ordered to ``classes``."""
    index = {value: j for j, value in enumerate(np.asarray(own).tolist())}
    out = np.zeros((proba.shape[0], len(classes)), dtype=np.float64)
    for j, value in enumerate(classes.tolist()):
        if value in index:
            out[:, j] = proba[:, index[value]]
    return out


def predict_outputs(
    model: Any,
    X: pd.DataFrame,
    *,
    task: str,
    classes: np.ndarray | None,
    threshold: float | None = None,
) -> Outputs:
    """What ``model`` predicts for ``X``, as a served model would (with its binary threshold)."""
    if task == "regression":
        return Outputs(np.asarray(model.predict(X), dtype=np.float64))
    assert classes is not None
    proba = None
    own = getattr(model, "classes_", None)
    if hasattr(model, "predict_proba") and own is not None:
        try:
            raw = np.asarray(model.predict_proba(X), dtype=np.float64)
        except (AttributeError, MlcycleError):  # e.g. a booster whose objective has none
            raw = None
        if raw is not None:
            if raw.ndim == 1:
                raw = np.column_stack([1.0 - raw, raw])
            proba = align_classes(raw, own, classes)
    if threshold is not None and task == "binary" and proba is not None:
        rule = DecisionRule("binary", tuple(classes.tolist()), threshold)
        predictions = classes[rule.indices(proba)]  # the bundle's one decision rule
    else:
        predictions = np.asarray(model.predict(X))
    return Outputs(predictions, proba)


# -- the metric on weighted resamples ------------------------------------------------------


def _matches(a: Any, b: Any) -> np.ndarray:
    """Element-wise equality with Python semantics (labels may be text, numbers or bools)."""
    left = np.asarray(a, dtype=object)
    return np.asarray(left == (b if np.isscalar(b) else np.asarray(b, dtype=object)), dtype=bool)


def _true_proba(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    index = {value: j for j, value in enumerate(classes.tolist())}
    columns = np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=len(y))
    return np.clip(proba[np.arange(len(y)), columns], _EPS, 1.0)


def weighted_auc(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC per row of ``weights`` (resamples x rows): a weighted Mann-Whitney sum."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # tied-score groups
    w = weights[:, order]
    pos_rows = w * positive[order]
    pos = np.add.reduceat(pos_rows, starts, axis=1)
    neg = np.add.reduceat(w - pos_rows, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
    wins = np.sum(pos * (below + 0.5 * neg), axis=1)
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, wins / np.where(total > 0, total, 1.0), np.nan)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), 0.0)


def resampled_scores(
    metric: Metric, y: np.ndarray, outputs: Outputs, classes: np.ndarray | None, weights: Any
) -> np.ndarray:
    """``metric`` of ``outputs`` on each weighted resample (``weights``: resamples x rows).

    With one row of ones this is exactly the metric table's value (the tests check it).
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    n = w.sum(axis=1)
    name = metric.name
    if name in ("rmse", "mae", "mape", "r2"):
        truth = y.astype(np.float64)
        error = truth - outputs.predictions.astype(np.float64)
        if name == "rmse":
            return np.sqrt(w @ error**2 / n)
        if name == "mae":
            return w @ np.abs(error) / n
        if name == "mape":
            return w @ (np.abs(error) / np.maximum(np.abs(truth), np.finfo(float).eps)) / n
        mean = w @ truth / n
        total = w @ truth**2 - n * mean**2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 1e-12 * np.maximum(n, 1), 1.0 - (w @ error**2) / total, np.nan)
    assert classes is not None
    if name in ("accuracy", "balanced_accuracy", "f1", "precision", "recall"):
        correct = _matches(outputs.predictions, y).astype(np.float64)
        if name == "accuracy":
            return w @ correct / n
        if name == "balanced_accuracy":
            recalls = []
            for value in np.unique(y).tolist():
                member = _matches(y, value).astype(np.float64)
                support = w @ member
                recall = np.where(support > 0, _ratio(w @ (member * correct), support), np.nan)
                recalls.append(recall)
            return np.nanmean(np.vstack(recalls), axis=0)
        positive = classes[-1]
        is_pos = _matches(y, positive).astype(np.float64)
        said = _matches(outputs.predictions, positive)
        said_pos = said.astype(np.float64)
        tp, fp = w @ (is_pos * said_pos), w @ ((1 - is_pos) * said_pos)
        fn = w @ (is_pos * (1 - said_pos))
        if name == "precision":
            return _ratio(tp, tp + fp)
        if name == "recall":
            return _ratio(tp, tp + fn)
        return _ratio(2 * tp, 2 * tp + fp + fn)
    if outputs.proba is not None and name in ("log_loss", "brier", "auc"):
        if name == "log_loss":
            proba = np.clip(outputs.proba, _EPS, 1 - _EPS)
            proba = proba / proba.sum(axis=1, keepdims=True)
            return w @ -np.log(_true_proba(proba, y, classes)) / n
        is_pos = _matches(y, classes[-1]).astype(np.float64)
        if name == "brier":
            return w @ (outputs.proba[:, -1] - is_pos) ** 2 / n
        return weighted_auc(is_pos, outputs.proba[:, -1], w)
    # no weighted form (pr_auc, auc_ovr, macro F1, ...): score each resample's rows
    values = outputs.proba if metric.needs_proba else outputs.predictions
    rows = np.arange(len(y))
    out = np.empty(len(w))
    for b, counts in enumerate(w):
        chosen = np.repeat(rows, np.rint(counts).astype(np.int64))
        out[b] = metric(y[chosen], np.asarray(values)[chosen], classes)
    return out


def row_losses(
    metric: Metric, y: np.ndarray, outputs: Outputs, classes: np.ndarray | None
) -> tuple[str, np.ndarray]:
    """A per-row loss close to ``metric`` for the paired t-test: its name and values."""
    if classes is None:
        error = y.astype(np.float64) - outputs.predictions.astype(np.float64)
        return (
            ("absolute error", np.abs(error))
            if metric.name == "mae"
            else ("squared error", error**2)
        )
    if outputs.proba is not None and metric.needs_proba:
        if metric.name == "brier":
            is_pos = _matches(y, classes[-1]).astype(np.float64)
            return "squared error of P", (outputs.proba[:, -1] - is_pos) ** 2
        proba = np.clip(outputs.proba, _EPS, 1 - _EPS)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return "log loss", -np.log(_true_proba(proba, y, classes))
    return "0/1 error", 1.0 - _matches(outputs.predictions, y).astype(np.float64)


# -- the comparison ------------------------------------------------------------------------


@dataclass
class Comparison:
    """The gate's figures: scores, the oriented difference, its interval and p-values."""

    metric: str
    greater_is_better: bool
    champion_score: float
    challenger_score: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    resamples: int
    ttest_loss: str
    ttest_p: float
    rows: int


def compare(
    y: Any,
    champion: Outputs,
    challenger: Outputs,
    *,
    metric: Metric,
    classes: np.ndarray | None,
    margin: float = 0.0,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Score both models on the same rows and bootstrap the paired difference (module doc)."""
    from scipy import stats

    truth = np.asarray(y)
    n = len(truth)
    sign = 1.0 if metric.greater_is_better else -1.0
    ones = np.ones((1, n))
    champion_score = float(resampled_scores(metric, truth, champion, classes, ones)[0])
    challenger_score = float(resampled_scores(metric, truth, challenger, classes, ones)[0])
    if not (math.isfinite(champion_score) and math.isfinite(challenger_score)):
        raise DataError(
            f"The metric {metric.name} is undefined on the {n} holdout rows (champion "
            f"{champion_score}, challenger {challenger_score}); AUC needs both classes. Send more "
            "rows or choose another --metric."
        )
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(n, 1)))
    differences: list[np.ndarray] = []
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        a = resampled_scores(metric, truth, champion, classes, weights)
        b = resampled_scores(metric, truth, challenger, classes, weights)
        differences.append(sign * (b - a))
        done += size
    d = np.concatenate(differences)
    d = d[np.isfinite(d)]  # e.g. AUC of a resample that drew one class only
    if len(d) < resamples // 2:
        raise DataError(
            f"The metric {metric.name} is undefined on most bootstrap resamples of the {n} "
            "holdout rows (a class is too rare); send more rows or choose another --metric."
        )
    loss_name, champion_loss = row_losses(metric, truth, champion, classes)
    _, challenger_loss = row_losses(metric, truth, challenger, classes)
    if np.allclose(champion_loss, challenger_loss):
        ttest_p = 1.0
    else:
        test = stats.ttest_rel(champion_loss, challenger_loss, alternative="greater")
        ttest_p = float(test.pvalue) if math.isfinite(test.pvalue) else 1.0
    return Comparison(
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        champion_score=champion_score,
        challenger_score=challenger_score,
        difference=sign * (challenger_score - champion_score),
        ci=(float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))),
        p_value=float(np.mean(d <= margin)),
        resamples=len(d),
        ttest_loss=loss_name,
        ttest_p=ttest_p,
        rows=n,
    )


# -- the decision --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberUpdate:
    """How ``update`` taught one model (or one ensemble member) the new rows.

    ``method``: ``"continued"`` (more boosting rounds on the new rows), ``"partial_fit"``
    (passes over the new rows) or ``"refit"`` (fitted again, with the same settings, on the
    new rows only: the champion's training rows are not kept). ``rows``: the rows it learned
    from; ``weight``: its weight in the ensemble (None for a single model).
    """

    estimator: str
    method: str
    detail: str
    rows: int
    weight: float | None = None

    @property
    def line(self) -> str:
        return f"{self.estimator}: {self.detail}"


@dataclass
class RetrainDecision:
    """Whether a challenger replaced the champion, with the figures and the reason.

    ``difference`` is challenger - champion in the metric's "bigger is better" orientation;
    ``ci`` its 95 % bootstrap interval; ``p_value`` the bootstrap share of resampled
    differences ``<= margin``. ``wins`` is the gate's verdict; ``promoted`` says the
    challenger now holds ``alias`` (a winner with ``canary=`` goes to ``canary`` instead);
    ``alias_moved`` is the alias moved to it, None when nothing moved. ``members``: for an
    update, how each part of the model learned the new rows (see :class:`MemberUpdate`).
    """

    model: str
    kind: str
    alias: str
    champion_version: int
    challenger_version: int | None
    task: str
    metric: str
    greater_is_better: bool
    champion_score: float
    challenger_score: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    margin: float
    alpha: float
    wins: bool
    promoted: bool
    alias_moved: str | None
    reason: str
    holdout_rows: int
    train_rows: int
    seconds: float
    resamples: int = RESAMPLES
    ttest_loss: str = ""
    ttest_p: float = float("nan")
    canary: float | None = None
    families: list[str] = field(default_factory=list)
    families_source: str = ""
    detail: str = ""
    members: list[MemberUpdate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (NaN becomes None)."""
        data = asdict(self)
        data["ci"] = list(self.ci)
        return {key: _finite(value) for key, value in data.items()}

    def summary(self) -> str:
        return self.reason


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _p(comparison: Comparison) -> str:
    """The bootstrap p-value as text: none of B resamples means p < 1/B, not p = 0."""
    if comparison.p_value == 0:
        return f"p < {1 / max(comparison.resamples, 1):.2g}"
    return f"p = {comparison.p_value:.4g}"


def _signed(value: float) -> str:
    return f"{value:+.4g}"


def reason_text(
    comparison: Comparison,
    *,
    champion_version: int,
    margin: float,
    alpha: float,
    alias: str,
    moved: str | None,
    model: str,
    canary: float | None,
) -> str:
    """One paragraph saying what was decided and why, with the figures."""
    c = comparison
    figures = (
        f"{c.metric} {c.challenger_score:.4f} vs {c.champion_score:.4f}, difference "
        f"{_signed(c.difference)} (95 % CI {_signed(c.ci[0])} to {_signed(c.ci[1])}), "
        f"{_p(c)} on {c.rows} fresh holdout rows"
    )
    if moved is not None:
        where = f"promoted to @{moved}"
        if moved != alias and canary is not None:
            rest = 100 - canary
            where = (
                f"canary at {canary:g} %: serve with --route {model} {alias}={rest:g},"
                f"{moved}={canary:g}; @{alias} stays at v{champion_version}"
            )
        return f"The challenger wins ({figures}; margin {margin:g}, alpha {alpha:g}): {where}."
    if c.difference <= margin:
        why = (
            f"its gain {_signed(c.difference)} is not above the margin {margin:g}"
            if c.difference > 0
            else f"it does not beat the champion ({_signed(c.difference)})"
        )
    else:
        why = f"its gain is not significant ({_p(c)}, not below alpha {alpha:g})"
    return (
        f"The challenger is not promoted: {why} ({figures}). @{alias} stays at v{champion_version}."
    )


def check_gate_parameters(function: str, *, margin: object, alpha: object, holdout: object) -> None:
    """The one message shape for the gate's parameters."""
    for name, value, expected, low, high in (
        ("margin", margin, "a number >= 0 in the metric's units", 0.0, math.inf),
        ("alpha", alpha, "a number in (0, 1)", 0.0, 1.0),
        ("holdout", holdout, "a share in (0, 1)", 0.0, 1.0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_parameter(name, f"{function}()", expected, value)
        number = float(value)
        inside = low <= number < high if name == "margin" else low < number < high
        if not (math.isfinite(number) and inside):
            raise bad_parameter(name, f"{function}()", expected, value)


def record_decision(decision: RetrainDecision, run: ActiveRun, workspace: Workspace) -> None:
    """Store the decision: on the run (params, metrics, tags, ``decision.json``) and as an
    audit event ``model.<kind>`` on the model."""
    data = decision.to_dict()
    params = {
        "model": decision.model,
        "alias": decision.alias,
        "champion_version": decision.champion_version,
        "challenger_version": decision.challenger_version,
        "metric": decision.metric,
        "margin": decision.margin,
        "alpha": decision.alpha,
        "holdout_rows": decision.holdout_rows,
        "train_rows": decision.train_rows,
        "resamples": decision.resamples,
        "canary": decision.canary,
        "families": ",".join(decision.families) or None,
    }
    run.log_params({k: v for k, v in params.items() if v is not None})
    metrics = {
        "champion_score": decision.champion_score,
        "challenger_score": decision.challenger_score,
        "difference": decision.difference,
        "ci_low": decision.ci[0],
        "ci_high": decision.ci[1],
        "p_value": decision.p_value,
        "ttest_p": decision.ttest_p,
        "seconds": decision.seconds,
    }
    run.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
    run.set_tags(
        {
            "decision": "promoted" if decision.promoted else "kept",
            "kind": decision.kind,
            "alias_moved": decision.alias_moved or "",
        }
    )
    run.log_dict(data, "decision.json")
    json.dumps(data, allow_nan=False)  # an audit event must be plain JSON
    workspace.store.record_event(
        actor=workspace.settings.user,
        action=f"model.{decision.kind}",
        entity_type="model",
        entity_id=decision.model,
        **data,
    )


# -- the flow retrain and update share -----------------------------------------------------

MIN_HOLDOUT_ROWS = 20
"""Fewer fresh holdout rows than this cannot tell two models apart; the gate refuses them."""


@dataclass
class Champion:
    """The version at ``alias`` and what the gate needs to know about it."""

    name: str
    alias: str
    version: int
    run_id: str | None
    bundle: Any
    model: Any
    task: str
    target: str
    metric: Metric
    threshold: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.bundle.params or {})

    @property
    def classes(self) -> np.ndarray | None:
        own = getattr(self.model, "classes_", None)
        return None if own is None else np.asarray(own)


def load_champion(
    name: str, alias: str, workspace: Workspace, *, version: int | None = None
) -> Champion:
    """The champion at ``name@alias`` (or ``version``): its bundle, task, target, metric and
    decision threshold."""
    from mlcycle.evaluation import DEFAULT_METRICS, get_metric
    from mlcycle.registry import load_model, parse_model_ref, resolve_version

    if not isinstance(name, str) or not isinstance(alias, str) or "@" in name or "/" in name:
        raise BadParameterError(
            f"Give the model's name and the champion's alias separately (e.g. 'churn' and "
            f"'production'). Got {name!r} and {alias!r}."
        )
    ref = parse_model_ref(f"{name}@{alias}" if version is None else f"{name}/{version}")
    found = resolve_version(ref, workspace)
    bundle = load_model(f"{name}/{found.version}", workspace=workspace)
    params = dict(bundle.params or {})
    model = bundle.load()
    target = params.get("target") or (bundle.schema.target if bundle.schema else None)
    if not target:
        raise BundleError(
            f"{name} v{found.version} (@{alias}) records no target column: its bundle has no "
            "training parameters and its schema no target. Register it with "
            "schema=Schema.from_dataframe(df, target='...')."
        )
    if bundle.schema is None or not bundle.schema.feature_names:
        raise BundleError(
            f"{name} v{found.version} (@{alias}) has no input schema, so its features are "
            "unknown. Register it with schema=Schema.from_dataframe(df, target='...')."
        )
    notes: list[str] = []
    task = params.get("task")
    if task is None:
        classes = getattr(model, "classes_", None)
        task = "regression" if classes is None else "binary" if len(classes) == 2 else "multiclass"
        notes.append(f"Task {task} inferred from the model (its bundle records none).")
    metric_name = params.get("metric") or DEFAULT_METRICS[task]
    threshold = bundle.decision.threshold
    return Champion(
        name=name,
        alias=alias,
        version=found.version,
        run_id=found.run_id,
        bundle=bundle,
        model=model,
        task=str(task),
        target=str(target),
        metric=get_metric(str(metric_name), str(task)),
        threshold=threshold,
        notes=notes,
    )


def fresh_data(
    data: Any, champion: Champion, *, holdout: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new rows, checked against the champion, split once into (train, holdout)."""
    import pandas as pd

    from mlcycle.data import load, split
    from mlcycle.exceptions import SchemaError

    if not isinstance(data, pd.DataFrame | str) and not hasattr(data, "__fspath__"):
        raise BadParameterError(
            f"The new data must be a pandas DataFrame or the path of a table. Got "
            f"{type(data).__name__} instead."
        )
    frame = load(data, target=champion.target)
    frame = frame.loc[frame[champion.target].notna()]
    features = champion.bundle.schema.feature_names
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"The new data lacks the champion's feature(s) {', '.join(map(repr, missing))}. "
            f"{champion.name} v{champion.version} expects: {', '.join(features)}."
        )
    n_test = math.ceil(holdout * len(frame))
    if n_test < MIN_HOLDOUT_ROWS or len(frame) - n_test < 2 * MIN_HOLDOUT_ROWS:
        need = max(
            math.ceil(MIN_HOLDOUT_ROWS / holdout), math.ceil(2 * MIN_HOLDOUT_ROWS / (1 - holdout))
        )
        raise DataError(
            f"The new data has {len(frame)} rows with a target; comparing two models needs at "
            f"least {need} (a holdout of {holdout:g} must hold {MIN_HOLDOUT_ROWS} rows and leave "
            f"{2 * MIN_HOLDOUT_ROWS} to learn from). Collect more labelled rows."
        )
    stratify = champion.target if champion.task != "regression" else None
    return split(frame, target=stratify, test_size=holdout, seed=seed)


def comparison_classes(champion: Champion, challenger: Any, y: Any) -> np.ndarray | None:
    """Every class either model or the holdout knows, in sorted order (the metric's order)."""
    if champion.task == "regression":
        return None
    parts = [np.asarray(y)]
    for model in (champion.model, challenger):
        own = getattr(model, "classes_", None)
        if own is not None:
            parts.append(np.asarray(own))
    try:
        classes = np.unique(np.concatenate(parts))
    except TypeError as exc:
        raise DataError(
            f"The new labels of '{champion.target}' and the champion's classes have different "
            f"types ({exc}); load the new data with the same label values."
        ) from None
    if champion.task == "binary" and len(classes) != 2:
        raise DataError(
            f"{champion.name} is a binary model, but the classes seen now are "
            f"{', '.join(map(str, classes.tolist()))}. Train a new model for the new classes."
        )
    return classes


def verdict(
    comparison: Comparison, *, margin: float, alpha: float, canary: float | None, alias: str
) -> str | None:
    """The alias a winning challenger moves to (``alias``, or ``canary``); None if it loses."""
    if comparison.difference > margin and comparison.p_value < alpha:
        return "canary" if canary is not None else alias
    return None


def gate(
    champion: Champion,
    challenger: Any,
    holdout_frame: pd.DataFrame,
    *,
    challenger_threshold: float | None,
    margin: float,
    seed: int,
    notes: list[str],
) -> Comparison:
    """Score champion and challenger on the same holdout rows and compare them."""
    from mlcycle.evaluation import get_metric

    X = holdout_frame.drop(columns=[champion.target])
    y = holdout_frame[champion.target].to_numpy()
    classes = comparison_classes(champion, challenger, y)
    features = champion.bundle.schema.feature_names
    ours = predict_outputs(
        champion.model,
        X[features],
        task=champion.task,
        classes=classes,
        threshold=champion.threshold,
    )
    theirs = predict_outputs(
        challenger, X, task=champion.task, classes=classes, threshold=challenger_threshold
    )
    metric = champion.metric
    if metric.needs_proba and (ours.proba is None or theirs.proba is None):
        metric = get_metric("accuracy", champion.task)
        notes.append(
            f"Compared on accuracy: {champion.metric.name} needs probabilities, which one of "
            "the models does not give."
        )
    return compare(y, ours, theirs, metric=metric, classes=classes, margin=margin, seed=seed)


def conclude(
    comparison: Comparison,
    champion: Champion,
    challenger_version: int,
    *,
    kind: str,
    margin: float,
    alpha: float,
    canary: float | None,
    train_rows: int,
    started: float,
    workspace: Workspace,
    run: ActiveRun,
    **extra: Any,
) -> RetrainDecision:
    """Move the aliases the verdict allows, then store and return the decision."""
    import time

    moved = verdict(comparison, margin=margin, alpha=alpha, canary=canary, alias=champion.alias)
    wins = moved is not None
    if moved is not None:
        actor = workspace.settings.user
        workspace.store.set_alias(champion.name, moved, challenger_version, actor=actor)
    decision = RetrainDecision(
        model=champion.name,
        kind=kind,
        alias=champion.alias,
        champion_version=champion.version,
        challenger_version=challenger_version,
        task=champion.task,
        metric=comparison.metric,
        greater_is_better=comparison.greater_is_better,
        champion_score=comparison.champion_score,
        challenger_score=comparison.challenger_score,
        difference=comparison.difference,
        ci=comparison.ci,
        p_value=comparison.p_value,
        margin=float(margin),
        alpha=float(alpha),
        wins=wins,
        promoted=moved == champion.alias,
        alias_moved=moved,
        reason=reason_text(
            comparison,
            champion_version=champion.version,
            margin=margin,
            alpha=alpha,
            alias=champion.alias,
            moved=moved,
            model=champion.name,
            canary=canary,
        ),
        holdout_rows=comparison.rows,
        train_rows=train_rows,
        seconds=round(time.perf_counter() - started, 3),
        resamples=comparison.resamples,
        ttest_loss=comparison.ttest_loss,
        ttest_p=comparison.ttest_p,
        canary=canary,
        run_id=run.id,
        **extra,
    )
    record_decision(decision, run, workspace)
    return decision
