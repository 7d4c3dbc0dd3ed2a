"""Drift benchmark: ``mlcycle.monitoring.drift`` and Evidently's data-drift preset, same frames.

    python benchmarks/drift.py                          # current 1,000,000 x 100, reference 100k
    python benchmarks/drift.py --rows 100000 --columns 20
    python benchmarks/drift.py --grid                   # the four sizes of BENCHMARKS.md §4
    python benchmarks/drift.py --rival none --json out.json

A seeded reference (``--reference-rows``, 100,000) and current window (``--rows``) of
``--columns`` mixed columns (four in five numeric: normal, lognormal, uniform, counts; one in
five a text category of 3-30 levels; a few with missing values) are written to Parquet once.
The current window shifts four columns: a mean shift, a variance change, a scale change of a
lognormal and a new category in 10 % of the rows. Every tool must flag exactly those four.

Each measurement runs in a fresh worker process (this file, ``--worker``) that reads the Parquet
files, then computes one full drift report; reading is not timed, and the peak-memory mark is
reset after it (Linux ``/proc/self/clear_refs``), so "+MB" is what the computation itself adds
to the frames already in memory. Workers:

- ``mlcycle (frame)``: ``drift(reference_df, current_df)``: exact two-sample tests and the
  domain classifier on 5,000 rows a side; both frames loaded.
- ``mlcycle (stored)``: ``drift(reference_dict, current_df, reference_sample=...)``: the
  reference as it is stored in a bundle (``build_reference`` + ``reference_sample``, JSON and
  Parquet, loaded by the worker); only the current frame is loaded. The time to build that
  reference is measured separately (``build_reference`` worker), as training pays it once.
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)`` with a
  ``DataDefinition`` naming the same numeric and category columns, in its own venv
  (``.bench/evidently``: Evidently 0.7 needs pandas < 3). Evidently has no multivariate test
  and no stored reference, so it always gets both frames.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _envs import bench_venv, maxrss_mb, mlcycle_python, reset_peak, status_mb

SEED = 20261123
EVIDENTLY = (["evidently>=0.7,<0.8", "pandas<3", "pyarrow"], "import evidently.presets")
SHIFTED = ["num_0", "num_1", "num_4", "cat_0"]
GRID = [(100_000, 20), (100_000, 100), (1_000_000, 20), (1_000_000, 100)]


# -- the frames ---------------------------------------------------------------------------


def column_kinds(columns: int) -> tuple[list[str], list[str]]:
    """Names of the numeric and the category columns of a table of ``columns`` columns."""
    categories = max(1, columns // 5)
    return [f"num_{i}" for i in range(columns - categories)], [
        f"cat_{i}" for i in range(categories)
    ]


def make_frame(rows: int, columns: int, seed: int, *, shifted: bool) -> Any:
    """A seeded mixed table; with ``shifted``, the four columns of ``SHIFTED`` are changed."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    numeric, categories = column_kinds(columns)
    data: dict[str, Any] = {}
    for i, name in enumerate(numeric):
        kind = i % 4
        if kind == 0:
            values = rng.normal(10 * i, 1 + i % 7, rows)
        elif kind == 1:
            values = rng.lognormal(1, 0.5 + 0.05 * (i % 5), rows)
        elif kind == 2:
            values = rng.uniform(-i, i + 10, rows)
        else:
            values = rng.poisson(3 + i % 5, rows).astype(np.float64)
        if i % 9 == 5:
            values[rng.random(rows) < 0.02] = np.nan
        data[name] = values
    for j, name in enumerate(categories):
        levels = 3 + (j * 7) % 28
        weights = 1 / np.arange(1, levels + 1)
        labels = np.array([f"{name}_v{k}" for k in range(levels)], dtype=object)
        values = labels[rng.choice(levels, rows, p=weights / weights.sum())]
        if j % 4 == 3:
            values[rng.random(rows) < 0.02] = None
        data[name] = values
    if shifted:
        data["num_0"] = data["num_0"] + 0.5 * 1  # half a standard deviation
        data["num_4"] = 40 + (data["num_4"] - 40) * 2.0  # same mean, twice the spread
        data["num_1"] = data["num_1"] * 1.5  # a lognormal scaled up by half
        new = rng.random(rows) < 0.1
        data["cat_0"] = np.where(new, "cat_0_new", data["cat_0"]).astype(object)
    frame = pd.DataFrame(data)
    for name in categories:
        frame[name] = frame[name].astype("string")
    return frame


# -- workers ------------------------------------------------------------------------------


def _evidently_drifted(snapshot: Any) -> list[str]:
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, value, threshold = config.get("method", ""), metric["value"], config["threshold"]
        is_p_value = "p_value" in method.replace("-", "_").replace(" ", "_").lower()
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
    return drifted


def worker(tool: str, folder: str) -> dict[str, Any]:
    import pandas as pd

    data = Path(folder)
    result: dict[str, Any] = {"tool": tool, "pandas": pd.__version__}
    started = time.perf_counter()
    reference = current = None
    if tool in ("mlcycle-frame", "evidently", "build_reference"):
        reference = pd.read_parquet(data / "reference.parquet")
    if tool != "build_reference":
        current = pd.read_parquet(data / "current.parquet")
    stored = sample = None
    if tool == "mlcycle-dict":
        stored = json.loads((data / "reference.json").read_text())
        sample = pd.read_parquet(data / "reference_sample.parquet")
    result["load_s"] = time.perf_counter() - started
    gc.collect()
    reset = reset_peak()
    rss_loaded = status_mb("VmRSS") or maxrss_mb()
    maxrss_loaded = maxrss_mb()

    if tool == "build_reference":
        import mlcycle
        from mlcycle.data import build_reference, reference_sample

        t0 = time.perf_counter()
        profile = build_reference(reference)
        kept = reference_sample(reference, rows=2000, seed=0)
        t1 = time.perf_counter()
        text = json.dumps(profile, allow_nan=False)
        (data / "reference.json").write_text(text)
        kept.to_parquet(data / "reference_sample.parquet", index=False)
        result.update(version=mlcycle.__version__, reference_kb=len(text) / 1024, drifted=None)
    elif tool in ("mlcycle-frame", "mlcycle-dict"):
        import scipy.stats
        import sklearn.ensemble

        import mlcycle
        from mlcycle.monitoring import drift

        del scipy, sklearn  # imported like Evidently's own, before the clock starts
        t0 = time.perf_counter()
        if tool == "mlcycle-frame":
            report = drift(reference, current)
        else:
            report = drift(stored, current, reference_sample=sample)
        t1 = time.perf_counter()
        result.update(
            version=mlcycle.__version__,
            drifted=report.drifted,
            multivariate_auc=report.multivariate.auc if report.multivariate else None,
        )
    elif tool == "evidently":
        import evidently
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        numeric = [c for c in current.columns if c.startswith("num_")]
        categories = [c for c in current.columns if c.startswith("cat_")]
        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categories)
        t0 = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        drifted = _evidently_drifted(snapshot)
        t1 = time.perf_counter()
        result.update(version=evidently.__version__, drifted=drifted)
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    peak = (status_mb("VmHWM") if reset else None) or maxrss_mb()
    result.update(
        seconds=t1 - t0,
        rss_after_load_mb=rss_loaded,
        peak_rss_mb=peak,
        added_mb=max(peak - rss_loaded, 0.0),
        maxrss_mb=maxrss_mb(),
        maxrss_added_mb=max(maxrss_mb() - maxrss_loaded, 0.0),
    )
    return result


def _run_worker(python: Path, tool: str, folder: Path) -> dict[str, Any]:
    command = [str(python), __file__, "--worker", tool, "--data", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- main ---------------------------------------------------------------------------------


LABELS = {
    "mlcycle-frame": "mlcycle (frame)",
    "mlcycle-dict": "mlcycle (stored)",
    "evidently": "Evidently",
}


def _table(size: dict[str, Any], results: list[dict[str, Any]]) -> str:
    rival = next((r for r in results if r["tool"] == "evidently"), None)
    head = (
        f"{'tool':<28} {'seconds':>8} {'peak MB':>8} {'+MB':>7} {'flagged':>8} "
        f"{'Evidently / tool: time':>22} {'memory (+MB)':>12}"
    )
    lines = [
        f"reference {size['reference_rows']:,} x {size['columns']}, "
        f"current {size['rows']:,} x {size['columns']}",
        head,
        "-" * len(head),
    ]
    for r in results:
        if r["tool"] == "build_reference":
            continue
        right = sorted(r["drifted"]) == sorted(SHIFTED)
        flagged = f"{len(r['drifted'])}{'' if right else ' (!)'}"
        time_ratio = mem_ratio = "-"
        if rival is not None and r is not rival:
            time_ratio = f"{rival['seconds'] / r['seconds']:.1f}x"
            mem_ratio = f"{max(rival['added_mb'], 1) / max(r['added_mb'], 1):.1f}x"
        name = f"{LABELS[r['tool']]} {r['version']}"
        lines.append(
            f"{name:<28} {r['seconds']:>8.2f} {r['peak_rss_mb']:>8.0f} {r['added_mb']:>7.0f} "
            f"{flagged:>8} {time_ratio:>22} {mem_ratio:>12}"
        )
    build = next((r for r in results if r["tool"] == "build_reference"), None)
    if build is not None:
        lines.append(
            f"build_reference + reference_sample of the reference (once, at training): "
            f"{build['seconds']:.2f} s, +{build['added_mb']:.0f} MB, "
            f"{build['reference_kb']:.0f} KB of JSON"
        )
    return "\n".join(lines)


def run_size(
    rows: int, columns: int, reference_rows: int, evidently: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-drift-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_frame(reference_rows, columns, SEED, shifted=False).to_parquet(
            folder / "reference.parquet", index=False
        )
        make_frame(rows, columns, SEED + 1, shifted=True).to_parquet(
            folder / "current.parquet", index=False
        )
        print(
            f"frames {reference_rows:,} and {rows:,} x {columns} written in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        python = mlcycle_python()
        results = []
        for tool in ("build_reference", "mlcycle-dict", "mlcycle-frame"):
            results.append(_run_worker(python, tool, folder))
            print(f"  {tool}: {results[-1]['seconds']:.2f} s", file=sys.stderr)
        if evidently is not None:
            results.append(_run_worker(evidently, "evidently", folder))
            print(f"  evidently: {results[-1]['seconds']:.2f} s", file=sys.stderr)
    size = {"rows": rows, "columns": columns, "reference_rows": reference_rows}
    return {**size, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the current window")
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument(
        "--grid", action="store_true", help="current 100k and 1M, 20 and 100 columns"
    )
    parser.add_argument("--rival", choices=["evidently", "none"], default="evidently")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return
    if args.columns < 5:
        parser.error("--columns must be at least 5 (four shifted columns and one more)")

    evidently = bench_venv("evidently", *EVIDENTLY) if args.rival == "evidently" else None
    sizes = GRID if args.grid else [(args.rows, args.columns)]
    runs = []
    for rows, columns in sizes:
        runs.append(run_size(rows, columns, args.reference_rows, evidently))
        print()
        print(_table(runs[-1], runs[-1]["results"]))
    print(
        f"\nflagged: columns reported as drifted; {len(SHIFTED)} were shifted ((!) = not exactly "
        "those). peak MB: the worker's peak RSS during the drift report, frames loaded; +MB: that "
        "peak above the RSS right after loading (mlcycle (stored) loads only the current frame)."
        f"\nratios: Evidently / mlcycle. {platform.platform()}, Python {platform.python_version()}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs}, indent=2))


if __name__ == "__main__":
    main()
