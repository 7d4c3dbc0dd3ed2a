"""Fuzzing request bodies: whatever a client sends, the answer is a 2xx or a 4xx JSON body.

Two levels: the server's own parsing and checks as functions (many examples, fast), and a
smaller number of bodies through a real uvicorn server on 127.0.0.1 serving a scikit-learn
pipeline and a LightGBM model (predict, explain, feedback). Never a 5xx, never a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from tests.fuzz.strategies import examples, json_values, scalars
from tests.serving.conftest import LiveServer, free_port, register_lgbm, register_pipeline

from mlcycle.config import reset_settings
from mlcycle.exceptions import MlcycleError, error_status
from mlcycle.registry import reset_workspace
from mlcycle.schema import Column, Policy, Schema
from mlcycle.serving import CompiledSchema, RequestError, build_config
from mlcycle.serving._input import parse_json, rows_of

FAST = Schema(
    columns=[
        Column("x", "number", nullable=False, min=0.0, max=10.0, out_of_range="refuse"),
        Column("n", "integer", nullable=True, min=-5, max=5, out_of_range="clip"),
        Column("flag", "boolean", nullable=True),
        Column("plan", "category", nullable=False, categories=["a", "b", 3, 2.5, True]),
        Column("tier", "category", nullable=True, categories=["x", "y"], unseen="map_to_missing"),
        Column("note", "number", nullable=True, optional=True),
        Column("y", "number", nullable=False),
    ],
    target="y",
    defaults=Policy(),
    unexpected="refuse",
)
SLOW = Schema(
    columns=[
        Column("when", "datetime", nullable=True),
        Column("text", "string", nullable=False),
        Column("code", "category", nullable=True, categories=[1, 2, 3], unseen="allow"),
        Column("n", "integer", nullable=True),
    ],
    unexpected="allow",
)
NAMES = ["x", "n", "flag", "plan", "tier", "note", "y", "when", "text", "code", "X", " x", ""]
NASTY = st.one_of(
    scalars,
    st.sampled_from(["2024-01-31T12:00:00", "2024-02-30", "9999-12-31T23:59:59Z", "0000-01-01"]),
    json_values,
)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity written as Python does


_DROP = object()


def near(row: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``row`` with a few values made nasty, a few keys dropped and maybe one added."""

    def value(v: Any) -> st.SearchStrategy[Any]:  # mostly kept: most requests are near-valid
        return st.sampled_from(["keep"] * 8 + ["nasty", "drop"]).flatmap(
            lambda how: st.just(v) if how == "keep" else NASTY if how == "nasty" else st.just(_DROP)
        )

    fields = st.fixed_dictionaries({k: value(v) for k, v in row.items()})
    extra = st.sampled_from([{}, {}, {}, {"extra": 1}, {"X": None}])
    return st.builds(
        lambda d, e: {**{k: v for k, v in d.items() if v is not _DROP}, **e}, fields, extra
    )


def as_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names = dict.fromkeys(k for r in rows for k in r)
    return {"columns": {k: [r.get(k) for r in rows] for k in names}}


def shaped(row: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Bodies near a valid request with ``row``, and bodies of every other shape."""
    record = st.one_of(*[near(row)] * 3, st.dictionaries(st.sampled_from(NAMES), NASTY))
    records = st.lists(record, min_size=1, max_size=3) | st.lists(record, max_size=0)
    columns = st.dictionaries(st.sampled_from(NAMES), st.lists(NASTY, max_size=4) | NASTY)
    feedback = st.dictionaries(st.sampled_from(["prediction_id", "label"]), NASTY)
    return st.one_of(
        *[st.fixed_dictionaries({"records": records})] * 4,
        records.map(as_columns),
        st.fixed_dictionaries({"columns": columns}),
        st.fixed_dictionaries(
            {"records": records | NASTY}, optional={"key": NASTY, "columns": NASTY}
        ),
        st.fixed_dictionaries({"feedback": st.lists(feedback, max_size=3)}),
    )


def bodies(row: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Request bodies: mostly JSON near a valid one, also any JSON, bytes, deep nesting and
    truncated JSON."""
    near_valid = shaped(row).map(_encode)
    return st.one_of(
        *[near_valid] * 6,
        json_values.map(_encode),
        st.binary(max_size=64),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        near_valid.flatmap(lambda raw: st.integers(0, len(raw)).map(lambda k: raw[:k])),
    )


CASES = {
    "fast": (FAST, {"x": 5.0, "n": 1, "flag": True, "plan": "a", "tier": "x"}),
    "slow": (SLOW, {"when": "2024-01-31T12:00:00", "text": "t", "code": 1, "n": 2}),
}


cases = st.sampled_from(sorted(CASES)).flatmap(
    lambda case: st.tuples(st.just(case), bodies(CASES[case][1]))
)
NESTED = b'{"records": [{"x": 1, "n": ' + b"[" * 1000 + b"]" * 1000 + b"}]}"


@settings(max_examples=examples(400))
@given(cases)
# a value nested 1,000 deep (finding 8). Its regression test is in tests/serving/test_server.py:
# Hypothesis raises the recursion limit while it runs, so here it cannot show the old 500.
@example(("fast", NESTED))
def test_any_body_is_answered_or_refused_with_a_4xx(case: tuple[str, bytes]) -> None:
    name, raw = case
    schema = CASES[name][0]
    compiled = CompiledSchema.build(schema)
    try:
        columns, n_rows, names = rows_of(parse_json(raw))
        checked = compiled.check(columns, n_rows, names)
    except RequestError as error:
        event(f"refused {error.status}")
        assert 400 <= error.status < 500, error.message
        json.dumps(error.body("id"))  # the answer is JSON
        return
    except MlcycleError as error:  # the app answers these with their own status
        assert 400 <= error_status(error) < 500, error
        return
    event("accepted")
    assert set(checked) == set(schema.feature_names)
    assert all(len(values) == n_rows for values in checked.values())


# -- through a real server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A scikit-learn pipeline (categories, booleans, missing values) and a LightGBM model,
    served by one real uvicorn server on a loopback port for the whole module."""
    home: Path = tmp_path_factory.mktemp("fuzz-server") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("MLCYCLE_")]:
            if key != "MLCYCLE_TEST_PG_URL":
                patch.delenv(key)
        patch.setenv("MLCYCLE_HOME", str(home))
        reset_settings()
        reset_workspace()
        register_pipeline("plans")
        register_lgbm("bench")
        config = build_config(
            ["plans@production", "bench@production"], port=free_port(), access_log=False
        )
        with LiveServer(config) as live:
            yield live
        reset_workspace()
        reset_settings()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


ROWS = {
    "plans": {"age": 40, "income": 52.5, "plan": "pro", "active": True},
    "bench": {f"f{i}": 0.1 * i for i in range(8)},
}
ROUTES = [
    *(f"/v1/models/{m}/{verb}" for m in ROWS for verb in ("predict", "explain", "feedback")),
    "/v1/models/nobody/predict",
]


def _requests(route: str) -> st.SearchStrategy[tuple[str, bytes]]:
    row = ROWS.get(route.split("/")[3], ROWS["plans"])
    return st.tuples(st.just(route), bodies(row))


@settings(max_examples=examples(100))
@given(st.sampled_from(ROUTES).flatmap(_requests))
@example(("/v1/models/plans/predict", _encode({"records": [ROWS["plans"]]})))
@example(("/v1/models/plans/predict", NESTED))
def test_a_live_server_answers_any_body_with_2xx_or_4xx_json(
    client: httpx.Client, request: tuple[str, bytes]
) -> None:
    route, raw = request
    response = client.post(route, content=raw, headers={"content-type": "application/json"})
    event(f"{route.rsplit('/', 1)[1]} {response.status_code}")
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert ("error" in answer) == (response.status_code >= 400)


def test_the_server_is_still_healthy_after_the_fuzzing(
    client: httpx.Client, server: LiveServer
) -> None:
    assert client.get("/readyz").status_code == 200
    assert server.thread.is_alive()
    response = client.post("/v1/models/plans/predict", json={"records": [ROWS["plans"]]})
    assert response.status_code == 200, response.text
