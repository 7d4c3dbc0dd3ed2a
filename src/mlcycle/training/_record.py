"""Recording a training: the parent run, one child run per trial, the bundle and the card.

Order matters for "nothing half-registered": the bundle (with its card) is written and
registered only after every figure exists; a failure before that leaves tracked runs
(marked FAILED by the run context) and no model version.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlcycle.bundle import MonitoringReference
    from mlcycle.registry import ModelVersion
    from mlcycle.schema import Schema
    from mlcycle.training._plan import TrainPlan, TrainTable
    from mlcycle.training._stages import Prepared
    from mlcycle.training._train import TrainResult

__all__ = ["record"]


def _code_version() -> str | None:
    """The git commit of the working directory, when there is one (the user's code)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


_COUNTS = ("name", "kind", "dtype", "count", "missing", "missing_share", "distinct")


def _reference_profile(
    profile: Any, columns: list[str], private: Collection[str] = ()
) -> dict[str, Any]:
    """The training data's per-column summary (histograms, top categories) for drift checks;
    a private column (personal data or identifier) keeps its counts only, no value."""
    data = profile.to_dict()
    keep = (*_COUNTS, "top", "stats", "histogram")
    return {
        "rows": data["rows"],
        "columns": {
            name: {
                k: v
                for k, v in data["columns"][name].items()
                if k in (_COUNTS if name in private else keep)
            }
            for name in columns
            if name in data["columns"]
        },
    }


def _without_values(schema: Schema, private: Collection[str]) -> Schema:
    """``schema`` with no training value of a private column: a category list becomes free
    text (``string``: any text accepted, as the model's encoder takes unseen values) and a
    number loses its training range. Serving then accepts the column without a list of
    e-mail addresses or the smallest and largest phone number in ``schema.json``."""
    from dataclasses import replace as changed

    from mlcycle.schema import Schema

    columns = []
    for column in schema.columns:
        if column.name in private and column.dtype == "category":
            column = changed(column, dtype="string", categories=None, unseen=None)
        elif column.name in private:
            column = changed(column, categories=None, min=None, max=None)
        columns.append(column)
    return Schema(columns, schema.target, schema.defaults, schema.unexpected, schema.ignored)


def _monitoring_reference(
    result: TrainResult, train_frame: pd.DataFrame, schema: Schema, prepared: Prepared
) -> tuple[MonitoringReference | None, list[str]]:
    """What monitoring compares live traffic with, computed once at training time
    (:func:`mlcycle.data.monitoring_reference`), with the notes to add to the result. A
    failure here costs monitoring, never the model: it is noted and training goes on."""
    from mlcycle.data import monitoring_reference

    try:
        reference = monitoring_reference(
            result.model,
            train_frame[[*result.features, result.target]],
            target=result.target,
            schema=schema,
            classifier=result.task != "regression",
            seed=result.seed,
            kinds=prepared.kinds,
            private=list(prepared.private),
        )
    except Exception as exc:  # monitoring extras must never cost the model
        return None, [f"No drift reference or anomaly detector in the bundle: {exc}"]
    return reference, []


def _params(result: TrainResult, search: str, cv: int, workers: int) -> dict[str, Any]:
    return {
        "task": result.task,
        "metric": result.metric,
        "target": result.target,
        "budget": result.budget,
        "search": search,
        "cv": cv,
        "workers": workers,
        "seed": result.seed,
        "families": sorted({t.family for t in result.trials}),
        "best_family": result.best_family,
        "best_params": {k: _plain(v) for k, v in result.best_params.items()},
        "ensemble": result.ensemble,
        "decision_threshold": result.threshold,
        "left_out": dict(result.left_out),
    }


def _metrics(result: TrainResult) -> dict[str, float]:
    metrics: dict[str, float] = {
        f"cv_{result.metric}": result.cv_score,
        f"cv_{result.metric}_std": result.cv_std,
        "fit_seconds": result.fit_seconds,
        "n_trials": float(result.n_trials),
    }
    if result.train_score is not None:
        metrics[f"train_{result.metric}"] = result.train_score
    if result.evaluation is not None:
        for key, value in result.evaluation.metrics.items():
            if value is not None and np.isfinite(value):
                metrics[f"test_{key}"] = float(value)
    return metrics


def _log_trials(result: TrainResult, parent: Any) -> None:
    from mlcycle.evaluation import get_metric
    from mlcycle.registry import start_run

    metric = get_metric(result.metric, result.task)
    for trial in result.trials:
        with start_run(
            name=f"trial-{trial.number}",
            parent=parent,
            start_time=_ms(trial.started_at),
            end_time=_ms(trial.ended_at),
        ) as child:
            child.log_params(
                {"family": trial.family, **{k: _plain(v) for k, v in trial.params.items()}}
            )
            child.set_tags({"state": trial.state, "trial": trial.number})
            for step, value in enumerate(trial.fold_scores):
                if np.isfinite(value):
                    child.log_metric(f"fold_{result.metric}", float(value), step=step)
            if trial.value is not None:
                child.log_metric(f"cv_{result.metric}", metric.from_loss(trial.value))
            child.log_metric("seconds", float(trial.duration))
            if trial.rounds:
                child.log_metric("rounds", float(np.mean(trial.rounds)))


def record(
    result: TrainResult, *, plan: TrainPlan, table: TrainTable, prepared: Prepared
) -> TrainResult:
    """Track the search, write the card, register the bundle when the plan names a model.

    Returns ``result`` completed with its run, version, card path and any new warning; the
    bundle's schema is the one inferred with the profile (``table.types``), narrowed to the
    model's features and target; the columns left out as personal data are ``ignored`` (a
    client may send its whole row).
    """
    from dataclasses import replace as changed

    from mlcycle.registry import start_run

    columns = [*result.features, result.target]
    schema = _without_values(table.types.select(columns).schema, prepared.private)
    schema = changed(schema, ignored=[str(name) for name in prepared.left_out])
    params = _params(result, plan.search, plan.cv, plan.workers)
    metrics = _metrics(result)
    train_frame = prepared.train_frame
    lineage = _lineage(result, prepared)
    notes: list[str] = []
    with start_run(
        experiment=plan.experiment,
        name=plan.name or result.target,
        start_time=_ms(result.started_at),  # the run spans the training, not its recording
    ) as parent:
        parent.log_params(
            {
                **{k: v for k, v in params.items() if not isinstance(v, dict | type(None))},
                "families": ",".join(sorted({t.family for t in result.trials})),
                "data.fingerprint": lineage["data_fingerprint"],
                "data.rows": len(train_frame),
            }
        )
        if result.left_out:  # which columns personal data kept out of the model, and why
            parent.log_param("data.left_out", ",".join(result.left_out))
            parent.log_dict(result.left_out, "left_out_columns.json")
        parent.log_metrics(metrics)
        _log_trials(result, parent)
        files: dict[str, bytes] = {}
        evaluation = None if result.evaluation is None else result.evaluation.to_dict()
        if evaluation is not None:
            files["evaluation.json"] = json.dumps(evaluation, allow_nan=False).encode()
        reference = _reference_profile(table.profile, columns, prepared.private)
        monitoring, notes = None, []
        if plan.name is not None:
            monitoring, notes = _monitoring_reference(result, train_frame, schema, prepared)
        html = None
        if plan.card:
            from mlcycle.training._card import render_card

            html = render_card(
                result, profile=table.profile, train_frame=train_frame, lineage=lineage
            )
            files["model_card.html"] = html.replace("{{version}}", "this bundle").encode()
        version = None
        if plan.name is not None:
            contents = BundleContents(
                schema, metrics, params, lineage, reference, files, monitoring
            )
            version = register_bundle(result, plan, parent, contents)
            if html is not None:  # the version is known now: put it in the card on disk
                html = html.replace("{{version}}", f"v{version.version}")
        card_path = None if html is None else _save_card(html, plan, result, parent)
        if evaluation is not None:
            parent.log_dict(evaluation, "evaluation.json")
    return replace(
        result,
        run_id=parent.id,
        version=version,
        card_path=card_path,
        warnings=[*result.warnings, *notes],
    )


def _lineage(result: TrainResult, prepared: Prepared) -> dict[str, Any]:
    from mlcycle.data import fingerprint

    test_frame = prepared.test_frame
    return {
        "data_fingerprint": fingerprint(prepared.train_frame),
        "train_rows": len(prepared.train_frame),
        "test_rows": 0 if test_frame is None else len(test_frame),
        "seed": result.seed,
        "code_version": _code_version(),
        "trainer": "mlcycle.train",
    }


@dataclass(frozen=True)
class BundleContents:
    """What the trained model's bundle carries besides the model and its decision rule."""

    schema: Schema
    metrics: dict[str, float]
    params: dict[str, Any]
    lineage: dict[str, Any]
    reference_profile: dict[str, Any]
    extra_files: dict[str, bytes]
    monitoring: MonitoringReference | None


def register_bundle(
    result: TrainResult, plan: TrainPlan, parent: Any, contents: BundleContents
) -> ModelVersion:
    """Register the model as a new version of ``plan.name`` under the parent run."""
    from mlcycle.registry import register_model

    assert plan.name is not None  # only called for a named model
    return register_model(
        plan.name,
        result.model,
        run=parent,
        alias=plan.alias,
        description=f"mlcycle.train: {result.best_family} "
        f"({result.metric} {result.cv_score:.4f} cv)",
        schema=contents.schema,
        decision=result.decision,
        metrics=contents.metrics,
        params=contents.params,
        lineage=contents.lineage,
        explanation=None if result.importance is None else result.importance.to_dict(),
        reference_profile=contents.reference_profile,
        extra_files=contents.extra_files,
        monitoring=contents.monitoring,
    )


def _save_card(html: str, plan: TrainPlan, result: TrainResult, parent: Any) -> Path:
    """Write the model card under the workspace's reports and log it with the run."""
    from mlcycle.registry import get_workspace

    name = plan.name or result.target  # a target column's name can hold '/' and '..'
    path = get_workspace().report_folder(f"{name}-{parent.id[:12]}") / "model_card.html"
    path.write_text(html.replace("{{version}}", "unregistered"), encoding="utf-8")
    parent.log_artifact(path, "model_card.html")
    return path
