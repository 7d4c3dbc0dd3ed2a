"""The model server over real loopback HTTP: predict, validation, feedback, logs, metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from tests.serving.conftest import FEATURES, numeric_frame, record, register_lgbm, register_pipeline

import mlcycle
from mlcycle.exceptions import (
    BadParameterError,
    ConflictError,
    MlcycleError,
    NotFoundError,
    SchemaError,
    error_status,
)


def _log(home: Path, folder: str = "predictions") -> pd.DataFrame:
    return ds.dataset(home / folder, format="parquet", partitioning="hive").to_table().to_pandas()


def test_predict_records_and_columns_answer_what_the_bundle_predicts(live, clean_env: Path) -> None:
    register_lgbm()
    server = live(["bench@production"])
    X, _ = numeric_frame()
    rows = X.head(5)
    expected = mlcycle.load_model("bench@production").predict_proba(rows)
    with server.client() as client:
        by_records = client.post(
            "/v1/models/bench/predict", json={"records": rows.to_dict(orient="records")}
        )
        by_columns = client.post(
            "/v1/models/bench/predict", json={"columns": rows.to_dict(orient="list")}
        )
    for answer in (by_records, by_columns):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["version"] == 1 and body["alias"] == "production"
        assert body["classes"] == [0, 1]
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-9)
        assert body["predictions"] == list(np.argmax(expected, axis=1))
        assert len(set(body["prediction_ids"])) == 5
        assert answer.headers["x-request-id"] == body["request_id"]


def test_a_pipeline_with_categories_is_served_with_its_threshold_and_labels(live) -> None:
    register_pipeline()
    server = live(["plans@production"])
    rows = [
        {"age": 70, "income": 40.0, "plan": "basic", "active": True},
        {"age": 20, "income": None, "plan": "pro", "active": False},
        {"age": 30, "income": 55.0, "plan": "basic", "active": True},
    ]
    bundle = mlcycle.load_model("plans@production")
    expected = bundle.predict_proba(bundle.schema.coerce(rows))
    with server.client() as client:
        answer = client.post("/v1/models/plans/predict", json={"records": rows})
        unseen = client.post(
            "/v1/models/plans/predict",
            json={"records": [{"age": 30, "income": 1.0, "plan": "gold", "active": True}]},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["classes"] == ["no", "yes"]
    np.testing.assert_allclose(answer.json()["probabilities"], expected, atol=1e-9)
    assert set(answer.json()["predictions"]) <= {"no", "yes"}
    assert unseen.status_code == 422
    assert unseen.json()["details"][0]["code"] == "unseen_category"
    assert unseen.json()["details"][0]["column"] == "plan"


@pytest.mark.parametrize(
    ("body", "status", "code", "column"),
    [
        ({"records": [{k: 1.0 for k in FEATURES[1:]}]}, 422, "missing_column", "f0"),
        ({"records": [{**{k: 1.0 for k in FEATURES}, "f3": "high"}]}, 422, "wrong_type", "f3"),
        ({"records": [{**{k: 1.0 for k in FEATURES}, "f3": True}]}, 422, "wrong_type", "f3"),
        ({"records": [{**{k: 1.0 for k in FEATURES}, "f5": None}]}, 422, "missing_value", "f5"),
        ({"records": []}, 422, None, None),
        ({"records": [1, 2]}, 422, "wrong_type", None),
        ({"rows": []}, 422, None, None),
        ({"columns": {"f0": [1.0], "f1": [1.0, 2.0]}}, 422, None, None),
        ([1, 2, 3], 422, None, None),
    ],
)
def test_bad_input_gets_a_4xx_with_field_level_details(live, body, status, code, column) -> None:
    register_lgbm()
    server = live(["bench@production"])
    with server.client() as client:
        answer = client.post("/v1/models/bench/predict", json=body)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    assert payload["error"] and payload["request_id"]
    if code is not None:
        assert payload["details"][0]["code"] == code
        assert payload["details"][0]["column"] == column


def test_nan_and_infinity_literals_are_named_not_a_parse_failure(live) -> None:
    register_lgbm()
    server = live(["bench@production"])
    good = json.dumps(record())
    nan = good.replace(str(record()["f2"]), "NaN", 1).encode()
    inf = good.replace(str(record()["f4"]), "Infinity", 1).encode()
    with server.client() as client:
        answers = [
            client.post(
                "/v1/models/bench/predict",
                content=b'{"records": [' + raw + b"]}",
                headers={"content-type": "application/json"},
            )
            for raw in (nan, inf)
        ]
        as_json = {"content-type": "application/json"}
        garbage = client.post("/v1/models/bench/predict", content=b"{not json", headers=as_json)
        empty = client.post("/v1/models/bench/predict", content=b"", headers=as_json)
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json()["details"][0] == {
        "row": 0, "column": "f2", "code": "missing_value",
        "message": "nan: a value is required, but it is missing.",
    }  # fmt: skip
    assert answers[1].json()["details"][0]["code"] == "out_of_range"
    assert answers[1].json()["details"][0]["column"] == "f4"
    assert garbage.status_code == 400 and "not valid JSON" in garbage.json()["error"]
    assert empty.status_code == 400


def test_oversize_bodies_and_row_counts_are_refused_with_413(live) -> None:
    register_lgbm()
    server = live(["bench@production"], max_body_bytes=64 * 1024)
    big = {"records": [record()] * 2000}  # ~300 kB
    many = {"columns": {k: [0.0] * 10_001 for k in FEATURES}}
    with server.client() as client:
        too_big = client.post("/v1/models/bench/predict", json=big)
        streamed = client.post(
            "/v1/models/bench/predict",
            content=iter([json.dumps(big).encode()[i : i + 8192] for i in range(0, 300_000, 8192)]),
            headers={"content-type": "application/json"},
        )
    assert too_big.status_code == 413 and "larger than the limit" in too_big.json()["error"]
    assert streamed.status_code == 413  # chunked, no Content-Length: counted while read
    server2 = live(["bench@production"])
    with server2.client() as client:
        rows = client.post("/v1/models/bench/predict", json=many)
    assert rows.status_code == 413 and "10,000" in rows.json()["error"]


def test_unknown_models_and_routes_are_404_json(live) -> None:
    register_lgbm()
    server = live(["bench@production"])
    with server.client() as client:
        unknown = client.post("/v1/models/nope/predict", json={"records": [record()]})
        detail = client.get("/v1/models/nope")
        route = client.get("/v2/whatever")
    assert unknown.status_code == 404 and "No model named 'nope'" in unknown.json()["error"]
    assert detail.status_code == 404
    assert route.status_code == 404 and route.json()["request_id"]


def test_listings_health_and_metrics(live) -> None:
    register_lgbm()
    server = live(["bench@production"])
    with server.client() as client:
        client.post("/v1/models/bench/predict", json={"records": [record()]})
        client.post("/v1/models/bench/predict", json={"records": [{"f0": "x"}]})
        models = client.get("/v1/models").json()
        detail = client.get("/v1/models/bench").json()
        health, ready = client.get("/healthz"), client.get("/readyz")
        metrics = client.get("/metrics").text
    assert models["models"][0]["targets"]["production"]["version"] == 1
    target = detail["targets"]["production"]
    assert target["features"] == FEATURES and target["metrics"] == {"auc": 0.9}
    assert target["input_schema"]["required"] == FEATURES
    assert health.json() == {"status": "alive"} and ready.status_code == 200
    assert (
        'mlcycle_requests_total{model="bench",route="predict",status="200",version="1"} 1.0'
        in metrics
    )
    assert (
        'mlcycle_errors_total{model="bench",route="predict",status="422",version="1"} 1.0'
        in metrics
    )
    assert 'mlcycle_predicted_rows_total{model="bench",role="primary",version="1"} 1.0' in metrics
    assert "mlcycle_request_latency_seconds_bucket" in metrics


def test_predictions_and_feedback_reach_the_columnar_logs(live, clean_env: Path) -> None:
    register_lgbm()
    _, key = mlcycle.registry.create_key("predict")  # feedback needs a key even on loopback
    server = live(["bench@production"])
    with server.client(authorization=f"Bearer {key}") as client:
        answer = client.post("/v1/models/bench/predict", json={"records": [record(0), record(1)]})
        ids = answer.json()["prediction_ids"]
        accepted = client.post(
            "/v1/models/bench/feedback",
            json={
                "feedback": [
                    {"prediction_id": ids[0], "label": 1},
                    {"prediction_id": ids[1], "label": 0},
                ]
            },
        )
        wrong = client.post(
            "/v1/models/bench/feedback", json={"feedback": [{"prediction_id": ids[0], "label": 7}]}
        )
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 2
    assert wrong.status_code == 422 and "not one of the model's classes" in wrong.json()["error"]
    server.__exit__(None, None, None)  # a graceful stop writes what is buffered
    log = _log(clean_env)
    assert sorted(log["prediction_id"]) == sorted(ids)
    assert set(log["version"].astype(int)) == {1} and set(log["model"]) == {"bench"}
    assert log["input.f0"].tolist() == pytest.approx([record(0)["f0"], record(1)["f0"]])
    assert {"proba.0", "proba.1", "latency_ms", "timestamp"} <= set(log.columns)
    feedback = _log(clean_env, "feedback")
    assert sorted(feedback["prediction_id"]) == sorted(ids)
    assert sorted(feedback["label"]) == ["0", "1"]


def test_the_log_sampling_rate_is_honoured(live, clean_env: Path) -> None:
    register_lgbm()
    server = live(["bench@production"], log_sample=0.0)
    with server.client() as client:
        for _ in range(5):
            assert (
                client.post("/v1/models/bench/predict", json={"records": [record()]}).status_code
                == 200
            )
    server.__exit__(None, None, None)
    assert not (clean_env / "predictions").exists() or not list(
        (clean_env / "predictions").rglob("*.parquet")
    )


def test_explain_returns_contributions_that_add_up(live) -> None:
    register_lgbm()
    server = live(["bench@production"])
    with server.client() as client:
        answer = client.post("/v1/models/bench/explain", json={"records": [record(0), record(3)]})
        too_many = client.post("/v1/models/bench/explain", json={"records": [record()] * 101})
    assert answer.status_code == 200, answer.text
    explanations = answer.json()["explanations"]
    assert len(explanations) == 2
    first = explanations[0]
    assert set(first["contributions"]) == set(FEATURES)
    total = first["base_value"] + sum(first["contributions"].values())
    assert total == pytest.approx(first["output"], abs=1e-6)
    assert too_many.status_code == 413


def test_micro_batching_scores_concurrent_requests_together(live) -> None:
    import concurrent.futures as cf

    import httpx

    register_lgbm()
    server = live(["bench@production"], max_wait_ms=20)
    X, _ = numeric_frame()
    expected = mlcycle.load_model("bench").predict_proba(X.head(32))

    def one(i: int) -> list[float]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            body = {"records": [{k: float(v) for k, v in X.iloc[i].items()}]}
            return client.post("/v1/models/bench/predict", json=body).json()["probabilities"][0]

    with cf.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(32)))
    np.testing.assert_allclose(answers, expected, atol=1e-9)  # each request got its own rows
    assert server.state.slots[("bench", "production")].batcher.batches < 32


def test_predict_timeout_answers_504(live, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcycle.serving import ServedModel

    register_lgbm()
    server = live(["bench@production"], request_timeout=0.2)
    original = ServedModel.predict

    def slow(self, columns, n_rows):
        time.sleep(0.6)
        return original(self, columns, n_rows)

    monkeypatch.setattr(ServedModel, "predict", slow)
    with server.client() as client:
        answer = client.post("/v1/models/bench/predict", json={"records": [record()]})
    assert answer.status_code == 504 and "longer than 0.2 s" in answer.json()["error"]


def test_overload_answers_429_and_503_with_retry_after(
    live, monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures as cf

    import httpx

    from mlcycle.serving import ServedModel

    register_lgbm()
    original = ServedModel.predict

    def slow(self, columns, n_rows):
        time.sleep(0.5)
        return original(self, columns, n_rows)

    monkeypatch.setattr(ServedModel, "predict", slow)

    def burst(server, n: int) -> list[httpx.Response]:
        def one(_: int) -> httpx.Response:
            return httpx.post(
                f"{server.url}/v1/models/bench/predict", json={"records": [record()]}, timeout=30
            )

        with cf.ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))

    busy = burst(live(["bench@production"], max_in_flight=1), 4)
    refused = [a for a in busy if a.status_code == 429]
    assert refused and all(a.headers["retry-after"] == "1" for a in refused)
    assert any(a.status_code == 200 for a in busy)
    full = burst(live(["bench@production"], max_queue_rows=1), 4)
    queued_out = [a for a in full if a.status_code == 503]
    assert queued_out and "overloaded" in queued_out[0].json()["error"]
    assert queued_out[0].headers["retry-after"] == "1"


def test_unknown_columns_are_refused_or_ignored_as_the_schema_says(live) -> None:
    import lightgbm as lgb

    from mlcycle.schema import Schema

    X, y = numeric_frame()
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    lenient = Schema.from_dataframe(X, unexpected="allow")
    mlcycle.register_model("lenient", model, schema=lenient, alias="production")
    register_lgbm()  # the default: unknown keys refused
    server = live(["lenient@production", "bench@production"])
    body = {"records": [{**record(), "surprise": 1}]}
    near = {"records": [{**record(), "F1": 1}]}
    with server.client() as client:
        refused = client.post("/v1/models/bench/predict", json=body)
        ignored = client.post("/v1/models/lenient/predict", json=body)
        spelt = client.post("/v1/models/lenient/predict", json=near)
    assert refused.status_code == 422
    assert refused.json()["details"] == [
        {"row": None, "column": "surprise", "code": "unexpected_column",
         "message": "Column 'surprise' is not one the model knows; remove it. The model "
                    "expects: f0, f1, f2, f3, f4, f5, f6, f7."}
    ]  # fmt: skip
    assert ignored.status_code == 200
    assert spelt.status_code == 422  # a column's name in other case: refused whatever the policy
    assert "did you mean 'f1'?" in spelt.json()["error"]


def register_plans(name: str, *, gaps: bool, optional: tuple[str, ...] = ()) -> None:
    """A pipeline on age, income and plan; ``gaps``: age and income had missing values."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mlcycle.data import build_preparer
    from mlcycle.schema import Schema

    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({
        "age": rng.normal(45, 12, n),
        "income": rng.normal(50, 10, n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
    })  # fmt: skip
    if gaps:
        frame.loc[rng.random(n) < 0.1, "age"] = np.nan
        frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    target = np.where((frame["plan"] == "pro") | (frame["age"] > 55), "yes", "no")
    model = make_pipeline(build_preparer(frame, task="binary"), LogisticRegression(max_iter=500))
    data = Schema.from_dataframe(frame).to_dict()
    for column in data["columns"]:
        column["optional"] = column["name"] in optional
    schema = Schema.from_dict(data)
    mlcycle.register_model(name, model.fit(frame, target), schema=schema, alias="production")


GOOD = {"age": 40.0, "income": 55.0, "plan": "basic"}


@pytest.mark.parametrize("gaps", [True, False], ids=["trained-with-gaps", "trained-without"])
def test_a_misspelt_or_absent_column_is_refused_whatever_the_training_gaps(
    live, gaps: bool
) -> None:
    register_plans("plans", gaps=gaps)
    server = live(["plans@production"])
    misspelt = {"Age": 40.0, "Income": 55.0, "plan": "basic"}
    absent = {"age": 40.0, "plan": "basic"}
    null = {**GOOD, "income": None}
    url = "/v1/models/plans/predict"
    with server.client() as client:
        good = client.post(url, json={"records": [GOOD]})
        answers = {
            "misspelt": client.post(url, json={"records": [misspelt, misspelt]}),
            "absent": client.post(url, json={"records": [absent]}),
            "absent as columns": client.post(
                url, json={"columns": {k: [v] for k, v in absent.items()}}
            ),
        }
        with_null = client.post(url, json={"records": [null]})
    assert good.status_code == 200, good.text
    for case, answer in answers.items():
        assert answer.status_code == 422, case
    found = [(d["column"], d["code"]) for d in answers["misspelt"].json()["details"]]
    assert found == [
        ("age", "missing_column"),
        ("income", "missing_column"),
        ("Age", "unexpected_column"),
        ("Income", "unexpected_column"),
    ]
    first = answers["misspelt"].json()["error"]
    assert first.startswith(
        "The input does not match the model's schema: Column 'age' is missing from the input "
        "(it has 'Age': did you mean 'age'?). The model expects: age, income, plan."
    )
    for case in ("absent", "absent as columns"):
        assert [(d["row"], d["column"], d["code"]) for d in answers[case].json()["details"]] == [
            (None, "income", "missing_column")
        ]
    # A null is a missing value, which the column's stated policy decides.
    assert with_null.status_code == (200 if gaps else 422)
    if not gaps:
        assert with_null.json()["details"][0]["code"] == "missing_value"


def test_an_optional_column_may_be_absent(live) -> None:
    register_plans("plans", gaps=True, optional=("income",))
    server = live(["plans@production"])
    bundle = mlcycle.load_model("plans@production")
    absent = {"age": 40.0, "plan": "pro"}
    with server.client() as client:
        answer = client.post("/v1/models/plans/predict", json={"records": [absent]})
        age_absent = client.post("/v1/models/plans/predict", json={"records": [{"plan": "pro"}]})
        described = client.get("/v1/models/plans").json()
    assert answer.status_code == 200, answer.text
    expected = bundle.predict_proba(bundle.schema.coerce([{**absent, "income": None}]))
    np.testing.assert_allclose(answer.json()["probabilities"], expected, atol=1e-9)
    assert age_absent.status_code == 422
    assert age_absent.json()["details"][0]["column"] == "age"
    schema = described["targets"]["production"]["input_schema"]
    assert schema["required"] == ["age", "plan"]
    assert schema["properties"]["income"]["x-mlcycle-policy"]["optional"] is True


def test_each_prediction_can_carry_its_anomaly_score(live, clean_env: Path) -> None:
    X, y = numeric_frame()
    frame = X.assign(label=np.where(y == 1, "yes", "no"))
    mlcycle.train(
        frame, "label", name="scored", alias="production", budget=8, families=["linear"],
        workers=1, progress=False, explain=False, card=False,
    )  # fmt: skip
    server = live(["scored@production"], anomaly_scores=True)
    far = {k: 50.0 for k in FEATURES}
    with server.client() as client:
        answer = client.post("/v1/models/scored/predict", json={"records": [record(), far]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["anomalous"] == [False, True]
    assert body["anomaly_scores"][1] > body["anomaly_scores"][0]
    server.__exit__(None, None, None)
    log = _log(clean_env)
    assert log["anomaly_score"].tolist() == pytest.approx(body["anomaly_scores"])


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("No such run 'x'."), 404),
        (ConflictError("Already there."), 409),
        (SchemaError("Column 'age' is missing."), 422),
        (BadParameterError("The 'top' parameter must be > 0."), 400),
        (MlcycleError("Refused."), 400),
    ],
)
def test_an_mlcycle_error_in_a_handler_is_its_4xx_never_a_500(
    live, error: MlcycleError, status: int
) -> None:
    register_lgbm()
    server = live(["bench@production"])

    async def handler() -> None:
        raise error

    server.app.add_api_route("/v1/raises", handler, methods=["GET"])
    with server.client() as client:
        response = client.get("/v1/raises")
    assert response.status_code == status == error_status(error)
    assert response.json()["error"] == str(error)


def test_unknown_paths_do_not_grow_the_metrics(live) -> None:
    """Issue 14, finding 5: every path used to become a label; 20,000 unknown paths grew
    /metrics to 42 MB. Now unknown paths share one label and /metrics stays the same size."""
    import re

    register_lgbm()
    server = live(["bench@production"], log_predictions=False)
    with server.client() as client:

        def probe(start: int, count: int) -> None:
            for i in range(start, start + count):
                client.get(f"/no/such/path-{i}")
                client.post(f"/v1/models/bench/x{i}", json={})
                client.get(f"/v1/models/bench/predict/{i}")

        probe(0, 50)
        client.get("/metrics")  # its own label set exists from the first scrape on
        before = client.get("/metrics").text
        probe(50, 700)
        after = client.get("/metrics").text
    routes = set(re.findall(r'route="([^"]*)"', after))
    assert routes <= {"other", "metrics", "predict", "model", "models", "healthz", "readyz"}
    assert "other" in routes
    assert len(after.splitlines()) == len(before.splitlines())


def test_a_deeply_nested_value_is_a_422_not_a_500(live) -> None:
    register_lgbm()
    server = live(["bench@production"], log_predictions=False)
    row = json.dumps({**record(), "f0": "DEEP"})
    deep = "[" * 1000 + "1.0" + "]" * 1000  # under orjson's nesting limit, over repr's
    body = '{"records": [' + row.replace('"DEEP"', deep) + "]}"
    with server.client() as client:
        answer = client.post(
            "/v1/models/bench/predict", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 422
    assert answer.json()["details"][0]["column"] == "f0"
