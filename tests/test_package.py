"""Package hygiene: public names, cheap import, layers importing downward only."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mlcycle"
PUBLIC = [
    "mlcycle",
    "mlcycle.registry",
    "mlcycle.data",
    "mlcycle.training",
    "mlcycle.nn",
    "mlcycle.evaluation",
    "mlcycle.explanation",
    "mlcycle.bundle",
    "mlcycle.flavours",
    "mlcycle.decision",
    "mlcycle.schema",
    "mlcycle.estimators",
    "mlcycle.predlog",
    "mlcycle.config",
    "mlcycle.exceptions",
]

# Lower number = lower layer (docs/architecture.md). A module imports only from layers <= its own.
LAYERS = {
    "_version": 0,
    "_lazy": 0,
    "_html": 0,
    "exceptions": 0,
    "config": 1,
    "decision": 1,
    "schema": 2,
    "_schema_input": 2,
    "flavours": 2,
    "bundle": 2,
    "estimators": 2,
    "nn": 2,
    "predlog": 2,
    "registry": 3,
    "data": 4,
    "training": 5,
    "evaluation": 5,
    "explanation": 5,
    "monitoring": 6,
    "compression": 6,
    "serving": 7,
    "cli": 8,
    "ui": 8,
    "__init__": 9,
}


@pytest.mark.parametrize("module", PUBLIC)
def test_all_matches_real_exports(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    missing = [name for name in exported if not hasattr(mod, name)]
    assert missing == []
    assert len(exported) == len(mod.__all__), "duplicates in __all__"


def test_import_is_cheap() -> None:
    code = (
        "import sys, mlcycle\n"
        "heavy = {'sqlalchemy', 'sklearn', 'pandas', 'numpy', 'lightgbm', 'xgboost', 'alembic'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "mlcycle":
        return None
    return LAYERS.get(parts[1] if len(parts) > 1 else "__init__")


def test_layers_import_downward_only() -> None:
    offences = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(relative.parts)
        own = _layer_of(
            module if relative.name != "__init__" or len(relative.parts) > 2 else "mlcycle"
        )
        assert own is not None, f"{module} is in no layer: add it to LAYERS (docs/architecture.md)"
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            for target in targets:
                layer = _layer_of(target)
                if layer is not None and layer > own:
                    offences.append(f"{module} imports {target}")
    assert offences == []


def test_private_modules_are_not_imported_across_packages() -> None:
    offences = []
    for path in SRC.rglob("*.py"):
        package = path.parent.relative_to(SRC.parent).as_posix().replace("/", ".")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                private = [i for i, p in enumerate(parts) if p.startswith("_") and i > 0]
                owner = ".".join(parts[: private[0]]) if private else ""
                inside = package == owner or package.startswith(owner + ".")
                if private and not inside and parts[1] not in ("_version", "_lazy"):
                    offences.append(f"{path.name} imports {node.module}")
    assert offences == []


# Files another change is rewriting; the integrator sweeps them and empties this set.
def test_no_bare_root_error_is_raised() -> None:
    """Every error is raised as its subclass, so the server and CLI map it to a precise code."""
    offences = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative == "exceptions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "MlcycleError":
                offences.append(f"{relative}:{node.lineno}")
    assert offences == [], "raise a MlcycleError subclass (exceptions.py) instead of the root"
