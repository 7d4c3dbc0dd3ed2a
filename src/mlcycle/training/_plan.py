"""What :func:`mlcycle.train` is asked to do, checked once: the plan and the table.

:class:`TrainPlan` holds train()'s parameters after validation (a bad one fails before any
data is read); :class:`TrainTable` holds the table loaded once, its rows with a target, its
profile and its types (schema and kinds) inferred once. Every stage of training reads these
two objects and nothing is loaded, dropped or inferred again.

>>> table = TrainTable.inspect(frame, "churned")  # doctest: +SKIP
>>> mlcycle.train(table.frame, "churned", profile=table)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle.exceptions import BadParameterError, DataError, bad_parameter
from mlcycle.exceptions import is_integer as _is_int

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.data import Profile, TableTypes

__all__ = ["SEARCHES", "TrainPlan", "TrainTable"]

SEARCHES = ("tpe", "random", "grid")


def _bad(name: str, expected: str, got: object) -> BadParameterError:
    return bad_parameter(name, "train()", expected, got)


def _check_number(name: str, value: object, expected: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad(name, expected, value)
    number = float(value)
    if not math.isfinite(number) or number <= minimum:
        raise _bad(name, expected, value)
    return number


@dataclass(frozen=True)
class TrainPlan:
    """train()'s parameters, validated: see :func:`mlcycle.train` for what each one means.

    ``families`` are the families to search (resolved from the defaults when none were
    named; ``families_named`` says whether the caller named them). ``workers`` is resolved
    from the CPU count when it was None.
    """

    target: str
    task: str | None
    budget: float
    metric: str | None
    search: str
    families: tuple[str, ...]
    families_named: bool
    cv: int
    time_column: str | None
    group_column: str | None
    seed: int
    workers: int
    test_size: float
    name: str | None
    alias: str | None
    experiment: str
    explain: bool
    ensemble: bool
    allow_leakage: bool
    max_trials: int | None
    progress: bool
    card: bool
    model_card: Mapping[str, str] = field(default_factory=dict)
    allow_pii: bool = False

    @classmethod
    def check(cls, target: str, **given: Any) -> TrainPlan:
        """Validate train()'s keyword parameters (all of them, by name) into a plan."""
        from mlcycle.training._families import check_families

        budget = _check_number("budget", given["budget"], "a number of seconds > 0", 0.0)
        cv, seed, workers = given["cv"], given["seed"], given["workers"]
        if not _is_int(cv) or int(cv) < 2:
            raise _bad("cv", "an integer >= 2", cv)
        if not _is_int(seed):
            raise _bad("seed", "an integer", seed)
        if workers is None:
            workers = max(1, min(8, os.cpu_count() or 1))
        elif not _is_int(workers) or int(workers) < 1:
            raise _bad("workers", "an integer >= 1", workers)
        test_size = given["test_size"]
        if isinstance(test_size, bool) or not isinstance(test_size, int | float):
            raise _bad("test_size", "a number in [0, 1)", test_size)
        if not 0 <= float(test_size) < 1:
            raise _bad("test_size", "a number in [0, 1)", test_size)
        if given["search"] not in SEARCHES:
            raise _bad("search", f"one of {', '.join(SEARCHES)}", given["search"])
        max_trials = given["max_trials"]
        if max_trials is not None and (not _is_int(max_trials) or int(max_trials) < 1):
            raise _bad("max_trials", "an integer >= 1 or None", max_trials)
        if not isinstance(given.get("allow_pii", False), bool):
            raise _bad("allow_pii", "True or False", given["allow_pii"])
        families = tuple(check_families(given["families"]))
        if given["name"] is not None:
            from mlcycle.registry import parse_model_ref

            parse_model_ref(given["name"])  # a bad name fails now, not after the search
        checked = {
            "target": target,
            "budget": budget,
            "cv": int(cv),
            "seed": int(seed),
            "workers": int(workers),
            "test_size": float(test_size),
            "max_trials": None if max_trials is None else int(max_trials),
            "families": families,
            "families_named": given["families"] is not None,
            "model_card": dict(given["model_card"] or {}),
        }
        return cls(**{**given, **checked})


@dataclass(frozen=True)
class TrainTable:
    """The table training reads: loaded once, rows with a target, profiled, typed.

    ``frame`` holds only the rows whose target is known; ``types`` (schema and kinds of
    every column of ``frame``) were inferred with the profile and are the contract the
    model is registered with; ``notes`` are the loader's warnings and the dropped rows.
    """

    frame: pd.DataFrame
    target: str
    profile: Profile
    types: TableTypes
    notes: tuple[str, ...] = ()

    @classmethod
    def inspect(
        cls,
        frame: pd.DataFrame,
        target: str,
        *,
        task: str | None = None,
        seed: int = 0,
        profile: Profile | None = None,
    ) -> TrainTable:
        """Drop the rows without a target, profile the rest and infer its types, once each.

        ``frame`` is a table already loaded (:func:`mlcycle.data.load`); ``profile``, when
        given, must describe it (its kinds are reused). The target is checked for ``task``
        (detected when None) first, so a bad target fails before any profiling.
        """
        from mlcycle.data import infer_types
        from mlcycle.data import profile as make_profile
        from mlcycle.training._stages import check_target

        notes = list(frame.attrs.get("mlcycle_warnings", []))
        known = frame[target].notna()
        if not known.all():
            frame = frame.loc[known]
            notes.append(f"Dropped {int((~known).sum())} rows whose target '{target}' is missing.")
        if len(frame) < 2:
            raise DataError(f"The data has {len(frame)} row(s) with a target; training needs more.")
        check_target(frame[target], task)
        if profile is None:
            profile = make_profile(frame, target=target, seed=seed)
        kinds = {name: column.kind for name, column in profile.columns.items()}
        types = infer_types(frame, target, kinds=kinds)
        return cls(frame, target, profile, types, tuple(notes))
