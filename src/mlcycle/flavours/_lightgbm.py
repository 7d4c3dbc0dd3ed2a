"""The ``lightgbm`` flavour: the booster's own text format plus the wrapper's metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, require
from mlcycle.flavours._base import canonical_json, example_table
from mlcycle.flavours._native import BoosterFlavour, NativeModel, booster_of, wrapper_meta
from mlcycle.flavours._trees import check_lightgbm_text

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LightGBMFlavour"]


class LightGBMFlavour(BoosterFlavour):
    """LGBMClassifier, LGBMRegressor, LGBMRanker and bare Boosters, as LightGBM text."""

    name = "lightgbm"
    requires = (("lightgbm", "'mlcycle[lightgbm]'"),)

    library = "lightgbm"
    title = "LightGBM"

    def write(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
        return _write_lightgbm(model)

    def native(self, data: bytes, meta: dict[str, Any]) -> NativeModel:
        return _LightGBMModel(data, meta)

    def check(self, data: bytes) -> None:
        check_lightgbm_text(data.decode("utf-8"))

    def example(self, task: str) -> tuple[Any, Any]:
        lgb: Any = require("lightgbm", "lightgbm")
        X, y = example_table(task)
        cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
        return cls(n_estimators=15, verbose=-1).fit(X, y), X


def _write_lightgbm(model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    lgb: Any = require("lightgbm", "lightgbm")
    meta: dict[str, Any]
    if isinstance(model, lgb.Booster):
        booster, meta = model, {"kind": "booster", "wrapper": "Booster"}
    elif isinstance(model, lgb.LGBMModel):
        booster = booster_of(model, lambda: model.booster_)
        meta = wrapper_meta(model, "lightgbm", lgb.LGBMClassifier)
    else:
        raise BundleError(f"Not a model of this flavour: {type(model).__name__}.")
    text = booster.model_to_string()  # best iteration only, as the wrapper predicts
    objective = next((ln for ln in text.splitlines() if ln.startswith("objective=")), "=")
    meta.update(
        library_version=lgb.__version__,
        objective=objective.split("=", 1)[1].split(" ")[0],
        feature_names=list(booster.feature_name()),
    )
    info = {"loader": "lightgbm-text", "path": "model/model.txt", "meta": "model/meta.json"}
    meta_bytes = canonical_json(meta, "model metadata")
    return {"model/model.txt": text.encode("utf-8"), "model/meta.json": meta_bytes}, info


class _LightGBMModel(NativeModel):
    def __init__(self, data: bytes, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        lgb: Any = require("lightgbm", "lightgbm")
        self.booster = lgb.Booster(model_str=data.decode("utf-8"))

    def _raw(self, X: Any) -> np.ndarray:
        if self.threads is not None:
            return self.booster.predict(X, num_threads=self.threads)
        return self.booster.predict(X)
