"""The rules that pick the final model from the search's trials, all over the same candidates.

:func:`gather` computes once what every rule chooses from: the finished trials best first,
the greedy ensemble of their out-of-fold predictions (:mod:`mlcycle.training._ensemble`) and
the noise of the best trial's score (one standard error of its fold losses). Each rule of
:data:`RULES` is then a small function of those :class:`Candidates` to a :class:`Choice`, so
``benchmarks/selection.py`` can refit and test every rule on the same trials and
:data:`RULE`, the one ``train`` uses, is the one that held-out evidence supports
(docs/automl.md, "How the final model is chosen").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mlcycle.evaluation import Metric
    from mlcycle.training._search import TrialRecord

__all__ = ["RULE", "RULES", "Candidates", "Choice", "gather"]

_ENSEMBLE_CANDIDATES = 20
_SMALL = 300  # training rows under which model selection is mostly noise
SMALL_TABLE = 750
"""Training rows under which ``ensemble_when_small`` takes the ensemble whenever it is
better out of fold: 1,000 rows of a table less the 25 % the benchmarks hold out. The
evidence for both sides of it is in docs/automl.md."""


@dataclass(frozen=True)
class Choice:
    """One final model a rule can pick: members, their weights and its out-of-fold loss."""

    members: tuple[TrialRecord, ...]
    weights: np.ndarray
    value: float
    note: str | None = None

    @classmethod
    def single(cls, trial: TrialRecord, note: str | None = None) -> Choice:
        return cls((trial,), np.asarray([1.0]), _loss(trial), note)


@dataclass(frozen=True)
class Candidates:
    """What every rule picks from, computed once from the trials by :func:`gather`.

    ``complete``: the finished trials, best (lowest out-of-fold loss) first. ``ensemble``:
    the greedy ensemble, only when its out-of-fold loss is lower than the best trial's and
    more than one of its members can be refitted before the deadline. ``noise``: one
    standard error of the best trial's fold losses (0 when it has fewer than two finite
    ones). ``pairs``: the trials whose out-of-fold predictions were loaded, with them.
    """

    complete: list[TrialRecord]
    ensemble: Choice | None
    noise: float
    metric: str
    rows: int
    pairs: list[tuple[TrialRecord, np.ndarray]]
    queued: int = 0
    """Trials numbered below this were queued before the search saw any score (each
    family's defaults and the portfolio, or the grid)."""

    @property
    def best(self) -> TrialRecord:
        return self.complete[0]

    def blend(self, choice: Choice) -> np.ndarray | None:
        """The choice's out-of-fold predictions: its members' blended with its weights."""
        by_number = {t.number: o for t, o in self.pairs}
        if not all(m.number in by_number for m in choice.members):
            return None
        total = np.zeros_like(by_number[choice.members[0].number])
        for member, weight in zip(choice.members, choice.weights, strict=True):
            total = total + float(weight) * by_number[member.number]
        return total


def gather(
    complete: list[TrialRecord],
    oofs: Callable[[TrialRecord], np.ndarray | None],
    *,
    y: np.ndarray,
    mask: np.ndarray,
    metric: Metric,
    labels: np.ndarray | None,
    ensemble: bool,
    deadline: float,
    queued: int = 0,
) -> Candidates:
    """The candidates of ``complete`` (sorted, best first; at least one): the ensemble is
    built from the out-of-fold predictions ``oofs`` returns on the validated rows ``mask``
    when ``ensemble`` is true, and kept to the members refitted before ``deadline``."""
    pool = _pool(complete)
    pairs = [(t, o) for t in pool if (o := oofs(t)) is not None]
    chosen = None
    if ensemble and len(pairs) > 1:
        chosen = _ensemble(pairs, y, mask, metric, labels, _loss(complete[0]), deadline)
    noise = _standard_error(complete[0], metric)
    return Candidates(complete, chosen, noise, metric.name, len(y), pairs, queued)


def _pool(complete: list[TrialRecord]) -> list[TrialRecord]:
    """The best trials overall plus the best two of each family: an ensemble needs variety."""
    chosen = complete[:_ENSEMBLE_CANDIDATES]
    numbers = {t.number for t in chosen}
    for family in dict.fromkeys(t.family for t in complete):
        for trial in [t for t in complete if t.family == family][:2]:
            if trial.number not in numbers:
                chosen.append(trial)
                numbers.add(trial.number)
    return chosen


def _ensemble(
    pairs: list[tuple[TrialRecord, np.ndarray]],
    y: np.ndarray,
    mask: np.ndarray,
    metric: Metric,
    labels: np.ndarray | None,
    best_value: float,
    deadline: float,
) -> Choice | None:
    """The greedy ensemble when it beats the best trial out of fold, else None."""
    from mlcycle.training._ensemble import select_ensemble

    codes = None if labels is None else np.arange(len(labels))
    w, value = select_ensemble([o for _, o in pairs], y, mask, metric, codes)
    if not value < best_value - 1e-9:
        return None
    chosen = _affordable([(t, wi) for (t, _), wi in zip(pairs, w, strict=True) if wi > 0], deadline)
    if len(chosen) < 2:
        return None
    weights = np.asarray([wi for _, wi in chosen])
    return Choice(tuple(t for t, _ in chosen), weights / weights.sum(), value)


def _affordable(
    chosen: list[tuple[TrialRecord, float]], deadline: float
) -> list[tuple[TrialRecord, float]]:
    """Keep the heaviest members whose refits fit before the deadline (at least one)."""
    ordered = sorted(chosen, key=lambda pair: -pair[1])
    left = deadline - time.time()
    kept: list[tuple[TrialRecord, float]] = []
    for trial, weight in ordered:
        cost = trial.refit_seconds()
        if kept and cost > left:
            continue
        kept.append((trial, weight))
        left -= cost
    return kept


def _loss(trial: TrialRecord) -> float:
    """A finished trial's out-of-fold loss (the candidates are finished trials only)."""
    return float(trial.value)  # type: ignore[arg-type]


def _standard_error(trial: TrialRecord, metric: Metric) -> float:
    """One standard error of the trial's fold losses: how far apart two models' scores
    can be by the luck of the folds alone (0 with fewer than two finite fold scores)."""
    from mlcycle.evaluation import loss

    losses = np.asarray([loss(metric, s) for s in trial.fold_scores], dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    if len(losses) < 2:
        return 0.0
    return float(np.std(losses, ddof=1) / np.sqrt(len(losses)))


# -- the rules -----------------------------------------------------------------------------


def best_trial(c: Candidates) -> Choice:
    """The trial with the lowest out-of-fold loss."""
    return Choice.single(c.best)


def ensemble(c: Candidates) -> Choice:
    """The greedy ensemble whenever its out-of-fold loss is lower, else the best trial."""
    return c.ensemble or best_trial(c)


def ensemble_beyond_noise(c: Candidates) -> Choice:
    """The ensemble only when it beats the best trial by more than one standard error."""
    e = c.ensemble
    return e if e is not None and e.value < _loss(c.best) - c.noise else best_trial(c)


def ensemble_when_small(c: Candidates) -> Choice:
    """``ensemble`` on fewer than :data:`SMALL_TABLE` training rows, else
    ``ensemble_beyond_noise``. With hundreds of trials on a few hundred rows the best trial's
    out-of-fold score is mostly the luck of being picked among them, and averaging the
    ensemble's members undoes more of that luck than the ensemble's own selection adds."""
    return ensemble(c) if c.rows < SMALL_TABLE else ensemble_beyond_noise(c)


def linear_within_noise(c: Candidates) -> Choice:
    """The best linear trial when within one standard error of the ensemble or best trial
    (of the best trial alone under 300 rows, where the ensemble's score flatters it), else
    the ensemble rule's choice: the one-standard-error rule (Breiman et al.) with linear
    models taken as the simplest. ``train``'s rule until issue 15."""
    chosen = ensemble(c)
    if c.best.family == "linear" or c.noise == 0:
        return chosen
    linear = next((t for t in c.complete if t.family == "linear"), None)
    reference = _loss(c.best) if c.rows < _SMALL else chosen.value
    if linear is None or _loss(linear) > reference + c.noise:
        return chosen
    return Choice.single(
        linear,
        f"Chose the linear model (trial {linear.number}): its cv {c.metric} is within one "
        "standard error of the best.",
    )


def cheapest_within_noise(c: Candidates) -> Choice:
    """The trial quickest to refit among those within one standard error of the ensemble
    rule's choice, else that choice: the one-standard-error rule with simplicity measured
    by cost, whatever the family."""
    chosen = ensemble(c)
    near = [t for t in c.complete if _loss(t) <= chosen.value + c.noise]
    if not near:
        return chosen
    return Choice.single(min(near, key=lambda t: (t.refit_seconds(), t.value, t.number)))


def queued_within_noise(c: Candidates) -> Choice:
    """``ensemble_beyond_noise``'s choice, unless it is a single trial found by the search
    and a queued configuration (a family's defaults or the portfolio) is within one
    standard error of it: then the best queued one. The best of hundreds of sampled trials
    is flattered by having been picked among them (most on small tables); the few queued
    configurations were fixed before any score was seen."""
    chosen = ensemble_beyond_noise(c)
    if len(chosen.members) > 1 or c.best.number < c.queued or c.noise == 0:
        return chosen
    first = next((t for t in c.complete if t.number < c.queued), None)
    if first is None or _loss(first) > _loss(c.best) + c.noise:
        return chosen
    return Choice.single(
        first,
        f"Chose trial {first.number} ({first.family}, a configuration tried first): its cv "
        f"{c.metric} is within one standard error of the best sampled trial's.",
    )


RULES: dict[str, Callable[[Candidates], Choice]] = {
    "best": best_trial,
    "ensemble": ensemble,
    "ensemble_beyond_noise": ensemble_beyond_noise,
    "ensemble_when_small": ensemble_when_small,
    "linear_within_noise": linear_within_noise,
    "cheapest_within_noise": cheapest_within_noise,
    "queued_within_noise": queued_within_noise,
}
"""Every rule by name; ``best`` is the reference the others are measured against."""

RULE = "ensemble_when_small"
"""The rule ``train`` uses. On the 11 tables under 1,000 rows, taking the ensemble whenever
it is better out of fold gained on held-out splits at 60 s (+0.0052, 13 wins, 17 ties,
3 losses over 33 runs) and at 20 s (+0.0071); over all 24 tables ``ensemble_beyond_noise``
had the fewest losses and the smallest worst case, and it stays the rule for larger tables.
docs/automl.md has the tables; every difference is within the tables' noise."""
