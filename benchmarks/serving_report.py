"""Tables and floors of benchmarks/serving.py: plain text for the terminal, markdown for docs/.

A result record per target (see serving.py): ``cells[size][concurrency]`` holds req/s, p50/p99
in ms and errors for a server; ``variants[name][size]`` the same for the in-process loops.
Standard library only.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "FLOOR_HELLO_SHARE", "FLOOR_P99_MS", "FLOOR_VS_RIVAL", "INPROCESS_SHOWN", "SHOWN", "TARGETS",
    "floors", "table", "verdict", "version_line",
]  # fmt: skip

TARGETS = ("inprocess", "hello", "mlcycle", "bentoml", "bentoml-nobatch", "mlflow")
SHOWN = {
    "inprocess": "in-process predict (the limit)",
    "hello": "FastAPI hello-world, uvicorn + uvloop + httptools (the floor)",
    "mlcycle": "mlcycle serve",
    "bentoml": "BentoML, list of records, adaptive batching",
    "bentoml-nobatch": "BentoML, list of records, no batching",
    "mlflow": "mlflow models serve",
}
INPROCESS_SHOWN = {
    "booster": "in-process Booster.predict, numpy (the limit)",
    "booster-1thread": "in-process Booster.predict, numpy, num_threads=1",
    "sklearn": "in-process LGBMClassifier.predict_proba, DataFrame",
}
FLOOR_VS_RIVAL, FLOOR_P99_MS, FLOOR_HELLO_SHARE = 2.0, 10.0, 0.60


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _rows(results: dict[str, dict[str, Any]], size: int, concurrency: list[int]) -> list[list[str]]:
    """One row per server for one body size: req/s at each concurrency, p50, p99, errors."""
    rows = []
    for target in TARGETS:
        record = results.get(target)
        if record is None:
            continue
        if record.get("kind") == "inprocess" and record.get("ok"):
            for variant, shown in INPROCESS_SHOWN.items():
                cell = record["variants"][variant][str(size)]
                blank = ["-"] * (len(concurrency) - 1)
                rows.append(
                    [shown, "1 thread", _fmt(cell["rps"]), *blank, _ms(cell["p50_ms"]),
                     _ms(cell["p99_ms"]), "0"]
                )  # fmt: skip
            continue
        shown = SHOWN[target] + (" (cached)" if record.get("reused") else "")
        if not record.get("ok") or "error" in record.get("cells", {}).get(str(size), {}):
            why = record.get("error") or record["cells"][str(size)]["error"]
            why = why.splitlines()[0][:70] if why else "failed"
            rows.append([shown, "-", f"skipped: {why}", *[""] * (len(concurrency) + 2)])
            continue
        cells = record["cells"][str(size)]
        at = [cells.get(str(c), {}) for c in concurrency]
        rows.append(
            [shown, f"{record['workers']} worker"]
            + [_fmt(cell.get("rps")) for cell in at]
            + [" / ".join(_ms(cell.get("p50_ms")) for cell in at)]
            + [" / ".join(_ms(cell.get("p99_ms")) for cell in at)]
            + [" / ".join(_fmt(cell.get("errors"), "d") for cell in at)]
        )
    return rows


def _head(concurrency: list[int]) -> list[str]:
    cs = "/".join(map(str, concurrency))
    return ["server", "workers", *(f"req/s c={c}" for c in concurrency),
            f"p50 ms c={cs}", f"p99 ms c={cs}", f"errors c={cs}"]  # fmt: skip


def table(results: dict[str, dict[str, Any]], size: int, concurrency: list[int], md: bool) -> str:
    head, body = _head(concurrency), _rows(results, size, concurrency)
    if md:
        lines = ["| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(c[i]) for c in body)) if body else len(h) for i, h in enumerate(head)
    ]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return "\n".join([line(head), "-" * len(line(head)), *map(line, body)])


def _cell(
    results: dict[str, dict[str, Any]], target: str, size: int, c: int
) -> dict[str, Any] | None:
    record = results.get(target)
    if not record or not record.get("ok") or record.get("kind") != "http":
        return None
    cell = record["cells"].get(str(size), {}).get(str(c))
    return cell if cell and "rps" in cell else None


def floors(results: dict[str, dict[str, Any]], concurrency: list[int]) -> list[dict[str, Any]]:
    """The issue's floors, single-row bodies: measured value, threshold, pass/fail (None: n/a)."""
    mine64, mine8 = _cell(results, "mlcycle", 1, 64), _cell(results, "mlcycle", 1, 8)
    if not mine64 and not mine8:
        return []
    out: list[dict[str, Any]] = []

    def vs(rivals: tuple[str, ...], share: float, what: str) -> None:
        cells = [(t, c) for t in rivals if (c := _cell(results, t, 1, 64))]
        if not mine64 or not cells:
            out.append({"floor": what, "measured": "not measured", "pass": None})
            return
        best_t, best = max(cells, key=lambda tc: tc[1]["rps_ok"])
        ratio = mine64["rps_ok"] / best["rps_ok"] if best["rps_ok"] else math.inf
        figures = f"{mine64['rps_ok']:,.0f} vs {best['rps_ok']:,.0f} req/s"
        measured = (
            f"{ratio:.2f}x ({figures}, {SHOWN[best_t]})"
            if share >= 1
            else f"{ratio:.0%} ({figures})"
        )
        out.append({"floor": what, "measured": measured, "ratio": ratio, "pass": ratio >= share})

    at64 = "single-row req/s at c=64 >="
    if 64 in concurrency:
        vs(("bentoml", "bentoml-nobatch"), FLOOR_VS_RIVAL,
           f"{at64} {FLOOR_VS_RIVAL:g}x BentoML's (its faster variant)")  # fmt: skip
        vs(("mlflow",), FLOOR_VS_RIVAL, f"{at64} {FLOOR_VS_RIVAL:g}x MLflow's")
    if 8 in concurrency:
        what = f"single-row p99 at c=8 < {FLOOR_P99_MS:g} ms"
        if mine8:
            out.append({"floor": what, "measured": f"{mine8['p99_ms']:.2f} ms",
                        "pass": mine8["p99_ms"] < FLOOR_P99_MS})  # fmt: skip
        else:
            out.append({"floor": what, "measured": "not measured", "pass": None})
    if 64 in concurrency:
        vs(("hello",), FLOOR_HELLO_SHARE,
           f"{at64} {FLOOR_HELLO_SHARE:.0%} of the hello-world floor's")  # fmt: skip
    errors = sum(
        cell.get("errors", 0)
        for cells in results["mlcycle"].get("cells", {}).values()
        for cell in cells.values()
        if isinstance(cell, dict)
    )
    out.append({"floor": "mlcycle answered every request with 2xx (sanity, not an issue floor)",
                "measured": f"{errors} errors", "pass": errors == 0})  # fmt: skip
    return out


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "pass" if ok else "**fail**"


def version_line(results: dict[str, dict[str, Any]]) -> str:
    parts = []
    for target, names in (("hello", ("fastapi", "uvicorn", "uvloop", "httptools", "orjson")),
                          ("mlcycle", ("mlcycle", "lightgbm")),
                          ("bentoml", ("bentoml", "lightgbm", "uvicorn")),
                          ("mlflow", ("mlflow", "lightgbm", "uvicorn", "fastapi")),
                          ("inprocess", ("lightgbm", "numpy", "scikit-learn"))):  # fmt: skip
        versions = (results.get(target) or results.get(f"{target}-nobatch") or {}).get("versions")
        if versions and "error" not in versions:
            shown = ", ".join(f"{n} {versions[n]}" for n in names if n in versions)
            parts.append(f"{target}: {shown}")
    return "; ".join(parts)
