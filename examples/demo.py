"""The mlcycle demo on the embedded default store (SQLite + local files, no server).

Runs the main job on a bundled data set (scikit-learn's breast cancer table, written to CSV
as a user's file would be): profile → validate → AutoML search → evaluate → explain →
register → ``staging``. Then promotes the version to ``production``, loads it back by alias
(no unpickling, every file hash-verified) and predicts.

``MLCYCLE_DEMO_BUDGET`` sets the search budget in seconds (default 30).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUTPUT = Path("demo-output")
HOME = Path(os.environ.setdefault("MLCYCLE_HOME", str(OUTPUT / ".mlcycle")))
BUDGET = os.environ.get("MLCYCLE_DEMO_BUDGET", "30")


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    from rich.console import Console
    from sklearn.datasets import load_breast_cancer

    import mlcycle

    console = Console()
    started = time.perf_counter()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = OUTPUT / "breast-cancer.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    X.assign(diagnosis=y.map({0: "malignant", 1: "benign"})).to_csv(data, index=False)
    console.print(f"[bold]data:[/] {data} ({len(X)} rows, {X.shape[1]} features)")

    cli = [sys.executable, "-m", "mlcycle.cli"]
    os.environ.setdefault("COLUMNS", "140")  # readable tables when output is not a terminal
    subprocess.run(
        [*cli, "run", str(data), "--target", "diagnosis", "--budget", BUDGET], check=True
    )
    subprocess.run([*cli, "promote", "breast-cancer", "1", "--alias", "production"], check=True)

    loaded = mlcycle.load_model("breast-cancer@production")
    rows = X.tail(3)
    proba = loaded.predict_proba(rows)[:, list(loaded.load().classes_).index("benign")]
    console.print(
        f"breast-cancer@production predicts {list(loaded.predict(rows))} "
        f"(P(benign) {proba.round(3).tolist()}) for 3 rows"
    )
    subprocess.run([*cli, "versions", "breast-cancer"], check=True)
    console.print(
        f"[green]demo finished[/] in {time.perf_counter() - started:.1f}s; "
        f"workspace: {HOME.resolve()}"
    )


if __name__ == "__main__":
    main()
