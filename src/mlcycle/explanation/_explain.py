"""Per-row explanations: how much each input column moved one prediction, and in what space.

Tree and linear pipelines are explained exactly with SHAP's tree or linear explainer on
the prepared features, folded back into the input columns; any other model (k-nearest
neighbours, ensembles, bundles holding them) with SHAP's permutation explainer over the
raw columns against a background sample. Either way, for every row::

    base value + sum of the row's contributions == the model's output in ``output``'s space

>>> explanation = explain(model, df.head(3), background=train_df)  # doctest: +SKIP
>>> explanation.output  # doctest: +SKIP
"log-odds of class 'yes'"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.exceptions import BadParameterError, DataError
from mlcycle.exceptions import is_integer as _is_int
from mlcycle.explanation._agnostic import MAX_BACKGROUND, run_permutation
from mlcycle.explanation._json import json_float, json_value, label_text
from mlcycle.explanation._models import (
    ModelInfo,
    Plan,
    ShapResult,
    Unexplainable,
    check_frame,
    describe_model,
    describe_space,
    plan_for,
    run_shap,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["MAX_ROWS", "Explanation", "explain"]

MAX_ROWS = 1000
"""The most rows :func:`explain` takes in one call."""

_NO_BACKGROUND = (
    "No background data was given, so contributions are measured against the average over "
    "the explained rows themselves; pass background= (a sample of the training data) to "
    "measure them against the data the model learned from."
)


@dataclass
class Explanation:
    """Contributions of each input column to each explained row's output.

    ``output`` says what is explained ("probability of class 'yes'", "log-odds of class
    'yes'", "predicted value", ...); for each row, ``base_values[i]`` plus the row of
    ``contributions`` equals ``outputs[i]``, the model's output in that space.
    ``base_value`` is one number, or one per class (multiclass, keyed by class) of which
    row ``i`` uses that of ``classes[i]``, the class it is explained for.
    ``predictions`` are the model's ``predict`` (labels for classifiers).
    """

    output: str
    method: str
    base_value: float | dict[str, float]
    contributions: pd.DataFrame
    predictions: np.ndarray
    outputs: np.ndarray
    data: pd.DataFrame
    classes: list[Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def base_values(self) -> np.ndarray:
        """The base value each row's contributions start from."""
        if isinstance(self.base_value, dict):
            assert self.classes is not None
            return np.asarray([self.base_value[label_text(c)] for c in self.classes])
        return np.full(len(self.contributions), float(self.base_value))

    def to_records(self, top: int | None = None) -> list[dict[str, Any]]:
        """One JSON-safe dict per row; contributions largest first (the ``top`` ones)."""
        return self._records(top, None)

    def _records(self, top: int | None, limit: int | None) -> list[dict[str, Any]]:
        records = []
        base = self.base_values
        rows = self.contributions if limit is None else self.contributions.iloc[:limit]
        for i, (label, row) in enumerate(rows.iterrows()):
            order = row.abs().sort_values(ascending=False, kind="stable").index
            if top is not None:
                order = order[: int(top)]
            inputs = self.data.iloc[i]
            record: dict[str, Any] = {
                "row": json_value(label),
                "prediction": json_value(self.predictions[i]),
                "output": json_float(self.outputs[i]),
                "base_value": json_float(base[i]),
                "contributions": {str(c): json_float(row[c]) for c in order},
                "values": {str(c): json_value(inputs[c]) for c in order},
            }
            if self.classes is not None:
                record["class"] = json_value(self.classes[i])
            records.append(record)
        return records

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """JSON-safe summary: what is explained, how, the base value(s) and every row."""
        base: Any
        if isinstance(self.base_value, dict):
            base = {k: json_float(v) for k, v in self.base_value.items()}
        else:
            base = json_float(self.base_value)
        return {
            "output": self.output,
            "method": self.method,
            "base_value": base,
            "columns": [str(c) for c in self.contributions.columns],
            "notes": list(self.notes),
            "rows": self.to_records(top),
        }

    def render(self, console: Console | None = None, top: int = 5, max_rows: int = 20) -> None:
        """Print the ``top`` contributing columns of the first ``max_rows`` rows (Rich)."""
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = console or Console()
        table = Table(title=Text(f"What moved the {self.output}"), show_lines=True)
        table.add_column("row")
        table.add_column("prediction")
        table.add_column("output", justify="right")
        table.add_column(f"top {top} contributions (from base)")
        for record in self._records(top, max_rows):
            lines = Text()
            for k, (column, value) in enumerate(record["contributions"].items()):
                shown = "nan" if value is None else f"{value:+.4g}"
                style = "green" if value is not None and value > 0 else "red"
                lines.append(("\n" if k else "") + f"{shown:>10}", style=style)
                lines.append(f"  {column} = {record['values'][column]}")
            prediction = str(record["prediction"])
            if "class" in record:
                prediction += f" (explained: {record['class']})"
            output = f"{_number(record['output'])} (base {_number(record['base_value'])})"
            table.add_row(Text(str(record["row"])), Text(prediction), output, lines)
        console.print(table)
        if len(self.contributions) > max_rows:
            console.print(f"... and {len(self.contributions) - max_rows} more rows.")
        for note in self.notes:
            console.print(Text("Note: ", style="yellow") + Text(note))


def _number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4g}"


def _class_index(info: ModelInfo, label: Any, owner: str) -> int | None:
    if label is None:
        return None
    assert info.classes is not None
    for i, known in enumerate(info.classes):
        if known == label or label_text(known) == label_text(label):
            return i
    shown = ", ".join(label_text(c) for c in info.classes)
    raise BadParameterError(
        f"The 'label' parameter of {owner} must be one of the model's classes: {shown}. "
        f"Got {label!r} instead."
    )


def _needs_background(frame: pd.DataFrame, owner: str) -> None:
    if len(frame) < 2:
        raise DataError(
            f"{owner} needs background= to explain a single row with this model: a sample "
            "of the training data (about 100 rows) that contributions are measured against."
        )


def explain(
    model: Any,
    rows: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    task: str | None = None,
    label: Any = None,
    max_evals: int = 500,
    seed: int = 0,
) -> Explanation:
    """Explain each of ``rows`` (1 to 1000) as contributions of the model's input columns.

    - Tree pipelines (random forest, extra trees, gradient boosting, LightGBM, XGBoost):
      exact TreeSHAP, no background needed; forests in probability, boosters in log-odds
      (multiclass: the softmax input), regressors in the predicted value (its log for
      Poisson/gamma/Tweedie objectives).
    - Linear pipelines: LinearSHAP against ``background``; logistic models in log-odds,
      other classifiers in their decision score, regressors in the predicted value.
    - Anything else: permutation SHAP over the raw columns (at most ``max_evals`` masked
      evaluations per row, each on up to 100 background rows; exact Shapley values when
      the columns are few enough for all their orders to fit), in probability (binary:
      of ``classes_[-1]``) or the predicted value.

    Multiclass rows are explained for ``label`` when given, else each for its predicted
    class. Without ``background``, linear and model-agnostic explanations use the rows
    themselves as background (noted in ``notes``; a single row then needs a background).
    ``task`` is inferred from the model (``classes_``) when not given.

    ``model`` may also be a registered model's reference (``"churn@production"``, loaded
    without unpickling) or the result of ``mlcycle.train`` (its final model is explained).
    """
    owner = "explain()"
    if isinstance(model, str):
        from mlcycle.registry import load_model

        model = load_model(model)
    elif hasattr(model, "trials") and hasattr(model, "model"):  # a TrainResult
        model = model.model
    if not _is_int(max_evals) or max_evals < 1:
        raise BadParameterError(
            f"The 'max_evals' parameter of {owner} must be an integer >= 1. "
            f"Got {max_evals!r} instead."
        )
    if not _is_int(seed):
        raise BadParameterError(
            f"The 'seed' parameter of {owner} must be an integer. Got {seed!r}."
        )
    info = describe_model(model, task, owner)
    frame = check_frame(rows, info, "rows", owner)
    if len(frame) > MAX_ROWS:
        raise DataError(
            f"{owner} takes at most {MAX_ROWS} rows at a time; got {len(frame)}. Explain a "
            "sample of them, or call it on batches."
        )
    reference = None if background is None else check_frame(background, info, "background", owner)
    if info.task == "binary" and label is not None and _class_index(info, label, owner) != 1:
        raise BadParameterError(
            f"A binary model is explained for its positive class '{label_text(info.positive)}' "
            f"(classes_[-1]); leave 'label' out. Got {label!r}."
        )
    fixed = _class_index(info, label, owner) if info.task == "multiclass" else None

    notes: list[str] = []
    result: ShapResult | None = None
    plan = plan_for(info, frame if reference is None else reference)
    method, space = "permutation", "probability" if info.task != "regression" else "value"
    if isinstance(plan, Plan):
        if plan.kind == "linear" and reference is None:
            _needs_background(frame, owner)
        try:
            result = run_shap(plan, frame, reference)
            method, space = plan.kind, plan.space
            if plan.kind == "linear" and reference is None:
                notes.append(_NO_BACKGROUND)
        except Unexplainable as exc:
            notes.append(f"The permutation explainer was used: {exc}.")
    if result is None:
        if reference is None:
            _needs_background(frame, owner)
            notes.append(_NO_BACKGROUND)
        result = run_permutation(
            info,
            frame,
            frame if reference is None else reference,
            max_evals=int(max_evals),
            seed=int(seed),
        )
        if reference is not None and len(reference) > MAX_BACKGROUND:
            notes.append(f"A sample of {MAX_BACKGROUND} background rows was used.")
    return _assemble(info, frame, result, method, space, fixed, notes)


def _assemble(
    info: ModelInfo,
    frame: pd.DataFrame,
    result: ShapResult,
    method: str,
    space: str,
    fixed: int | None,
    notes: list[str],
) -> Explanation:
    n = len(frame)
    values, outputs = result.values, result.outputs
    classes: list[Any] | None = None
    base_value: float | dict[str, float]
    if info.task == "multiclass":
        assert info.classes is not None
        chosen = np.full(n, fixed) if fixed is not None else np.argmax(outputs, axis=1)
        values = values[np.arange(n), :, chosen]
        outputs = outputs[np.arange(n), chosen]
        classes = info.classes[chosen].tolist()
        base_value = {
            label_text(c): float(b) for c, b in zip(info.classes, result.base, strict=True)
        }
        label = None if fixed is None else info.classes[fixed]
    else:
        base_value = float(result.base)
        label = info.positive
    contributions = pd.DataFrame(values, index=frame.index, columns=list(info.columns))
    return Explanation(
        output=describe_space(space, info.task, label),
        method=method,
        base_value=base_value,
        contributions=contributions,
        predictions=np.asarray(info.model.predict(frame)),
        outputs=np.asarray(outputs, dtype=np.float64),
        data=frame,
        classes=classes,
        notes=notes,
    )
