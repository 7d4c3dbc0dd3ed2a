"""The ``xgboost`` flavour: the booster's own JSON format plus the wrapper's metadata."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, require
from mlcycle.flavours._base import canonical_json, example_table
from mlcycle.flavours._native import BoosterFlavour, NativeModel, booster_of, wrapper_meta
from mlcycle.flavours._trees import check_xgboost_model

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


__all__ = ["XGBoostFlavour"]


class XGBoostFlavour(BoosterFlavour):
    """XGBClassifier, XGBRegressor and bare Boosters, as XGBoost JSON."""

    name = "xgboost"
    requires = (("xgboost", "'mlcycle[xgboost]'"),)

    library = "xgboost"
    title = "XGBoost"

    def write(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
        return _write_xgboost(model)

    def native(self, data: bytes, meta: dict[str, Any]) -> NativeModel:
        return _XGBoostModel(data, meta)

    def check(self, data: bytes) -> None:
        check_xgboost_model(json.loads(data))

    def example(self, task: str) -> tuple[Any, Any]:
        import numpy as np

        xgb: Any = require("xgboost", "xgboost")
        X, y = example_table(task)
        if task == "regression":
            return xgb.XGBRegressor(n_estimators=15).fit(X, y), X
        codes = np.unique(y, return_inverse=True)[1]  # XGBoost learns class codes 0..k-1
        return xgb.XGBClassifier(n_estimators=15).fit(X, codes), X


def _write_xgboost(model: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    xgb: Any = require("xgboost", "xgboost")
    meta: dict[str, Any]
    if isinstance(model, xgb.Booster):
        booster, meta = model, {"kind": "booster", "wrapper": "Booster", "missing": None}
        best = None
    elif isinstance(model, xgb.XGBModel):
        booster = booster_of(model, model.get_booster)
        meta = wrapper_meta(model, "xgboost", xgb.XGBClassifier)
        missing = float(model.missing)
        meta["missing"] = None if missing != missing else missing  # NaN is not JSON
        best = getattr(model, "best_iteration", None)
    else:
        raise BundleError(f"Not a model of this flavour: {type(model).__name__}.")
    learner = json.loads(booster.save_config())["learner"]
    meta.update(
        library_version=xgb.__version__,
        objective=learner["objective"]["name"],
        booster=learner["gradient_booster"]["name"],
        feature_names=list(booster.feature_names or []),
    )
    linear = meta["booster"] == "gblinear"  # as the wrapper's predict(): best rounds only
    meta["iteration_range"] = [0, 0 if best is None or linear else int(best) + 1]
    info = {"loader": "xgboost-json", "path": "model/model.json", "meta": "model/meta.json"}
    meta_bytes = canonical_json(meta, "model metadata")
    return {
        "model/model.json": bytes(booster.save_raw("json")),
        "model/meta.json": meta_bytes,
    }, info


class _XGBoostModel(NativeModel):
    def __init__(self, data: bytes, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        xgb: Any = require("xgboost", "xgboost")
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(data))

    def set_threads(self, threads: int) -> None:
        """Predict on ``threads`` threads (one is fastest for small batches)."""
        self.threads = threads
        self.booster.set_param({"nthread": threads})

    def _raw(self, X: Any, margin: bool = False) -> np.ndarray:
        import numpy as np

        missing = np.nan if self.meta.get("missing") is None else self.meta["missing"]
        rounds = tuple(self.meta["iteration_range"])
        if self.meta.get("booster") == "gblinear":  # no in-place prediction for linear models
            xgb: Any = require("xgboost", "xgboost")
            data = xgb.DMatrix(X, missing=missing, enable_categorical=True)
            return self.booster.predict(data, output_margin=margin, iteration_range=rounds)
        predict_type = "margin" if margin else "value"
        return self.booster.inplace_predict(
            X, iteration_range=rounds, predict_type=predict_type, missing=missing
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, as ``XGBClassifier.predict_proba`` computes them."""
        if self.objective != "multi:softmax":
            return super().predict_proba(X)
        from scipy.special import softmax

        self._check_proba()
        return softmax(self._raw(self._columns(X), margin=True), axis=1)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions as ``XGBClassifier.predict``: ``> 0.5`` for binary, argmax otherwise."""
        import numpy as np

        raw = self._raw(self._columns(X))
        if self.kind != "classifier":
            return raw
        assert self.classes_ is not None
        if self.objective == "multi:softmax":
            return self.classes_[raw.astype(np.int64)]
        if raw.ndim == 2:
            return self.classes_[np.argmax(raw, axis=1)]
        return self.classes_[(raw > 0.5).astype(np.int64)]
