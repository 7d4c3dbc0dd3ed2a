"""Closed-loop verbs: retrain (challenger vs champion), abtest (live arms), update (online)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlcycle.cli._app import JsonFlag, _emit_json, _errors, _fmt, app, err, out, shown

Name = Annotated[str, typer.Argument(help="Model name.")]
Data = Annotated[
    Path, typer.Option("--data", "-d", help="New labelled rows: CSV, TSV, Parquet or JSON lines.")
]
Alias = Annotated[str, typer.Option("--alias", help="The champion's alias.")]
Margin = Annotated[
    float, typer.Option("--margin", help="Gain the challenger must exceed, in metric units.")
]
Alpha = Annotated[float, typer.Option("--alpha", help="Significance level of the test.")]
Holdout = Annotated[
    float, typer.Option("--holdout", help="Share of the new rows both models are scored on.")
]
Canary = Annotated[
    float | None,
    typer.Option("--canary", help="Send a winner to @canary for this % of traffic first."),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the split and the bootstrap.")]


def _decision_table(decision: Any) -> Table:
    d = decision
    table = Table(
        title=f"{d.kind.capitalize()} of {shown(d.model)}: champion v{d.champion_version} "
        f"vs challenger v{d.challenger_version}"
    )
    table.add_column("")
    table.add_column("value")
    orientation = "higher" if d.greater_is_better else "lower"
    rows = [
        ("metric", f"{shown(d.metric)} ({orientation} is better)"),
        ("champion", f"v{d.champion_version}: {_fmt(d.champion_score)}"),
        ("challenger", f"v{d.challenger_version}: {_fmt(d.challenger_score)}"),
        ("difference", f"{d.difference:+.4g} (95 % CI {d.ci[0]:+.4g} to {d.ci[1]:+.4g})"),
        (
            "p (paired bootstrap)",
            f"{_fmt(d.p_value)} ({d.resamples:,} resamples, H0: gain <= {d.margin:g})",
        ),
        ("p (paired t-test)", f"{_fmt(d.ttest_p)} on per-row {shown(d.ttest_loss)}"),
        ("margin / alpha", f"{d.margin:g} / {d.alpha:g}"),
        ("rows", f"{d.train_rows:,} to learn, {d.holdout_rows:,} holdout"),
        ("challenger model", shown(d.detail or "-")),
        ("verdict", "[green]wins[/]" if d.wins else "[yellow]does not win[/]"),
        (
            "alias moved",
            f"@{shown(d.alias_moved)} -> v{d.challenger_version}" if d.alias_moved else "none",
        ),
    ]
    if d.families:
        rows.insert(-2, ("families", shown(f"{', '.join(d.families)} ({d.families_source})")))
    if d.members:  # an update: how each part learned, in place of the one-line detail
        at = rows.index(("challenger model", shown(d.detail or "-")))
        rows[at : at + 1] = [_member_row(i, m) for i, m in enumerate(d.members, 1)]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _member_row(number: int, member: Any) -> tuple[str, str]:
    """One part of an updated model: continued, partial_fit or refit, on how many rows."""
    weight = "" if member.weight is None else f" (weight {member.weight:.2f})"
    key = "challenger model" if member.weight is None else f"member {number}{weight}"
    return key, shown(member.line)


def _show_decision(decision: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(decision.to_dict())
        return
    out.print(_decision_table(decision))
    for note in decision.notes:
        out.print(f"[dim]note:[/] {shown(note)}", soft_wrap=True)
    colour = "green" if decision.alias_moved else "yellow"
    out.print(f"[{colour}]{shown(decision.reason)}[/]", soft_wrap=True)


@app.command(rich_help_panel="Monitor")
@_errors
def retrain(
    name: Name,
    data: Data,
    alias: Alias = "production",
    budget: Annotated[
        float, typer.Option("--budget", "-b", help="Seconds for the challenger's search.")
    ] = 60.0,
    margin: Margin = 0.0,
    alpha: Alpha = 0.05,
    holdout: Holdout = 0.25,
    canary: Canary = None,
    families: Annotated[
        str | None, typer.Option("--families", help="Override the champion's, e.g. lgbm,linear.")
    ] = None,
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", help="Stop the search after N trials.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Parallel trial processes.")
    ] = None,
    seed: Seed = 0,
    as_json: JsonFlag = False,
) -> None:
    """Train a challenger on new data; promote it only if it beats the champion significantly."""
    from mlcycle.monitoring import retrain as run_retrain

    decision = run_retrain(
        name,
        data,
        alias=alias,
        budget=budget,
        margin=margin,
        alpha=alpha,
        holdout=holdout,
        canary=canary,
        families=families,
        max_trials=max_trials,
        workers=workers,
        seed=seed,
        progress=not as_json,
        console=err,
    )
    _show_decision(decision, as_json)


@app.command(rich_help_panel="Monitor")
@_errors
def update(
    name: Name,
    data: Data,
    alias: Alias = "production",
    margin: Margin = 0.0,
    alpha: Alpha = 0.05,
    holdout: Holdout = 0.25,
    canary: Canary = None,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", help="Extra boosting rounds (default: 20 % more, at least 10)."),
    ] = None,
    passes: Annotated[int, typer.Option("--passes", help="partial_fit passes over the rows.")] = 1,
    seed: Seed = 0,
    as_json: JsonFlag = False,
) -> None:
    """Update the champion (continue LightGBM/XGBoost, partial_fit, refit the rest) and gate it."""
    from mlcycle.monitoring import update as run_update

    decision = run_update(
        name,
        data,
        alias=alias,
        margin=margin,
        alpha=alpha,
        holdout=holdout,
        canary=canary,
        rounds=rounds,
        passes=passes,
        seed=seed,
    )
    _show_decision(decision, as_json)


@app.command(rich_help_panel="Monitor")
@_errors
def abtest(
    name: Name,
    a: Annotated[str, typer.Option("--a", help="Arm A: an alias as logged, or a version.")] = (
        "production"
    ),
    b: Annotated[str, typer.Option("--b", help="Arm B: an alias as logged, or a version.")] = (
        "canary"
    ),
    since: Annotated[
        str | None, typer.Option("--since", help="Only predictions since: 24h, 7d, 2026-11-01.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", "-m", help="accuracy, log_loss, auc; rmse, mae (regression)."),
    ] = None,
    alpha: Alpha = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap intervals.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Compare two live arms of a model on their feedback labels, with intervals and a test."""
    from mlcycle.monitoring import abtest as run_abtest

    result = run_abtest(name, a=a, b=b, since=since, metric=metric, alpha=alpha, seed=seed)
    if as_json:
        _emit_json(result.to_dict())
        return
    level = f"{100 * (1 - result.alpha):g} % CI"
    metric = shown(result.metric)
    table = Table(title=f"A/B test of {shown(name)} on {metric}")
    for column in ("arm", "versions", "predictions", "labelled", metric, level, "also"):
        table.add_column(column)
    for arm in (result.a, result.b):
        others = ", ".join(f"{k} {_fmt(v)}" for k, v in arm.metrics.items() if k != result.metric)
        table.add_row(
            shown(arm.name),
            ", ".join(f"v{v}" for v in arm.versions),
            f"{arm.predictions:,}",
            f"{arm.labelled:,}",
            _fmt(arm.value),
            f"{_fmt(arm.ci[0])} to {_fmt(arm.ci[1])}",
            others or "-",
        )
    out.print(table)
    colour = "green" if result.significant else "yellow"
    out.print(f"[{colour}]{shown(result.verdict)}[/]", soft_wrap=True)
