"""Hypothesis profiles for the fuzzing harness (and every property test in the run).

``ci`` (the default) is reproducible and bounded: examples are derived from each test's
name (``derandomize``), no example database is written, and no deadline (a shared CI
machine is slow at times). ``deep`` runs twenty times the examples with fresh randomness and
keeps its failures in a database, for longer local runs. Hypothesis's own files (its example
database, its cache of constants) go under the system's temporary folder, never into the
repository or HOME (``HYPOTHESIS_STORAGE_DIRECTORY`` overrides)::

    HYPOTHESIS_PROFILE=deep python -m pytest tests/fuzz
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

STORAGE = Path(
    os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    or Path(tempfile.gettempdir()) / "mlcycle-hypothesis"
)
set_hypothesis_home_dir(STORAGE)

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "deep",
    max_examples=2_000,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(STORAGE / "examples")),
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
