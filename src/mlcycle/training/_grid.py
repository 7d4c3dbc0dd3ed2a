"""Grid search: a small, explicit grid per family around its defaults.

``--search grid`` tries every point (families interleaved) and stops when the grid is done or
the budget runs out. Grids are kept small on purpose: a grid spends its budget evenly, so
each point should be a configuration worth trying.
"""

from __future__ import annotations

import itertools
from typing import Any

from mlcycle.training._families import FAMILIES

__all__ = ["grid_points"]

_GRIDS: dict[str, dict[str, list[Any]]] = {
    "linear": {"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
    "rf": {"max_features": [0.2, 0.5, 1.0], "min_samples_leaf": [1, 4]},
    "et": {"max_features": [0.2, 0.5, 1.0], "min_samples_leaf": [1, 4]},
    "hgb": {"learning_rate": [0.05, 0.2], "max_leaf_nodes": [8, 31]},
    "lgbm": {"learning_rate": [0.02, 0.1], "num_leaves": [7, 31], "min_child_samples": [5, 20]},
    "xgb": {"learning_rate": [0.02, 0.1], "max_depth": [3, 6], "min_child_weight": [1.0, 5.0]},
    "knn": {"n_neighbors": [3, 10, 30], "weights": ["uniform", "distance"]},
}
_REGRESSION = {"linear": {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]}}


def grid_points(family: str, task: str, n_rows: int) -> list[dict[str, Any]]:
    """Every grid point of ``family`` as Optuna parameters (``family`` plus prefixed names)."""
    base = FAMILIES[family].defaults(task, n_rows)
    grid = _REGRESSION.get(family, _GRIDS[family]) if task == "regression" else _GRIDS[family]
    keys = sorted(grid)
    points = []
    for values in itertools.product(*(grid[k] for k in keys)):
        params = {**base, **dict(zip(keys, values, strict=True))}
        if family == "knn":
            params["n_neighbors"] = max(1, min(int(params["n_neighbors"]), max(1, n_rows // 4)))
        points.append({"family": family, **{f"{family}.{k}": v for k, v in params.items()}})
    return points
