"""Explanation: which input columns matter to a model, and why it predicted what it did.

:func:`global_importance` ranks a model's input columns (SHAP for tree and linear
pipelines, permutation importance otherwise); :func:`explain` splits individual
predictions into per-column contributions; :func:`importance_plot` and
:func:`dependence_plots` draw them as SVG. Everything is in the model's original input
columns, never in its prepared features.

Names are imported on first use, so ``import mlcycle.explanation`` imports neither SHAP,
scikit-learn nor matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcycle._lazy import lazy_exports

if TYPE_CHECKING:
    from mlcycle.explanation._explain import Explanation, explain
    from mlcycle.explanation._importance import Importance, global_importance
    from mlcycle.explanation._plots import dependence_plots, importance_plot

_LAZY = {
    "Explanation": "mlcycle.explanation._explain",
    "explain": "mlcycle.explanation._explain",
    "Importance": "mlcycle.explanation._importance",
    "global_importance": "mlcycle.explanation._importance",
    "dependence_plots": "mlcycle.explanation._plots",
    "importance_plot": "mlcycle.explanation._plots",
}

__all__ = [
    "Explanation",
    "Importance",
    "dependence_plots",
    "explain",
    "global_importance",
    "importance_plot",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
