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
    assert "income" not in records["items"]["required"]  # it had missing values in training
