"""Schemathesis against the served OpenAPI document: generated requests, 0 server errors."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)
from tests.serving.conftest import register_lgbm, register_pipeline


def test_generated_requests_never_cause_a_server_error(live) -> None:
    register_lgbm()
    register_pipeline()
    server = live(["bench@production", "plans@production"])
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=checks)

        call()
    assert "POST /v1/models/plans/predict" in tested and "GET /v1/models/{name}" in tested


def test_the_document_shows_each_models_real_input_fields(live) -> None:
    import httpx

    register_pipeline()
    server = live(["plans@production"])
    document = httpx.get(f"{server.url}/openapi.json").json()
    body = document["paths"]["/v1/models/plans/predict"]["post"]["requestBody"]
    records = body["content"]["application/json"]["schema"]["oneOf"][0]["properties"]["records"]
    fields = records["items"]["properties"]
    assert set(fields) == {"age", "income", "plan", "active"}
    assert fields["plan"]["enum"] == ["basic", "plus", "pro"]
    assert records["items"]["required"] == ["age", "income", "plan", "active"]  # absent: 422
    assert records["items"]["additionalProperties"] is False
    assert records["items"]["x-mlcycle-unexpected"] == "refuse"
    # Each column's policies, stated: income had gaps in training, age had none.
    assert fields["income"]["type"] == ["number", "null"]
    assert fields["income"]["x-mlcycle-policy"] == {
        "optional": False, "missing": "allow", "out_of_range": "allow"
    }  # fmt: skip
    assert fields["age"]["x-mlcycle-policy"]["missing"] == "refuse"
    assert fields["plan"]["x-mlcycle-policy"] == {
        "optional": False, "missing": "refuse", "unseen": "refuse"
    }  # fmt: skip
    assert fields["plan"]["description"].startswith("Required; null refused; a value not seen")
    columns = body["content"]["application/json"]["schema"]["oneOf"][1]["properties"]["columns"]
    assert columns["required"] == ["age", "income", "plan", "active"]
    assert columns["properties"]["plan"]["items"]["x-mlcycle-policy"]["unseen"] == "refuse"
