"""The rules that pick the final model: on crafted trial records, and through ``train``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from mlcycle.evaluation import get_metric
from mlcycle.training import TrialRecord, train
from mlcycle.training._selection import RULE, RULES, Candidates, Choice, gather


def _trial(number: int, family: str, value: float, seconds: float = 1.0) -> TrialRecord:
    # five fold scores (AUC) around -value, so the standard error is about 0.01
    folds = [-value + d for d in (-0.02, -0.01, 0.0, 0.01, 0.02)]
    return TrialRecord(
        number, family, {}, "complete", value, folds, [seconds] * 5, [], [], seconds * 5
    )


def _candidates(
    *trials: TrialRecord, ensemble: Choice | None = None, noise: float = 0.01
) -> Candidates:
    ordered = sorted(trials, key=lambda t: (t.value, t.number))
    return Candidates(ordered, ensemble, noise, "auc", 5000, [])


def _families(choice: Choice) -> list[str]:
    return [t.family for t in choice.members]


def test_the_production_rule_keeps_trees_that_beat_a_linear_model_within_noise() -> None:
    # the finding of issue 15: the one-standard-error rule swapped the best trees for the
    # linear model; the production rule has no preference for a family
    hgb, linear = _trial(0, "hgb", -0.830), _trial(1, "linear", -0.825)
    candidates = _candidates(hgb, linear)
    assert _families(RULES[RULE](candidates)) == ["hgb"]
    assert _families(RULES["linear_within_noise"](candidates)) == ["linear"]


def test_the_production_rule_takes_the_ensemble_only_when_it_wins_beyond_noise() -> None:
    # an ensemble's out-of-fold score is flattered by its own selection: a gain within the
    # best trial's noise is not taken, a larger one is
    hgb, rf = _trial(0, "hgb", -0.830), _trial(1, "rf", -0.826)
    small = Choice((hgb, rf), np.asarray([0.5, 0.5]), -0.835)
    large = Choice((hgb, rf), np.asarray([0.5, 0.5]), -0.845)
    rule = RULES[RULE]
    assert _families(rule(_candidates(hgb, rf, ensemble=small))) == ["hgb"]
    assert rule(_candidates(hgb, rf, ensemble=large)) is large
    assert RULES["ensemble"](_candidates(hgb, rf, ensemble=small)) is small


def test_the_cheapest_within_noise_rule_takes_the_quickest_trial_near_the_best() -> None:
    slow = _trial(0, "xgb", -0.830, seconds=8.0)
    quick = _trial(1, "rf", -0.824, seconds=0.5)
    quicker_but_worse = _trial(2, "knn", -0.790, seconds=0.1)
    chosen = RULES["cheapest_within_noise"](_candidates(slow, quick, quicker_but_worse))
    assert chosen.members == (quick,)


def test_gather_blends_out_of_fold_predictions_and_measures_the_noise() -> None:
    # two models whose errors are independent: their average ranks the rows better
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    scores = [np.clip(y * 0.3 + 0.35 + rng.normal(0, 0.25, 400), 0, 1) for _ in range(2)]
    oofs = {i: np.column_stack([1 - s, s]) for i, s in enumerate(scores)}
    metric = get_metric("auc", "binary")
    mask = np.ones(400, dtype=bool)
    records = [_trial(i, f, -float(metric(y, oofs[i]))) for i, f in enumerate(["hgb", "rf"])]
    trials = sorted(records, key=lambda t: float(t.value))  # type: ignore[arg-type]

    def make(ensemble: bool) -> Candidates:
        return gather(
            trials,
            lambda t: oofs[t.number],
            y=y,
            mask=mask,
            metric=metric,
            labels=np.asarray([0, 1]),
            ensemble=ensemble,
            deadline=float("inf"),
        )

    candidates = make(ensemble=True)
    assert candidates.ensemble is not None
    assert candidates.ensemble.value < trials[0].value  # type: ignore[operator]
    assert sorted(_families(candidates.ensemble)) == ["hgb", "rf"]
    blended = candidates.blend(candidates.ensemble)
    assert blended is not None
    assert -float(metric(y, blended)) == candidates.ensemble.value
    assert candidates.noise == np.std(trials[0].fold_scores, ddof=1) / np.sqrt(5)
    assert make(ensemble=False).ensemble is None


def _step_interaction(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A target that is a slope in a plus a step where b and c are both positive, with
    heavy-tailed noise: trees find the step, a linear model cannot, and the noise makes the
    folds' R² spread so widely that the linear model falls within one standard error of
    the trees although they beat it in every fold. Returns the table and the noise-free
    signal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    signal = X[:, 0] + 1.0 * ((X[:, 1] > 0) & (X[:, 2] > 0))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = signal + 0.25 * rng.standard_t(2.2, n)
    return frame, signal


def test_a_table_where_trees_beat_linear_models_registers_trees(clean_env: Path) -> None:
    (frame, _), (fresh, signal) = _step_interaction(4000, 0), _step_interaction(20_000, 99)
    result = train(
        frame,
        "y",
        families=["linear", "hgb"],
        max_trials=8,
        workers=1,
        budget=300,
        name="step",
        progress=False,
        explain=False,
        card=False,
    )
    assert result.version is not None
    families = {m["family"] for m in (result.ensemble or {}).get("members", [])}
    assert result.best_family == "hgb" and families <= {"hgb", "linear"}
    # on fresh rows the registered model recovers the signal far better than a linear one
    x_fresh = fresh.drop(columns="y")
    linear = LinearRegression().fit(frame.drop(columns="y"), frame["y"])
    registered_error = np.mean((result.predict(x_fresh) - signal) ** 2)
    assert registered_error < 0.8 * np.mean((linear.predict(x_fresh) - signal) ** 2)


def test_the_queued_within_noise_rule_prefers_a_configuration_fixed_before_any_score() -> None:
    # trials 0-10 were queued (defaults, portfolio); 40 was sampled after seeing scores
    sampled, default = _trial(40, "knn", -0.700), _trial(3, "linear", -0.695)
    far_default = _trial(5, "rf", -0.650)
    ordered = sorted((sampled, default, far_default), key=lambda t: (t.value, t.number))
    near = Candidates(ordered, None, 0.01, "auc", 140, [], queued=11)
    assert RULES["queued_within_noise"](near).members == (default,)
    assert RULES[RULE](near).members == (sampled,)
    # a queued configuration beyond the noise is not taken, nor when nothing was queued
    ordered = sorted((sampled, far_default), key=lambda t: (t.value, t.number))
    assert RULES["queued_within_noise"](
        Candidates(ordered, None, 0.01, "auc", 140, [], 11)
    ).members == (sampled,)
    assert RULES["queued_within_noise"](
        Candidates(ordered, None, 0.01, "auc", 140, [], 0)
    ).members == (sampled,)


def test_the_size_rule_takes_any_better_ensemble_on_a_small_table_only() -> None:
    from mlcycle.training._selection import SMALL_TABLE

    hgb, rf = _trial(0, "hgb", -0.830), _trial(1, "rf", -0.826)
    within = Choice((hgb, rf), np.asarray([0.5, 0.5]), -0.835)  # better by less than the noise
    ordered = [hgb, rf]
    small = Candidates(ordered, within, 0.01, "auc", SMALL_TABLE - 1, [])
    large = Candidates(ordered, within, 0.01, "auc", SMALL_TABLE, [])
    rule = RULES["ensemble_when_small"]
    assert rule(small) is within
    assert _families(rule(large)) == ["hgb"]
    assert _families(rule(Candidates(ordered, None, 0.01, "auc", 100, []))) == ["hgb"]
