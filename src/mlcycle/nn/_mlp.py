"""A tabular neural network: embeddings for categories, batch norm, dropout, AdamW.

:class:`MLPEstimator` takes a table as it comes (a typed DataFrame) and learns its own
encoding: numeric columns filled with their training median and standardised, every other
column (categories, booleans, text labels) an index into a vocabulary of its training values
(0 for a value never seen) that feeds an embedding. The network is a stack of
``Linear → BatchNorm → ReLU → Dropout`` blocks, trained with AdamW and a one-cycle (or
cosine) learning-rate schedule, with early stopping on a validation split: the weights of
the best epoch are kept. Every epoch's training and validation loss and metric are in
``history_``.

Its stored form is a :class:`~mlcycle.flavours.tensor.TensorModel` (the encoding as JSON,
the network exported to ONNX) plus the weights as safetensors and the architecture as JSON
(``torch`` flavour): served without PyTorch, rebuilt with it (:func:`rebuild`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator

from mlcycle.exceptions import BadParameterError, DataError
from mlcycle.nn._torch import autocast, require_torch, resolve_device, resolve_precision

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MLPEstimator", "build_network"]

ARCHITECTURE = "mlcycle.tabular-mlp"
ARCHITECTURE_VERSION = 1


def embedding_dim(cardinality: int) -> int:
    """fast.ai's rule of thumb, capped: 1.6 * n ** 0.56, at most 32."""
    return int(min(32, max(2, round(1.6 * (cardinality + 1) ** 0.56))))


def build_network(architecture: dict[str, Any]) -> Any:
    """The ``torch.nn.Module`` an architecture description (JSON) stands for."""
    torch = require_torch()
    nn = torch.nn

    class TabularNet(nn.Module):  # type: ignore[name-defined]
        def __init__(self, arch: dict[str, Any]) -> None:
            super().__init__()
            self.n_numeric = int(arch["n_numeric"])
            self.embeddings = nn.ModuleList(
                nn.Embedding(int(card) + 1, int(dim)) for card, dim in arch["embeddings"]
            )
            width = self.n_numeric + sum(int(dim) for _, dim in arch["embeddings"])
            layers: list[Any] = []
            for size in arch["hidden"]:
                layers.append(nn.Linear(width, int(size)))
                if arch["batch_norm"]:
                    layers.append(nn.BatchNorm1d(int(size)))
                layers.append(nn.ReLU())
                if arch["dropout"] > 0:
                    layers.append(nn.Dropout(float(arch["dropout"])))
                width = int(size)
            layers.append(nn.Linear(width, int(arch["outputs"])))
            self.body = nn.Sequential(*layers)

        def forward(self, *inputs: Any) -> Any:
            parts = []
            position = 0
            if self.n_numeric:
                parts.append(inputs[position])
                position += 1
            if len(self.embeddings):
                codes = inputs[position]
                parts += [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
            return self.body(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])

    return TabularNet(architecture)


class MLPEstimator(BaseEstimator):
    """A multilayer perceptron for tables (see the module docstring).

    ``task``: ``auto`` (classification for text, boolean or few-valued integer targets),
    ``binary``, ``multiclass`` or ``regression``. ``hidden``: the widths of the hidden
    layers. ``schedule``: ``onecycle`` or ``cosine``. ``patience``: epochs without a better
    validation loss before training stops. ``device``: ``auto``, ``cpu`` or ``cuda``;
    ``precision``: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (fp16 needs a GPU).
    """

    def __init__(
        self,
        task: str = "auto",
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.1,
        batch_norm: bool = True,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 10,
        schedule: str = "onecycle",
        validation_fraction: float = 0.15,
        device: str = "auto",
        precision: str = "auto",
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.hidden = hidden
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.schedule = schedule
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.seed = seed

    # -- fitting ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise BadParameterError(f"hidden must list positive layer widths, got {self.hidden!r}.")
        if not 0 <= float(self.dropout) < 1:
            raise BadParameterError(f"dropout must lie in [0, 1), got {self.dropout!r}.")
        if self.schedule not in ("onecycle", "cosine"):
            raise BadParameterError(f"schedule must be onecycle or cosine, got {self.schedule!r}.")
        if int(self.max_epochs) < 1 or int(self.batch_size) < 2:
            raise BadParameterError("max_epochs must be at least 1 and batch_size at least 2.")

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        eval_set: tuple[pd.DataFrame, Any] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    ) -> MLPEstimator:
        """Train on ``X``, ``y``; early stopping on ``eval_set`` or a split of ``X``.

        ``on_epoch(epoch, record)`` is called after every epoch with the epoch's training
        and validation loss and metric (an Optuna objective raises ``TrialPruned`` there).
        """
        import numpy as np
        import pandas as pd

        torch = require_torch()
        self._check_params()
        if not isinstance(X, pd.DataFrame) or X.shape[1] == 0 or len(X) < 2:
            raise DataError(
                "MLPEstimator.fit needs a DataFrame with at least one column and two rows."
            )
        y = np.asarray(y)
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} rows and y {len(y)}.")
        for stale in ("classes_", "target_mean_", "target_scale_"):  # a second fit starts anew
            self.__dict__.pop(stale, None)
        self.device_ = resolve_device(self.device)
        self.precision_ = resolve_precision(self.precision, self.device_)
        self.task_ = _task(self.task, y)
        self.spec_ = _encoding(X, self.task_)
        targets = self._encode_target(y)
        if eval_set is None:
            train_idx, val_idx = _split(targets, self.task_, self.validation_fraction, self.seed)
            X_train, X_val = X.iloc[train_idx], X.iloc[val_idx]
            t_train, t_val = targets[train_idx], targets[val_idx]
        else:
            X_train, t_train = X, targets
            X_val, t_val = eval_set[0], self._encode_target(np.asarray(eval_set[1]))
        outputs = 1 if self.task_ != "multiclass" else len(self.classes_)
        self.architecture_ = {
            "architecture": ARCHITECTURE,
            "version": ARCHITECTURE_VERSION,
            "n_numeric": sum(
                len(i["columns"]) for i in self.spec_["inputs"] if i["kind"] == "numeric"
            ),
            "embeddings": [
                [len(vocab), embedding_dim(len(vocab))]
                for i in self.spec_["inputs"] if i["kind"] == "categorical" for vocab in i["vocab"]
            ],
            "hidden": [int(h) for h in self.hidden],
            "batch_norm": bool(self.batch_norm),
            "dropout": float(self.dropout),
            "outputs": outputs,
        }  # fmt: skip
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, int(self.n_jobs)))
        try:
            torch.manual_seed(int(self.seed))
            self.module_ = build_network(self.architecture_).to(self.device_)
            self._train(torch, X_train, t_train, X_val, t_val, on_epoch)
        finally:
            torch.set_num_threads(threads)
        return self

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.task_ == "regression":
            values = y.astype(np.float64)
            if not np.isfinite(values).all():
                raise DataError("The regression target has missing or infinite values.")
            if not hasattr(self, "target_mean_"):
                self.target_mean_ = float(values.mean())
                self.target_scale_ = float(values.std()) or 1.0
                self.spec_["target_mean"] = self.target_mean_
                self.spec_["target_scale"] = self.target_scale_
            return ((values - self.target_mean_) / self.target_scale_).astype(np.float32)
        if not hasattr(self, "classes_"):
            self.classes_ = np.unique(y)
            self.spec_["classes"] = self.classes_.tolist()
            self.spec_["classes_dtype"] = self.classes_.dtype.str
        codes = np.searchsorted(self.classes_, y)
        known = (codes < len(self.classes_)) & (
            self.classes_[np.minimum(codes, len(self.classes_) - 1)] == y
        )
        if not known.all():
            raise DataError("The validation target holds classes the training target does not.")
        return codes.astype(np.int64)

    def _tensors(self, torch: Any, X: pd.DataFrame) -> list[Any]:
        from mlcycle.flavours.tensor import encode

        arrays = encode(self.spec_, X)
        return [torch.from_numpy(arrays[item["name"]]) for item in self.spec_["inputs"]]

    def _loss(self, torch: Any) -> Any:
        if self.task_ == "binary":
            return torch.nn.BCEWithLogitsLoss()
        if self.task_ == "multiclass":
            return torch.nn.CrossEntropyLoss()
        return torch.nn.MSELoss()

    def _train(
        self,
        torch: Any,
        X_train: pd.DataFrame,
        t_train: np.ndarray,
        X_val: pd.DataFrame,
        t_val: np.ndarray,
        on_epoch: Callable[[int, dict[str, float]], None] | None,
    ) -> None:
        inputs = self._tensors(torch, X_train)
        target = torch.from_numpy(t_train)
        val_inputs = self._tensors(torch, X_val) if len(X_val) else None
        n = len(target)
        # at least ~8 steps an epoch on small tables: one large batch an epoch learns nothing
        batch = int(max(2, min(self.batch_size, max(16, n // 8), n)))
        steps = max(1, n // batch)  # the last partial batch is dropped (batch norm needs 2 rows)
        epochs = int(self.max_epochs)
        module, device = self.module_, self.device_
        optimizer = torch.optim.AdamW(
            module.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        if self.schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=epochs * steps
            )
        else:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps)
        scaler = torch.amp.GradScaler("cuda", enabled=self.precision_ == "fp16")
        loss_fn = self._loss(torch)
        generator = torch.Generator().manual_seed(int(self.seed))
        best, best_state, waited = math.inf, None, 0
        self.history_: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            module.train()
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for step in range(steps):
                idx = order[step * batch : (step + 1) * batch]
                parts = [t[idx].to(device) for t in inputs]
                goal = target[idx].to(device)
                optimizer.zero_grad(set_to_none=True)
                with autocast(torch, device, self.precision_):
                    out = module(*parts)
                    loss = loss_fn(*self._pair(out, goal))
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                total += float(loss.detach()) * len(idx)
            record = {"epoch": float(epoch), "train_loss": total / (steps * batch)}
            if val_inputs is not None:
                raw = self._raw(torch, val_inputs)
                record.update(self._score(torch, raw, t_val))
                current = record["val_loss"]
            else:
                current = record["train_loss"]
            record["seconds"] = time.perf_counter() - started
            self.history_.append(record)
            if current < best - 1e-7:
                best, waited = current, 0
                best_state = copy.deepcopy(module.state_dict())
                self.best_epoch_ = epoch
            else:
                waited += 1
            if on_epoch is not None:
                on_epoch(epoch, record)
            if waited >= int(self.patience):
                break
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        self.n_epochs_ = len(self.history_)

    def _pair(self, out: Any, goal: Any) -> tuple[Any, Any]:
        if self.task_ == "multiclass":
            return out.float(), goal
        return out[:, 0].float(), goal.float()

    def _raw(self, torch: Any, inputs: list[Any]) -> np.ndarray:
        import numpy as np

        module = self.module_
        was_training = module.training
        module.eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(inputs[0]), 4096):
                parts = [t[start : start + 4096].to(self.device_) for t in inputs]
                chunks.append(module(*parts).float().cpu().numpy())
        module.train(was_training)
        return np.concatenate(chunks).astype(np.float64)

    def _score(self, torch: Any, raw: np.ndarray, goal: np.ndarray) -> dict[str, float]:
        import numpy as np

        from mlcycle.flavours.tensor import probabilities

        if self.task_ == "regression":
            err = raw[:, 0] - goal
            mse = float(np.mean(err**2))
            var = float(np.var(goal)) or 1.0
            return {"val_loss": mse, "val_r2": 1.0 - mse / var}
        proba = probabilities(raw, {"output": "logits"})
        picked = np.clip(proba[np.arange(len(goal)), goal], 1e-15, 1.0)
        return {
            "val_loss": float(-np.mean(np.log(picked))),
            "val_accuracy": float(np.mean(np.argmax(proba, axis=1) == goal)),
        }

    # -- predicting ------------------------------------------------------------------------

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        torch = require_torch()
        return self._raw(torch, self._tensors(torch, X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        from mlcycle.flavours.tensor import probabilities

        if self.task_ == "regression":
            raise BadParameterError("A regression MLP has no probabilities; use predict().")
        return probabilities(self.raw(X), {"output": "logits"})

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        from mlcycle.flavours.tensor import values

        raw = self.raw(X)
        if self.task_ == "regression":
            return values(raw, self.spec_)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def feature_names_in_(self) -> list[str]:
        return [c for item in self.spec_["inputs"] for c in item["columns"]]

    def to_tensor_model(self) -> Any:
        """The fitted network as a tensor model: ONNX graph, encoding, weights, architecture."""
        from mlcycle.nn._export import export_tensor_model

        return export_tensor_model(self.module_, self.spec_, self.architecture_)


def _task(task: str, y: np.ndarray) -> str:
    import pandas as pd

    if task in ("binary", "multiclass", "regression"):
        return task
    if task != "auto":
        raise BadParameterError(
            f"task must be auto, binary, multiclass or regression, got {task!r}."
        )
    series = pd.Series(y)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = series.nunique(dropna=True)
    if numeric and not (pd.api.types.is_integer_dtype(series) and distinct <= 20):
        return "regression"
    if distinct < 2:
        raise DataError("The target has one value: there is nothing to learn.")
    return "binary" if distinct == 2 else "multiclass"


def _encoding(X: pd.DataFrame, task: str) -> dict[str, Any]:
    """The encoding learned from the training rows: medians, means and scales of the numeric
    columns, the vocabulary of every other column (values seen at least once)."""
    import numpy as np
    import pandas as pd

    from mlcycle.flavours.tensor import MISSING_TOKEN, tokens

    numeric = [
        str(c) for c in X.columns
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]  # fmt: skip
    other = [str(c) for c in X.columns if str(c) not in numeric]
    inputs: list[dict[str, Any]] = []
    if numeric:
        block = (
            X[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        )
        if np.isinf(block).any():
            raise DataError("The numeric columns hold infinite values; replace or drop them.")
        fill = np.nan_to_num(
            np.nanmedian(np.where(np.isnan(block).all(axis=0), 0.0, block), axis=0)
        )
        filled = np.where(np.isnan(block), fill, block)
        scale = filled.std(axis=0)
        inputs.append(
            {
                "name": "numeric",
                "kind": "numeric",
                "columns": numeric,
                "fill": fill.tolist(),
                "mean": filled.mean(axis=0).tolist(),
                "scale": np.where(scale > 0, scale, 1.0).tolist(),
            }
        )
    if other:
        vocab = []
        for c in other:
            seen = pd.unique(tokens(X[c]))
            vocab.append(sorted(str(t) for t in seen if t != MISSING_TOKEN))
        inputs.append(
            {"name": "categorical", "kind": "categorical", "columns": other, "vocab": vocab}
        )
    output = "values" if task == "regression" else "logits"
    return {"task": task, "output": output, "classes": None, "inputs": inputs, "dtype": "float32"}


def _split(
    targets: np.ndarray, task: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation positions; stratified for classification. No validation rows
    (early stopping on the training loss) below 20 rows."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(targets))
    if len(targets) < 20 or fraction <= 0:
        return positions, positions[:0]
    stratify = targets if task != "regression" and np.bincount(targets).min() >= 2 else None
    train, val = train_test_split(
        positions, test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(val)
