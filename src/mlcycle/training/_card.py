"""The model card: one self-contained HTML page about a trained model.

Sections: what the model is for (fields the owner fills in: they are editable in the page
and can be passed to ``train(model_card=...)``), the data it learned from, how the search
went, how good it is (cross-validation and the held-out test split, with plots), what drives
its predictions, and its lineage. Everything is inline (CSS and SVG); aggregates only, never
a raw row of data.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle._html import BASE_CSS
from mlcycle._version import __version__

if TYPE_CHECKING:
    from mlcycle.training._train import TrainResult

__all__ = ["INTENDED_USE_FIELDS", "render_card"]

INTENDED_USE_FIELDS = (
    ("intended_use", "Intended use"),
    ("out_of_scope", "Out-of-scope uses"),
    ("owners", "Owners and contact"),
    ("ethical_considerations", "Ethical considerations and fairness"),
    ("caveats", "Caveats and recommendations"),
)

_CSS = (
    BASE_CSS
    + """
h3{margin:6px 0}.grid{grid-template-columns:repeat(auto-fill,minmax(170px,1fr))}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px}
.plot{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:8px}
.plot svg{width:100%;height:auto}.field{min-height:1.6em;background:#fff;border:1px dashed #98a2b3;
border-radius:6px;padding:6px 10px}.field:empty:before{content:attr(data-placeholder);color:#98a2b3}
"""
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return _e(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{_fmt(c)}</td>"
            if isinstance(c, int | float | np.number)
            else f"<td>{_fmt(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _plot(title: str, svg: str) -> str:
    return f"<div class='plot'><h3>{_e(title)}</h3>{svg}</div>"


def _search_chart(result: TrainResult) -> str:
    """Trial score by trial number, one colour per family, with the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlcycle.evaluation import get_metric

    metric = get_metric(result.metric, result.task)
    greater = metric.greater_is_better
    done = [t for t in result.trials if t.value is not None]
    if not done:
        return ""
    plt.rcParams["svg.fonttype"] = "none"
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    try:
        families = sorted({t.family for t in done})
        for family in families:
            points = [t for t in done if t.family == family]
            values = [metric.from_loss(t.value) for t in points if t.value is not None]
            ax.scatter([t.number for t in points], values, s=14, label=family, alpha=0.8)
        ordered = sorted(done, key=lambda t: t.number)
        best: list[float] = []
        for t in ordered:
            assert t.value is not None
            current = metric.from_loss(t.value)
            if not best:
                best.append(current)
            else:
                best.append(max(best[-1], current) if greater else min(best[-1], current))
        ax.step(
            [t.number for t in ordered],
            best,
            where="post",
            color="#1d2330",
            lw=1.2,
            label="best so far",
        )
        ax.set_xlabel("trial")
        ax.set_ylabel(f"cv {result.metric}")
        values_all = np.asarray(best)
        spread = float(values_all.max() - values_all.min()) if len(values_all) else 0.0
        if spread > 0:  # keep the interesting range visible; far-off trials are clipped
            lo, hi = float(values_all.min()), float(values_all.max())
            pad = max(spread, 1e-3) * 1.5
            ax.set_ylim((lo - pad, hi + pad / 3) if greater else (lo - pad / 3, hi + pad))
        ax.legend(fontsize=7, ncol=4, loc="lower right" if greater else "upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def _folds_text(result: TrainResult) -> str:
    cv, repeats = result.extras.get("cv", 5), result.extras.get("cv_repeats", 1)
    text = f"{cv}-fold cross-validation"
    return text + (f" repeated {repeats} times (small data)" if repeats > 1 else "")


def _search_section(result: TrainResult) -> str:
    from mlcycle.evaluation import get_metric

    metric = get_metric(result.metric, result.task)
    rows = []
    for family in sorted({t.family for t in result.trials}):
        trials = [t for t in result.trials if t.family == family]
        done = [t for t in trials if t.value is not None]
        best = min(done, key=lambda t: t.value or 0.0) if done else None
        best_value = None
        if best is not None and best.value is not None:
            best_value = metric.from_loss(best.value)
        rows.append(
            [
                family,
                len(trials),
                sum(t.state == "pruned" for t in trials),
                sum(t.state == "failed" for t in trials),
                best_value,
                None if best is None else round(sum(t.duration for t in trials), 2),
            ]
        )
    parts = [
        "<h2>Search</h2>",
        f"<p>{result.n_trials} trials ({result.n_pruned} pruned) in {result.fit_seconds:.1f} s "
        f"of a {result.budget:g} s budget, {_e(_folds_text(result))}, seed {result.seed}.</p>",
        _table(
            ["family", "trials", "pruned", "failed", f"best cv {result.metric}", "seconds"], rows
        ),
    ]
    if result.ensemble:
        members = [[m["family"], m["trial"], m["weight"]] for m in result.ensemble["members"]]
        parts.append(
            f"<p>The final model is an ensemble (greedy selection on out-of-fold predictions): "
            f"cv {result.metric} {result.ensemble['cv_score']:.4f} against "
            f"{result.ensemble['best_single_cv_score']:.4f} for the best single trial.</p>"
        )
        parts.append(_table(["family", "trial", "weight"], members))
    else:
        params = [[k, v] for k, v in sorted(result.best_params.items())]
        parts.append(
            f"<p>The final model is trial {result.best_family}'s best configuration, "
            "refit on all training rows:</p>"
        )
        parts.append(_table(["parameter", "value"], params))
    chart = _search_chart(result)
    if chart:
        parts.append(f"<div class='plots'>{_plot('Trials', chart)}</div>")
    return "".join(parts)


def _metrics_section(result: TrainResult) -> str:
    rows: list[list[Any]] = [
        [
            f"cv {result.metric} (mean ± sd over folds)",
            f"{result.cv_score:.4f} ± {result.cv_std:.4f}",
        ]
    ]
    if result.train_score is not None:
        rows.append([f"train {result.metric} (first fold)", result.train_score])
    if result.threshold is not None:
        rows.append(["decision threshold (F1-optimal out of fold)", result.threshold])
    parts = ["<h2>Performance</h2>", _table(["measure", "value"], rows)]
    evaluation = result.evaluation
    if evaluation is not None:
        test_rows = [[k, v] for k, v in evaluation.metrics.items()]
        parts.append(f"<h3>Held-out test split ({evaluation.n_rows:,} rows)</h3>")
        parts.append(_table(["metric", "value"], test_rows))
        plots = evaluation.plots()
        titles = {
            "roc": "ROC curve",
            "pr": "Precision-recall curve",
            "calibration": "Calibration",
            "confusion": "Confusion matrix",
            "residuals": "Residuals",
            "predicted_vs_actual": "Predicted vs actual",
        }
        parts.append(
            "<div class='plots'>"
            + "".join(_plot(titles.get(k, k), v) for k, v in plots.items())
            + "</div>"
        )
    else:
        parts.append("<p class='muted'>No test split was held out (test_size=0).</p>")
    return "".join(parts)


def _explanation_section(result: TrainResult, train_frame: pd.DataFrame) -> str:
    importance = result.importance
    if importance is None:
        return "<h2>Explanations</h2><p class='muted'>Not computed (explain=False).</p>"
    from mlcycle.explanation import dependence_plots, importance_plot

    method = (
        "mean |SHAP value| per input column"
        if importance.method == "shap"
        else "permutation importance (drop in the metric when the column is shuffled)"
    )
    parts = [
        "<h2>Explanations</h2>",
        f"<p>Global importance: {_e(method)}. Per-row explanations: "
        "<code>mlcycle.explain(model, rows)</code>.</p>",
        "<div class='plots'>",
        _plot("Importance", importance_plot(importance)),
    ]
    try:
        for column, svg in dependence_plots(importance, None, top=4).items():
            parts.append(_plot(f"Dependence: {column}", svg))
    except Exception as exc:  # a plot must not lose the card
        parts.append(f"<p class='muted'>Dependence plots unavailable: {_e(exc)}</p>")
    parts.append("</div>")
    return "".join(parts)


def _data_section(profile: Any, train_frame: pd.DataFrame, result: TrainResult) -> str:
    tiles = [
        ("training rows", f"{len(train_frame):,}"),
        ("features", len(result.features)),
        ("task", result.task),
        ("target", result.target),
    ]
    if result.evaluation is not None:
        tiles.append(("test rows", f"{result.evaluation.n_rows:,}"))
    parts = [
        "<h2>Data</h2><div class='grid'>",
        "".join(f"<div class='tile'>{_e(k)}<b>{_e(v)}</b></div>" for k, v in tiles),
        "</div>",
    ]
    rows = []
    for name in result.features:
        column = profile.columns.get(name)
        if column is None:
            continue
        rows.append([name, column.kind, column.missing_share, column.distinct])
    parts.append(_table(["column", "kind", "missing share", "distinct"], rows))
    if result.classes_ is not None and profile.target_summary:
        summary = profile.target_summary
        parts.append(f"<p class='muted'>Target summary: {_e(summary)}</p>")
    for note in result.warnings:
        parts.append(f"<div class='box warn'>{_e(note)}</div>")
    return "".join(parts)


def _intended_use(fields: dict[str, str]) -> str:
    parts = [
        "<h2>Intended use</h2>",
        "<p class='muted'>Filled in by the model's owner: edit here and save the page, or pass "
        "<code>model_card={...}</code> to <code>mlcycle.train</code>.</p>",
    ]
    for key, title in INTENDED_USE_FIELDS:
        value = fields.get(key, "")
        parts.append(
            f"<h3>{_e(title)}</h3><div class='field' contenteditable='true' "
            f"data-field='{key}' data-placeholder='Not filled in yet'>{_e(value)}</div>"
        )
    return "".join(parts)


def _lineage_section(lineage: dict[str, Any], result: TrainResult) -> str:
    from importlib import metadata

    rows = [[k, v] for k, v in lineage.items() if v is not None]
    for dist in ("scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "optuna", "shap"):
        try:
            rows.append([dist, metadata.version(dist)])
        except metadata.PackageNotFoundError:
            continue
    if result.run_id:
        rows.append(["run", result.run_id])
    return "<h2>Lineage</h2>" + _table(["item", "value"], rows)


def render_card(
    result: TrainResult,
    *,
    profile: Any,
    train_frame: pd.DataFrame,
    lineage: dict[str, Any],
    fields: dict[str, str] | None = None,
) -> str:
    """The card as one HTML document; ``{{version}}`` stands for the registered version."""
    name = result.extras.get("name") or result.target
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Model card: {name}"
    return "".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width,initial-scale=1'>",
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
            f"<h1>{_e(title)} · {{{{version}}}}</h1>",
            f"<p class='muted'>{_e(result.task)} model of '{_e(result.target)}' · trained "
            f"{created} · mlcycle {_e(__version__)}</p>",
            _intended_use(fields or result.extras.get("model_card") or {}),
            _data_section(profile, train_frame, result),
            _search_section(result),
            _metrics_section(result),
            _explanation_section(result, train_frame),
            _lineage_section(lineage, result),
            "</main></body></html>",
        ]
    )
