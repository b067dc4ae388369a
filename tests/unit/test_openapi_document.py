"""What the OpenAPI document says beyond the routes (services.api.document_answers)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from services import access
from services.api import create_api
from services.application import LeadApplication
from services.principals import Principals
from tests.factories import IN_MEMORY


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    return api.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    ]


def test_public_endpoints_take_no_token_and_never_answer_401_or_403(
    document: dict[str, Any],
) -> None:
    public = [(m, p, o) for m, p, o in operations(document) if access.MATRIX[(m, p)].public]
    assert {p for _, p, _ in public} >= {"/healthz", "/readyz"}
    for _, _, operation in public:
        assert operation["security"] == []
        assert not {"401", "403"} & set(operation["responses"])


def test_every_other_endpoint_needs_a_bearer_token(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if not access.MATRIX[(method, path)].public:
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_what_is_answered_before_a_handler_runs_is_declared(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        answers = operation["responses"]
        names = {p["name"] for p in operation.get("parameters", [])}
        if "requestBody" in operation:  # services.limits
            assert {"400", "413", "415"} <= set(answers), (method, path)
        if not access.MATRIX[(method, path)].public:
            assert "Retry-After" in answers["429"]["headers"], (method, path)
            assert "WWW-Authenticate" in answers["401"]["headers"], (method, path)
        if "min_position" in names:
            assert "Retry-After" in answers["503"]["headers"], (method, path)
        if "Idempotency-Key" in names:
            for answer in answers.values():
                assert "Idempotent-Replayed" in answer["headers"], (method, path)
        if method == "GET":
            assert "409" not in answers, path
    ready = document["paths"]["/readyz"]["get"]["responses"]
    assert ready["503"]["content"] == ready["200"]["content"]


def test_a_method_not_allowed_names_every_method_the_path_takes() -> None:
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    with TestClient(api) as client:
        refused = client.request("PUT", "/v1/principals")
        assert refused.status_code == 405
        assert refused.headers["content-type"] == "application/problem+json"
        assert set(refused.headers["allow"].split(", ")) == {"GET", "POST"}
        assert "allowed: GET, POST" in refused.json()["detail"]


def test_an_idempotency_key_is_visible_ascii() -> None:
    """The header's schema had Text's pattern, which allows what no header can carry
    (a line break): generated keys could not even be sent."""
    from services.commands import AdoptPolicy
    from tests.factories import OFFICER, POLICY_TERMS, referral_body
    from tests.principals import cast

    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    officer = cast(application)["officer.reyes"]
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    with TestClient(api) as client:
        for key, status in (("5b0c1f7e 3b0e", 201), ("cl\u00e9", 422)):
            sent = client.post(
                "/v1/referrals",
                json=referral_body(),
                headers={**officer, "Idempotency-Key": key.encode()},
            )
            assert sent.status_code == status, (key, sent.text)
    [header] = [
        p
        for p in api.openapi()["paths"]["/v1/referrals"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    assert header["schema"]["pattern"] == r"^[!-~](?:[ -~]*[!-~])?$"


def test_every_json_answer_has_a_schema_that_says_something(document: dict[str, Any]) -> None:
    """Each read's answer is described (services.answers), not `{}` or any object: the
    API fuzzing checks every answer it gets against it."""
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if schema is None or not status.startswith("2"):
                continue
            described = "$ref" in schema or "anyOf" in schema or "properties" in schema
            typed_map = schema.get("type") == "object" and isinstance(
                schema.get("additionalProperties"), dict
            )
            assert described or typed_map, (method, path, status, schema)
