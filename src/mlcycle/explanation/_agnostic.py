"""Model-agnostic SHAP values over the raw input columns, by antithetic permutations.

This is the algorithm of ``shap.PermutationExplainer`` with an independent (interventional)
masker: for each sampled order of the columns, the columns are switched one by one from
background values to the row's values, forwards and then backwards, and each column is
credited with the change in the model's mean output over the background rows. Both
passes telescope, so the values add up exactly: the base (mean output over the
background) plus a row's contributions is the model's output for the row.

It is written here rather than called from SHAP because SHAP's tabular masker compiles
its kernels with numba on first use in every process (5 to 15 seconds, uncached), and
because building the masked rows with pandas keeps every column's dtype (strings,
categories, dates, missing values) exactly as the model expects it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from mlcycle.explanation._models import ModelInfo, ShapResult, predict_output

MAX_BACKGROUND = 100
"""Background rows a model-agnostic explanation integrates over (each costs one model row)."""


def _orders(n_columns: int, n_orders: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Column orders: every one when that is cheaper (exact values), else sampled pairs.

    A sampled permutation is followed by its reverse (antithetic sampling).
    """
    if math.factorial(n_columns) <= 2 * n_orders:
        return [np.asarray(order) for order in itertools.permutations(range(n_columns))]
    orders: list[np.ndarray] = []
    for _ in range(n_orders):
        order = rng.permutation(n_columns)
        orders.extend((order, order[::-1]))
    return orders


def _hybrid(pool: pd.DataFrame, masks: np.ndarray) -> pd.DataFrame:
    """For each mask and background row, that row with the masked columns from the last row.

    ``pool`` is the background followed by the explained row; ``masks`` is
    (states x columns) of booleans. Values are taken, never converted, so dtypes survive.
    """
    n_background = len(pool) - 1
    background = np.arange(n_background)
    data = {}
    for j, column in enumerate(pool.columns):
        index = np.where(masks[:, j][:, None], n_background, background[None, :]).reshape(-1)
        data[column] = pool[column].take(index).reset_index(drop=True)
    return pd.DataFrame(data)


def run_permutation(
    info: ModelInfo,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    *,
    max_evals: int,
    seed: int,
) -> ShapResult:
    """Permutation SHAP values of ``frame``'s rows against ``background`` (≤ 100 rows used).

    ``max_evals`` bounds the masked evaluations per row as in SHAP: ``max_evals // (2 *
    columns + 1)`` forward-and-backward orders, at least one; with so few columns that
    all their orders fit in that budget, all are used and the values are exact Shapley
    values. Each evaluation costs one model row per background row.
    """
    if len(background) > MAX_BACKGROUND:
        background = background.sample(MAX_BACKGROUND, random_state=seed)
    background = background.reset_index(drop=True)
    n_columns = len(info.columns)
    n_orders = max(1, int(max_evals) // (2 * n_columns + 1))
    rng = np.random.default_rng(seed)

    base = predict_output(info, background).mean(axis=0)
    outputs = predict_output(info, frame)
    values = np.zeros((len(frame), n_columns, *np.shape(base)), dtype=np.float64)
    for i in range(len(frame)):
        orders = _orders(n_columns, n_orders, rng)
        states = []  # the inner states of each pass: its first k columns switched, 0 < k < M
        for order in orders:
            for k in range(1, n_columns):
                mask = np.zeros(n_columns, dtype=bool)
                mask[order[:k]] = True
                states.append(mask)
        inner = np.empty((0, *np.shape(base)))
        if states:
            pool = pd.concat([background, frame.iloc[[i]]], ignore_index=True)
            hybrid = _hybrid(pool, np.asarray(states))
            out = predict_output(info, hybrid)
            inner = out.reshape(len(states), len(background), *out.shape[1:]).mean(axis=1)
        per_pass = n_columns - 1
        for p, order in enumerate(orders):
            chain = np.concatenate(
                [base[None], inner[p * per_pass : (p + 1) * per_pass], outputs[i][None]]
            )
            values[i, order] += np.diff(chain, axis=0)
        values[i] /= len(orders)
    return ShapResult(values=values, base=np.asarray(base), outputs=outputs)
