"""AutoML training: search model families under a time budget, ensemble, refit, record.

``mlcycle.train`` (this package's :func:`train`) is the entry point; the model families and
their search spaces are listed in :data:`FAMILIES`.
"""

from mlcycle.training._card import INTENDED_USE_FIELDS
from mlcycle.training._ensemble import WeightedEnsemble
from mlcycle.training._families import FAMILIES, Family, default_families
from mlcycle.training._job import JobResult, default_model_name, run_job
from mlcycle.training._plan import TrainPlan, TrainTable
from mlcycle.training._search import TrialRecord
from mlcycle.training._train import SEARCHES, TrainResult, detect_task, train

__all__ = [
    "FAMILIES",
    "INTENDED_USE_FIELDS",
    "SEARCHES",
    "Family",
    "JobResult",
    "TrainPlan",
    "TrainResult",
    "TrainTable",
    "TrialRecord",
    "WeightedEnsemble",
    "default_families",
    "default_model_name",
    "detect_task",
    "run_job",
    "train",
]
