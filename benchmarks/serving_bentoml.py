"""BentoML 1.4 services of benchmarks/serving.py: the LightGBM model behind the same JSON records.

Both take ``{"records": [{"f0": ..., "f19": ...}, ...]}`` (the body mlcycle takes) and answer the
positive-class probability of each record. ``Batched`` is BentoML's recommended path for many
small requests: a batchable API, so that adaptive batching merges the records of concurrent
requests into one ``Booster.predict``. ``Unbatched`` is the plain API, one predict per request.

The model is read from BentoML's model store (``BENTOML_HOME``, set by serving.py to a temporary
folder), where serving.py saved LightGBM's text file with ``bentoml.models.create``; the service
loads it as BentoML's docs show, through a class-level ``BentoModel``. One worker, access log off,
like the other servers of the benchmark. Run by serving.py from a temporary working directory:

    bentoml serve serving_bentoml:Batched --host 127.0.0.1 --port 3000
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import lightgbm
import numpy as np
from bentoml.models import BentoModel

MODEL_TAG = os.environ.get("BENCH_BENTOML_MODEL", "serving-bench-lgbm:latest")
MAX_BATCH_SIZE = int(os.environ.get("BENCH_BENTOML_MAX_BATCH_SIZE", "1000"))  # records
CONFIG: dict[str, Any] = {"workers": 1, "logging": {"access": {"enabled": False}}}


class _Model:
    model_ref = BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.booster = lightgbm.Booster(model_file=self.model_ref.path_of("model.txt"))
        self.names = self.booster.feature_name()

    def _predict(self, records: list[dict[str, float]]) -> list[float]:
        rows = np.array([[r[n] for n in self.names] for r in records], dtype=np.float64)
        return self.booster.predict(rows).tolist()


@bentoml.service(**CONFIG)
class Batched(_Model):
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH_SIZE)
    def predict(self, records: list[dict[str, float]]) -> list[float]:
        return self._predict(records)


@bentoml.service(**CONFIG)
class Unbatched(_Model):
    @bentoml.api
    def predict(self, records: list[dict[str, float]]) -> list[float]:
        return self._predict(records)
