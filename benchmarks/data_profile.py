"""Profiling benchmark: ``mlcycle.data.profile`` and the profiler a user would run instead.

    python benchmarks/data_profile.py                    # 1,000,000 x 50, a few minutes
    python benchmarks/data_profile.py --rows 100000      # scaled down
    python benchmarks/data_profile.py --rival none       # mlcycle only
    python benchmarks/data_profile.py --json out.json

A seeded mixed table (numbers, integer-coded categories, strings, booleans, datetimes, free
text, an id, missing values, 1 % duplicate rows and one leaking column) is written to
Parquet once. Each tool then runs in its own fresh worker process (this file, ``--worker``)
that reads the Parquet file, profiles it and renders its HTML report, and prints JSON: the
seconds of each phase, the resident memory with the table loaded, and the peak resident memory
while profiling and rendering (the peak mark is reset after loading through Linux's
``/proc/self/clear_refs``, so reading Parquet is not charged to the profiler). mlcycle runs
with ``.venv``'s python and profiles with the target (association and leakage included); the
rival is ydata-profiling in minimal mode, or if that cannot be installed Evidently's data
summary preset, each in its own venv under ``.bench/`` (Evidently needs pandas < 3).
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
COLUMNS = 50
YDATA = (["ydata-profiling>=4.10,<5", "pyarrow", "setuptools<81"], "import ydata_profiling")
EVIDENTLY = (["evidently>=0.7,<0.8", "pandas<3", "pyarrow"], "import evidently.presets")


# -- the table ----------------------------------------------------------------------------


def make_frame(rows: int, seed: int = SEED) -> Any:
    """A seeded ``rows`` x 50 table with a binary target ``y``; vectorised, a few seconds."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    # 1 % of the rows repeat an earlier row
    index = np.arange(rows)
    dup = rng.choice(rows, size=rows // 100, replace=False)
    index[dup] = rng.integers(0, rows, size=dup.size)

    def missing(values: Any, share: float) -> Any:
        values = values.astype(np.float64) if values.dtype.kind in "iub" else values
        values[rng.random(rows) < share] = np.nan
        return values

    data: dict[str, Any] = {}
    signal = rng.normal(size=rows)
    for i in range(21):
        kind = i % 3
        if kind == 0:
            values = rng.normal(50 + i, 10, rows)
        elif kind == 1:
            values = rng.lognormal(3, 1, rows)
        else:
            values = rng.uniform(-100, 100, rows)
        if i == 0:
            values = signal * 10 + rng.normal(0, 5, rows)
        if i % 7 == 3:
            values = missing(values, 0.05)
        data[f"num_{i}"] = values
    for i in range(8):
        values = rng.integers(0, 3 + i, rows)
        data[f"int_{i}"] = missing(values, 0.02) if i == 5 else values
    for i in range(8):
        levels = 2000 if i == 7 else 3 + 3 * i
        labels = np.array([f"level_{i}_{j}" for j in range(levels)], dtype=object)
        values = labels[rng.zipf(1.5, rows) % levels]
        if i == 4:
            values[rng.random(rows) < 0.1] = None
        data[f"cat_{i}"] = pd.array(values, dtype="str")
    for i in range(5):
        values = rng.random(rows) < 0.2 + 0.1 * i
        if i == 4:
            values = np.where(values, "yes", "no").astype(object)
            data[f"bool_{i}"] = pd.array(values, dtype="str")
        else:
            data[f"bool_{i}"] = values
    start = np.datetime64("2020-01-01T00:00:00", "s").astype(np.int64)
    for i in range(4):
        seconds = start + rng.integers(0, 5 * 365 * 86400, rows)
        values = pd.to_datetime(seconds, unit="s")
        if i == 1:
            values = values.where(rng.random(rows) >= 0.03)
        data[f"date_{i}"] = values.strftime("%Y-%m-%d") if i == 3 else values
    vocabulary = "the a delivery was late early fine broken box item great poor service refund"
    words = np.array(
        [*vocabulary.split(), "again", "never", "quick", "slow", "support"], dtype=object
    )
    text = pd.Series(words[rng.integers(0, words.size, rows)])
    for _ in range(5):
        text = text + " " + words[rng.integers(0, words.size, rows)]
    data["comment"] = pd.array(text.to_numpy(dtype=object), dtype="str")
    ids = np.char.add("C", np.char.zfill(rng.permutation(rows).astype(str), 8))
    data["customer_id"] = pd.array(ids.astype(object), dtype="str")
    logit = signal + 0.5 * (data["int_0"] == 1) - 1.0
    y = rng.random(rows) < 1 / (1 + np.exp(-logit))
    data["refund_amount"] = np.where(y, rng.uniform(5, 500, rows), np.nan)  # the leak
    data["y"] = y.astype(np.int64)
    frame = pd.DataFrame(data)
    frame = frame.iloc[index].reset_index(drop=True)
    assert frame.shape[1] == COLUMNS, frame.shape
    return frame


# -- workers ------------------------------------------------------------------------------


def worker(tool: str, parquet: str, target: str, out_dir: str) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(parquet)
    loaded = time.perf_counter()
    gc.collect()
    reset = reset_peak()
    rss_loaded = status_mb("VmRSS") or maxrss_mb()
    result: dict[str, Any] = {"tool": tool, "pandas": pd.__version__}
    if tool == "mlcycle":
        import mlcycle
        from mlcycle.data import profile

        t0 = time.perf_counter()
        report = profile(frame, target=target)
        t1 = time.perf_counter()
        page = report.to_html()
        t2 = time.perf_counter()
        result["version"] = mlcycle.__version__
        result["leakage"] = [s.column for s in report.leakage]
    elif tool == "ydata":
        import ydata_profiling

        t0 = time.perf_counter()
        report = ydata_profiling.ProfileReport(frame, minimal=True, progress_bar=False)
        report.get_description()
        t1 = time.perf_counter()
        page = report.to_html()
        t2 = time.perf_counter()
        result["version"] = ydata_profiling.__version__
    elif tool == "evidently":
        import evidently
        from evidently import Report
        from evidently.presets import DataSummaryPreset

        t0 = time.perf_counter()
        snapshot = Report([DataSummaryPreset()]).run(current_data=frame)
        t1 = time.perf_counter()
        snapshot.save_html(str(Path(out_dir) / "evidently.html"))
        page = (Path(out_dir) / "evidently.html").read_text()
        t2 = time.perf_counter()
        result["version"] = evidently.__version__
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    result.update(
        load_s=loaded - started,
        profile_s=t1 - t0,
        report_s=t2 - t1,
        html_mb=len(page.encode()) / 2**20,
        rss_after_load_mb=rss_loaded,
        peak_rss_mb=(status_mb("VmHWM") if reset else None) or maxrss_mb(),
        peak_rss_incl_load_mb=maxrss_mb(),
    )
    return result


def _run_worker(python: Path, tool: str, parquet: Path, out_dir: Path) -> dict[str, Any]:
    command = [str(python), __file__, "--worker", tool, "--parquet", str(parquet)]
    command += ["--out-dir", str(out_dir)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rival(choice: str) -> tuple[str, Path] | None:
    if choice == "none":
        return None
    options = {"ydata": YDATA, "evidently": EVIDENTLY}
    order = ["ydata", "evidently"] if choice == "auto" else [choice]
    for name in order:
        requirements, probe = options[name]
        try:
            return name, bench_venv(name, requirements, probe)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"{name} could not be installed: {exc}", file=sys.stderr)
    return None


# -- main ---------------------------------------------------------------------------------


def _table(results: list[dict[str, Any]]) -> str:
    base = results[0]
    head = (
        f"{'tool':<28} {'profile s':>10} {'report s':>9} {'total s':>8} {'peak MB':>8} "
        f"{'+MB':>7} {'html MB':>8} {'time ratio':>10} {'mem ratio':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        total = r["profile_s"] + r["report_s"]
        extra = max(r["peak_rss_mb"] - r["rss_after_load_mb"], 1.0)
        ratio = total / (base["profile_s"] + base["report_s"])
        mem = r["peak_rss_mb"] / base["peak_rss_mb"]
        lines.append(
            f"{r['tool'] + ' ' + r['version']:<28} {r['profile_s']:>10.1f} {r['report_s']:>9.1f} "
            f"{total:>8.1f} {r['peak_rss_mb']:>8.0f} {extra:>7.0f} {r['html_mb']:>8.2f} "
            f"{ratio:>9.1f}x {mem:>8.1f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rival", choices=["auto", "ydata", "evidently", "none"], default="auto")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.parquet, "y", args.out_dir)))
        return

    rival = _rival(args.rival)
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-profile-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        frame = make_frame(args.rows)
        parquet = folder / "table.parquet"
        frame.to_parquet(parquet, index=False)
        shape = frame.shape
        del frame
        print(f"table {shape[0]:,} x {shape[1]} written in {time.perf_counter() - t0:.1f} s")
        results = [_run_worker(mlcycle_python(), "mlcycle", parquet, folder)]
        print(f"mlcycle: {results[0]['profile_s']:.1f} s, leakage {results[0]['leakage']}")
        if rival is not None:
            name, python = rival
            results.append(_run_worker(python, name, parquet, folder))
    print()
    print(_table(results))
    print(
        "\npeak MB: the worker's peak RSS while profiling and rendering (table loaded); +MB: that "
        "peak above the RSS right after loading (freed load buffers are reused, so +MB can "
        "understate what the profiler allocates).\nratios: rival / mlcycle (time: profile + "
        f"report; memory: peak MB). {platform.platform()}, {platform.python_version()}"
    )
    if args.json:
        payload = {"rows": shape[0], "columns": shape[1], "results": results}
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
