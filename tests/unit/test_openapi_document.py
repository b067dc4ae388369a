"""What the OpenAPI document says beyond the routes (services.http.openapi.document_answers)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import metadata
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services import access
from services.application import LeadApplication
from services.commands import FROM_1900, OpenCase
from services.http import pagination
from services.http.api import create_api
from services.http.openapi import unnamed_operation
from services.http.pagination import CURSOR_PATTERN
from services.http.telemetry import Telemetry, install
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
        if "requestBody" in operation:  # services.http.limits
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
    """Each read's answer is described (services.http.answers), not `{}` or any object: the
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


# -- what a client generator is given --------------------------------------------------
OPERATION_ID = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+")
"""camelCase, a verb first (createReferral): FastAPI's own are snake_case with the path."""


def test_every_operation_has_a_hand_chosen_unique_operation_id(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert all(isinstance(i, str) and OPERATION_ID.fullmatch(i) for i in ids), ids
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"createReferral", "getReferral", "listReferrals", "listCaseload"} <= set(ids)


def test_a_route_without_an_operation_id_is_refused() -> None:
    """Nothing is named for the author: a route added without one fails when it is added."""
    api = FastAPI(generate_unique_id_function=unnamed_operation)
    with pytest.raises(TypeError, match=r"/v1/new: give the route an operation_id"):
        api.add_api_route("/v1/new", lambda: None, methods=["GET"])


def test_every_operation_has_one_tag_listed_with_a_description(document: dict[str, Any]) -> None:
    listed = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert all(listed.values()), listed
    used = set()
    for method, path, operation in operations(document):
        assert len(operation.get("tags", [])) == 1, (method, path, operation.get("tags"))
        assert operation["tags"][0] in listed, (method, path)
        used.add(operation["tags"][0])
    served = create_served_document()
    used |= {o["tags"][0] for _, _, o in operations(served)}
    assert used == set(listed), set(listed) - used


def create_served_document() -> dict[str, Any]:
    """The document as `lead run` serves it: /metrics is added by the composition root."""
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    install(api, Telemetry())
    return api.openapi()


def test_the_metrics_endpoint_is_public_and_named() -> None:
    metrics = create_served_document()["paths"]["/metrics"]["get"]
    assert metrics["operationId"] == "getPrometheusMetrics"
    assert metrics["security"] == []
    assert metrics["responses"]["200"]["content"]["text/plain"]["schema"] == {"type": "string"}


def test_the_document_has_the_package_version(document: dict[str, Any]) -> None:
    assert document["info"]["version"] == metadata.version("lead-backend")


def test_a_read_answer_names_its_model_alone(document: dict[str, Any]) -> None:
    """No title FastAPI makes up from the handler ("Response List Referrals V1 ..."), which
    generators would name a class after, beside the model the answer is."""
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            assert not str(schema.get("title", "")).startswith("Response"), (method, path)
            if "$ref" in schema:
                assert set(schema) == {"$ref"}, (method, path, status, schema)


def test_every_header_read_is_declared(document: dict[str, Any]) -> None:
    """Every POST may carry an Idempotency-Key (IdempotencyMiddleware acts on each), and a
    subscription resumes at a Last-Event-ID."""
    for method, path, operation in operations(document):
        names = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method == "POST":
            assert "Idempotency-Key" in names, path
    [check] = [o for m, p, o in operations(document) if p == "/v1/disclosure-checks"]
    key = {p["name"]: p for p in check["parameters"]}["Idempotency-Key"]
    assert key["required"] is False
    [stream] = [o for m, p, o in operations(document) if p.startswith("/v1/subscriptions/")]
    resume = {p["name"]: p for p in stream["parameters"]}["Last-Event-ID"]
    pattern = resume["schema"]["anyOf"][0]["pattern"]
    assert re.search(pattern, "0:15.1:7") and re.search(pattern, "")
    assert not re.search(pattern, "0:15,1:7")


@given(st.lists(st.one_of(st.integers(), st.text(max_size=20), st.none()), max_size=4))
def test_a_cursor_the_api_gives_matches_the_pattern_it_states(key: list[Any]) -> None:
    assert re.search(CURSOR_PATTERN, pagination.encode(pagination.sort_key(key)))


def test_the_cursor_parameter_states_its_form(document: dict[str, Any]) -> None:
    listed = document["paths"]["/v1/referrals"]["get"]["parameters"]
    [cursor] = [p for p in listed if p["name"] == "cursor"]
    assert cursor["schema"]["anyOf"][0]["pattern"] == CURSOR_PATTERN


@pytest.mark.parametrize(("day", "accepted"), [("1899-12-31", False), ("1900-01-01", True)])
def test_the_earliest_date_is_stated_as_it_is_checked(
    document: dict[str, Any], day: str, accepted: bool
) -> None:
    """The commands refuse dates before 1900 as typos; each body field that does says so."""
    schemas = document["components"]["schemas"]
    opened = schemas["OpenCase"]["properties"]["incident_date"]
    born = schemas["ReferredPerson"]["properties"]["birth_date"]["anyOf"][0]
    contact = schemas["RecordContact"]["properties"]["contacted_on"]
    for field in (opened, born, contact):
        assert field["pattern"] == FROM_1900 and "1900" in field["description"]
        assert bool(re.search(field["pattern"], day)) is accepted
    case = {**OpenCase.model_json_schema()["examples"][0], "incident_date": day}
    refused = None
    try:
        OpenCase.model_validate(case)
    except ValidationError as exc:
        refused = exc
    assert (refused is None) is accepted


# -- the documentation pages, offline --------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_load_nothing_from_elsewhere(page: str) -> None:
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    with TestClient(api) as client:
        html = client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert "//" not in re.sub(r"<!--.*?-->", "", html.text, flags=re.S)  # no URL off-site
        links = _Links()
        links.feed(html.text)
        links.urls += re.findall(r"url: '([^']+)'", html.text)  # Swagger UI's document
        scripts = [u for u in links.urls if u.endswith(".js")]
        assert scripts and "/openapi.json" in links.urls, links.urls
        for url in links.urls:
            assert url.startswith("/"), url
            assert client.get(url).status_code == 200, url
