"""Recording a training: the parent run, one child run per trial, the bundle and the card.

Order matters for "nothing half-registered": the bundle (with its card) is written and
registered only after every figure exists; a failure before that leaves tracked runs
(marked FAILED by the run context) and no model version.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
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


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _reference_profile(profile: Any, columns: list[str]) -> dict[str, Any]:
    """The training data's per-column summary (histograms, top categories) for drift checks."""
    data = profile.to_dict()
    keep = (
        "name",
        "kind",
        "dtype",
        "count",
        "missing",
        "missing_share",
        "distinct",
        "top",
        "stats",
        "histogram",
    )
    return {
        "rows": data["rows"],
        "columns": {
            name: {k: v for k, v in data["columns"][name].items() if k in keep}
            for name in columns
            if name in data["columns"]
        },
    }


def _monitoring_extras(
    result: TrainResult, train_frame: pd.DataFrame, schema: Any, files: dict[str, bytes]
) -> dict[str, Any] | None:
    """What monitoring compares live traffic with, computed once at training time
    (:func:`mlcycle.data.monitoring_reference`: the drift reference, returned, and the
    reference sample and anomaly detector, added to ``files``). A failure here costs
    monitoring, never the model: it is noted and training goes on.
    """
    from mlcycle.data import monitoring_reference

    try:
        reference = monitoring_reference(
            result.model,
            train_frame[[*result.features, result.target]],
            target=result.target,
            schema=schema,
            classifier=result.task != "regression",
            seed=result.seed,
        )
    except Exception as exc:  # monitoring extras must never cost the model
        result.warnings.append(f"No drift reference or anomaly detector in the bundle: {exc}")
        return None
    files.update(reference.files)
    return reference.drift


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
        with start_run(name=f"trial-{trial.number}", parent=parent) as child:
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
    result: TrainResult,
    *,
    train_frame: pd.DataFrame,
    test_frame: pd.DataFrame | None,
    profile: Any,
    name: str | None,
    alias: str | None,
    experiment: str,
    card: bool,
    search: str,
    cv: int,
    workers: int,
) -> None:
    """Track the search, write the card, and register the bundle when ``name`` is given."""
    from mlcycle.data import fingerprint
    from mlcycle.registry import get_workspace, register_model, start_run
    from mlcycle.schema import Schema

    ws = get_workspace()
    columns = [*result.features, result.target]
    schema = Schema.from_dataframe(train_frame[columns], target=result.target)
    params = _params(result, search, cv, workers)
    metrics = _metrics(result)
    lineage = {
        "data_fingerprint": fingerprint(train_frame),
        "train_rows": len(train_frame),
        "test_rows": 0 if test_frame is None else len(test_frame),
        "seed": result.seed,
        "code_version": _code_version(),
        "trainer": "mlcycle.train",
    }
    with start_run(experiment=experiment, name=name or result.target) as parent:
        result.run_id = parent.id
        parent.log_params(
            {
                **{k: v for k, v in params.items() if not isinstance(v, dict | type(None))},
                "families": ",".join(sorted({t.family for t in result.trials})),
                "data.fingerprint": lineage["data_fingerprint"],
                "data.rows": len(train_frame),
            }
        )
        parent.log_metrics(metrics)
        _log_trials(result, parent)
        files: dict[str, bytes] = {}
        evaluation = None if result.evaluation is None else result.evaluation.to_dict()
        if evaluation is not None:
            files["evaluation.json"] = json.dumps(evaluation, allow_nan=False).encode()
        reference = _reference_profile(profile, columns)
        if name is not None:
            reference["drift"] = _monitoring_extras(result, train_frame, schema, files)
        html = None
        if card:
            from mlcycle.training._card import render_card

            html = render_card(result, profile=profile, train_frame=train_frame, lineage=lineage)
            files["model_card.html"] = html.replace("{{version}}", "this bundle").encode()
        if name is not None:
            version = register_model(
                name,
                result.model,
                run=parent,
                alias=alias,
                description=f"mlcycle.train: {result.best_family} "
                f"({result.metric} {result.cv_score:.4f} cv)",
                schema=schema,
                decision=result.decision,
                metrics=metrics,
                params=params,
                lineage=lineage,
                explanation=None if result.importance is None else result.importance.to_dict(),
                reference_profile=reference,
                extra_files=files,
            )
            result.version = version
            if html is not None:  # the version is known now: put it in the card on disk
                html = html.replace("{{version}}", f"v{version.version}")
        if html is not None:
            folder = ws.settings.home / "reports" / f"{name or result.target}-{parent.id[:12]}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "model_card.html"
            path.write_text(html.replace("{{version}}", "unregistered"), encoding="utf-8")
            result.card_path = path
            parent.log_artifact(path, "model_card.html")
        if evaluation is not None:
            parent.log_dict(evaluation, "evaluation.json")
