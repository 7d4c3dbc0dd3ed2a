"""The ``mlcycle`` command line: thin verbs that parse, call the SDK and render.

Every error mlcycle raises on purpose becomes one red line and exit code 2; listings
print a Rich table for people and JSON with ``--json`` for scripts. Verbs live in one
module per concern and register themselves on :data:`app`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from mlcycle.cli._app import app

__all__ = ["app", "main"]

# Each module registers its verbs on `app`; the order here is the order of --help's panels.
for _module in (
    "_workspace",
    "_data",
    "_train",
    "_runs",
    "_models",
    "_serve",
    "_predict",
    "_keys",
    "_monitor",
    "_loop",
):
    importlib.import_module(f"mlcycle.cli.{_module}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="mlcycle")
