"""Interpreters for benchmarks: this checkout's ``.venv`` and side venvs for rival tools.

Rival tools (MLflow, Evidently, ...) are never installed into ``.venv``: their pins conflict
with ours. Each gets its own venv under ``.bench/<name>`` (gitignored), created on demand.
Only the standard library is used here, so any Python >= 3.11 can drive a benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = [
    "REPO",
    "bench_venv",
    "maxrss_mb",
    "mlcycle_python",
    "package_versions",
    "reset_peak",
    "status_mb",
    "venv_python",
]

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".bench"
STAMP = ".bench-requirements"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def mlcycle_python() -> Path:
    """The interpreter with mlcycle installed: ``.venv`` of this checkout, else this one."""
    candidate = venv_python(REPO / ".venv")
    return candidate if candidate.exists() else Path(sys.executable)


def bench_venv(name: str, requirements: list[str], probe: str, *, force: bool = False) -> Path:
    """Return the python of ``.bench/<name>``, creating or updating it when needed.

    The venv is (re)installed when it is missing, when ``requirements`` changed since the last
    install, when ``probe`` (Python code) fails in it, or when ``force`` is set.
    """
    venv = BENCH_DIR / name
    python = venv_python(venv)
    stamp = venv / STAMP
    wanted = "\n".join(requirements)
    if not force and python.exists() and stamp.exists() and stamp.read_text() == wanted:
        ok = subprocess.run([python, "-c", probe], capture_output=True).returncode == 0
        if ok:
            return python
    print(f"Setting up {venv.relative_to(REPO)}: {' '.join(requirements)} ...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *requirements], check=True)
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{venv} was installed but `{probe}` fails:\n{result.stderr}")
    stamp.write_text(wanted)
    return python


def package_versions(names: list[str]) -> dict[str, str]:
    """Python's and each installed package's version in this interpreter (missing: left out)."""
    import contextlib
    import platform
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


# -- memory of a worker process (Linux /proc; None or False elsewhere) --------------------


def status_mb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MB (Linux), None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux ``clear_refs``), so loading is not charged to the work."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def maxrss_mb() -> float:
    """The process's peak RSS in MB since it started (``ru_maxrss``: KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
