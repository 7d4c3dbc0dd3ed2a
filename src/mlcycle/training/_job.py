"""The main job: profile → validate → train → evaluate → explain → register → ``staging``.

``mlcycle run data.csv --target y`` and :func:`run_job` are this one function: everything a
team does by hand between a new table and a model it can serve, on the embedded store.
The table is loaded once, its rows without a target dropped once, and its types (schema
and kinds) inferred once with the profile: training receives them as a
:class:`~mlcycle.training.TrainTable` and registers that schema as the model's contract.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BadParameterError, DataError, bad_parameter

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.training._train import TrainResult

__all__ = ["JobResult", "default_model_name", "run_job"]


@dataclass
class JobResult:
    """The trained result plus the reports of the steps before it."""

    train: TrainResult
    profile_path: Path
    validation: dict[str, Any] | None
    name: str
    alias: str


def default_model_name(data: Any) -> str:
    """A model name from a data file's stem (``data/churn 2024.csv`` → ``churn-2024``)."""
    from mlcycle.registry import slug

    if isinstance(data, str | os.PathLike):
        return slug(Path(data).stem, "model")
    raise BadParameterError("run_job() needs name= when the data is a DataFrame, not a file.")


def run_job(
    data: Any,
    target: str,
    *,
    name: str | None = None,
    alias: str = "staging",
    budget: float = 60.0,
    rules: str | os.PathLike[str] | None = None,
    decimal: str | None = None,
    console: Console | None = None,
    progress: bool = True,
    **train_options: Any,
) -> JobResult:
    """Run the whole job; ``train_options`` go to :func:`mlcycle.train` (metric, cv, ...).

    ``rules`` (a rules YAML, see ``mlcycle validate``) must pass before anything is trained.
    ``decimal`` is the decimal mark of the file's numbers (see :func:`mlcycle.data.load`).
    """
    from rich.console import Console

    from mlcycle.data import load, load_rules, validate
    from mlcycle.registry import get_workspace, parse_model_ref
    from mlcycle.training._plan import TrainTable
    from mlcycle.training._train import train

    console = console or Console(stderr=True)
    model_name = name or default_model_name(data)
    parse_model_ref(model_name)
    if not isinstance(target, str) or not target:
        raise bad_parameter("target", "run_job()", "a column name", target)
    frame = load(data, target=target, decimal=decimal)
    for note in frame.attrs.get("mlcycle_warnings", []):
        console.print(f"[yellow]warning:[/] {note}", soft_wrap=True)

    console.print("[bold]1/4 profile[/]")
    seed, task = int(train_options.get("seed", 0)), train_options.get("task")
    table = TrainTable.inspect(frame, target, task=task, seed=seed)
    folder = get_workspace().report_folder(f"{model_name}-profile")
    table.profile.save(folder)
    profile_path = folder / "profile.html"
    for warning in table.profile.warnings[:10]:
        console.print(f"[yellow]profile:[/] {warning.message}", soft_wrap=True)

    console.print("[bold]2/4 validate[/]")
    report = None
    if rules is not None:
        checked = validate(frame, None, load_rules(rules))
        report = checked.to_dict()
        if not checked.passed:
            checked.render(console)
            raise DataError(
                f"The data fails the rules in {rules}; nothing was trained. Fix the data or "
                "the rules."
            )
        console.print(f"rules in {rules}: passed")
    else:
        console.print("no --rules given: the loader's and profiler's checks only")
    del frame  # training reads the table's rows with a target, not the loaded frame

    console.print("[bold]3/4 train, evaluate, explain[/]")
    result = train(
        table.frame,
        target,
        budget=budget,
        name=model_name,
        alias=alias,
        profile=table,
        progress=progress,
        console=console,
        **train_options,
    )
    version = result.version.version if result.version else "?"
    console.print(f"[bold]4/4 registered[/] {model_name} v{version} as @{alias}")
    return JobResult(result, profile_path, report, model_name, alias)
