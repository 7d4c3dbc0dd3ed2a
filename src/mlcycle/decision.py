"""The decision rule: how a model's raw outputs become the labels every door returns.

A binary classifier's tuned threshold and every classifier's class order travel in the
bundle as one :class:`DecisionRule`; the SDK (``TrainResult``, ``load_model``), the server
(native and ONNX), batch scoring and the retrain gate all turn probabilities into labels
with :meth:`DecisionRule.outputs`, so one model gives one answer whichever door it is
asked through::

    rule = DecisionRule("binary", classes=("no", "yes"), threshold=0.38)
    rule.outputs(proba).labels        # "yes" where P(yes) >= 0.38
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TASKS", "DecisionRule", "Predictions"]

TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Predictions:
    """What a model answers for a batch: labels (or values), probabilities, class order."""

    labels: np.ndarray
    """Class labels for classifiers, predicted values for regressors; one per row."""
    probabilities: np.ndarray | None
    """One row per input row, one column per class in ``classes`` order (None: regression)."""
    classes: tuple[Any, ...] | None


@dataclass(frozen=True)
class DecisionRule:
    """The task, the class order and (binary only) the threshold on P(``classes[1]``)."""

    task: str
    classes: tuple[Any, ...] | None = None
    threshold: float | None = None
    classes_dtype: str | None = None
    """NumPy dtype of the labels (``"<i8"``, ``"|b1"``, ``"O"``): labels keep the model's type."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BundleError(
                f"Unknown task {self.task!r} in a decision rule; expected one of "
                f"{', '.join(TASKS)}."
            )
        if self.task == "regression":
            if self.classes is not None or self.threshold is not None:
                raise BundleError("A regression decision rule has no classes and no threshold.")
            return
        count = 0 if self.classes is None else len(self.classes)
        if (self.task == "binary") != (count == 2) or count < 2:
            raise BundleError(
                f"A {self.task} decision rule needs {'2' if self.task == 'binary' else '3 or more'}"
                f" classes. Got {count}."
            )
        _check_classes(self.classes, self.classes_dtype)
        if self.threshold is not None:
            if self.task != "binary":
                raise BundleError("Only a binary decision rule has a threshold.")
            if not (isinstance(self.threshold, int | float) and 0 < self.threshold < 1):
                raise BundleError(
                    f"The decision threshold must be a number in (0, 1). Got {self.threshold!r}."
                )

    @classmethod
    def for_model(cls, model: Any, threshold: float | None = None) -> DecisionRule:
        """The rule of a fitted model: classifiers (with ``predict_proba``) by their
        ``classes_``, everything else as regression; ``threshold`` for binary models."""
        import numpy as np

        classes = getattr(model, "classes_", None)
        if classes is None or not hasattr(model, "predict_proba"):
            return cls("regression")
        array = np.asarray(classes)
        task = "binary" if len(array) == 2 else "multiclass"
        given = None if threshold is None or task != "binary" else float(threshold)
        return cls(task, tuple(array.tolist()), given, array.dtype.str)

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def indices(self, proba: np.ndarray) -> np.ndarray:
        """The chosen class's position in ``classes`` for each row: ``P(classes[1]) >=
        threshold`` for a binary rule with a threshold, the most probable class otherwise."""
        import numpy as np

        if self.threshold is not None:
            return (proba[:, 1] >= self.threshold).astype(np.int64)
        return np.argmax(proba, axis=1)

    def labels(self, proba: np.ndarray) -> np.ndarray:
        """The chosen class labels (see :meth:`indices`), with the model's label type."""
        import numpy as np

        assert self.classes is not None
        classes = np.asarray(self.classes, dtype=np.dtype(self.classes_dtype or "O"))
        return classes[self.indices(proba)]

    def outputs(self, raw: np.ndarray) -> Predictions:
        """Predictions from raw outputs: probabilities for classifiers, values otherwise."""
        import numpy as np

        if not self.is_classifier:
            return Predictions(np.asarray(raw), None, None)
        proba = np.ascontiguousarray(raw, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != len(self.classes or ()):
            raise BundleError(
                f"The model returned probabilities of shape {proba.shape}; its decision rule "
                f"has {len(self.classes or ())} classes."
            )
        return Predictions(self.labels(proba), proba, self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "classes": None if self.classes is None else list(self.classes),
            "classes_dtype": self.classes_dtype,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Any) -> DecisionRule:
        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            raise BundleError(f"A decision rule must be an object with a task. Got {data!r}.")
        classes = data.get("classes")
        if classes is not None and not isinstance(classes, list):
            raise BundleError(f"A decision rule's classes must be a list. Got {classes!r}.")
        threshold = data.get("threshold")
        if threshold is not None and not (
            isinstance(threshold, int | float) and math.isfinite(threshold)
        ):
            raise BundleError(f"The decision threshold must be a number. Got {threshold!r}.")
        return cls(
            data["task"],
            None if classes is None else tuple(classes),
            None if threshold is None else float(threshold),
            data.get("classes_dtype"),
        )


def _check_classes(classes: tuple[Any, ...] | None, dtype: Any) -> None:
    """BundleError unless the labels can be built as :meth:`DecisionRule.labels` builds them:
    a rule read from a manifest may name any dtype (found by the fuzzing harness)."""
    import numpy as np

    if dtype is not None and not isinstance(dtype, str):
        raise BundleError(
            f"A decision rule's classes_dtype must be a NumPy dtype name. Got {dtype!r}."
        )
    try:
        labels = np.asarray(classes, dtype=np.dtype(dtype or "O"))
    except (TypeError, ValueError, OverflowError) as exc:
        raise BundleError(
            f"The decision rule's classes {classes!r} cannot be labels of dtype {dtype!r}: {exc}."
        ) from None
    if labels.shape != (len(classes or ()),):
        raise BundleError(f"The decision rule's classes must be single values. Got {classes!r}.")
