"""The mlcycle demo on the embedded default store (SQLite + local files, no server).

Trains two scikit-learn models on a bundled data set, tracks both runs, registers the
better one as a versioned bundle, promotes it to ``production``, loads it back by alias
(no unpickling, every file hash-verified) and predicts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ.setdefault("MLCYCLE_HOME", str(Path("demo-output") / ".mlcycle")))


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    from rich.console import Console
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mlcycle

    console = Console()
    started = time.perf_counter()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    candidates = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)),
        "random_forest": RandomForestClassifier(n_estimators=200, random_state=0),
    }
    best: tuple[float, str, object, str] | None = None
    for family, model in candidates.items():
        with mlcycle.start_run(experiment="demo", name=family) as run:
            mlcycle.log_params({"family": family, "rows": len(X_train)})
            model.fit(X_train, y_train)
            auc = float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
            mlcycle.log_metric("test_auc", auc)
            console.print(f"trained [bold]{family}[/]: test AUC {auc:.4f}  (run {run.id[:12]})")
            if best is None or auc > best[0]:
                best = (auc, family, model, run.id)
    assert best is not None
    auc, family, model, run_id = best
    version = mlcycle.register_model(
        "breast-cancer",
        model,
        run=run_id,
        metrics={"test_auc": auc},
        description=f"{family}, chosen by test AUC",
    )
    console.print(
        f"registered [bold]breast-cancer v{version.version}[/] "
        f"(bundle sha256 {version.bundle_digest[:16]}…)"
    )
    cli = [sys.executable, "-m", "mlcycle.cli"]
    os.environ.setdefault("COLUMNS", "140")  # readable tables when output is not a terminal
    subprocess.run(
        [*cli, "promote", "breast-cancer", str(version.version), "--alias", "production"],
        check=True,
    )
    loaded = mlcycle.load_model("breast-cancer@production")
    proba = loaded.predict_proba(X_test.head(3))[:, 1]
    console.print(f"breast-cancer@production predicts P(benign) for 3 rows: {proba.round(3)}")
    subprocess.run([*cli, "runs", "--experiment", "demo"], check=True)
    subprocess.run([*cli, "models"], check=True)
    console.print(
        f"[green]demo finished[/] in {time.perf_counter() - started:.1f}s; "
        f"workspace: {HOME.resolve()}"
    )


if __name__ == "__main__":
    main()
