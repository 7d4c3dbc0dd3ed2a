"""Selection-rule benchmark: every rule of ``mlcycle.training._selection`` on the same trials.

    python benchmarks/selection.py                        # 24 tables x 2 splits, 20 s each
    python benchmarks/selection.py --only wine,pima --budget 5 --seeds 0
    python benchmarks/selection.py --json out.json        # keep every record
    python benchmarks/selection.py --report out.json      # the table again, nothing rerun

Which rule should pick the final model among the best trial, the ensemble and simpler
models is a question about held-out rows, so it is answered on them. For each table of
``_suite.py`` (``--suite``, default all 24) and each split seed (``--seeds``; 0 is the split
every benchmark scores), a worker process (this file, ``--worker``) splits the table (25 %
test, stratified for classification), runs mlcycle's stages on the training rows once —
prepare, search for ``--budget`` seconds with ``--workers`` processes — and then lets every
rule choose from the same trials, refits each distinct choice on all training rows and
scores it on the test rows with the suite's metric (ROC-AUC, negative log-loss, R²), which is
also the search's metric. Because the rules share one search, the luck of the search is the
same for all of them: the differences are the rules' own.

Each rule is compared with ``best`` (the trial with the lowest out-of-fold loss): the mean
test difference over tables (each table's differences averaged over its seeds), wins, ties
(|difference| <= 0.002) and losses over (table, seed) pairs, a 95 % bootstrap interval of the
mean difference that resamples tables, and the noise: how much a table's difference moves
from one split seed to another. Runs in ``.venv``'s python (it imports mlcycle's stages).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _suite import SUITES, load, split  # this folder is sys.path[0]

# Sibling benchmarks (automl.py, drift.py, ...) must not shadow the libraries' modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

TIE = 0.002
BOOTSTRAP = 2000
METRICS = {"binary": "auc", "multiclass": "log_loss", "regression": "r2"}
SHOWN = {"binary": "ROC-AUC", "multiclass": "neg log-loss", "regression": "R²"}
REFERENCE = "best"


# -- the worker: one table, one split seed, every rule -------------------------------------


def _plan(target: str, task: str, args: argparse.Namespace) -> Any:
    from mlcycle.training import TrainPlan

    return TrainPlan.check(
        target,
        task=task,
        budget=args.budget,
        metric=METRICS[task],
        search="tpe",
        families=None,
        cv=5,
        time_column=None,
        group_column=None,
        seed=args.seed,
        workers=args.workers,
        test_size=0.0,
        name=None,
        alias=None,
        experiment="selection",
        explain=False,
        ensemble=True,
        allow_leakage=True,
        allow_pii=False,
        max_trials=None,
        progress=False,
        card=False,
        model_card=None,
    )


def _score(task: str, labels: Any, model: Any, x_test: Any, y_test: Any) -> float:
    import numpy as np
    from sklearn.metrics import log_loss, r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y_test, np.asarray(model.predict(x_test), dtype=float)))
    proba = np.asarray(model.predict_proba(x_test), dtype=float)  # columns in label order
    if task == "binary":
        return float(roc_auc_score(np.asarray(y_test) == labels[-1], proba[:, -1]))
    return -float(log_loss(y_test, np.clip(proba, 1e-15, 1.0), labels=list(labels)))


def _describe(selection: Any) -> str:
    members = selection.members
    if len(members) == 1:
        return members[0].family
    return "ensemble(" + "+".join(sorted({m.family for m in members})) + ")"


def worker(args: argparse.Namespace) -> None:
    """Search once on one split of one table; print every rule's test score as JSON."""
    stdout = os.dup(1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    os.environ.setdefault("MLCYCLE_HOME", tempfile.mkdtemp(prefix="mlcycle-bench-select-"))
    from mlcycle.data import load as mlcycle_load
    from mlcycle.training import TrainTable, _stages
    from mlcycle.training._selection import RULES

    spec = SUITES["all"][args.worker]
    frame = mlcycle_load(load(args.worker), target=spec.target)
    train, test = split(frame, spec, args.seed)
    plan = _plan(spec.target, spec.task, args)
    started = time.time()
    table = TrainTable.inspect(train, spec.target, task=spec.task, seed=args.seed)
    prepared = _stages.prepare_data(plan, table)
    x_test, y_test = test[prepared.X.columns], test[spec.target].to_numpy()
    with tempfile.TemporaryDirectory(prefix="mlcycle-search-") as scratch:
        # the refits get the last 10 % of the budget, as in train() before issue 15's deadline
        deadline = started + 0.9 * plan.budget
        ctx, trials = _stages.search(
            plan, prepared, scratch=scratch, deadline=deadline, console=None
        )
        searched = time.time() - started
        candidates = _stages.gather_candidates(plan, prepared, ctx, trials, ctx.deadline)
        scores: dict[tuple[tuple[int, float], ...], float] = {}
        rules: dict[str, dict[str, Any]] = {}
        for rule in RULES:
            selection = _stages.choose(candidates, trials, rule)
            key = tuple(
                (m.number, round(float(w), 9))
                for m, w in zip(selection.members, selection.weights, strict=True)
            )
            if key not in scores:
                model = _stages.refit(prepared, ctx, selection)
                scores[key] = _score(spec.task, prepared.labels, model, x_test, y_test)
            rules[rule] = {
                "score": scores[key],
                "cv_loss": selection.value,
                "model": _describe(selection),
            }
    out = {
        "dataset": args.worker,
        "seed": args.seed,
        "task": spec.task,
        "budget": args.budget,
        "rows": candidates.rows,
        "trials": len(candidates.complete),
        "search_seconds": round(searched, 1),
        "noise": candidates.noise,
        "rules": rules,
    }
    sys.stdout.flush()
    os.dup2(stdout, 1)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


# -- the driver ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    names = list(SUITES[args.suite])
    if args.only:
        names = [n for n in args.only.split(",") if n]
    seeds = [int(s) for s in args.seeds.split(",")]
    records: list[dict[str, Any]] = []
    jobs = [(name, seed) for name in names for seed in seeds]
    for i, (name, seed) in enumerate(jobs, 1):
        command = [sys.executable, __file__, "--worker", name, "--seed", str(seed)]
        command += ["--budget", str(args.budget), "--workers", str(args.workers)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.budget * 10)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = done.stderr.strip().splitlines()[-3:]
            print(f"[{i}/{len(jobs)}] {name} seed {seed}: failed: {' | '.join(tail)}")
            continue
        record = json.loads(lines[-1])
        records.append(record)
        shown = ", ".join(
            f"{rule} {r['score']:.4f} ({r['model']})" for rule, r in record["rules"].items()
        )
        print(f"[{i}/{len(jobs)}] {name} seed {seed}: {record['trials']} trials; {shown}")
        sys.stdout.flush()
    return records


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per rule: mean difference to ``best``, wins/ties/losses, bootstrap interval, noise."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_table.setdefault(record["dataset"], []).append(record)
    rules = list(records[0]["rules"])
    rows = []
    for rule in rules:
        diffs = {
            table: [r["rules"][rule]["score"] - r["rules"][REFERENCE]["score"] for r in runs]
            for table, runs in by_table.items()
        }
        flat = [d for ds in diffs.values() for d in ds]
        per_table = [_mean(ds) for ds in diffs.values()]
        rng = random.Random(0)
        means = sorted(_mean([rng.choice(per_table) for _ in per_table]) for _ in range(BOOTSTRAP))
        spread = [max(ds) - min(ds) for ds in diffs.values() if len(ds) > 1]
        scores = {
            table: [r["rules"][rule]["score"] for r in runs] for table, runs in by_table.items()
        }
        score_spread = [max(s) - min(s) for s in scores.values() if len(s) > 1]
        rows.append(
            {
                "rule": rule,
                "mean": _mean(per_table),
                "low": means[int(0.025 * BOOTSTRAP)],
                "high": means[int(0.975 * BOOTSTRAP) - 1],
                "wins": sum(d > TIE for d in flat),
                "ties": sum(abs(d) <= TIE for d in flat),
                "losses": sum(d < -TIE for d in flat),
                "worst": min(flat),
                "differs": sum(
                    r["rules"][rule]["model"] != r["rules"][REFERENCE]["model"]
                    or r["rules"][rule]["score"] != r["rules"][REFERENCE]["score"]
                    for r in records
                ),
                "diff_spread": _mean(spread) if spread else math.nan,
                "score_spread": _mean(score_spread) if score_spread else math.nan,
            }
        )
    return rows


def markdown(records: list[dict[str, Any]]) -> str:
    tables = sorted({r["dataset"] for r in records})
    seeds = sorted({r["seed"] for r in records})
    budgets = sorted({r["budget"] for r in records})
    lines = [
        f"{len(tables)} tables x {len(seeds)} split seeds ({', '.join(map(str, seeds))}), "
        f"budget {', '.join(f'{b:g}' for b in budgets)} s; differences to `{REFERENCE}` "
        f"(tie: |d| <= {TIE}).",
        "",
        "| rule | mean diff | 95 % interval (tables resampled) | W / T / L | worst | "
        "runs where it chose otherwise | seed spread of diff | seed spread of score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summarise(records):
        lines.append(
            f"| `{row['rule']}` | {row['mean']:+.4f} | [{row['low']:+.4f}, {row['high']:+.4f}] "
            f"| {row['wins']} / {row['ties']} / {row['losses']} | {row['worst']:+.4f} "
            f"| {row['differs']} / {len(records)} | {row['diff_spread']:.4f} "
            f"| {row['score_spread']:.4f} |"
        )
    lines += ["", "Per run (test score of each rule; the model it chose):", ""]
    rules = list(records[0]["rules"])
    lines.append("| table | seed | metric | trials | " + " | ".join(rules) + " |")
    lines.append("|---|---|---|---|" + "---|" * len(rules))
    for r in sorted(records, key=lambda r: (r["dataset"], r["seed"])):
        cells = [f"{r['rules'][k]['score']:.4f} {r['rules'][k]['model']}" for k in rules]
        lines.append(
            f"| {r['dataset']} | {r['seed']} | {SHOWN[r['task']]} | {r['trials']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="all")
    parser.add_argument("--only", help="comma-separated data sets")
    parser.add_argument("--seeds", default="0,1", help="split seeds (and search seeds)")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every record here")
    parser.add_argument("--report", type=Path, help="print the table of a --json file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.report:
        records = json.loads(args.report.read_text())
    else:
        records = run(args)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
    if records:
        print("\n## Markdown\n")
        print(markdown(records))


if __name__ == "__main__":
    main()
