"""Training verbs: train (AutoML search) and the main job, ``run DATA --target Y``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcycle.cli._app import DecimalMark, _emit_json, _errors, app, err, out, run_app, shown

DataPath = Annotated[Path, typer.Argument(help="CSV, TSV, Parquet or JSON lines file.")]
Target = Annotated[str, typer.Option("--target", "-t", help="The column to predict.")]
Budget = Annotated[float, typer.Option("--budget", "-b", help="Seconds for search and refit.")]
Metric = Annotated[
    str | None, typer.Option("--metric", "-m", help="auc, log_loss, rmse, r2, f1, ...")
]
Search = Annotated[str, typer.Option("--search", help="tpe (Bayesian), random or grid.")]
Families = Annotated[
    str | None, typer.Option("--families", help="e.g. lgbm,xgb,rf,et,hgb,linear,knn")
]
Folds = Annotated[int, typer.Option("--cv", help="Cross-validation folds.")]
TimeColumn = Annotated[
    str | None, typer.Option("--time-column", help="Split and validate by this time column.")
]
GroupColumn = Annotated[
    str | None, typer.Option("--group-column", help="Keep each group on one side of a split.")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of splits and search.")]
Workers = Annotated[
    int | None, typer.Option("--workers", "-w", help="Parallel trial processes (default: CPUs).")
]
Task = Annotated[
    str | None, typer.Option("--task", help="binary, multiclass or regression (detected).")
]
TestSize = Annotated[float, typer.Option("--test-size", help="Held-out share for evaluation.")]
AllowLeakage = Annotated[
    bool, typer.Option("--allow-leakage", help="Train although columns look like leaks.")
]
AllowPii = Annotated[
    bool,
    typer.Option(
        "--allow-pii",
        help="Train on columns that look like personal data or identifiers (left out by "
        "default); the bundle's schema and monitoring reference still keep none of their values.",
    ),
]
MaxTrials = Annotated[int | None, typer.Option("--max-trials", help="Stop after N trials.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _options(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@app.command(rich_help_panel="Train")
@_errors
def train(
    data: DataPath,
    target: Target,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Model name (default: the file's stem).")
    ] = None,
    budget: Budget = 60.0,
    metric: Metric = None,
    search: Search = "tpe",
    families: Families = None,
    cv: Folds = 5,
    time_column: TimeColumn = None,
    group_column: GroupColumn = None,
    seed: Seed = 0,
    workers: Workers = None,
    task: Task = None,
    test_size: TestSize = 0.2,
    alias: Annotated[
        str | None, typer.Option("--alias", help="Point this alias at the new version.")
    ] = None,
    allow_leakage: AllowLeakage = False,
    allow_pii: AllowPii = False,
    max_trials: MaxTrials = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Track the runs but register nothing.")
    ] = False,
    as_json: AsJson = False,
    decimal: DecimalMark = None,
) -> None:
    """Search model families within a time budget; evaluate, explain and register the best."""
    from mlcycle.training import default_model_name
    from mlcycle.training import train as run_train

    model_name = None if no_register else (name or default_model_name(data))
    source: Any = data
    if decimal is not None:  # train() reads with detection; an explicit mark is read here
        from mlcycle.data import load

        source = load(data, target=target, decimal=decimal)
    result = run_train(
        source,
        target,
        **_options(
            task=task,
            metric=metric,
            families=families,
            time_column=time_column,
            group_column=group_column,
            workers=workers,
            alias=alias,
            max_trials=max_trials,
        ),
        budget=budget,
        search=search,
        cv=cv,
        seed=seed,
        test_size=test_size,
        name=model_name,
        allow_leakage=allow_leakage,
        allow_pii=allow_pii,
        progress=not as_json,
        console=err,
    )
    if as_json:
        _emit_json(result.summary())
        return
    result.render(out)


@run_app.command("job")
@_errors
def job(
    data: DataPath,
    target: Target,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Model name (default: the file's stem).")
    ] = None,
    budget: Budget = 60.0,
    metric: Metric = None,
    families: Families = None,
    cv: Folds = 5,
    time_column: TimeColumn = None,
    group_column: GroupColumn = None,
    seed: Seed = 0,
    workers: Workers = None,
    task: Task = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", "-r", help="rules.yaml the data must pass first.")
    ] = None,
    allow_leakage: AllowLeakage = False,
    allow_pii: AllowPii = False,
    max_trials: MaxTrials = None,
    as_json: AsJson = False,
    decimal: DecimalMark = None,
) -> None:
    """The main job: profile → validate → train → evaluate → explain → register → @staging."""
    from mlcycle.training import run_job

    result = run_job(
        data,
        target,
        name=name,
        budget=budget,
        rules=rules,
        decimal=decimal,
        console=err,
        progress=not as_json,
        **_options(
            metric=metric,
            families=families,
            time_column=time_column,
            group_column=group_column,
            workers=workers,
            task=task,
            max_trials=max_trials,
        ),
        cv=cv,
        seed=seed,
        allow_leakage=allow_leakage,
        allow_pii=allow_pii,
    )
    trained = result.train
    if as_json:
        _emit_json(
            {**trained.summary(), "profile": str(result.profile_path), "alias": result.alias}
        )
        return
    trained.render(out)
    version = trained.version.version if trained.version else "?"
    out.print(
        f"[green]done:[/] {shown(result.name)} v{version} is @{shown(result.alias)}. "
        f"Model card: {shown(trained.card_path)}  Profile: {shown(result.profile_path)}",
        soft_wrap=True,
    )
