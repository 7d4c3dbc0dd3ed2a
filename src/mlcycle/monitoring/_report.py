"""The drift report: one self-contained HTML page (inline SVG, no script) and its JSON.

The page is drawn from a drift report's ``to_dict()`` (or that dict itself), which holds
aggregates only: per-feature test figures and binned shares of reference and current
rows, never a raw row. It shows, in order: a verdict and summary tiles (rows, drifted
features, multivariate AUC and the features that separate the two samples most; the rows
the server refused for breaking the schema when ``refused`` is given, with their share per
window and the issues that caused them), the prediction and target, a "drift over time"
chart when a history of windows is given, a table of every feature sorted by drift, and
reference-vs-current charts for the :data:`CHARTED` most drifted features only, so a report
on 1,000 columns stays a few hundred kilobytes::

    html = render_drift_report(report, history=[{"window": "2026-12-01", ...}, ...])
    Path("drift.html").write_text(html)
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlcycle._html import BASE_CSS
from mlcycle._version import __version__
from mlcycle.exceptions import bad_parameter
from mlcycle.predlog import COLUMNS

__all__ = ["CHARTED", "render_drift_report", "report_json"]

CHARTED = 30
"""How many features get a chart (the most drifted); the table lists them all."""

_CSS = (
    BASE_CSS
    + """
table{font-size:13px}th,td{padding:3px 8px}
tr.d td:first-child{border-left:4px solid #d92d20}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:10px}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:10px}
.tag{font-size:12px;color:#b42318;margin-left:6px}.kind{font-size:12px;background:#eef4ff;
color:#3538cd;border-radius:10px;padding:1px 8px;margin-left:6px}
.key i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""
)
_REF, _CUR, _RED, _GREY = "#98a2b3", "#e8590c", "#d92d20", "#98a2b3"
_MAX_CATEGORIES = 12
_PSI_MAJOR = 0.25  # the usual reading of PSI: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major
_HISTORY_SERIES = (
    ("share_drifted", "Share of features drifted", (0.0, 1.0), None),
    ("max_psi", "Largest PSI of a feature", (0.0, None), _PSI_MAJOR),
    ("multivariate_auc", "Multivariate drift (domain classifier AUC)", (0.5, 1.0), None),
    ("anomaly_share", "Share of anomalous rows", (0.0, None), None),
)


def render_drift_report(
    report: Any,
    *,
    history: Sequence[Mapping[str, Any]] | None = None,
    title: str = "Drift report",
    refused: Mapping[str, Any] | None = None,
    freshness: str | None = None,
    withheld: str | None = None,
) -> str:
    """The drift report as one HTML document.

    ``report`` is a ``DriftReport`` or its ``to_dict()``. ``history`` is one mapping per
    time window, oldest first, with a ``window`` (or ``start``) label and any of
    ``share_drifted``, ``max_psi``, ``multivariate_auc`` and ``anomaly_share``; a full
    drift report dict per window works too. Each series present is drawn over time.
    ``refused`` is a refusal summary's ``to_dict()`` (``mlcycle monitor`` passes it): the
    refused rows and share join the summary tiles, with a section per window and issue.
    ``freshness`` says how fresh the log is; ``withheld`` why drift has no verdict (a window
    too small), shown instead of one.
    """
    data = _as_dict(report, "render_drift_report()")
    features = sorted(data.get("features") or [], key=_drift_order)
    title_text = _e(title)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{title_text}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{title_text}</h1>",
        f"<p class='muted'>mlcycle {_e(__version__)} · {len(features):,} features · "
        f"significance level {_num(data.get('alpha'))}, p-values adjusted for "
        "the number of features (Benjamini-Hochberg)</p>",
        f"<p class='muted'>{_e(freshness)}</p>" if freshness else "",
        _withheld(withheld) if withheld else _verdict(data, features),
        _summary(data, features, refused, withheld=withheld is not None),
        _refused(refused),
        _notes(data),
        _outputs(data),
        _history(history),
        _table(features),
        _charts(features),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


def report_json(report: Any, *, history: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The drift report as JSON (NaN and infinity written as null), with the ``history``
    under ``"history"`` when given."""
    data = dict(_as_dict(report, "report_json()"))
    if history is not None:
        data["history"] = [dict(entry) for entry in history]
    return json.dumps(_json_safe(data), indent=2, ensure_ascii=False)


# -- sections -----------------------------------------------------------------------------


def _verdict(data: Mapping[str, Any], features: list[Mapping[str, Any]]) -> str:
    drifted = [f["name"] for f in features if f.get("drifted")]
    multi = data.get("multivariate") or {}
    reasons = []
    if drifted:
        shown = ", ".join(_e(n) for n in drifted[:8]) + (" …" if len(drifted) > 8 else "")
        reasons.append(f"{len(drifted):,} feature(s) drifted: {shown}")
    if multi.get("drifted"):
        reasons.append(
            f"the current rows can be told from the reference rows (AUC {_num(multi.get('auc'))})"
        )
    for key in ("prediction", "target"):
        if (data.get(key) or {}).get("drifted"):
            reasons.append(f"the {key} drifted")
    if not reasons:
        return "<div class='box ok'><b>No drift detected.</b></div>"
    return f"<div class='box bad'><b>Drift detected</b>: {'; '.join(reasons)}.</div>"


def _withheld(reason: str) -> str:
    return f"<div class='box'><b>No drift verdict.</b> {_e(reason)}</div>"


def _summary(
    data: Mapping[str, Any],
    features: list[Mapping[str, Any]],
    refused: Mapping[str, Any] | None = None,
    *,
    withheld: bool = False,
) -> str:
    drifted = sum(1 for f in features if f.get("drifted"))
    share = data.get("share_drifted")
    if share is None and features:
        share = drifted / len(features)
    multi = data.get("multivariate") or {}
    tiles = [
        ("reference rows", _count(data.get("rows_reference"))),
        ("current rows", _count(data.get("rows_current"))),
        ("drifted features", f"{drifted:,} of {len(features):,}"),
        ("share drifted", _pct(share)),
        ("largest PSI", _num(_max_psi(features))),
    ]
    if withheld:  # no test was run: only the rows
        tiles = tiles[1:2]
    if multi:
        verdict = " (drift)" if multi.get("drifted") else ""
        tiles.append(("multivariate AUC", f"{_num(multi.get('auc'))}{verdict}"))
    if refused is not None:
        tiles.append(("refused rows", _count(refused.get("refused_rows"))))
        tiles.append(("refused share", _pct(refused.get("refused_share"))))
    cells = "".join(
        f"<div class='tile'><span class='muted'>{k}</span><b>{_e(v)}</b></div>" for k, v in tiles
    )
    out = f"<div class='grid'>{cells}</div>"
    top = multi.get("top_features") or []
    if top:
        pairs = [(str(item[0]), float(item[1])) for item in top[:10]]
        chart = _hbars([n for n, _ in pairs], [v for _, v in pairs], [_num(v) for _, v in pairs])
        out += (
            "<h2>What tells the current rows from the reference rows</h2><div class='box'>"
            f"{chart}<p class='muted'>importance of each feature in the domain classifier "
            "(reference vs current)</p></div>"
        )
    return out


def _refused(refused: Mapping[str, Any] | None) -> str:
    """Rows refused for breaking the schema: share per window and the issues behind them."""
    if not refused or not refused.get("refused_rows"):
        return ""
    windows = list(refused.get("windows") or [])
    chart = ""
    if windows:
        labels = [_window_label(w, i) for i, w in enumerate(windows)]
        shares = [_float(w.get("refused_share")) for w in windows]
        line = _line(labels, shares, (0.0, None), None)
        chart = f"<div class='card'><h3>Share of rows refused</h3>{line}</div>"
    c = COLUMNS
    rows = "".join(
        f"<tr><td>{_e(i.get(c.code))}</td><td>{_e(i.get(c.column) or '(whole row)')}</td>"
        f"<td class='n'>{_count(i.get(c.issues))}</td><td class='n'>{_count(i.get('requests'))}"
        "</td></tr>"
        for i in list(refused.get("issues") or [])[:20]
    )
    table = (
        "<table><tr><th>issue</th><th>column</th><th>issues</th><th>requests</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    return (
        f"<h2>Refused rows</h2><div class='box'><p>{_count(refused.get('refused_rows'))} "
        f"row(s) in {_count(refused.get('refused_requests'))} request(s) were refused for "
        f"breaking the model's schema ({_pct(refused.get('refused_share'))} of the rows "
        f"sent).</p>{table}</div><div class='cards'>{chart}</div>"
    )


def _notes(data: Mapping[str, Any]) -> str:
    notes = [str(n) for n in data.get("notes") or []]
    if not notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return f"<div class='box'><b>Notes</b><ul>{items}</ul></div>"


def _outputs(data: Mapping[str, Any]) -> str:
    cards = [
        _card(item, f"{key}: ")
        for key in ("prediction", "target")
        if isinstance(item := data.get(key), Mapping)
    ]
    if not cards:
        return ""
    return f"<h2>Prediction and target</h2><div class='cards'>{''.join(cards)}</div>"


def _history(history: Sequence[Mapping[str, Any]] | None) -> str:
    if not history:
        return ""
    labels = [_window_label(entry, i) for i, entry in enumerate(history)]
    charts = []
    for key, name, bounds, line in _HISTORY_SERIES:
        values = [_history_value(entry, key) for entry in history]
        if all(v is None for v in values):
            continue
        charts.append(
            f"<div class='card'><h3>{name}</h3>{_line(labels, values, bounds, line)}</div>"
        )
    if not charts:
        return ""
    return f"<h2>Drift over time</h2><div class='cards'>{''.join(charts)}</div>"


def _table(features: list[Mapping[str, Any]]) -> str:
    if not features:
        return "<h2>Features</h2><div class='box'>The report has no features.</div>"
    rows = []
    for i, f in enumerate(features):
        name = _e(f["name"])
        link = f"<a href='#f-{i}'>{name}</a>" if i < CHARTED and f.get("histogram") else name
        reasons = ", ".join(f.get("reasons") or [])
        tag = f"<span class='tag'>{_e(reasons) or 'drifted'}</span>" if f.get("drifted") else ""
        missing = (
            f"{_pct(f.get('missing_share_reference'))} → {_pct(f.get('missing_share_current'))}"
        )
        rows.append(
            f"<tr{' class=d' if f.get('drifted') else ''}><td>{link}{tag}</td>"
            f"<td>{_e(f.get('kind', ''))}</td><td class='n'>{_num(f.get('psi'))}</td>"
            f"<td class='n'>{_num(f.get('ks'))}</td><td class='n'>{_p(f.get('ks_p'))}</td>"
            f"<td class='n'>{_num(f.get('wasserstein'))}</td>"
            f"<td class='n'>{_p(f.get('chi2_p'))}</td><td class='n'>{_num(f.get('js'))}</td>"
            f"<td class='n'>{_p(f.get('p_adjusted'))}</td><td class='n'>{missing}</td>"
            f"<td class='n'>{_pct(f.get('unseen_share'))}</td></tr>"
        )
    return (
        f"<h2>Features, most drifted first ({len(features):,})</h2><table><tr><th>feature</th>"
        "<th>kind</th><th>PSI</th><th>KS</th><th>KS p</th><th>Wasserstein (in std)</th>"
        "<th>χ² p</th><th>JS distance</th><th>p adjusted</th><th>missing ref → cur</th>"
        "<th>unseen</th></tr>" + "".join(rows) + "</table>"
    )


def _charts(features: list[Mapping[str, Any]]) -> str:
    shown = [(i, f) for i, f in enumerate(features[:CHARTED]) if f.get("histogram")]
    if not shown:
        return ""
    more = len(features) - len(features[:CHARTED])
    note = f" ({more:,} more in the table)" if more > 0 else ""
    key = (
        f"<p class='muted key'>share of rows per bin: <i style='background:{_REF}'></i>"
        f"reference <i style='background:{_CUR}'></i>current</p>"
    )
    return (
        f"<h2>Reference vs current, {len(shown)} most drifted features{note}</h2>{key}"
        f"<div class='cards'>{''.join(_card(f, anchor=f'f-{i}') for i, f in shown)}</div>"
    )


def _card(f: Mapping[str, Any], prefix: str = "", anchor: str | None = None) -> str:
    hist = f.get("histogram") or {}
    if hist.get("categories") is not None:
        chart = _category_bars(hist)
    elif hist.get("edges") is not None:
        chart = _bin_columns(hist)
    else:
        chart = "<p class='muted'>no histogram</p>"
    tag = "<span class='tag'>drifted</span>" if f.get("drifted") else ""
    figures = [
        (label, value)
        for label, value in (
            ("PSI", _num(f.get("psi"))),
            ("KS", _num(f.get("ks"))),
            ("JS", _num(f.get("js"))),
            ("p adj.", _p(f.get("p_adjusted"))),
        )
        if value != "-"
    ]
    line = " · ".join(f"{k} {v}" for k, v in figures)
    ident = f" id='{anchor}'" if anchor else ""
    return (
        f"<section class='card'{ident}><h3>{_e(prefix)}"
        f"{_e(f.get('name', ''))}<span class='kind'>{_e(f.get('kind', ''))}</span>{tag}</h3>"
        f"<p class='muted'>{_e(line)}</p>{chart}</section>"
    )


# -- SVG ----------------------------------------------------------------------------------


def _bin_columns(hist: Mapping[str, Any]) -> str:
    """Reference and current share per numeric bin, side by side, 380 x 150."""
    edges = [_edge(e) for e in hist.get("edges") or []]
    ref, cur = _shares(hist.get("reference")), _shares(hist.get("current"))
    n = max(len(ref), len(cur))
    if n == 0:
        return "<p class='muted'>no bins</p>"
    ref, cur = ref + [0.0] * (n - len(ref)), cur + [0.0] * (n - len(cur))
    width, base, top = 380.0, 130.0, 12.0
    peak = max(max(ref), max(cur)) or 1.0
    step = width / n
    bar = max((step - 2) / 2, 0.5)
    items = []
    for i in range(n):
        tip = _e(f"{_bin_label(edges, i)}: reference {_pct(ref[i])}, current {_pct(cur[i])}")
        for j, (share, colour) in enumerate(((ref[i], _REF), (cur[i], _CUR))):
            h = (base - top) * share / peak
            items.append(
                f"<rect x='{i * step + 1 + j * bar:.1f}' y='{base - h:.1f}' width='{bar:.1f}' "
                f"height='{h:.1f}' fill='{colour}'><title>{tip}</title></rect>"
            )
    low = next((e for e in edges if math.isfinite(e)), None)
    high = next((e for e in reversed(edges) if math.isfinite(e)), None)
    text = f"<text x='0' y='10'>max {_pct(peak)}</text>"
    if low is not None and high is not None:
        text += (
            f"<text x='0' y='146'>{_num(low)}</text>"
            f"<text x='{width:.0f}' y='146' text-anchor='end'>{_num(high)}</text>"
        )
    return (
        f"<svg role='img' width='380' height='150' viewBox='0 0 380 150'>{''.join(items)}"
        f"<line x1='0' x2='380' y1='{base}' y2='{base}' stroke='#98a2b3'/>{text}</svg>"
    )


def _category_bars(hist: Mapping[str, Any]) -> str:
    """Reference and current share per category (the largest few), as paired bars."""
    names = [str(c) for c in hist.get("categories") or []]
    ref, cur = _shares(hist.get("reference")), _shares(hist.get("current"))
    rows = list(zip(names, ref + [0.0] * len(names), cur + [0.0] * len(names), strict=False))
    rows.sort(key=lambda r: -max(r[1], r[2]))
    hidden = rows[_MAX_CATEGORIES:]
    rows = rows[:_MAX_CATEGORIES]
    if hidden:
        rows.append((f"{len(hidden)} more", sum(r[1] for r in hidden), sum(r[2] for r in hidden)))
    if not rows:
        return "<p class='muted'>no categories</p>"
    row, label_w, bar_w = 20, 120, 200
    peak = max(max(r[1], r[2]) for r in rows) or 1.0
    items = []
    for i, (name, a, b) in enumerate(rows):
        y = i * row
        short = name if len(name) <= 18 else name[:17] + "…"
        items.append(
            f"<text x='{label_w - 4}' y='{y + 14}' text-anchor='end'>{_e(short)}"
            f"<title>{_e(name)}</title></text>"
            f"<rect x='{label_w}' y='{y + 3}' width='{bar_w * a / peak:.1f}' height='7' "
            f"fill='{_REF}'/><rect x='{label_w}' y='{y + 10}' width='{bar_w * b / peak:.1f}' "
            f"height='7' fill='{_CUR}'/><text x='{label_w + bar_w + 6}' y='{y + 14}'>"
            f"{_pct(a)} → {_pct(b)}</text>"
        )
    height = len(rows) * row
    return (
        f"<svg role='img' width='400' height='{height}' viewBox='0 0 400 {height}'>"
        f"{''.join(items)}</svg>"
    )


def _line(
    labels: list[str],
    values: list[float | None],
    bounds: tuple[float, float | None],
    reference: float | None,
) -> str:
    """A line over the windows, 400 x 160, points with a tooltip; gaps where None."""
    width, left, top, bottom = 400.0, 34.0, 10.0, 136.0
    known = [v for v in values if v is not None]
    low = bounds[0] if bounds[0] is not None else min(known)
    high = bounds[1] if bounds[1] is not None else max([*known, reference or 0.0]) * 1.1 or 1.0
    low = min(low, *known)
    high = max(high, *known)
    span = (high - low) or 1.0
    n = len(values)
    step = (width - left - 8) / max(n - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if n > 1 else (width - left) / 2)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / span

    items = [
        f"<line x1='{left}' x2='{width}' y1='{bottom}' y2='{bottom}' stroke='#98a2b3'/>",
        f"<text x='{left - 4}' y='{top + 4}' text-anchor='end'>{_num(high)}</text>",
        f"<text x='{left - 4}' y='{bottom}' text-anchor='end'>{_num(low)}</text>",
    ]
    if reference is not None and low <= reference <= high:
        items.append(
            f"<line x1='{left}' x2='{width}' y1='{y(reference):.1f}' y2='{y(reference):.1f}' "
            f"stroke='{_RED}' stroke-dasharray='4 3'/><text x='{width}' y='{y(reference) - 3:.1f}'"
            f" text-anchor='end'>{_num(reference)}</text>"
        )
    segment: list[str] = []
    segments = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
        items.append(
            f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='2.5' fill='{_CUR}'><title>"
            f"{_e(labels[i])}: {_num(v)}</title></circle>"
        )
    if segment:
        segments.append(segment)
    for points in segments:
        items.insert(
            0,
            f"<polyline points='{' '.join(points)}' fill='none' stroke='{_CUR}' "
            "stroke-width='1.5'/>",
        )
    items.append(f"<text x='{left}' y='154'>{_e(labels[0])}</text>")
    if n > 1:
        items.append(f"<text x='{width}' y='154' text-anchor='end'>{_e(labels[-1])}</text>")
    return f"<svg role='img' width='400' height='160' viewBox='0 0 400 160'>{''.join(items)}</svg>"


def _hbars(labels: list[str], values: list[float], notes: list[str]) -> str:
    row, label_w, bar_w = 18, 150, 180
    peak = max(values) if values else 0.0
    items = []
    for i, (label, value, note) in enumerate(zip(labels, values, notes, strict=True)):
        y = i * row
        w = 0.0 if not peak else bar_w * max(value, 0.0) / peak
        short = label if len(label) <= 22 else label[:21] + "…"
        items.append(
            f"<text x='{label_w - 4}' y='{y + 13}' text-anchor='end'>{_e(short)}"
            f"<title>{_e(label)}</title></text><rect x='{label_w}' y='{y + 3}' "
            f"width='{w:.1f}' height='{row - 6}' fill='{_CUR}'/>"
            f"<text x='{label_w + w + 4:.1f}' y='{y + 13}'>{_e(note)}</text>"
        )
    height = max(len(labels) * row, row)
    return (
        f"<svg role='img' width='400' height='{height}' viewBox='0 0 400 {height}'>"
        f"{''.join(items)}</svg>"
    )


# -- data ---------------------------------------------------------------------------------


def _as_dict(report: Any, owner: str) -> Mapping[str, Any]:
    if isinstance(report, Mapping):
        return report
    to_dict = getattr(report, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, Mapping):
            return data
    raise bad_parameter("report", owner, "a DriftReport or its to_dict()", type(report))


def _drift_order(f: Mapping[str, Any]) -> tuple[bool, float, float, str]:
    """Drifted features first, then by PSI (largest first), then by adjusted p-value."""
    psi = _float(f.get("psi"))
    p = _float(f.get("p_adjusted"))
    if p is None:
        p = _float(f.get("p_value"))
    return (
        not f.get("drifted"),
        -(psi if psi is not None else -1.0),
        p if p is not None else 1.0,
        str(f.get("name", "")),
    )


def _max_psi(features: list[Mapping[str, Any]]) -> float | None:
    values = [v for f in features if (v := _float(f.get("psi"))) is not None]
    return max(values) if values else None


def _history_value(entry: Mapping[str, Any], key: str) -> float | None:
    value = _float(entry.get(key))
    if value is not None:
        return value
    if key == "share_drifted":
        return _float(entry.get("drift_share"))
    if key == "max_psi" and isinstance(entry.get("features"), list):
        return _max_psi(entry["features"])
    if key == "multivariate_auc" and isinstance(entry.get("multivariate"), Mapping):
        return _float(entry["multivariate"].get("auc"))
    return None


def _window_label(entry: Mapping[str, Any], index: int) -> str:
    for key in ("window", "start", "timestamp", "end"):
        if entry.get(key) is not None:
            return str(entry[key])
    return f"window {index + 1}"


def _shares(values: Any) -> list[float]:
    out = []
    for v in values or []:
        f = _float(v)
        out.append(f if f is not None else 0.0)
    return out


def _edge(value: Any) -> float:
    """A bin edge; the open ends may be written as null, "-inf"/"inf" or infinity."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _bin_label(edges: list[float], i: int) -> str:
    if i + 1 >= len(edges):
        return f"bin {i + 1}"
    low, high = edges[i], edges[i + 1]
    if not math.isfinite(low):
        return f"< {_num(high)}"
    if not math.isfinite(high):
        return f"≥ {_num(low)}"
    return f"{_num(low)} to {_num(high)}"


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


# -- formatting ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    number = _float(value)
    if number is None:
        return "-"
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.3g}"


def _p(value: Any) -> str:
    number = _float(value)
    if number is None:
        return "-"
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


def _pct(value: Any) -> str:
    number = _float(value)
    return "-" if number is None else f"{number:.1%}"


def _count(value: Any) -> str:
    number = _float(value)
    return "-" if number is None else f"{int(number):,}"
