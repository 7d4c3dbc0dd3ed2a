"""The statistics behind :func:`mlcycle.monitoring.drift`, on arrays that are already counted.

Every test here works on sorted values, quantiles or counts, never on rows one by one, so a
column of a million values costs one sort (or one ``value_counts``) before it gets here; the
domain classifier works on at most 10,000 encoded rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "IMPORTANCE_ROWS",
    "KS_EXACT_SIZE",
    "PSI_EPSILON",
    "benjamini_hochberg",
    "chi2_homogeneity",
    "domain_auc",
    "js_distance",
    "ks_from_quantiles",
    "ks_pvalue",
    "ks_wasserstein_exact",
    "psi",
    "psi_chance",
    "quantile_levels",
    "shares",
    "sorted_quantiles",
    "wasserstein_from_quantiles",
]

IMPORTANCE_ROWS = 600
"""Held-out rows on which the domain classifier's permutation importance is measured."""
KS_EXACT_SIZE = 5000
"""Largest effective sample size for which KS p-values use the finite-n distribution."""
PSI_EPSILON = 1e-4
"""Share given to an empty bin in PSI, so that a bin empty on one side costs a lot, not infinity."""


def quantile_levels(quantiles: int) -> np.ndarray:
    """The probability levels ``0, 1/q, ..., 1`` of a grid of ``q`` quantile intervals."""
    return np.linspace(0.0, 1.0, quantiles + 1)


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their total (zeros when the total is zero)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input's order.

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    # the running minimum from the largest p down keeps the adjusted values monotone
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over shares of the same cells.

    Empty cells get the share :data:`PSI_EPSILON`. Rules of thumb: < 0.1 stable, 0.1-0.2 a
    moderate shift, >= 0.2 a significant one.
    """
    r = np.maximum(shares(reference_counts), PSI_EPSILON)
    c = np.maximum(shares(current_counts), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between two count vectors."""
    from scipy.spatial.distance import jensenshannon

    r, c = shares(reference_counts), shares(current_counts)
    if r.sum() == 0 or c.sum() == 0:
        return math.nan
    return float(jensenshannon(r, c, base=2))


def chi2_homogeneity(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """p-value of the chi-square test that two count vectors come from one distribution.

    A 2 x k contingency test (``scipy.stats.chi2_contingency``): the reference's counts are
    a sample too, so a cell that one side lacks (an unseen category) is an ordinary cell.
    Cells empty on both sides are dropped; with fewer than two cells left there is nothing
    to test and the p-value is 1.
    """
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=table.shape[1] == 2).pvalue)


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """Asymptotic two-sample Kolmogorov-Smirnov p-value for ``n`` and ``m`` values.

    Up to an effective size ``n * m / (n + m)`` of 5,000 as ``scipy.stats.ks_2samp`` computes
    it with ``method="asymp"`` (``kstwo.sf(D, round(n * m / (n + m)))``); above, where that
    costs tens of milliseconds, the limiting distribution with Stephens' correction,
    ``kstwobign.sf((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D)``, within about 1 % of it.
    """
    from scipy.stats import kstwo, kstwobign

    if n_reference == 0 or n_current == 0:
        return math.nan
    effective = n_reference * n_current / (n_reference + n_current)
    if effective <= KS_EXACT_SIZE:
        p = kstwo.sf(statistic, max(1, round(effective)))
    else:
        root = math.sqrt(effective)
        p = kstwobign.sf((root + 0.12 + 0.11 / root) * statistic)
    return float(np.clip(p, 0.0, 1.0))


def ks_wasserstein_exact(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Exact two-sample KS statistic and Wasserstein-1 distance of two *sorted* arrays.

    KS: the empirical CDF of the smaller sample is a step function, so the largest gap is
    reached at one of its distinct values, or just below one; two ``searchsorted`` of those
    values into the larger sample find it, without merging the samples.
    Wasserstein: the area between the two CDFs, by one linear merge of the sorted samples, or
    when one size is a multiple of the other by pairing their quantiles directly.
    """
    small, large = (reference, current) if reference.size <= current.size else (current, reference)
    last = np.r_[small[1:] != small[:-1], True]
    values = small[last]
    cdf_small = (np.flatnonzero(last) + 1) / small.size
    at = np.searchsorted(large, values, side="right") / large.size
    below = np.searchsorted(large, values, side="left") / large.size
    # at each distinct value, and just below the next one (where the small CDF has not risen)
    gaps = np.abs(cdf_small - at)
    ks = max(float(gaps.max()), float(below[0]))
    if values.size > 1:
        ks = max(ks, float(np.abs(cdf_small[:-1] - below[1:]).max()))
    return ks, _wasserstein_sorted(small, large)


def _wasserstein_sorted(small: np.ndarray, large: np.ndarray) -> float:
    """Exact Wasserstein-1 distance of two sorted samples: the area between their CDFs."""
    n, m = small.size, large.size
    if m % n == 0:
        # the quantile functions step at multiples of 1/m: each small value repeats m/n times
        gap = np.repeat(small, m // n)
        np.subtract(gap, large, out=gap)
        return float(np.abs(gap, out=gap).mean())
    merged = np.concatenate([small, large])
    order = np.argsort(merged, kind="stable")  # two sorted runs: one linear merge
    merged = merged[order]
    below_small = np.cumsum(order < n)
    gap = np.abs(below_small / n - (np.arange(1, n + m + 1) - below_small) / m)
    return float(np.sum(gap[:-1] * np.diff(merged)))


def ks_from_quantiles(reference_quantiles: np.ndarray, current: np.ndarray) -> float:
    """KS statistic from the reference's quantile grid and the *sorted* current values.

    At each reference quantile ``q_i`` (level ``p_i``) the reference CDF is ``p_i`` (the
    largest level when several quantiles are equal, as in discrete columns) and the current
    CDF is the ECDF of ``current``; the statistic is the largest gap over the grid. Between
    two grid points the reference CDF rises by at most one grid step, so this is at most
    ``1 / quantiles`` below the exact statistic (0.01 with the default 100 quantiles).
    """
    q = np.asarray(reference_quantiles, dtype=np.float64)
    levels = quantile_levels(q.size - 1)
    # for equal quantiles the CDF is the largest level among them: keep the last of each run
    last = np.r_[q[1:] != q[:-1], True]
    points, cdf_reference = q[last], levels[last]
    cdf_current = np.searchsorted(current, points, side="right") / current.size
    # the reference CDF is 0 just below its minimum: the current share below it counts too
    below = np.searchsorted(current, points[0], side="left") / current.size
    return float(max(np.abs(cdf_reference - cdf_current).max(), below))


def wasserstein_from_quantiles(
    reference_quantiles: np.ndarray, current_quantiles: np.ndarray
) -> float:
    """Wasserstein-1 distance ``∫|Q_ref(p) - Q_cur(p)| dp`` from two quantile grids.

    The mean over the interior levels (1 %..99 % with 100 quantiles): the 0 and 100 %
    "quantiles" are the sample minimum and maximum, which grow with the number of rows
    rather than with the distribution, and would make a large window of heavy-tailed values
    look shifted. The result is therefore a Wasserstein distance of the central 98 %.
    """
    gap = np.abs(np.asarray(reference_quantiles) - np.asarray(current_quantiles))
    return float(gap[1:-1].mean()) if gap.size > 2 else float(gap.mean())


def sorted_quantiles(values: np.ndarray, size: int) -> np.ndarray:
    """Linear-interpolation quantiles at ``size`` even levels of an already sorted array
    (what ``np.quantile`` returns, without its partitioning)."""
    position = quantile_levels(size - 1) * (values.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, values.size - 1)
    return values[low] + (position - low) * (values[high] - values[low])


def psi_chance(cells: int, n_reference: float, n_current: float) -> float:
    """The PSI that chance alone gives two samples of one distribution, about
    ``(cells - 1) * (1 / n_ref + 1 / n_cur)`` (PSI is close to a chi-square statistic)."""
    return max(cells - 1, 1) * (1 / n_reference + 1 / n_current)


def domain_auc(
    X: np.ndarray,
    y: np.ndarray,
    categorical: np.ndarray,
    *,
    seed: int,
    importance_above: float,
) -> tuple[float, np.ndarray | None]:
    """3-fold cross-validated ROC-AUC of a classifier that tells ``y == 1`` rows from the rest.

    A small seeded ``HistGradientBoostingClassifier`` (60 trees of 15 leaves, categories as
    codes). When the AUC reaches ``importance_above``, also the drop of held-out AUC when each
    column is shuffled (:func:`permutation_drop`); otherwise None.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(
        max_iter=60,
        learning_rate=0.1,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=categorical,
        random_state=seed,
    )
    scores = np.zeros(y.size)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(X, y))
    # one thread: on 10,000 rows OpenMP threads gain little, and on a busy machine they spin
    with threadpool_limits(1, user_api="openmp"):
        for train, test in folds:
            model.fit(X[train], y[train])
            scores[test] = model.predict_proba(X[test])[:, 1]
        auc = float(roc_auc_score(y, scores))
        if auc < importance_above:
            return auc, None
        held_out = folds[-1][1]  # the last fold's model, on the rows it did not see
        rng = np.random.default_rng(seed)
        return auc, permutation_drop(model, X[held_out], y[held_out], rng)


def permutation_drop(
    model: Any, X: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Drop of ROC-AUC when one column is shuffled, for every column.

    Blocks of columns are scored in one ``predict_proba`` call each (a boosted model pays a
    fixed cost per call that would dominate on a few thousand rows), on at most
    :data:`IMPORTANCE_ROWS` rows: enough to rank the few features that separate the two sides,
    far ahead of the rest, and cheap with a hundred features.
    """
    from sklearn.metrics import roc_auc_score

    if y.size > IMPORTANCE_ROWS:
        keep = np.sort(rng.choice(y.size, IMPORTANCE_ROWS, replace=False))
        X, y = X[keep], y[keep]
    base = roc_auc_score(y, model.predict_proba(X)[:, 1])
    n, width = X.shape
    drops = np.zeros(width)
    block = max(1, 200_000 // max(n, 1))
    for first in range(0, width, block):
        columns = range(first, min(first + block, width))
        stacked = np.tile(X, (len(columns), 1))
        for k, j in enumerate(columns):
            stacked[k * n : (k + 1) * n, j] = X[rng.permutation(n), j]
        scores = model.predict_proba(stacked)[:, 1]
        for k, j in enumerate(columns):
            drops[j] = base - roc_auc_score(y, scores[k * n : (k + 1) * n])
    return drops
