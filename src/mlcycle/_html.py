"""The stylesheet every HTML report shares (profile, model card, drift report): page, headings,
tiles, boxes, tables and chart text. Each report appends the rules of its own layout."""

from __future__ import annotations

__all__ = ["BASE_CSS"]

BASE_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{margin:0;font-size:15px}
.muted{color:#667085}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));
gap:8px}.tile{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:10px}
.tile b{display:block;font-size:18px}
.box{border-radius:8px;padding:10px 14px;margin:8px 0;background:#fff;border:1px solid #e4e7ec}
.bad{border-left:5px solid #d92d20}.warn{border-left:5px solid #f79009}
.ok{border-left:5px solid #12b76a}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaecf0;vertical-align:top}
th{background:#f9fafb;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:11px system-ui,sans-serif;fill:#475467}
"""
