"""Reports of a :class:`~mlcycle.data._profile.Profile`: self-contained HTML and a Rich summary.

The HTML page carries everything inline: one ``<style>`` block and hand-written SVG charts
(one per column, plus class balance and association), no script, font or link to anywhere.
Charts draw aggregates only (bins, counts, top values already masked for personal data), so
the page never holds a raw row. Problems come first: leakage, personal data, warnings.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from mlcycle._html import BASE_CSS

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.data._profile import ColumnProfile, Profile

__all__ = ["render_console", "render_html"]

_CSS = (
    BASE_CSS
    + """
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:12px;margin:10px 0;
display:grid;grid-template-columns:1fr 380px;gap:12px}
.card table{font-size:13px}.kind{font-size:12px;background:#eef4ff;color:#3538cd;border-radius:10px;
padding:1px 8px;margin-left:6px}.tag{font-size:12px;color:#b42318;margin-left:6px}
"""
)
_BAR = "#4e79a7"
_RED = "#d92d20"


def render_html(profile: Profile) -> str:
    """The report as one HTML document (a few KB per column)."""
    title = f"Data profile{f': target {profile.target}' if profile.target else ''}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>mlcycle {_e(profile.version)} · sampled checks on "
        f"{profile.sample_rows:,} rows, seed {profile.seed}</p>",
        _overview(profile),
        _leakage(profile),
        _pii(profile),
        _warnings(profile),
        _target(profile),
        _association(profile),
        _columns_table(profile),
        "<h2>Columns</h2>",
        *(_card(column) for column in profile.columns.values()),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _overview(p: Profile) -> str:
    tiles = [
        ("rows", f"{p.rows:,}"),
        ("columns", f"{p.n_columns:,}"),
        ("memory", _bytes(p.memory_bytes)),
        ("duplicate rows", f"{p.duplicate_rows:,} ({p.duplicate_share:.1%})"),
        ("target", f"{p.target} ({p.task or 'n/a'})" if p.target else "none"),
        ("leakage suspects", str(len(p.leakage))),
        ("personal-data columns", str(len(p.pii))),
        ("warnings", str(len(p.warnings))),
    ]
    cells = "".join(
        f"<div class='tile'><span class='muted'>{k}</span><b>{_e(v)}</b></div>" for k, v in tiles
    )
    return f"<div class='grid'>{cells}</div>"


def _leakage(p: Profile) -> str:
    if p.target is None:
        return "<h2>Leakage suspects</h2><div class='box'>No target given: not checked.</div>"
    if not p.leakage:
        return "<h2>Leakage suspects</h2><div class='box ok'>None found.</div>"
    rows = "".join(
        f"<tr><td><b>{_e(s.column)}</b></td><td>{_e(s.reason)}</td>"
        f"<td class='n'>{s.score:.3f}</td><td>{_e(s.detail)}</td></tr>"
        for s in p.leakage
    )
    return (
        "<h2>Leakage suspects</h2><div class='box bad'><table><tr><th>column</th><th>reason</th>"
        f"<th>score</th><th>why</th></tr>{rows}</table></div>"
    )


def _pii(p: Profile) -> str:
    if not p.pii:
        return "<h2>Personal data</h2><div class='box ok'>No column looks like personal data.</div>"
    rows = "".join(
        f"<tr><td><b>{_e(f.column)}</b></td><td>{_e(f.kind)}</td><td class='n'>{f.share:.0%}</td>"
        f"<td>{_e(', '.join(f.examples))}</td><td>{_e(f.detail)}</td></tr>"
        for f in p.pii
    )
    return (
        "<h2>Personal data</h2><div class='box bad'><table><tr><th>column</th><th>kind</th>"
        f"<th>share</th><th>examples (masked)</th><th>detail</th></tr>{rows}</table></div>"
    )


def _warnings(p: Profile) -> str:
    if not p.warnings:
        return "<h2>Warnings</h2><div class='box ok'>None.</div>"
    items = "".join(f"<li><code>{_e(w.code)}</code> {_e(w.message)}</li>" for w in p.warnings)
    return f"<h2>Warnings</h2><div class='box warn'><ul>{items}</ul></div>"


def _target(p: Profile) -> str:
    summary = p.target_summary
    if not summary or p.target is None:
        return ""
    if "classes" in summary:
        classes = summary["classes"][:30]
        chart = _hbars(
            [str(c["value"]) for c in classes],
            [c["count"] for c in classes],
            [f"{c['count']:,} ({c['share']:.1%})" for c in classes],
        )
        ratio = summary.get("imbalance_ratio")
        note = f"largest / smallest class: {ratio:.1f}x" if ratio else ""
        return f"<h2>Class balance</h2><div class='box'>{chart}<p class='muted'>{note}</p></div>"
    column = p.columns[p.target]
    chart = _histogram(column.histogram) if column.histogram else ""
    skew = summary.get("skew")
    note = f"skew {skew:.2f}" if isinstance(skew, float) else ""
    return f"<h2>Target distribution</h2><div class='box'>{chart}<p class='muted'>{note}</p></div>"


def _association(p: Profile) -> str:
    if not p.association:
        return ""
    items = list(p.association.items())[:30]
    chart = _hbars([k for k, _ in items], [v for _, v in items], [f"{v:.3f}" for _, v in items])
    more = f" (top 30 of {len(p.association)})" if len(p.association) > 30 else ""
    return (
        f"<h2>Association with the target{more}</h2><div class='box'>{chart}"
        f"<p class='muted'>{_e(p.association_method or '')}, in [0, 1]</p></div>"
    )


def _columns_table(p: Profile) -> str:
    rows = []
    for c in p.columns.values():
        flags = []
        if any(s.column == c.name for s in p.leakage):
            flags.append("leakage")
        if c.masked:
            flags.append("personal data")
        tag = f"<span class='tag'>{_e(', '.join(flags))}</span>" if flags else ""
        assoc = "" if c.association is None else f"{c.association:.3f}"
        rows.append(
            f"<tr><td><a href='#col-{_anchor(c.name)}'>{_e(c.name)}</a>{tag}</td><td>{c.kind}</td>"
            f"<td>{_e(c.dtype)}</td><td class='n'>{c.missing_share:.1%}</td>"
            f"<td class='n'>{c.distinct:,}</td><td>{_e(_summary(c))}</td>"
            f"<td class='n'>{assoc}</td></tr>"
        )
    return (
        "<h2>Overview of columns</h2><table><tr><th>column</th><th>kind</th><th>dtype</th>"
        "<th>missing</th><th>distinct</th><th>summary</th><th>association</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _summary(c: ColumnProfile) -> str:
    if c.stats and c.kind in ("numeric", "identifier"):
        return (
            f"mean {_num(c.stats['mean'])}, range {_num(c.stats['min'])} to {_num(c.stats['max'])}"
        )
    if c.datetime:
        return f"{c.datetime['min']} to {c.datetime['max']}"
    if c.top:
        return f"top {c.top[0]['value']!s:.40} ({c.top[0]['share']:.0%})"
    return ""


def _card(c: ColumnProfile) -> str:
    facts: list[tuple[str, str]] = [
        ("dtype", c.dtype),
        ("values", f"{c.count:,}"),
        ("missing", f"{c.missing:,} ({c.missing_share:.1%})"),
        ("distinct", f"{c.distinct:,}"),
    ]
    if c.stats:
        facts += [(k, _num(v)) for k, v in c.stats.items() if v is not None]
    if c.outliers:
        facts.append(
            ("outliers (IQR)", f"{int(c.outliers['count']):,} ({c.outliers['share']:.1%})")
        )
    if c.datetime:
        facts += [("first", c.datetime["min"]), ("last", c.datetime["max"])]
    if c.text:
        facts += [(k.replace("_", " "), _num(v)) for k, v in c.text.items()]
    if c.association is not None:
        facts.append(("association", f"{c.association:.3f}"))
    if c.histogram:
        chart = _histogram(c.histogram)
    elif c.datetime:
        chart = _columns(c.datetime["labels"], c.datetime["counts"], c.datetime["period"])
    elif c.top:
        top = c.top[:12]
        chart = _hbars(
            [str(t["value"]) for t in top],
            [t["count"] for t in top],
            [f"{t['share']:.1%}" for t in top],
        )
    else:
        chart = "<p class='muted'>no chart</p>"
    cells = [f"<th>{_e(k)}</th><td>{_e(v)}</td>" for k, v in facts]
    rows = "".join(f"<tr>{''.join(cells[i : i + 2])}</tr>" for i in range(0, len(cells), 2))
    masked = "<span class='tag'>values masked: personal data</span>" if c.masked else ""
    return (
        f"<section class='card' id='col-{_anchor(c.name)}'><div><h3>{_e(c.name)}"
        f"<span class='kind'>{c.kind}</span>{masked}</h3><table>{rows}</table></div>"
        f"<div>{chart}</div></section>"
    )


# -- SVG ----------------------------------------------------------------------------------


def _histogram(hist: dict[str, list[float]]) -> str:
    edges, counts = hist["edges"], hist["counts"]
    svg = _columns([], counts, "")
    labels = f"<text x='0' y='158'>{_num(edges[0])}</text>" + (
        f"<text x='370' y='158' text-anchor='end'>{_num(edges[-1])}</text>"
    )
    return svg.replace("</svg>", labels + "</svg>")


def _columns(labels: list[str], counts: list[float], period: str) -> str:
    """Vertical bars (a histogram or counts per period), 370 x 160."""
    width, height, top = 370.0, 140.0, 12.0
    peak = max(counts) if counts else 0.0
    step = width / max(len(counts), 1)
    bars = []
    for i, n in enumerate(counts):
        h = 0.0 if not peak else (height - top) * n / peak
        bars.append(
            f"<rect x='{i * step:.1f}' y='{height - h:.1f}' width='{max(step - 1, 0.5):.1f}' "
            f"height='{h:.1f}' fill='{_BAR}'><title>{_e(labels[i] if labels else '')} "
            f"{n:,.0f}</title></rect>"
        )
    text = f"<text x='0' y='10'>max {peak:,.0f}</text>"
    if labels:
        text += (
            f"<text x='0' y='158'>{_e(labels[0])}</text><text x='370' y='158' "
            f"text-anchor='end'>{_e(labels[-1])} · per {_e(period)}</text>"
        )
    return (
        "<svg role='img' width='370' height='162' "
        f"viewBox='0 0 370 162'>{''.join(bars)}<line x1='0' x2='370' y1='140' y2='140' "
        f"stroke='#98a2b3'/>{text}</svg>"
    )


def _hbars(labels: list[str], values: list[float], notes: list[str]) -> str:
    """Horizontal bars with a label on the left and a note on the right."""
    row, label_w, bar_w = 18, 130, 150
    peak = max(values) if values else 0.0
    items = []
    for i, (label, value, note) in enumerate(zip(labels, values, notes, strict=True)):
        y = i * row
        w = 0.0 if not peak else bar_w * value / peak
        short = label if len(label) <= 20 else label[:19] + "…"
        items.append(
            f"<text x='{label_w - 4}' y='{y + 13}' text-anchor='end'>{_e(short)}"
            f"<title>{_e(label)}</title></text><rect x='{label_w}' y='{y + 3}' "
            f"width='{w:.1f}' height='{row - 6}' fill='{_BAR}'/>"
            f"<text x='{label_w + w + 4:.1f}' y='{y + 13}'>{_e(note)}</text>"
        )
    height = max(len(labels) * row, row)
    return (
        f"<svg role='img' width='370' height='{height}' "
        f"viewBox='0 0 370 {height}'>{''.join(items)}</svg>"
    )


# -- terminal -----------------------------------------------------------------------------


def render_console(profile: Profile, console: Console | None = None) -> None:
    """Overview panel, problems (leakage and personal data in red, warnings in yellow), and a
    table of columns."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    out = console if console is not None else Console()
    p = profile
    lines = [
        f"[bold]{p.rows:,}[/] rows x [bold]{p.n_columns}[/] columns, {_bytes(p.memory_bytes)}",
        f"duplicate rows: {p.duplicate_rows:,} ({p.duplicate_share:.1%})",
    ]
    if p.target:
        lines.append(f"target: [bold]{_m(p.target)}[/] ({p.task or 'n/a'})")
        summary = p.target_summary or {}
        if "classes" in summary:
            shares = ", ".join(
                f"{_m(str(c['value']))} {c['share']:.1%}" for c in summary["classes"][:6]
            )
            lines.append(f"classes: {shares}")
        elif summary:
            lines.append(
                f"mean {_num(summary.get('mean'))}, std {_num(summary.get('std'))}, "
                f"skew {_num(summary.get('skew'))}"
            )
    out.print(Panel("\n".join(lines), title="Data profile", expand=False))
    for s in p.leakage:
        out.print(f"[bold red]LEAKAGE[/] [red]{_m(s.column)}: {_m(s.detail)}[/]")
    for f in p.pii:
        out.print(f"[bold red]PERSONAL DATA[/] [red]{_m(f.column)} ({f.kind}): {_m(f.detail)}[/]")
    for w in p.warnings:
        out.print(f"[yellow]warning[/] [yellow]{_m(w.message)}[/]")
    table = Table(title="Columns", show_lines=False)
    for name, justify in (
        ("column", "left"),
        ("kind", "left"),
        ("missing", "right"),
        ("distinct", "right"),
        ("top / stats", "left"),
        ("assoc.", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    leaking = {s.column for s in p.leakage}
    for c in p.columns.values():
        style = "red" if c.name in leaking or c.masked else None
        table.add_row(
            _m(c.name),
            c.kind,
            f"{c.missing_share:.1%}",
            f"{c.distinct:,}",
            _m(_summary(c)),
            "" if c.association is None else f"{c.association:.2f}",
            style=style,
        )
    out.print(table)


# -- formatting ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _m(value: str) -> str:
    from rich.markup import escape

    return escape(str(value))


def _anchor(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.4g}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
