"""The CLI frame: the Typer apps, consoles, error handling and rendering helpers.

Every error mlcycle raises on purpose becomes one red line and exit code 2; listings
print a Rich table for people and JSON with ``--json`` for scripts.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.markup import escape
from rich.segment import Segment
from typer.core import TyperGroup

from mlcycle._version import __version__
from mlcycle.exceptions import MlcycleError, error_exit_code

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="mlcycle",
    help="From a table of data to a model that is trained, explained, versioned, served, "
    "monitored and retrained.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class _RunGroup(TyperGroup):
    """``mlcycle run show ID`` is a sub-command; ``mlcycle run DATA ...`` is the main job."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is not None and first not in self.commands and first not in ("--help", "-h"):
            args = ["job", *args]
        return super().parse_args(ctx, args)


db_app = typer.Typer(help="The metadata database: schema version and migrations.")
run_app = typer.Typer(
    cls=_RunGroup,
    help="The main job on a table (mlcycle run DATA --target Y), or one run (run show ID).",
)
app.add_typer(db_app, name="db", rich_help_panel="Workspace")
app.add_typer(run_app, name="run", rich_help_panel="Runs")

# C0 and C1 control characters but tab and newline (ESC starts the sequences that recolour,
# retitle or clear a terminal, or write its clipboard: OSC 52), and the bidirectional
# overrides that make text read differently from what it holds.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _inert(text: str) -> str:
    r"""``text`` with each control character written out as Python would: ESC as \x1b."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


def shown(value: Any) -> str:
    r"""User-provided text (a name, a tag or param, a message quoting one) made safe to put
    in Rich markup or a table cell: control characters written out, markup escaped, so a
    run named ``[/]`` prints as it is instead of ending a style never opened (a crash).

    >>> print(shown("[bold]x\x1b]52;c;aGk=\x07"))
    \[bold]x\x1b]52;c;aGk=\x07
    """
    return escape(_inert(str(value)))


class _InertText:
    """Renders ``renderable`` with every control character of its text written out."""

    def __init__(self, renderable: ConsoleRenderable) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            yield segment if segment.control else Segment(_inert(segment.text), segment.style)


class _NoControlCharacters(RenderHook):
    """The second guard behind :func:`shown`, for text that reached a console another way
    (a report's own ``render``): Rich's styles and cursor moves are control segments and
    pass; the text itself never carries an escape sequence to the terminal."""

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_InertText(r) for r in renderables]


def _console(**options: Any) -> Console:
    console = Console(highlight=False, **options)
    console.push_render_hook(_NoControlCharacters())
    return console


out = _console()
err = _console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DecimalMark = Annotated[
    str | None,
    typer.Option(
        "--decimal",
        help="Decimal mark of the numbers in the file, ',' or '.' (default: decimal commas "
        "are detected in ';'-, tab- and '|'-separated files).",
    ),
]


def _errors(fn: F) -> F:
    """Turn MlcycleError into one red line and exit code 2; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlcycleError as exc:
            err.print(f"[bold red]error:[/] {shown(exc)}", soft_wrap=True)
            raise typer.Exit(error_exit_code(exc)) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err.print("[red]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("MLCYCLE_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {shown(exc)}. This is a bug "
                "in mlcycle; run again with MLCYCLE_DEBUG=1 for the traceback and report it.",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _workspace() -> Any:
    from mlcycle.registry import get_workspace

    return get_workspace()


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(value: Any) -> str:
    """A value for a table cell or a message: numbers short, None as '-', text :func:`shown`."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return "-" if value is None else shown(value)


_STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"mlcycle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """mlcycle: track, register, serve and retrain models with safe defaults."""
