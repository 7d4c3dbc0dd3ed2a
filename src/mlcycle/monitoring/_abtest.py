"""``abtest``: two live arms of a model (aliases or versions) compared on their feedback.

The prediction log (format: :mod:`mlcycle.predlog`) says which alias served each primary
prediction; the feedback log holds the true labels sent back for them. The two are joined
on the prediction id and each arm is scored on its labelled rows:

- classification: accuracy with a Wilson interval, tested with a two-proportion z-test
  (difference interval: Newcombe's, from the two Wilson intervals); log-loss and, for binary
  models, ROC-AUC when the log holds probabilities;
- regression: RMSE and MAE, tested with Welch's t-test on the per-row squared (absolute)
  errors.

Log-loss is tested like the regression errors (Welch, per-row losses); AUC with a bootstrap of
the difference. Intervals of RMSE, log-loss, MAE and AUC are seeded bootstraps (2,000 draws).

>>> result = mlcycle.monitoring.abtest("churn", a="production", b="canary")  # doctest: +SKIP
>>> result.significant, result.verdict  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import (
    BadParameterError,
    DataError,
    NotFoundError,
    bad_parameter,
)
from mlcycle.predlog import COLUMNS, class_of

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.registry import Workspace

__all__ = ["AbTestResult", "Arm", "abtest"]

_BOOTSTRAP = 2000
_EPS = 1e-15
_CLASSIFICATION_METRICS = ("accuracy", "log_loss", "auc")
_REGRESSION_METRICS = ("rmse", "mae")
_GREATER_IS_BETTER = {"accuracy": True, "auc": True, "log_loss": False, "rmse": False, "mae": False}


# -- results -------------------------------------------------------------------------------


@dataclass
class Arm:
    """One side of the test: what served it, how much of it is labelled, how well it did."""

    name: str
    versions: list[int]
    predictions: int
    labelled: int
    value: float
    ci: tuple[float, float]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class AbTestResult:
    """The comparison of arm ``b`` with arm ``a`` on ``metric`` (``difference`` = b - a).

    ``p_value`` comes from ``test``; ``significant`` is ``p_value < alpha``; ``better`` names
    the better arm when the difference is significant, else None; ``verdict`` says it in a line.
    """

    model: str
    a: Arm
    b: Arm
    task: str
    metric: str
    greater_is_better: bool
    difference: float
    difference_ci: tuple[float, float]
    test: str
    p_value: float
    alpha: float
    significant: bool
    better: str | None
    verdict: str
    since: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (NaN becomes None)."""
        return _plain(asdict(self))

    def summary(self) -> str:
        return self.verdict


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


# -- reading the logs ----------------------------------------------------------------------


def _logged(name: str, cutoff: datetime | None, workspace: Workspace) -> pd.DataFrame:
    """The model's primary predictions since ``cutoff``; a clear error when there are none."""
    from mlcycle.monitoring._logs import read_predictions
    from mlcycle.predlog import predictions_root

    log = read_predictions(name, since=cutoff, workspace=workspace)  # cut in the scan
    if log.empty:
        workspace.store.get_model(name)  # an unknown model says so
        window = "" if cutoff is None else f" since {cutoff:%Y-%m-%d %H:%M} UTC"
        raise NotFoundError(
            f"No logged predictions for model '{name}'{window} under "
            f"{predictions_root(workspace.settings.home)}. Serve it (`mlcycle serve {name}`) with "
            "the prediction log on, and send requests first."
        )
    return log


# -- statistics ----------------------------------------------------------------------------


def _z(level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(level))


def _wilson(successes: float, n: int, alpha: float) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z = _z(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _two_proportions(
    a: np.ndarray, b: np.ndarray, alpha: float
) -> tuple[float, tuple[float, float], float]:
    """Difference b - a of two accuracies, Newcombe's interval, two-sided z-test p-value."""
    from scipy import stats

    na, nb = len(a), len(b)
    pa_, pb_ = float(a.mean()), float(b.mean())
    la, ua = _wilson(a.sum(), na, alpha)
    lb, ub = _wilson(b.sum(), nb, alpha)
    d = pb_ - pa_
    ci = (
        d - math.sqrt((pb_ - lb) ** 2 + (ua - pa_) ** 2),
        d + math.sqrt((ub - pb_) ** 2 + (pa_ - la) ** 2),
    )
    pooled = (a.sum() + b.sum()) / (na + nb)
    spread = pooled * (1 - pooled) * (1 / na + 1 / nb)
    p = 1.0 if spread <= 0 else float(2 * stats.norm.sf(abs(d) / math.sqrt(spread)))
    return d, ci, p


def _welch(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.allclose(a.var(), 0) and np.allclose(b.var(), 0):
        return 1.0 if math.isclose(float(a.mean()), float(b.mean())) else 0.0
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return p if math.isfinite(p) else 1.0


def _resample(n: int, rng: np.random.Generator, size: int = _BOOTSTRAP) -> np.ndarray:
    draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (math.nan, math.nan)
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return (float(low), float(high))


@dataclass
class _Scored:
    """One arm's labelled rows reduced to what each metric needs."""

    correct: np.ndarray | None = None
    row_log_loss: np.ndarray | None = None
    positive: np.ndarray | None = None
    score: np.ndarray | None = None
    error: np.ndarray | None = None

    @property
    def rows(self) -> int:
        values = self.correct if self.correct is not None else self.error
        return 0 if values is None else len(values)

    def statistic(self, metric: str) -> Callable[[np.ndarray], np.ndarray]:
        """The metric on weighted resamples (weights: resamples x rows)."""
        from mlcycle.monitoring._gate import weighted_auc

        if metric == "accuracy":
            x = self.correct
            return lambda w: w @ x / w.sum(axis=1)
        if metric == "log_loss":
            x = self.row_log_loss
            return lambda w: w @ x / w.sum(axis=1)
        if metric == "auc":
            pos, score = self.positive, self.score
            assert pos is not None and score is not None
            return lambda w: weighted_auc(pos, score, w)
        assert self.error is not None
        if metric == "rmse":
            se = self.error**2
            return lambda w: np.sqrt(w @ se / w.sum(axis=1))
        ae = np.abs(self.error)
        return lambda w: w @ ae / w.sum(axis=1)

    def losses(self, metric: str) -> np.ndarray:
        """Per-row losses behind the Welch test."""
        if metric == "log_loss":
            assert self.row_log_loss is not None
            return self.row_log_loss
        assert self.error is not None
        return self.error**2 if metric == "rmse" else np.abs(self.error)


def _score_arm(rows: pd.DataFrame, task: str, proba: list[str]) -> _Scored:
    import pandas as pd

    c = COLUMNS
    if task == "regression":
        truth = pd.to_numeric(rows[c.label_value], errors="coerce")
        if c.label in rows.columns:
            truth = truth.fillna(pd.to_numeric(rows[c.label], errors="coerce"))
        predicted = pd.to_numeric(rows[c.prediction_value], errors="coerce")
        keep = truth.notna() & predicted.notna()
        return _Scored(error=(predicted[keep] - truth[keep]).to_numpy(dtype=np.float64))
    label = rows[c.label].astype(str).to_numpy()
    scored = _Scored(correct=(rows[c.prediction].astype(str).to_numpy() == label).astype(float))
    if proba:
        matrix = rows[proba].to_numpy(dtype=np.float64)
        known = np.isfinite(matrix).all(axis=1)
        classes = [str(class_of(name)) for name in proba]
        index = {c: j for j, c in enumerate(classes)}
        true_p = np.asarray(
            [matrix[i, index[v]] if v in index else 0.0 for i, v in enumerate(label.tolist())]
        )
        if known.all():
            scored.row_log_loss = -np.log(np.clip(true_p, _EPS, 1.0))
            if len(classes) == 2:
                scored.positive = (label == classes[-1]).astype(float)
                scored.score = matrix[:, -1]
    return scored


# -- the test ------------------------------------------------------------------------------


def _arm_rows(log: pd.DataFrame, arm: str) -> tuple[pd.DataFrame, str]:
    """The logged rows of ``arm``: an alias, or a version written ``3`` or ``v3``."""
    match = re.fullmatch(r"v?(\d+)", arm.strip())
    if match:
        return log.loc[log[COLUMNS.version] == int(match[1])], f"v{match[1]}"
    return log.loc[log[COLUMNS.alias] == arm], arm


def abtest(
    name: str,
    *,
    a: str = "production",
    b: str = "canary",
    since: str | datetime | timedelta | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> AbTestResult:
    """Compare arms ``a`` and ``b`` of model ``name`` on their live feedback (module doc).

    ``a`` and ``b`` are aliases as logged (``production``, ``canary``) or versions (``3``,
    ``v3``); ``since`` limits the predictions to a recent window (``7d``, ``24h``, an ISO
    time); ``metric`` is accuracy (default), log_loss or auc for classifiers, rmse (default)
    or mae for regression.
    """
    from mlcycle.monitoring._logs import read_feedback, since_time
    from mlcycle.registry import get_workspace, parse_model_ref

    parse_model_ref(name)
    for label, value in (("a", a), ("b", b)):
        if not isinstance(value, str) or not value.strip():
            raise bad_parameter(label, "abtest()", "an alias or a version", value)
    if a.strip() == b.strip():
        raise BadParameterError(
            f"Arms a and b are both {a!r}; compare two different aliases or versions."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise bad_parameter("alpha", "abtest()", "a number in (0, 1)", alpha)
    cutoff = since_time(since)
    ws = get_workspace()
    log = _logged(name, cutoff, ws)
    window = "" if cutoff is None else f" since {cutoff:%Y-%m-%d %H:%M} UTC"
    arms = []
    for arm in (a, b):
        rows, label = _arm_rows(log, arm)
        if rows.empty:
            aliases = log[COLUMNS.alias].dropna() if COLUMNS.alias in log else []
            seen = sorted({str(x) for x in aliases})
            raise NotFoundError(
                f"No logged primary predictions for {name}@{label}{window}. Aliases in the log: "
                f"{', '.join(seen) or 'none'}. Route traffic to it, e.g. `mlcycle serve --route "
                f"{name} production=90,canary=10`."
            )
        arms.append((label, rows))
    feedback = read_feedback(name, workspace=ws)
    value = COLUMNS.prediction_value
    task = "regression" if value in log.columns and log[value].notna().any() else "classification"
    allowed = _REGRESSION_METRICS if task == "regression" else _CLASSIFICATION_METRICS
    chosen = (metric or allowed[0]).strip().lower()
    if chosen not in allowed:
        raise BadParameterError(
            f"The metric {metric!r} cannot be computed from the live log of a {task} model; "
            f"choose one of: {', '.join(allowed)}."
        )
    proba = [name for name in log.columns if class_of(str(name)) is not None]
    rng = np.random.default_rng(seed)
    built: list[tuple[Arm, _Scored]] = []
    for label, rows in arms:
        labelled = (
            rows.iloc[0:0]
            if feedback.empty
            else rows.merge(
                feedback.drop(columns=[COLUMNS.timestamp], errors="ignore"),
                on=COLUMNS.prediction_id,
            )
        )
        if labelled.empty:
            raise DataError(
                f"No feedback labels for {label} yet ({len(rows):,} logged predictions{window}): "
                f"send them to POST /v1/models/{name}/feedback with their prediction_id."
            )
        arm_proba = [c for c in proba if labelled[c].notna().any()]
        scored = _score_arm(labelled, task, arm_proba)
        built.append((_summarise(label, rows, labelled, scored, task), scored))
    (arm_a, scored_a), (arm_b, scored_b) = built
    needs = {"log_loss": "row_log_loss", "auc": "score"}
    if chosen in needs and any(getattr(s, needs[chosen]) is None for s in (scored_a, scored_b)):
        what = "binary class probabilities" if chosen == "auc" else "class probabilities"
        raise DataError(
            f"The metric {chosen} needs {what} in the prediction log for both arms; use "
            "--metric accuracy."
        )
    return _test(name, arm_a, arm_b, scored_a, scored_b, task, chosen, alpha, rng, since)


def _summarise(
    label: str,
    rows: pd.DataFrame,
    labelled: pd.DataFrame,
    scored: _Scored,
    task: str,
) -> Arm:
    names = _REGRESSION_METRICS if task == "regression" else _CLASSIFICATION_METRICS
    n = scored.rows
    if n == 0:
        raise DataError(
            f"The feedback for {label} holds no usable labels ({len(labelled):,} rows, none a "
            "number a regression can be scored on)."
        )
    metrics: dict[str, float] = {}
    for metric in names:
        if (metric == "log_loss" and scored.row_log_loss is None) or (
            metric == "auc" and scored.score is None
        ):
            continue
        metrics[metric] = float(scored.statistic(metric)(np.ones((1, n)))[0])
    versions = sorted(int(v) for v in rows[COLUMNS.version].dropna().unique())
    return Arm(label, versions, len(rows), n, math.nan, (math.nan, math.nan), metrics)


def _test(
    name: str,
    arm_a: Arm,
    arm_b: Arm,
    scored_a: _Scored,
    scored_b: _Scored,
    task: str,
    metric: str,
    alpha: float,
    rng: np.random.Generator,
    since: Any,
) -> AbTestResult:
    notes: list[str] = []
    for arm, scored in ((arm_a, scored_a), (arm_b, scored_b)):
        arm.value = arm.metrics[metric]
        if metric == "accuracy":
            assert scored.correct is not None
            arm.ci = _wilson(float(scored.correct.sum()), arm.labelled, alpha)
        else:
            fn = scored.statistic(metric)
            arm.ci = _interval(fn(_resample(arm.labelled, rng)), alpha)
    if metric == "accuracy":
        assert scored_a.correct is not None and scored_b.correct is not None
        difference, ci, p = _two_proportions(scored_a.correct, scored_b.correct, alpha)
        test = "two-proportion z-test"
    else:
        draws_a = scored_a.statistic(metric)(_resample(arm_a.labelled, rng))
        draws_b = scored_b.statistic(metric)(_resample(arm_b.labelled, rng))
        difference = arm_b.value - arm_a.value
        ci = _interval(draws_b - draws_a, alpha)
        if metric == "auc":
            d = (draws_b - draws_a)[np.isfinite(draws_b - draws_a)]
            p = float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))) if len(d) else 1.0
            test = "bootstrap of the AUC difference"
        else:
            if min(arm_a.labelled, arm_b.labelled) < 2:
                raise DataError(
                    f"A test of {metric} needs at least 2 labelled rows in each arm; "
                    f"{arm_a.name} has {arm_a.labelled}, {arm_b.name} {arm_b.labelled}."
                )
            p = _welch(scored_a.losses(metric), scored_b.losses(metric))
            loss = {"log_loss": "log-losses", "rmse": "squared errors", "mae": "absolute errors"}
            test = f"Welch t-test on per-row {loss[metric]}"
    greater = _GREATER_IS_BETTER[metric]
    significant = p < alpha
    better = None
    if significant and difference != 0:
        better = arm_b.name if (difference > 0) == greater else arm_a.name
    verdict = _verdict(name, arm_a, arm_b, metric, difference, ci, p, alpha, test, better)
    if not significant and metric == "accuracy" and difference != 0:
        needed = _rows_needed(arm_a.value, arm_b.value, alpha)
        notes.append(f"About {needed:,} labelled rows per arm would detect this difference.")
        verdict += f" About {needed:,} labelled rows per arm would detect a difference this size."
    return AbTestResult(
        model=name,
        a=arm_a,
        b=arm_b,
        task=task,
        metric=metric,
        greater_is_better=greater,
        difference=float(difference),
        difference_ci=(float(ci[0]), float(ci[1])),
        test=test,
        p_value=float(p),
        alpha=float(alpha),
        significant=significant,
        better=better,
        verdict=verdict,
        since=None if since is None else str(since),
        notes=notes,
    )


def _rows_needed(p1: float, p2: float, alpha: float, power: float = 0.8) -> int:
    """Rows per arm for a two-sided z-test to detect ``p2 - p1`` with ``power``."""
    spread = p1 * (1 - p1) + p2 * (1 - p2)
    z = _z(1 - alpha / 2) + _z(power)
    return math.ceil(z * z * spread / (p2 - p1) ** 2)


def _arm_text(arm: Arm) -> str:
    versions = ",".join(f"v{v}" for v in arm.versions)
    return arm.name if arm.name == versions else f"{arm.name} ({versions})"


def _verdict(
    name: str,
    a: Arm,
    b: Arm,
    metric: str,
    difference: float,
    ci: tuple[float, float],
    p: float,
    alpha: float,
    test: str,
    better: str | None,
) -> str:
    shown = f"p < {1 / _BOOTSTRAP:.2g}" if p == 0 else f"p = {p:.3g}"
    figures = (
        f"{metric} {b.name} {b.value:.4f} vs {a.name} {a.value:.4f}, difference "
        f"{difference:+.4g} ({100 * (1 - alpha):g} % CI {ci[0]:+.4g} to {ci[1]:+.4g}); {test} "
        f"{shown} {'<' if p < alpha else '>='} {alpha:g}; {b.labelled:,} vs {a.labelled:,} "
        "labelled rows"
    )
    if better is not None:
        winner, worse = (b, a) if better == b.name else (a, b)
        return (
            f"{name}: {_arm_text(winner)} is significantly better than {_arm_text(worse)} "
            f"({figures})."
        )
    return (
        f"{name}: no significant difference between {_arm_text(b)} and {_arm_text(a)} ({figures})."
    )
