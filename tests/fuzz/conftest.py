"""Hypothesis profiles for the fuzzing harness (and every property test in the run).

``ci`` (the default) is reproducible and bounded: examples are derived from each test's
name (``derandomize``), no example database is written (nothing lands in the repository or
in HOME), and no deadline (a shared CI machine is slow at times). ``deep`` runs twenty
times the examples with fresh randomness and keeps its failures in a database under the
system's temporary folder, for longer local runs::

    HYPOTHESIS_PROFILE=deep python -m pytest tests/fuzz
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

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
    database=DirectoryBasedExampleDatabase(str(Path(tempfile.gettempdir()) / "mlcycle-hypothesis")),
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
