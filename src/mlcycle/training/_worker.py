"""A search worker process: ``python -m mlcycle.training._worker FOLDER WORKER STUDY``.

It reads the search context that the parent wrote to FOLDER (Parquet, NumPy and JSON: no
pickle), then runs trials of the shared Optuna study until the study stops. Separate
interpreters rather than ``multiprocessing``: nothing of the user's ``__main__`` is
re-imported, and no forked copy of the parent's threads or connections exists.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    from mlcycle.training._search import load_context, run_worker

    folder, worker, study = Path(argv[0]), int(argv[1]), argv[2]
    warnings.simplefilter("ignore")
    run_worker(load_context(folder), worker, study)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Everything is on disk (journal, out-of-fold files). Skip the interpreter's teardown,
    # which can wait seconds on the libraries' thread pools while the budget runs.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
