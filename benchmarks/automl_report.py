"""Scoring, comparisons, tables and floors of benchmarks/automl.py; standard library only.

Every tool's test predictions are scored by the same code (ROC-AUC, negative log-loss, R²),
and mlcycle is compared with each rival in turn: per data set the difference, its 95 % paired
bootstrap interval and the outcome; per rival the floors of issue 15. A second table gives each
fit's wall seconds as a share of the budget, with the floor that every mlcycle fit keeps it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

__all__ = [
    "BUDGETED", "FLOOR_BUDGET", "FLOOR_LOW", "FLOOR_MEAN", "FLOOR_SHARE", "METRICS", "RIVALS",
    "SHOWN", "TIE", "TOOLS", "bootstrap_interval", "budget_kept", "budget_text", "compare",
    "fit_table", "fmt", "neg_log_loss", "r2", "roc_auc", "score", "score_table", "summary_text",
]  # fmt: skip

TOOLS = ("mlcycle", "flaml", "hgb")
RIVALS = ("flaml", "hgb")  # mlcycle is compared with each
BUDGETED = ("mlcycle", "flaml")  # the tools that search within a budget (HGB fits once)
SHOWN = {"mlcycle": "mlcycle", "flaml": "FLAML", "hgb": "HGB"}
TIE = 0.002
BOOTSTRAP = 1000  # resamples for the interval of each difference
# issue 15, against every rival: wins + ties, mean difference, and no data set whose 95 %
# interval lies wholly below FLOOR_LOW (upper bound < -0.01)
FLOOR_SHARE, FLOOR_MEAN, FLOOR_LOW = 0.70, 0.0, -0.01
FLOOR_BUDGET = 1.10  # every mlcycle fit ends within 10 % of its budget
METRICS = {  # task -> (score reported, mlcycle's metric, FLAML's metric)
    "binary": ("roc_auc", "auc", "roc_auc"),
    "multiclass": ("neg_log_loss", "log_loss", "log_loss"),
    "regression": ("r2", "r2", "r2"),
}
EPS = 1e-15


# -- scoring: the same code for every tool -------------------------------------------------


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


# -- comparisons and floors ----------------------------------------------------------------

Results = dict[str, dict[str, dict[str, Any]]]  # data set -> tool -> result record


def _outcome(diff: float | None, mine: dict[str, Any], rival: dict[str, Any]) -> str:
    if not mine.get("ok"):
        return "loss"  # a failed mlcycle worker is a loss whatever the rival did
    if not rival.get("ok"):
        return "win"
    assert diff is not None
    return "tie" if abs(diff) < TIE else ("win" if diff > 0 else "loss")


def _wholly_below(row: dict[str, Any], mine: dict[str, Any]) -> bool:
    """Whether mlcycle is worse on this data set beyond what its test rows can explain: the
    interval's upper bound under FLOOR_LOW (the difference itself when there is no interval),
    or mlcycle failed."""
    if not mine.get("ok"):
        return True
    interval = row.get("interval")
    if interval:
        return interval[1] < FLOOR_LOW
    return row["diff"] is not None and row["diff"] < FLOOR_LOW


def compare(
    metas: dict[str, dict[str, Any]], results: Results, rival: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """mlcycle against ``rival``: one row per data set (diff, interval, outcome) and a summary
    with the floors; the summary is empty when no data set has results of both."""
    rows, diffs, outcomes, below, worst = [], [], [], [], None
    for name in metas:
        mine, theirs = results[name].get("mlcycle"), results[name].get(rival)
        row: dict[str, Any] = {"dataset": name, "diff": None, "interval": None, "outcome": None}
        if mine is not None and theirs is not None:
            if mine.get("ok") and theirs.get("ok"):
                row["diff"] = mine["score"] - theirs["score"]
                diffs.append(row["diff"])
                row["interval"] = bootstrap_interval(metas[name], mine, theirs)
            row["outcome"] = _outcome(row["diff"], mine, theirs)
            outcomes.append(row["outcome"])
            if _wholly_below(row, mine):
                below.append(name)
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
        "rival": rival,
        "compared": len(outcomes),
        "both_scored": len(diffs),
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "share_wins_ties": share,
        "mean_difference": mean,
        "worst_difference": None if worst is None or math.isinf(worst) else worst,
        "mlcycle_failed": [n for n in metas if not (results[n].get("mlcycle") or {}).get("ok")],
        # differences the test rows can tell from chance: the whole 95 % interval on one side
        "clear_wins": [r["dataset"] for r in rows if r["interval"] and r["interval"][0] > 0],
        "clear_losses": [r["dataset"] for r in rows if r["interval"] and r["interval"][1] < 0],
        "wholly_below_floor": below,
        "floors": {
            f"wins+ties >= {FLOOR_SHARE:.0%} of data sets": share >= FLOOR_SHARE,
            f"mean difference > {FLOOR_MEAN:g}": mean is not None and mean > FLOOR_MEAN,
            f"no data set whose 95 % interval lies wholly below {FLOOR_LOW:g}": not below,
        },
    }
    return rows, summary


def budget_kept(results: Results, budget: float, tool: str) -> dict[str, Any]:
    """Each fit's wall seconds over the budget, and whether every fit of ``tool`` ended within
    FLOOR_BUDGET times it (a failed or timed-out worker did not); empty without results."""
    ratios = {
        name: record["fit_seconds"] / budget if record.get("ok") else None
        for name, by_tool in results.items()
        if (record := by_tool.get(tool)) is not None
    }
    if not ratios:
        return {}
    over = [n for n, r in ratios.items() if r is not None and r > FLOOR_BUDGET]
    failed = [n for n, r in ratios.items() if r is None]
    scored = {n: r for n, r in ratios.items() if r is not None}
    longest = max(scored, key=scored.__getitem__) if scored else None
    return {
        "tool": tool,
        "ratios": ratios,
        "max_ratio": scored[longest] if longest else None,
        "max_dataset": longest,
        "over": over,
        "failed": failed,
        "kept": not over and not failed,
    }


# -- text and markdown ---------------------------------------------------------------------


def fmt(value: Any, spec: str = ".4f", missing: str = "-") -> str:
    if value is None:
        return missing
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "-"
    return fmt(record["score"]) if record.get("ok") else "FAILED"


def _render(head: list[str], body: list[list[str]], left: set[int], markdown: bool) -> str:
    """A plain-text table (columns padded, ``left`` ones left-aligned) or a markdown one."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join("---" if i in left else "---:" for i in range(len(head))) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(head)]
    fmt_row = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i in left else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return "\n".join([fmt_row(head), "-" * len(fmt_row(head)), *map(fmt_row, body)])


def score_table(
    metas: dict[str, dict[str, Any]],
    results: Results,
    tools: list[str],
    comparisons: dict[str, list[dict[str, Any]]],
    markdown: bool = False,
) -> str:
    """Each tool's test score, then per rival compared: mlcycle - rival, its 95 % interval
    and the outcome."""
    head = ["data set", "task", "metric", "rows", *(SHOWN[t] for t in tools)]
    left = {0, 1, 2}
    for rival in comparisons:
        left.add(len(head) + 2)
        head += [f"vs {SHOWN[rival]}", f"95 % vs {SHOWN[rival]}", f"result vs {SHOWN[rival]}"]
    body = []
    for i, name in enumerate(metas):
        meta, res = metas[name], results[name]
        cells = [name, meta["task"], METRICS[meta["task"]][0], str(meta["rows"])]
        cells += [_cell(res.get(t)) for t in tools]
        for rows in comparisons.values():
            row = rows[i]
            interval = row["interval"]
            span = "-" if not interval else f"{interval[0]:+.3f} … {interval[1]:+.3f}"
            cells += [fmt(row["diff"], "+.4f"), span, row["outcome"] or "-"]
        body.append(cells)
    return _render(head, body, left, markdown)


def fit_table(
    metas: dict[str, dict[str, Any]],
    results: Results,
    tools: list[str],
    budget: float,
    markdown: bool = False,
) -> str:
    """Each fit's wall seconds; for the tools that search, also as a share of the budget, the
    trials and (in text) the best model."""
    searching = [t for t in tools if t in BUDGETED]
    head = ["data set", *(f"{SHOWN[t]} fit s" for t in tools)]
    head += [f"{SHOWN[t]} fit/budget" for t in searching]
    head += [f"{SHOWN[t]} trials" for t in searching]
    head += [] if markdown else [f"{SHOWN[t]} best" for t in searching]
    body = []
    for name in metas:
        res = {t: results[name].get(t) or {} for t in tools}
        cells = [name, *(fmt(res[t].get("fit_seconds"), ".1f") for t in tools)]
        cells += [
            fmt(res[t]["fit_seconds"] / budget if res[t].get("ok") else None, ".2f")
            for t in searching
        ]
        cells += [fmt(res[t].get("n_trials"), "d") for t in searching]
        if not markdown:
            cells += [fmt(res[t].get("best_model")) for t in searching]
        body.append(cells)
    left = {0} | (set() if markdown else set(range(len(head) - len(searching), len(head))))
    return _render(head, body, left, markdown)


def summary_text(summary: dict[str, Any]) -> str:
    rival = SHOWN[summary["rival"]]
    lines = [
        f"mlcycle vs {rival} on {summary['compared']} data sets: {summary['wins']} wins, "
        f"{summary['ties']} ties, {summary['losses']} losses (tie: |difference| < {TIE})",
        f"wins+ties: {summary['share_wins_ties']:.0%}   mean difference: "
        f"{fmt(summary['mean_difference'], '+.4f')} (over the {summary['both_scored']} data "
        f"sets both tools scored)   worst difference: "
        f"{fmt(summary['worst_difference'], '+.4f', 'mlcycle failed')}",
        f"differences outside chance (95 % paired bootstrap over the test rows): "
        f"{len(summary['clear_wins'])} for mlcycle ({', '.join(summary['clear_wins']) or '-'}), "
        f"{len(summary['clear_losses'])} for {rival} "
        f"({', '.join(summary['clear_losses']) or '-'})",
    ]
    if summary["mlcycle_failed"]:
        lines.append(f"mlcycle failed on: {', '.join(summary['mlcycle_failed'])} (losses)")
    if summary["wholly_below_floor"]:
        lines.append(f"wholly below {FLOOR_LOW:g}: {', '.join(summary['wholly_below_floor'])}")
    lines += [f"  {'PASS' if ok else 'FAIL'}  {floor}" for floor, ok in summary["floors"].items()]
    return "\n".join(lines)


def budget_text(kept: dict[str, dict[str, Any]], load: bool) -> str:
    """One line per searching tool: its longest fit over the budget and the fits over the
    floor; then the floor, which binds mlcycle (FLAML's line is information)."""
    where = "with a busy loop on one of the pinned CPUs (--load)" if load else "no --load"
    lines = [f"fit seconds / budget, {where}:"]
    for tool, one in kept.items():
        longest = f"{one['max_ratio']:.2f} ({one['max_dataset']})" if one["max_dataset"] else "-"
        over = ", ".join(one["over"]) or "none"
        failed = f"; failed: {', '.join(one['failed'])}" if one["failed"] else ""
        lines.append(
            f"{SHOWN[tool]}: longest {longest}; over {FLOOR_BUDGET:g}x budget: {over}{failed}"
        )
    if "mlcycle" in kept:
        verdict = "PASS" if kept["mlcycle"]["kept"] else "FAIL"
        lines.append(
            f"  {verdict}  every mlcycle fit ends within {FLOOR_BUDGET - 1:.0%} of its budget"
        )
    return "\n".join(lines)
