"""What a person sees of training: a progress bar during the search and a summary after."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from mlcycle.evaluation import Metric
    from mlcycle.training._search import SearchContext, TrialRecord
    from mlcycle.training._train import TrainResult

__all__ = ["render_summary", "search_progress"]


@contextlib.contextmanager
def search_progress(
    ctx: SearchContext, metric: Metric, *, enabled: bool, console: Console | None = None
) -> Iterator[Callable[[list[TrialRecord]], None] | None]:
    """A Rich progress bar over the budget showing trials done and the best score so far."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.time()
    total = max(ctx.deadline - started, 1e-3)
    with Progress(
        TextColumn("[bold]search[/]"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console or Console(stderr=True),
        transient=False,
    ) as bar:
        task_id = bar.add_task("search", total=total, status="starting")

        def update(trials: list[TrialRecord]) -> None:
            done = [t for t in trials if t.state == "complete" and t.value is not None]
            status = f"{len(trials)} trials"
            if done:
                best = min(done, key=lambda t: t.value or 0.0)
                shown = metric.from_loss(best.value or 0.0)
                status += f" · best {metric.name} {shown:.4f} ({best.family})"
            bar.update(task_id, completed=min(total, time.time() - started), status=status)

        yield update
        bar.update(task_id, completed=total)


def render_summary(result: TrainResult, console: Console | None = None) -> None:
    """The terminal summary: the winner, its scores, the search, where things went."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"mlcycle train · {result.target} ({result.task})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    model = result.best_family
    if result.ensemble:
        parts = ", ".join(
            f"{m['family']}#{m['trial']} {m['weight']:.2f}" for m in result.ensemble["members"]
        )
        model = f"ensemble of {len(result.ensemble['members'])}: {parts}"
    rows: list[tuple[str, Any]] = [
        ("model", model),
        (f"cv {result.metric}", f"{result.cv_score:.4f} ± {result.cv_std:.4f}"),
        (
            "search",
            f"{result.n_trials} trials ({result.n_pruned} pruned) in "
            f"{result.fit_seconds:.1f} s of {result.budget:g} s",
        ),
    ]
    if result.threshold is not None:
        rows.append(("threshold", f"{result.threshold:.3f}"))
    if result.evaluation is not None:
        shown = ", ".join(
            f"{k} {v:.4f}" for k, v in result.evaluation.metrics.items() if v is not None
        )
        rows.append(("test", shown))
    if result.importance is not None:
        top = list(result.importance.values.items())[:5]
        rows.append(("top features", ", ".join(f"{k} ({v:.3g})" for k, v in top)))
    if result.version is not None:
        rows.append(("registered", f"{result.version.model} v{result.version.version}"))
    if result.run_id:
        rows.append(("run", result.run_id))
    if result.card_path is not None:
        rows.append(("model card", str(result.card_path)))
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    for note in result.warnings:
        console.print(f"[yellow]warning:[/] {note}", soft_wrap=True)
