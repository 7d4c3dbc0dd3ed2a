"""The Store contract, run against every backend (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import hashlib
import math

import pytest

import mlcycle
from mlcycle.exceptions import (
    BadParameterError,
    ConflictError,
    FilterError,
    InvalidNameError,
    NotFoundError,
)
from mlcycle.registry import Run, RunStatus, Store, Workspace

USER = "ann"


@pytest.fixture
def store(workspace: Workspace) -> Store:
    return workspace.store


def _digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _ids(runs: list[Run]) -> list[str]:
    return [r.id for r in runs]


def _search(store: Store, filter: str | None = None, **kwargs: object) -> set[str]:
    page = store.search_runs(filter=filter, max_results=1000, **kwargs)  # type: ignore[arg-type]
    assert page.next_page_token is None
    return {r.id for r in page.runs}


# -- experiments ----------------------------------------------------------------------------


def test_experiment_is_created_once(store: Store) -> None:
    first = store.get_or_create_experiment("churn")
    again = store.get_or_create_experiment("churn")
    other = store.get_or_create_experiment("fraud")
    assert first == again
    assert other.id != first.id
    assert [e.name for e in store.list_experiments()] == ["churn", "fraud"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 257])
def test_experiment_names_are_checked(store: Store, name: str) -> None:
    with pytest.raises(InvalidNameError, match="must be 1-256 characters"):
        store.get_or_create_experiment(name)
    assert store.list_experiments() == []


# -- run lifecycle --------------------------------------------------------------------------


def test_run_moves_from_running_to_finished_once(store: Store) -> None:
    run = store.create_run("churn", name="first", user=USER, tags={"team": "growth"})
    assert (run.status, run.end_time, run.name, run.user) == ("RUNNING", None, "first", USER)
    assert store.get_run(run.id) == run
    ended = store.end_run(run.id, RunStatus.FINISHED)
    assert ended.status == "FINISHED"
    assert ended.end_time is not None and ended.end_time >= ended.start_time
    assert ended.tags == {"team": "growth"}
    with pytest.raises(ConflictError, match=f"Run '{run.id}' already ended as FINISHED"):
        store.end_run(run.id, RunStatus.FAILED)
    assert store.get_run(run.id).status == "FINISHED"


def test_run_gets_a_generated_name(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    assert run.name == f"run-{run.id[:8]}"


def test_a_run_cannot_be_ended_as_running(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    with pytest.raises(BadParameterError, match="Cannot end a run as 'RUNNING'"):
        store.end_run(run.id, RunStatus.RUNNING)
    assert store.get_run(run.id).status == "RUNNING"


def test_final_runs_accept_tags_but_not_metrics_or_params(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    store.end_run(run.id, RunStatus.KILLED, error="stopped")
    with pytest.raises(ConflictError, match="is KILLED; only RUNNING runs accept metrics"):
        store.log_batch(run.id, metrics=[("loss", 1.0, 0, 1)])
    with pytest.raises(ConflictError, match="only RUNNING runs"):
        store.log_batch(run.id, params={"lr": "0.1"})
    store.log_batch(run.id, tags={"reviewed": "yes"})
    final = store.get_run(run.id)
    assert (final.metrics, final.params, final.tags) == ({}, {}, {"reviewed": "yes"})
    assert final.error == "stopped"


def test_run_failing_inside_with_is_failed_with_the_error(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="boom"), mlcycle.start_run(experiment="churn") as run:
        mlcycle.log_metric("loss", 0.5)
        raise ValueError("boom")
    stored = workspace.store.get_run(run.id)
    assert stored.status == "FAILED"
    assert stored.error == "ValueError: boom"
    assert stored.metrics == {"loss": 0.5}
    assert mlcycle.active_run() is None


def test_run_interrupted_inside_with_is_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), mlcycle.start_run(experiment="churn") as run:
        raise KeyboardInterrupt
    stored = workspace.store.get_run(run.id)
    assert (stored.status, stored.error) == ("KILLED", "interrupted")


# -- params, tags, metrics ------------------------------------------------------------------


def test_params_are_immutable(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    store.log_batch(run.id, params={"lr": "0.1", "family": "lgbm"})
    store.log_batch(run.id, params={"lr": "0.1"})  # the same value again is fine
    with pytest.raises(ConflictError, match=r"Param 'lr' .* is already '0.1'; params cannot"):
        store.log_batch(run.id, params={"lr": "0.2", "new": "x"})
    # the failed batch wrote nothing, not even its other param
    assert store.get_run(run.id).params == {"lr": "0.1", "family": "lgbm"}


def test_params_are_immutable_through_the_sdk(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="churn") as run:
        mlcycle.log_param("depth", 3)
        with pytest.raises(ConflictError, match="Param 'depth' is already '3'"):
            mlcycle.log_param("depth", 4)
    assert workspace.store.get_run(run.id).params == {"depth": "3"}


def test_overlong_param_is_refused_with_advice(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    with pytest.raises(BadParameterError, match=r"limit is 6000. Log long values as an artifact"):
        store.log_batch(run.id, params={"blob": "x" * 6001})


def test_invalid_keys_are_refused(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    with pytest.raises(InvalidNameError, match="Param key '' must be non-empty"):
        store.log_batch(run.id, params={"": "1"})
    with pytest.raises(InvalidNameError, match="Tag key"):
        store.log_batch(run.id, tags={"k" * 251: "1"})


def test_tags_are_overwritten(store: Store) -> None:
    run = store.create_run("churn", user=USER, tags={"stage": "draft"})
    store.log_batch(run.id, tags={"stage": "review", "owner": "ann"})
    store.log_batch(run.id, tags={"stage": "final"})
    assert store.get_run(run.id).tags == {"stage": "final", "owner": "ann"}


def test_metric_history_keeps_step_and_timestamp_in_order(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    store.log_batch(run.id, metrics=[("loss", 0.5, 2, 3000), ("loss", 0.9, 0, 1000)])
    store.log_batch(run.id, metrics=[("loss", 0.7, 1, 2000), ("acc", 0.6, 0, 1000)])
    history = store.metric_history(run.id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.9, 1000),
        (1, 0.7, 2000),
        (2, 0.5, 3000),
    ]
    assert {m.key for m in history} == {"loss"}
    assert store.metric_history(run.id, "unknown") == []


def test_latest_value_is_the_highest_step_whatever_the_logging_order(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    store.log_batch(run.id, metrics=[("loss", 0.1, 10, 1000)])
    store.log_batch(run.id, metrics=[("loss", 0.9, 3, 5000)])  # later, but an earlier step
    assert store.get_run(run.id).metrics == {"loss": 0.1}
    store.log_batch(run.id, metrics=[("loss", 0.05, 11, 500), ("loss", 0.07, 10, 9000)])
    assert store.get_run(run.id).metrics == {"loss": 0.05}
    store.log_batch(run.id, metrics=[("loss", 0.04, 11, 600)])  # same step, newer timestamp
    assert store.get_run(run.id).metrics == {"loss": 0.04}


def test_nan_and_infinities_round_trip(store: Store) -> None:
    run = store.create_run("churn", user=USER)
    points = [("x", math.nan, 0, 1), ("x", math.inf, 1, 2), ("x", -math.inf, 2, 3)]
    points += [("y", 1.5, 0, 1), ("y", math.nan, 1, 2), ("z", -0.0, 0, 1), ("z", 1e-300, 1, 2)]
    store.log_batch(run.id, metrics=points)
    x = [m.value for m in store.metric_history(run.id, "x")]
    assert math.isnan(x[0]) and x[1:] == [math.inf, -math.inf]
    assert [m.value for m in store.metric_history(run.id, "z")] == [0.0, 1e-300]
    latest = store.get_run(run.id).metrics
    assert latest["x"] == -math.inf
    assert math.isnan(latest["y"])
    assert latest["z"] == 1e-300


# -- parents and children -------------------------------------------------------------------


def test_child_runs_point_at_their_parent(store: Store) -> None:
    parent = store.create_run("tuning", user=USER)
    children = [store.create_run("tuning", user=USER, parent_run_id=parent.id) for _ in range(2)]
    assert {c.parent_run_id for c in children} == {parent.id}
    assert _search(store, f"parent_run_id = '{parent.id}'") == set(_ids(children))
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.create_run("tuning", user=USER, parent_run_id="nope")
    assert len(_search(store)) == 3


def test_nested_sdk_runs_become_children(workspace: Workspace) -> None:
    with mlcycle.start_run(experiment="tuning") as parent:
        with mlcycle.start_run(name="trial-1") as child:
            assert mlcycle.active_run() is child
        assert mlcycle.active_run() is parent
    stored = workspace.store.get_run(child.id)
    assert (stored.parent_run_id, stored.experiment) == (parent.id, "tuning")


# -- soft delete ----------------------------------------------------------------------------


def test_delete_hides_the_run_and_its_descendants_until_restored(store: Store) -> None:
    parent = store.create_run("e", user=USER)
    child = store.create_run("e", user=USER, parent_run_id=parent.id)
    grandchild = store.create_run("e", user=USER, parent_run_id=child.id)
    other = store.create_run("e", user=USER)
    family = {parent.id, child.id, grandchild.id}

    store.delete_run(parent.id, actor=USER)
    assert _search(store) == {other.id}
    assert _search(store, include_deleted=True) == family | {other.id}
    assert {r.id for r in store.search_runs(include_deleted=True).runs if r.deleted} == family
    assert store.get_run(grandchild.id).deleted is True
    assert _search(store, "status = 'RUNNING'") == {other.id}

    store.restore_run(parent.id, actor=USER)
    assert _search(store) == family | {other.id}
    assert not any(r.deleted for r in store.search_runs().runs)


def test_deleting_a_child_keeps_the_parent(store: Store) -> None:
    parent = store.create_run("e", user=USER)
    child = store.create_run("e", user=USER, parent_run_id=parent.id)
    store.delete_run(child.id, actor=USER)
    assert _search(store) == {parent.id}


# -- search ---------------------------------------------------------------------------------


@pytest.fixture
def runs(store: Store) -> dict[str, Run]:
    """Six runs in two experiments with a spread of metrics, params, tags and states."""
    spec = {
        "a": ("exp-a", {"auc": 0.95, "loss": 0.1}, {"family": "lgbm", "depth": "10"}, "ann"),
        "b": ("exp-a", {"auc": 0.85}, {"family": "xgb", "depth": "9"}, "bob"),
        "c": ("exp-a", {"auc": 0.70, "loss": 0.5}, {"family": "LGBM", "depth": "3"}, "ann"),
        "d": ("exp-b", {"loss": 0.3}, {"family": "linear"}, None),
        "e": ("exp-b", {"auc": math.nan}, {"depth": "deep"}, "bob"),
        "f": ("exp-b", {}, {}, None),
    }
    made = {}
    for i, (label, (exp, metrics, params, owner)) in enumerate(spec.items()):
        run = store.create_run(
            exp, name=f"run-{label}", user=USER, start_time=1_700_000_000_000 + i
        )
        tags = {"owner": owner} if owner else {}
        store.log_batch(
            run.id,
            metrics=[(k, v, 0, 1) for k, v in metrics.items()],
            params=params,
            tags=tags,
        )
        made[label] = run
    store.end_run(made["b"].id, RunStatus.FAILED, error="oom")
    store.end_run(made["a"].id, RunStatus.FINISHED)
    return made


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("metrics.auc > 0.8", "ab"),
        ("metrics.auc >= 0.85", "ab"),
        ("metrics.auc < 0.9", "bc"),
        ("metrics.auc = 0.7", "c"),
        ("metrics.auc != 0.7", "ab"),
        ("metrics.auc in (0.95, 0.7)", "ac"),
        ("metrics.loss <= 0.3", "ad"),
        ("params.family = 'lgbm'", "a"),
        ("params.family != 'lgbm'", "bcd"),
        ("params.family in ('xgb', 'linear')", "bd"),
        ("params.family not in ('xgb', 'linear')", "ac"),
        ("params.family like 'lg%'", "a"),
        ("params.family like 'LG%'", "c"),
        ("params.family ilike 'lg%'", "ac"),
        ("params.family like '_gbm'", "a"),
        ("params.depth > 5", "ab"),
        ("params.depth >= 9.5", "a"),
        ("params.depth = 3", "c"),
        ("params.depth = '3'", "c"),
        ("params.depth = 'deep'", "e"),
        ("params.depth in (3, 9)", "bc"),
        ("tags.owner = 'ann'", "ac"),
        ("tags.owner != 'ann'", "be"),
        ("status = 'FAILED'", "b"),
        ("status = 'failed'", "b"),
        ("status in ('finished', 'FAILED')", "ab"),
        ("status = 'RUNNING'", "cdef"),
        ("experiment = 'exp-b'", "def"),
        ("name like 'run-%'", "abcdef"),
        ("name = 'run-d'", "d"),
        ("user = 'ann'", "abcdef"),
        ("start_time >= 1700000000003", "def"),
        ("metrics.auc > 0.8 and params.family = 'xgb'", "b"),
        ("metrics.auc > 0.8 or metrics.loss < 0.4", "abd"),
        ("tags.owner = 'bob' and (metrics.auc > 0.8 or params.depth = 'deep')", "be"),
        ("not tags.owner = 'ann'", "bdef"),
        ("not (metrics.auc > 0.8 or experiment = 'exp-b')", "c"),
        ("experiment = 'exp-a' and not status = 'RUNNING'", "ab"),
        ("metrics.missing > 0", ""),
    ],
)
def test_search_filters(store: Store, runs: dict[str, Run], filter: str, expected: str) -> None:
    assert _search(store, filter) == {runs[label].id for label in expected}


def test_search_by_experiment_names(store: Store, runs: dict[str, Run]) -> None:
    assert _search(store, experiments=["exp-b"]) == {runs[x].id for x in "def"}
    assert _search(store, experiments=["exp-a", "exp-b"]) == {r.id for r in runs.values()}
    with pytest.raises(NotFoundError, match=r"Experiment 'nope' does not exist.*exp-a, exp-b"):
        store.search_runs(experiments=["nope"])


def test_search_reports_bad_filters_and_arguments(store: Store, runs: dict[str, Run]) -> None:
    with pytest.raises(FilterError, match="position"):
        store.search_runs(filter="metrics.auc >> 1")
    with pytest.raises(FilterError, match="Unknown run attribute 'colour'"):
        store.search_runs(order_by=["colour DESC"])
    with pytest.raises(BadParameterError, match="'max_results' parameter of search_runs"):
        store.search_runs(max_results=0)
    with pytest.raises(FilterError, match="Page token 'garbage' is not valid"):
        store.search_runs(page_token="garbage")


def _order(store: Store, runs: dict[str, Run], order_by: list[str], **kw: object) -> str:
    label = {r.id: k for k, r in runs.items()}
    page = store.search_runs(order_by=order_by, **kw)  # type: ignore[arg-type]
    return "".join(label[r.id] for r in page.runs)


def test_sort_by_metric_puts_missing_and_nan_last(store: Store, runs: dict[str, Run]) -> None:
    assert _order(store, runs, ["metrics.auc DESC"])[:3] == "abc"
    assert _order(store, runs, ["metrics.auc"])[:3] == "cba"
    assert set(_order(store, runs, ["metrics.auc"])[3:]) == set("def")
    assert _order(store, runs, ["metrics.loss ASC"])[:3] == "adc"
    assert _order(store, runs, ["metrics.loss DESC"])[:3] == "cda"


def test_sort_by_param_is_numeric_when_values_are_numbers(
    store: Store, runs: dict[str, Run]
) -> None:
    # numbers by value (3 < 9 < 10), then text, then runs without the param (newest first)
    assert _order(store, runs, ["params.depth"]) == "cbaefd"
    assert _order(store, runs, ["params.depth DESC"]) == "abcefd"


def test_sort_by_attribute_and_tiebreak_by_newest(store: Store, runs: dict[str, Run]) -> None:
    assert _order(store, runs, ["name DESC"]) == "fedcba"
    assert _order(store, runs, ["name"]) == "abcdef"
    assert _order(store, runs, []) == "fedcba"  # newest first by default
    # runs that tie on the key keep the default order among themselves
    assert _order(store, runs, ["tags.owner"]) == "caebfd"
    assert _order(store, runs, ["end_time"])[-4:] == "fedc"  # running: no end time, last


def test_paging_covers_every_run_exactly_once(store: Store) -> None:
    made = [store.create_run("paging", user=USER, start_time=1000 + i % 3) for i in range(23)]
    for run in made[::2]:
        store.log_batch(run.id, metrics=[("m", 1.0, 0, 1)])  # many ties on the sort key
    for order in (None, ["metrics.m DESC"], ["start_time"]):
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = store.search_runs(order_by=order, max_results=5, page_token=token)
            seen += _ids(page.runs)
            pages += 1
            token = page.next_page_token
            if token is None:
                break
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        assert set(seen) == set(_ids(made))
        assert seen == _ids(store.search_runs(order_by=order, max_results=100).runs)


def test_sdk_search_runs_pages_through_everything(workspace: Workspace) -> None:
    for i in range(7):
        with mlcycle.start_run(experiment="sdk") as run:
            run.log_metric("i", i)
    runs = mlcycle.search_runs("sdk", filter="metrics.i >= 2", order_by="metrics.i DESC")
    assert [r.metrics["i"] for r in runs] == [6, 5, 4, 3, 2]
    assert len(mlcycle.search_runs(max_results=3)) == 3


# -- unknown objects ------------------------------------------------------------------------


def test_unknown_runs_raise_not_found_with_a_hint(store: Store) -> None:
    calls = [
        lambda: store.get_run("nope"),
        lambda: store.end_run("nope", RunStatus.FINISHED),
        lambda: store.log_batch("nope", tags={"a": "b"}),
        lambda: store.metric_history("nope", "loss"),
        lambda: store.delete_run("nope", actor=USER),
        lambda: store.restore_run("nope", actor=USER),
        lambda: store.list_artifacts("nope"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=r"Run 'nope' does not exist. List runs with"):
            call()


@pytest.fixture
def model(store: Store) -> str:
    for label in ("v1", "v2", "v3"):
        store.create_model_version("churn", bundle_digest=_digest(label), creator=USER)
    return "churn"


def test_unknown_models_versions_and_aliases_raise_not_found(store: Store, model: str) -> None:
    with pytest.raises(NotFoundError, match=r"Model 'fraud' does not exist. Known models: churn"):
        store.get_model("fraud")
    with pytest.raises(NotFoundError, match="Model 'fraud' does not exist"):
        store.list_versions("fraud")
    with pytest.raises(
        NotFoundError, match="Model 'churn' has no version 7; its versions are 1 to 3"
    ):
        store.get_version("churn", 7)
    with pytest.raises(NotFoundError, match="has no version 7"):
        store.set_alias("churn", "production", 7, actor=USER)
    store.set_alias("churn", "staging", 2, actor=USER)
    with pytest.raises(
        NotFoundError, match=r"no alias 'production'. Its aliases: staging=v2.*mlcycle promote"
    ):
        store.resolve_alias("churn", "production")
    with pytest.raises(NotFoundError, match="no alias 'production' to roll back"):
        store.rollback_alias("churn", "production", actor=USER)
    with pytest.raises(NotFoundError, match="has no alias 'production'"):
        store.delete_alias("churn", "production", actor=USER)
    with pytest.raises(NotFoundError, match="Model 'fraud' does not exist"):
        store.alias_history("fraud")


def test_empty_store_says_so(store: Store) -> None:
    with pytest.raises(NotFoundError, match="Known models: none yet"):
        store.get_model("churn")
    assert store.list_models() == []
    assert store.is_empty()


# -- models, versions, aliases --------------------------------------------------------------


def test_versions_are_numbered_from_one(store: Store) -> None:
    run = store.create_run("train", user=USER)
    versions = [
        store.create_model_version(
            "churn", bundle_digest=_digest(str(i)), creator=USER, run_id=run.id, description=str(i)
        )
        for i in range(3)
    ]
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.ref for v in versions] == ["churn/1", "churn/2", "churn/3"]
    other = store.create_model_version("fraud", bundle_digest=_digest("f"), creator=USER)
    assert other.version == 1
    assert store.get_model("churn").latest_version == 3
    assert [m.name for m in store.list_models()] == ["churn", "fraud"]
    listed = store.list_versions("churn")
    assert [(v.version, v.description, v.run_id) for v in listed] == [
        (1, "0", run.id),
        (2, "1", run.id),
        (3, "2", run.id),
    ]
    assert store.get_version("churn", 2) == listed[1]
    assert store.is_empty() is False


def test_a_version_must_name_an_existing_run(store: Store) -> None:
    with pytest.raises(NotFoundError, match="Run 'ghost' does not exist"):
        store.create_model_version(
            "churn", bundle_digest=_digest("x"), creator=USER, run_id="ghost"
        )
    with pytest.raises(NotFoundError):
        store.get_model("churn")  # nothing half-created


def test_promote_moves_the_alias_and_records_history(store: Store, model: str) -> None:
    first = store.set_alias(model, "production", 1, actor="ann")
    assert (first.action, first.from_version, first.to_version, first.actor) == (
        "promote",
        None,
        1,
        "ann",
    )
    store.set_alias(model, "production", 2, actor="bob")
    store.set_alias(model, "staging", 3, actor="cy")
    assert store.resolve_alias(model, "production").version == 2
    assert store.get_model(model).aliases == {"production": 2, "staging": 3}
    assert store.get_version(model, 2).aliases == ("production",)
    assert store.get_version(model, 1).aliases == ()
    history = store.alias_history(model, "production")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in history] == [
        ("promote", None, 1, "ann"),
        ("promote", 1, 2, "bob"),
    ]
    assert len(store.alias_history(model)) == 3
    assert all(e.at > 0 for e in history)


def test_rollback_walks_back_through_promotions(store: Store, model: str) -> None:
    for version in (1, 2, 3):
        store.set_alias(model, "production", version, actor="ann")
    store.set_alias(model, "staging", 1, actor="ann")  # another alias does not interfere

    back = store.rollback_alias(model, "production", actor="bob")
    assert (back.action, back.from_version, back.to_version) == ("rollback", 3, 2)
    assert store.resolve_alias(model, "production").version == 2
    back = store.rollback_alias(model, "production", actor="bob")
    assert (back.from_version, back.to_version) == (2, 1)
    assert store.resolve_alias(model, "production").version == 1
    with pytest.raises(ConflictError, match="held no earlier version to roll back to"):
        store.rollback_alias(model, "production", actor="bob")
    assert store.resolve_alias(model, "production").version == 1
    assert store.resolve_alias(model, "staging").version == 1


def test_rollback_after_a_new_promotion_returns_to_the_previous_holder(
    store: Store, model: str
) -> None:
    store.set_alias(model, "production", 1, actor="ann")
    store.set_alias(model, "production", 2, actor="ann")
    store.rollback_alias(model, "production", actor="ann")  # -> 1
    store.set_alias(model, "production", 3, actor="ann")
    assert store.rollback_alias(model, "production", actor="ann").to_version == 1


def test_delete_alias(store: Store, model: str) -> None:
    store.set_alias(model, "production", 2, actor="ann")
    event = store.delete_alias(model, "production", actor="bob")
    assert (event.action, event.from_version, event.to_version) == ("delete", 2, None)
    with pytest.raises(NotFoundError, match=r"no alias 'production'. Its aliases: none"):
        store.resolve_alias(model, "production")
    assert store.get_model(model).aliases == {}
    assert [e.action for e in store.alias_history(model, "production")] == ["promote", "delete"]


@pytest.mark.parametrize("name", ["", "has space", "-lead", ".hidden", "a/b", "x" * 129, "é"])
def test_invalid_model_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidNameError, match=r"Model name .* is not allowed. Use 1-128"):
        store.create_model_version(name, bundle_digest=_digest("x"), creator=USER)
    assert store.list_models() == []


@pytest.mark.parametrize("alias", ["", "1st", "has space", "a.b", "prod@x", "x" * 65, "-a"])
def test_invalid_aliases_are_refused(store: Store, model: str, alias: str) -> None:
    with pytest.raises(InvalidNameError, match=r"Alias .* is not allowed.*e\.g\. production"):
        store.set_alias(model, alias, 1, actor=USER)
    with pytest.raises(InvalidNameError, match="is not allowed"):
        store.rollback_alias(model, alias, actor=USER)
    assert store.get_model(model).aliases == {}


# -- audit ----------------------------------------------------------------------------------


def test_changes_are_audited(store: Store, model: str) -> None:
    store.set_alias(model, "production", 1, actor="ann")
    store.set_alias(model, "production", 2, actor="bob")
    store.rollback_alias(model, "production", actor="cy")
    store.delete_alias(model, "production", actor="dee")
    parent = store.create_run("e", user=USER)
    store.create_run("e", user=USER, parent_run_id=parent.id)
    store.delete_run(parent.id, actor="eve")
    store.restore_run(parent.id, actor="fay")

    versions = store.audit_events(entity_type="model_version")
    assert {(e.action, e.entity_id, e.actor) for e in versions} == {
        ("version.create", f"churn/{v}", USER) for v in (1, 2, 3)
    }
    assert versions[0].details["bundle_digest"] == _digest("v3")  # newest first

    aliases = store.audit_events(entity_type="alias", entity_id="churn@production")
    assert [(e.action, e.actor, e.details) for e in reversed(aliases)] == [
        ("alias.promote", "ann", {"from_version": None, "to_version": 1}),
        ("alias.promote", "bob", {"from_version": 1, "to_version": 2}),
        ("alias.rollback", "cy", {"from_version": 2, "to_version": 1}),
        ("alias.delete", "dee", {"from_version": 1, "to_version": None}),
    ]

    runs = store.audit_events(entity_type="run", entity_id=parent.id)
    assert [(e.action, e.actor) for e in reversed(runs)] == [
        ("run.delete", "eve"),
        ("run.restore", "fay"),
    ]
    assert runs[-1].details == {"children": 1}
    assert {e.action for e in store.audit_events(entity_type="model")} == {"model.create"}
    assert len(store.audit_events(limit=2)) == 2
