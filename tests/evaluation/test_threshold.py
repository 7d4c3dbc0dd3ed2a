"""choose_threshold(): the best cut-off on out-of-fold probabilities, by objective."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_predict

from mlcycle.evaluation import choose_threshold, evaluate
from mlcycle.exceptions import MlcycleError

SKLEARN = {
    "f1": lambda y, pred: skm.f1_score(y, pred),
    "balanced_accuracy": skm.balanced_accuracy_score,
    "accuracy": skm.accuracy_score,
    "mcc": skm.matthews_corrcoef,
}


@pytest.fixture(scope="module")
def oof(binary: Any) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold positive-class probabilities of a random forest on breast cancer."""
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1)
    proba = cross_val_predict(forest, binary.X_train, binary.y_train, cv=3, method="predict_proba")
    return binary.y_train, proba[:, 1]


def test_known_f1_optimum() -> None:
    # At 0.3 five of five positives and one negative are above: F1 = 10/11, the best cut.
    y = [0, 0, 1, 1, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9]
    assert choose_threshold(y, p, labels=[0, 1]) == 0.3
    predicted = (np.asarray(p) >= 0.3).astype(int)
    assert skm.f1_score(y, predicted) == pytest.approx(10 / 11)


def test_the_default_stays_when_it_is_already_best() -> None:
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], labels=[0, 1]) == 0.5


def test_ties_go_to_the_threshold_closest_to_one_half() -> None:
    # Any cut in (0.6, 0.7] separates the classes; 0.7 is the nearest to 0.5.
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.9], labels=[0, 1]) == 0.7
    # Any cut in (0.1, 0.2] does; 0.2 is the nearest.
    assert choose_threshold([0, 1, 1, 1], [0.1, 0.2, 0.25, 0.3], labels=[0, 1]) == 0.2


@pytest.mark.parametrize("objective", sorted(SKLEARN))
def test_no_threshold_beats_the_chosen_one(objective: str, oof: tuple[Any, Any]) -> None:
    y, p = oof
    chosen = choose_threshold(y, p, labels=[0, 1], objective=objective)
    assert 0.0 <= chosen <= 1.0
    metric = SKLEARN[objective]
    best = metric(y, (p >= chosen).astype(int))
    for t in np.unique(np.concatenate([p, np.linspace(0, 1, 101)])):
        assert metric(y, (p >= t).astype(int)) <= best + 1e-12


def test_string_labels_and_two_column_probabilities() -> None:
    y = np.array(["no", "no", "yes", "yes", "yes", "no", "yes", "yes"])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    assert choose_threshold(y, p, labels=["no", "yes"]) == 0.3
    assert choose_threshold(y, np.column_stack([1 - p, p]), labels=["no", "yes"]) == 0.3


def test_balanced_accuracy_prefers_recall_on_a_rare_class() -> None:
    y = [0] * 8 + [1, 1]
    p = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.34, 0.35, 0.33, 0.6]
    # Accuracy is best at 0.5 (9 of 10 right); balanced accuracy is best at 0.33, where both
    # positives are caught for two false alarms: (1 + 6/8) / 2 against (1/2 + 1) / 2.
    assert choose_threshold(y, p, labels=[0, 1], objective="accuracy") == 0.5
    assert choose_threshold(y, p, labels=[0, 1], objective="balanced_accuracy") == 0.33


def test_out_of_fold_threshold_feeds_evaluate(binary: Any, oof: tuple[Any, Any]) -> None:
    y, p = oof
    chosen = choose_threshold(y, p, labels=[0, 1])
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1)
    forest.fit(binary.X_train, binary.y_train)
    result = evaluate(forest, binary.X_test, binary.y_test, task="binary", threshold=chosen)
    pred = (forest.predict_proba(binary.X_test)[:, 1] >= chosen).astype(int)
    assert result.threshold == chosen
    assert result.metrics["f1"] == pytest.approx(skm.f1_score(binary.y_test, pred))


def test_unknown_objective() -> None:
    with pytest.raises(MlcycleError, match=r"'objective' parameter of choose_threshold.*f1"):
        choose_threshold([0, 1], [0.2, 0.8], labels=[0, 1], objective="auc")


def test_labels_must_be_two_classes() -> None:
    with pytest.raises(MlcycleError, match="for binary tasks: labels must be the two classes"):
        choose_threshold([0, 1, 2], [0.2, 0.8, 0.5], labels=[0, 1, 2])


def test_lengths_must_match() -> None:
    with pytest.raises(MlcycleError, match="y_true has 3 values but proba_positive has shape"):
        choose_threshold([0, 1, 1], [0.2, 0.8], labels=[0, 1])


def test_needs_rows() -> None:
    with pytest.raises(MlcycleError, match="at least one row"):
        choose_threshold([], [], labels=[0, 1])


def test_needs_both_classes() -> None:
    with pytest.raises(MlcycleError, match="needs both classes in y_true; it holds only 1"):
        choose_threshold([1, 1], [0.2, 0.8], labels=[0, 1])


@pytest.mark.parametrize("bad", [1.2, -0.1, float("nan")])
def test_probabilities_must_be_in_the_unit_interval(bad: float) -> None:
    with pytest.raises(MlcycleError, match="probabilities between 0 and 1"):
        choose_threshold([0, 1], [0.2, bad], labels=[0, 1])


def test_unknown_labels() -> None:
    with pytest.raises(MlcycleError, match="never saw: 'maybe'"):
        choose_threshold(["no", "maybe"], [0.2, 0.8], labels=["no", "yes"])
