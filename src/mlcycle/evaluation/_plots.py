"""The evaluation's plots as standalone SVG, drawn from its stored curve data only.

Figures are built on ``matplotlib.figure.Figure`` directly, never through pyplot: nothing
is registered with (or has to be closed in) a global figure manager, no GUI backend is
touched and a user's interactive backend is left alone, so this is safe in servers, threads
and notebooks. Text stays text (``svg.fonttype: none``) and the DOCTYPE and metadata, the
only external references matplotlib writes, are dropped, so each plot is a few kilobytes
that can be inlined in an HTML model card. Element ids are salted with the plot's name so
that several plots inlined in one page do not share ids.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mlcycle.evaluation._evaluate import Evaluation

__all__ = ["render_plots"]

_BLUE, _ORANGE, _GREY = "#1f77b4", "#d95f02", "#999999"
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # written on every <text>
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_MAX_ANNOTATED_CLASSES = 25
# matplotlib names every group ("figure_1", "axes_1", ...); those ids repeat from plot to
# plot and nothing refers to them, so they are dropped to keep inlined plots valid HTML.
_ID = re.compile(r' id="([^"]+)"')


def render_plots(evaluation: Evaluation) -> dict[str, str]:
    """Every plot the evaluation has data for, by name, as an SVG document string."""
    import matplotlib
    from matplotlib.figure import Figure

    builders: dict[str, tuple[Callable[[Figure, Evaluation], None], tuple[float, float]]] = {
        "roc": (_roc, (4.0, 3.6)),
        "pr": (_pr, (4.0, 3.6)),
        "calibration": (_calibration, (4.0, 3.6)),
        "confusion": (_confusion, _confusion_size(evaluation)),
        "residuals": (_residuals, (7.0, 3.2)),
        "predicted_vs_actual": (_predicted_vs_actual, (4.0, 3.6)),
    }
    present = set(evaluation.curves)
    if evaluation.confusion is not None and evaluation.labels is not None:
        present.add("confusion")
    plots: dict[str, str] = {}
    for name, (build, size) in builders.items():
        if name not in present:
            continue
        rc: Any = {**_RC, "svg.hashsalt": f"mlcycle-{name}"}
        with matplotlib.rc_context(rc):
            figure = Figure(figsize=size, layout="constrained")
            build(figure, evaluation)
            plots[name] = _svg(figure)
    return plots


def _svg(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = buffer.getvalue().decode("utf-8")
    text = text[text.index("<svg") :]
    referenced = set(re.findall(r"#([\w.-]+)", text))
    return _ID.sub(lambda m: m.group(0) if m.group(1) in referenced else "", text)


def _unit_axes(ax: Axes, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, linewidth=0.3, color="#dddddd")


def _metric(evaluation: Evaluation, name: str, label: str) -> str:
    value = evaluation.metrics.get(name)
    return "" if value is None or not np.isfinite(value) else f" ({label} {value:.3f})"


def _operating_point(evaluation: Evaluation) -> tuple[float, float, float] | None:
    """(false positive rate, recall, precision) at the evaluation's threshold."""
    if evaluation.confusion is None or evaluation.threshold is None:
        return None
    (tn, fp), (fn, tp) = np.asarray(evaluation.confusion, dtype=float)
    fpr = fp / (fp + tn) if fp + tn else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    return fpr, recall, precision


def _roc(figure: Figure, evaluation: Evaluation) -> None:
    data = evaluation.curves["roc"]
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", linewidth=0.8, color=_GREY, label="chance")
    label = "model" + _metric(evaluation, "auc", "AUC")
    ax.plot(data["fpr"], data["tpr"], color=_BLUE, linewidth=1.5, label=label)
    point = _operating_point(evaluation)
    if point is not None:
        ax.plot(
            point[0],
            point[1],
            "o",
            color=_ORANGE,
            markersize=5,
            label=f"threshold {evaluation.threshold:.3g}",
        )
    _unit_axes(ax, "false positive rate", "true positive rate (recall)", "ROC curve")
    ax.legend(loc="lower right")


def _pr(figure: Figure, evaluation: Evaluation) -> None:
    data = evaluation.curves["pr"]
    ax = figure.subplots()
    rate = data.get("positive_rate")
    if rate is not None:
        ax.axhline(rate, linestyle="--", linewidth=0.8, color=_GREY, label="chance")
    label = "model" + _metric(evaluation, "pr_auc", "AP")
    ax.plot(
        data["recall"],
        data["precision"],
        drawstyle="steps-post",
        color=_BLUE,
        linewidth=1.5,
        label=label,
    )
    point = _operating_point(evaluation)
    if point is not None:
        ax.plot(
            point[1],
            point[2],
            "o",
            color=_ORANGE,
            markersize=5,
            label=f"threshold {evaluation.threshold:.3g}",
        )
    _unit_axes(ax, "recall", "precision", "Precision-recall curve")
    ax.legend(loc="lower left")


def _calibration(figure: Figure, evaluation: Evaluation) -> None:
    data = evaluation.curves["calibration"]
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", linewidth=0.8, color=_GREY, label="calibrated")
    label = "model" + _metric(evaluation, "ece", "ECE")
    ax.plot(
        data["prob_pred"],
        data["prob_true"],
        "o-",
        color=_BLUE,
        markersize=3,
        linewidth=1.2,
        label=label,
    )
    top = data.get("of") == "top class"
    _unit_axes(
        ax,
        f"mean predicted probability ({data.get('of', 'positive class')})",
        "share correct" if top else "share positive",
        f"Calibration ({data.get('strategy', 'quantile')} bins)",
    )
    ax.legend(loc="upper left")


def _confusion_size(evaluation: Evaluation) -> tuple[float, float]:
    k = len(evaluation.labels or ())
    side = float(min(9.0, max(3.4, 0.45 * k + 1.8)))
    return side + 0.6, side


def _confusion(figure: Figure, evaluation: Evaluation) -> None:
    from matplotlib.colors import BoundaryNorm

    counts = np.asarray(evaluation.confusion, dtype=float)
    labels = [_short(label) for label in evaluation.labels or ()]
    k = len(labels)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    ax = figure.subplots()
    # Ten colour steps: a continuous colour bar would be written as an embedded raster image.
    norm = BoundaryNorm(np.linspace(0.0, 1.0, 11), ncolors=256)
    mesh = ax.pcolormesh(share, cmap="Blues", norm=norm, edgecolors="white", linewidth=0.5)
    figure.colorbar(mesh, ax=ax, shrink=0.8, label="share of the true class")
    if k <= _MAX_ANNOTATED_CLASSES:
        size = 8 if k <= 10 else 6
        for i in range(k):
            for j in range(k):
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    f"{int(counts[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ticks = np.arange(k) + 0.5
    ax.set_xticks(ticks, labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(ticks, labels)
    ax.set_xlim(0, k)
    ax.set_ylim(k, 0)  # the first true class on top
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    title = "Confusion matrix"
    if evaluation.threshold is not None:
        title += f" (threshold {evaluation.threshold:.3g})"
    ax.set_title(title)


def _short(label: Any, limit: int = 14) -> str:
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample(evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray, str]:
    data = evaluation.curves["predicted_vs_actual"]
    actual = np.asarray(data["actual"], dtype=float)
    predicted = np.asarray(data["predicted"], dtype=float)
    total = int(data.get("n_total") or len(actual))
    note = f" ({len(actual):,} of {total:,} rows)" if total > len(actual) else ""
    return actual, predicted, note


def _residuals(figure: Figure, evaluation: Evaluation) -> None:
    scatter, histogram = figure.subplots(1, 2, width_ratios=[3, 2])
    if "predicted_vs_actual" in evaluation.curves:
        actual, predicted, note = _sample(evaluation)
        scatter.plot(predicted, actual - predicted, "o", color=_BLUE, alpha=0.5, ms=2.5, mew=0)
        scatter.set_title("Residuals vs predicted" + note)
    scatter.axhline(0.0, color=_GREY, linewidth=0.8, linestyle="--")
    scatter.set_xlabel("predicted")
    scatter.set_ylabel("residual (actual - predicted)")
    data = evaluation.curves["residuals"]
    histogram.stairs(data["counts"], data["edges"], fill=True, color=_BLUE, alpha=0.7)
    histogram.axvline(0.0, color=_GREY, linewidth=0.8, linestyle="--")
    histogram.set_xlabel("residual")
    histogram.set_ylabel("rows")
    histogram.set_title("Residual distribution (all rows)")


def _predicted_vs_actual(figure: Figure, evaluation: Evaluation) -> None:
    actual, predicted, note = _sample(evaluation)
    ax = figure.subplots()
    both = np.concatenate([actual, predicted])
    low, high = float(both.min()), float(both.max())
    pad = (high - low) * 0.03 or 1.0
    ax.plot([low, high], [low, high], linestyle="--", linewidth=0.8, color=_GREY, label="ideal")
    ax.plot(actual, predicted, "o", color=_BLUE, alpha=0.5, ms=2.5, mew=0, label="rows")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual" + note + _metric(evaluation, "r2", "R²"))
    ax.legend(loc="upper left")
