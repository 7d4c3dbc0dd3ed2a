"""Batch scoring benchmark: ``mlcycle predict`` end to end vs the model's own ``predict_proba``.

    python benchmarks/batch_predict.py                   # 54,000 rows, CSV; about a minute
    python benchmarks/batch_predict.py --format parquet --rows 200000
    python benchmarks/batch_predict.py --profile         # cProfile of one predict_file call
    python benchmarks/batch_predict.py --json out.json

A seeded table of ``--rows`` rows (six numbers, two of them with 5 % gaps, an integer, a
boolean and three categories of 4 to 30 levels) and a binary target. ``mlcycle.train``
(LightGBM and linear families, ``--budget`` seconds, one worker, on 8,000 rows) registers an
AutoML bundle: the preparer and model pipeline that ``mlcycle run`` makes. The whole table,
target dropped, is written to a CSV (or Parquet) file once.

Timed, best of ``--repeat`` (3) each, in this process:

- ``mlcycle predict``: :func:`mlcycle.serving.predict_file`, what ``mlcycle predict REF FILE
  -o OUT`` calls: read the file, check every row against the schema, score, write the scores
  (Parquet) and the errors file.
- ``model's own``: ``bundle.load().predict_proba(X)`` on the same rows already in memory as
  the typed frame the model was trained on: no reading, no checks, no writing.

The ratio is mlcycle's seconds over the model's own; issue 13's floor is ratio <= 2.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SEED = 20261207
TRAIN_ROWS = 8_000
FLOOR = 2.0


def make_table(rows: int, seed: int = SEED) -> Any:
    """The seeded table: mixed features with gaps, and a binary target ``label``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"num_{i}": rng.normal(i, 1 + i, rows) for i in range(6)})
    for name in ("num_1", "num_4"):
        frame.loc[rng.random(rows) < 0.05, name] = np.nan
    frame["count"] = rng.poisson(3, rows)
    frame["flag"] = rng.random(rows) < 0.3
    levels = {"plan": 4, "region": 12, "channel": 30}
    for name, n in levels.items():
        frame[name] = rng.choice([f"{name}_{k}" for k in range(n)], rows)
    signal = (
        frame["num_0"].fillna(0)
        - 0.3 * frame["num_2"]
        + 0.8 * (frame["plan"] == "plan_1")
        + 0.2 * frame["count"]
        + rng.normal(0, 1, rows)
    )
    frame["label"] = np.where(signal > signal.median(), "yes", "no")
    return frame


def best_of(repeat: int, call: Any) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import mlcycle
    from mlcycle.serving import predict_file

    folder = Path(args.workdir)
    table = make_table(args.rows)
    started = time.perf_counter()
    mlcycle.train(
        table.sample(TRAIN_ROWS, random_state=0),
        "label",
        name="batch",
        alias="production",
        budget=args.budget,
        families=args.families.split(","),
        max_trials=args.trials,
        cv=3,
        workers=1,
        seed=0,
        progress=False,
        explain=False,
        card=False,
    )
    trained = time.perf_counter() - started
    source = folder / f"rows.{args.format}"
    features = table.drop(columns="label")
    if args.format == "csv":
        features.to_csv(source, index=False)
    else:
        features.to_parquet(source)
    output = folder / "scored.parquet"
    ref = "batch@production"

    bundle = mlcycle.load_model(ref)
    model = bundle.load()
    X = bundle.schema.coerce(features)  # the typed frame the pipeline takes, built untimed
    own = best_of(args.repeat, lambda: model.predict_proba(X))
    ours = best_of(args.repeat, lambda: predict_file(ref, source, output))
    report = predict_file(ref, source, output)
    assert report.rows_scored == args.rows, report
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(predict_file, ref, source, output)
        pstats.Stats(profile, stream=sys.stderr).sort_stats(args.sort).print_stats(30)
    return {
        "rows": args.rows,
        "format": args.format,
        "model": type(model).__name__,
        "train_seconds": round(trained, 1),
        "own_seconds": round(own, 4),
        "mlcycle_seconds": round(ours, 4),
        "own_rows_per_second": round(args.rows / own),
        "mlcycle_rows_per_second": round(args.rows / ours),
        "ratio": round(ours / own, 2),
        "floor": FLOOR,
        "pass": ours / own <= FLOOR,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=54_000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--families", default="lgbm", help="AutoML families, comma-separated")
    parser.add_argument("--trials", type=int, default=6, help="AutoML trials")
    parser.add_argument("--budget", type=float, default=60.0, help="AutoML seconds, at most")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one run (stderr)")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (tottime...)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-batch-") as tmp:
        os.environ["MLCYCLE_HOME"] = str(Path(tmp) / "home")  # before mlcycle reads settings
        args.workdir = tmp
        result = run(args)
    print(
        f"{result['rows']:,} rows ({result['format']}), {result['model']}: "
        f"mlcycle predict {result['mlcycle_seconds']:.3f} s "
        f"({result['mlcycle_rows_per_second']:,} rows/s), model's own predict_proba "
        f"{result['own_seconds']:.3f} s ({result['own_rows_per_second']:,} rows/s); "
        f"ratio {result['ratio']:.2f} (floor <= {FLOOR:g}): "
        + ("pass" if result["pass"] else "FAIL")
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
