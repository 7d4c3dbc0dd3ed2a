"""Small SVG charts of an :class:`~mlcycle.explanation.Importance` (matplotlib, no pyplot).

Figures are plain ``matplotlib.figure.Figure`` objects rendered by the SVG backend: no
global pyplot state, no window, nothing to close, safe in a server thread. Text stays
text (``svg.fonttype: none``) and the output carries no date, so the same input gives
the same bytes.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.explanation._importance import Importance, PartialDependence
from mlcycle.explanation._json import label_text

__all__ = ["dependence_plots", "importance_plot"]

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "mlcycle",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_COLOR = "#2e6f9e"
_MAX_POINTS = 500
_MAX_CATEGORIES = 12
_MAX_CLASSES = 10


def _svg(draw: Any, width: float, height: float) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        figure = Figure(figsize=(width, height), layout="constrained")
        draw(figure.subplots())
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        figure.clear()
    return buffer.getvalue()


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def importance_plot(importance: Importance, top: int = 15) -> str:
    """A horizontal bar chart (SVG text) of the ``top`` most important columns."""
    if not isinstance(importance, Importance):
        raise BadParameterError(
            "importance_plot() takes an Importance from global_importance(). "
            f"Got {type(importance).__name__} instead."
        )
    if not _is_int(top) or top < 1:
        raise BadParameterError(
            f"The 'top' parameter of importance_plot() must be an integer >= 1. "
            f"Got {top!r} instead."
        )
    items = [(k, v) for k, v in importance.top(top).items() if np.isfinite(v)][::-1]
    names = [_short(k) for k, _ in items]
    values = [v for _, v in items]
    errors = None
    if importance.std is not None:
        errors = [importance.std.get(k, 0.0) for k, _ in items]
    label = (
        f"mean |SHAP value| ({importance.output})"
        if importance.method == "shap"
        else importance.output
    )

    def draw(ax: Any) -> None:
        ax.barh(names, values, xerr=errors, color=_COLOR, ecolor="#667085")
        ax.set_xlabel(_short(label, 90))
        ax.set_title("Importance of each column")
        ax.axvline(0, color="#98a2b3", linewidth=0.8)

    return _svg(draw, 6.0, 1.0 + 0.28 * max(len(items), 1))


def _is_number(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _categories(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's category label: the most frequent ones, "(other)" and "(missing)"."""
    text = series.astype(object).map(lambda v: "(missing)" if pd.isna(v) else str(v))
    keep = list(text.value_counts().index[:_MAX_CATEGORIES])
    labels = np.where(text.isin(keep), text, "(other)")
    order = [k for k in keep] + (["(other)"] if (labels == "(other)").any() else [])
    return labels, order


def _horizontal(ax: Any) -> dict[str, Any]:
    """Horizontal boxes: ``orientation`` since matplotlib 3.10, ``vert`` before it."""
    import inspect

    if "orientation" in inspect.signature(ax.boxplot).parameters:
        return {"orientation": "horizontal"}
    return {"vert": False}


def _is_time(series: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(series.dtype))


def _shap_plot(column: str, x: pd.Series, values: np.ndarray, title: str) -> str:
    along = _is_number(x) or _is_time(x)

    def draw(ax: Any) -> None:
        if along:
            seen = x.notna().to_numpy()
            points = x[seen].to_numpy() if _is_time(x) else x[seen].to_numpy(dtype=np.float64)
            ax.scatter(points, values[seen], s=9, alpha=0.6, color=_COLOR, linewidths=0)
            missing = int((~seen).sum())
            ax.set_xlabel(column + (f" ({missing} missing not shown)" if missing else ""))
            ax.set_ylabel("SHAP value")
            ax.axhline(0, color="#98a2b3", linewidth=0.8)
            if _is_time(x):
                ax.tick_params(axis="x", labelrotation=30)
        else:
            labels, order = _categories(x)
            groups = [values[labels == k] for k in order]
            ax.boxplot(groups, showfliers=False, widths=0.6, **_horizontal(ax))
            rng = np.random.default_rng(0)
            for i, group in enumerate(groups, start=1):
                jitter = rng.uniform(-0.18, 0.18, len(group))
                ax.scatter(group, i + jitter, s=7, alpha=0.5, color=_COLOR, linewidths=0)
            ax.set_yticks(range(1, len(order) + 1), [_short(k, 20) for k in order])
            ax.set_ylabel(column)
            ax.set_xlabel("SHAP value")
            ax.axvline(0, color="#98a2b3", linewidth=0.8)
        ax.set_title(_short(title, 80))

    return _svg(draw, 5.0, 3.4)


def _pd_plot(curve: PartialDependence, output: str, classes: list[Any] | None) -> str:
    average = np.asarray(curve.average, dtype=np.float64)
    lines = average.reshape(len(curve.grid), -1)
    names = [label_text(c) for c in classes] if classes and lines.shape[1] == len(classes) else None

    def draw(ax: Any) -> None:
        if curve.kind == "numeric":
            x: Any = np.asarray(curve.grid, dtype=np.float64)
        elif curve.kind == "datetime":
            x = pd.to_datetime(pd.Series(curve.grid)).to_numpy()
            ax.tick_params(axis="x", labelrotation=30)
        else:
            x = np.arange(len(curve.grid))
            ax.set_xticks(x, [_short(str(g), 14) for g in curve.grid], rotation=40, ha="right")
        for k in range(min(lines.shape[1], _MAX_CLASSES)):
            label = names[k] if names is not None and lines.shape[1] > 1 else None
            style = "o-" if curve.kind == "category" else "-"
            ax.plot(
                x,
                lines[:, k],
                style,
                label=label,
                markersize=4,
                color=_COLOR if lines.shape[1] == 1 else None,
            )
        if lines.shape[1] > 1:
            ax.legend(fontsize=7, title="class", title_fontsize=7)
        ax.set_xlabel(curve.column)
        ax.set_ylabel(_short(output, 45))
        ax.set_title(_short(f"Partial dependence on {curve.column}", 80))

    return _svg(draw, 5.0, 3.4)


def dependence_plots(
    importance: Importance, sample: pd.DataFrame | None = None, top: int = 4
) -> dict[str, str]:
    """SVG plots (column → SVG text) of how the ``top`` columns drive the model.

    SHAP importance: each column's value against its SHAP contribution, one point per
    sampled row (a scatter for numbers and dates; a box and strip per category, the 12
    most frequent, otherwise; for multiclass, of the class the column weighs most on).
    ``sample`` are the rows the SHAP values were computed on, by default those kept in
    ``importance``.
    Permutation importance has no per-row values: its plots are partial-dependence curves
    (brute force, as ``sklearn.inspection.partial_dependence``) of the model's output;
    columns without a curve are left out of the result.
    """
    if not isinstance(importance, Importance):
        raise BadParameterError(
            "dependence_plots() takes an Importance from global_importance(). "
            f"Got {type(importance).__name__} instead."
        )
    if not _is_int(top) or top < 1:
        raise BadParameterError(
            f"The 'top' parameter of dependence_plots() must be an integer >= 1. "
            f"Got {top!r} instead."
        )
    wanted = list(importance.top(top))
    if importance.shap_values is None:
        if importance.task == "binary" and importance.classes:
            output = f"average P({label_text(importance.classes[-1])})"
        elif importance.task == "binary":
            output = "average P(positive class)"
        elif importance.task == "multiclass":
            output = "average class probability"
        else:
            output = "average prediction"
        return {
            c: _pd_plot(importance.partial_dependence[c], output, importance.classes)
            for c in wanted
            if c in importance.partial_dependence
        }
    rows = importance.sample if sample is None else sample
    values = np.asarray(importance.shap_values)
    if not isinstance(rows, pd.DataFrame) or len(rows) != values.shape[0]:
        raise BadParameterError(
            f"dependence_plots() needs the {values.shape[0]} rows the SHAP values were "
            "computed on: pass sample= (a DataFrame), or an Importance that kept them."
        )
    missing = [c for c in wanted if c not in rows.columns]
    if missing:
        raise DataError(
            f"Column '{missing[0]}' is missing from the sample. It has: "
            f"{', '.join(map(str, rows.columns))}."
        )
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(rows), size=min(len(rows), _MAX_POINTS), replace=False))
    plots = {}
    for column in wanted:
        j = importance.columns.index(column)
        column_values = values[keep, j]
        title = f"{column}: SHAP value ({importance.output})"
        if column_values.ndim == 2:  # multiclass: the class this column weighs most on
            k = int(np.abs(column_values).mean(axis=0).argmax())
            column_values = column_values[:, k]
            name = label_text(importance.classes[k]) if importance.classes else str(k)
            title = f"{column}: SHAP value for class '{name}'"
        x = rows[column].iloc[keep].reset_index(drop=True)
        plots[column] = _shap_plot(column, x, column_values, title)
    return plots
