"""Error answers are RFC 9457 problems: each names the field and what is accepted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from aggregates.base import DomainError
from events.base import Role
from events.referral import Pathway, Person
from services.commands import ReceiveReferral
from services.errors import ConcurrencyError, NotFoundError
from services.http.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    FieldProblem,
    Problem,
    field_problem,
    install_problem_handlers,
)
from tests.factories import referral_body


class CaseClosedError(DomainError):
    """A rule of the kind the aggregates raise."""


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pathway: Pathway
    minutes: int = Field(ge=0, le=1440)
    person: Person
    tags: tuple[str, ...] = Field((), max_length=2)


def small_app() -> FastAPI:
    api = FastAPI()

    @api.post("/v1/contacts", responses=PROBLEM_RESPONSES)
    def record(contact: Contact, x_lead_role: Annotated[Role, Header()]) -> dict[str, str]:
        return {"ok": "yes"}

    @api.post("/v1/referrals", status_code=201)
    def receive(command: ReceiveReferral) -> dict[str, str]:
        return {"pathway": command.pathway.value}

    @api.get("/v1/plain/{n}")
    def plain(n: int) -> dict[str, int]:
        return {"n": n}

    @api.get("/rule")
    def rule() -> None:
        raise CaseClosedError("the case is closed: no hearing can be scheduled")

    @api.get("/conflict")
    def conflict() -> None:
        raise ConcurrencyError("the record was changed by someone else at the same time")

    @api.get("/missing")
    def missing() -> None:
        raise NotFoundError("no referral with id 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10")

    @api.get("/secret")
    def secret() -> None:
        raise HTTPException(401, detail="sign in first", headers={"WWW-Authenticate": "Bearer"})

    @api.get("/forbidden")
    def forbidden() -> None:
        raise HTTPException(403, detail="only a case manager may do that")

    @api.get("/teapot")
    def teapot() -> None:
        raise HTTPException(418, detail="short and stout")

    @api.get("/listed")
    def listed() -> None:
        error = {
            "type": "string_too_short",
            "loc": ("principal",),
            "msg": "too short",
            "input": "",
            "ctx": {"min_length": 1},
        }
        raise HTTPException(422, detail=[error])

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 at db.internal:5432")

    install_problem_handlers(api)
    return api


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(small_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def good_contact() -> dict[str, Any]:
    return {
        "pathway": "arrest_diversion",
        "minutes": 25,
        "person": {"given_name": "Dana", "family_name": "Whitfield", "birth_date": "1984-02-03"},
    }


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """The body, checked to be a problem of that status for that path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    Problem.model_validate(body)
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert {"type", "title", "status", "instance"} <= body.keys()
    return body


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    [error] = body["errors"]
    FieldProblem.model_validate(error)
    return error  # type: ignore[no-any-return]


HEADERS = {"x-lead-role": "case_manager"}


def test_a_good_request_is_not_a_problem(client: TestClient) -> None:
    response = client.post("/v1/contacts", json=good_contact(), headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"ok": "yes"}


def test_a_bad_enum_names_the_field_and_the_values_accepted(client: TestClient) -> None:
    response = client.post(
        "/v1/contacts", json={**good_contact(), "pathway": "walk_in"}, headers=HEADERS
    )
    body = problem_of(response, 422)
    assert body["type"] == "urn:lead:problem:validation"
    assert body["title"] == "Invalid input"
    assert "body.pathway" in body["detail"]
    assert only_error(body) == {
        "field": "body.pathway",
        "message": "Input should be 'arrest_diversion', 'social_contact' or 'community'",
        "input": "walk_in",
        "accepted": "'arrest_diversion', 'social_contact' or 'community'",
    }


@pytest.mark.parametrize(("minutes", "accepted"), [(-5, "at least 0"), (1441, "at most 1440")])
def test_a_number_out_of_range_gives_the_limit(
    client: TestClient, minutes: int, accepted: str
) -> None:
    response = client.post(
        "/v1/contacts", json={**good_contact(), "minutes": minutes}, headers=HEADERS
    )
    error = only_error(problem_of(response, 422))
    assert error["field"] == "body.minutes"
    assert error["input"] == minutes
    assert error["accepted"] == accepted


def test_a_nested_field_keeps_its_whole_dotted_path(client: TestClient) -> None:
    contact = good_contact()
    contact["person"]["birth_date"] = "02/04/1985"
    error = only_error(problem_of(client.post("/v1/contacts", json=contact, headers=HEADERS), 422))
    assert error["field"] == "body.person.birth_date"
    assert error["input"] == "02/04/1985"
    assert "YYYY-MM-DD" in error["accepted"]


def test_a_missing_field_has_no_input(client: TestClient) -> None:
    contact = good_contact()
    del contact["person"]["family_name"]
    error = only_error(problem_of(client.post("/v1/contacts", json=contact, headers=HEADERS), 422))
    assert error == {"field": "body.person.family_name", "message": "Field required"}


def test_too_many_items_and_an_unknown_field(client: TestClient) -> None:
    contact = {**good_contact(), "tags": ["a", "b", "c"], "surprise": 1}
    body = problem_of(client.post("/v1/contacts", json=contact, headers=HEADERS), 422)
    errors = {e["field"]: e for e in body["errors"]}
    assert errors["body.tags"]["accepted"] == "at most 2 items"
    assert errors["body.surprise"]["message"] == "Extra inputs are not permitted"
    assert "accepted" not in errors["body.surprise"]
    assert body["detail"] == "The request has 2 errors, in body.tags, body.surprise: see errors."


def test_a_bad_header_and_a_bad_path_parameter_are_named_too(client: TestClient) -> None:
    response = client.post("/v1/contacts", json=good_contact(), headers={"x-lead-role": "sheriff"})
    error = only_error(problem_of(response, 422))
    assert error["field"] == "header.x-lead-role"
    assert "'case_manager'" in error["accepted"]

    error = only_error(problem_of(client.get("/v1/plain/seven"), 422))
    assert error["field"] == "path.n"
    assert error["accepted"] == "an integer"


def test_malformed_json_is_a_validation_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/contacts",
        content=b"{not json",
        headers={**HEADERS, "content-type": "application/json"},
    )
    body = problem_of(response, 422)
    assert body["errors"][0]["accepted"] == "a well-formed JSON document"


def test_an_input_that_cannot_be_shown_is_left_out() -> None:
    error = {"type": "is_instance_of", "loc": ("body", "x"), "msg": "bad", "input": object()}
    assert field_problem(error).model_dump(exclude_unset=True) == {
        "field": "body.x",
        "message": "bad",
    }
    shown = field_problem({"type": "int_type", "loc": ("body", "x", 0), "msg": "m", "input": None})
    assert shown.model_dump(exclude_unset=True) == {
        "field": "body.x.0",
        "message": "m",
        "input": None,
        "accepted": "an integer",
    }


def test_an_http_exception_keeps_its_status_detail_and_headers(client: TestClient) -> None:
    response = client.get("/secret")
    body = problem_of(response, 401)
    assert body["type"] == "urn:lead:problem:unauthorized"
    assert body["detail"] == "sign in first"
    assert response.headers["www-authenticate"] == "Bearer"

    body = problem_of(client.get("/forbidden"), 403)
    assert body["type"] == "urn:lead:problem:forbidden"
    assert body["detail"] == "only a case manager may do that"


def test_other_statuses_are_about_blank_with_the_status_phrase(client: TestClient) -> None:
    body = problem_of(client.get("/teapot"), 418)
    assert body["type"] == "about:blank"
    assert body["title"] == "I'm a Teapot"
    assert body["detail"] == "short and stout"

    response = client.delete("/rule")
    body = problem_of(response, 405)
    assert body["type"] == "about:blank"
    assert "GET" in response.headers["allow"]


def test_an_unknown_path_is_not_found(client: TestClient) -> None:
    body = problem_of(client.get("/v1/nowhere"), 404)
    assert body["type"] == "urn:lead:problem:not-found"


def test_an_http_exception_listing_pydantic_errors_lists_them(client: TestClient) -> None:
    body = problem_of(client.get("/listed"), 422)
    assert body["type"] == "urn:lead:problem:validation"
    assert only_error(body) == {
        "field": "principal",
        "message": "too short",
        "input": "",
        "accepted": "at least 1 character",
    }


def test_a_broken_rule_is_409_and_keeps_detail_and_error(client: TestClient) -> None:
    body = problem_of(client.get("/rule"), 409)
    assert body == {
        "type": "urn:lead:problem:rule-broken",
        "title": "Rule broken",
        "status": 409,
        "detail": "the case is closed: no hearing can be scheduled",
        "instance": "/rule",
        "error": "CaseClosedError",
    }


def test_a_concurrent_change_says_reload_it_and_retry(client: TestClient) -> None:
    body = problem_of(client.get("/conflict"), 409)
    assert body["type"] == "urn:lead:problem:conflict"
    assert "reload it and retry" in body["detail"]
    assert body["error"] == "ConcurrencyError"


def test_not_found_is_404(client: TestClient) -> None:
    body = problem_of(client.get("/missing"), 404)
    assert body["type"] == "urn:lead:problem:not-found"
    assert body["detail"] == "no referral with id 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10"
    assert body["error"] == "NotFoundError"


def test_an_unexpected_error_is_500_leaks_nothing_and_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="services.http.problems"):
        response = client.get("/boom")
    body = problem_of(response, 500)
    assert body["type"] == "urn:lead:problem:internal"
    for secret in ("hunter2", "db.internal", "RuntimeError", "Traceback"):
        assert secret not in response.text
    [record] = [r for r in caplog.records if r.name == "services.http.problems"]
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


def test_the_openapi_document_declares_problem_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {"Problem", "FieldProblem"} <= schemas.keys()
    assert "HTTPValidationError" not in schemas  # FastAPI's default 422 is replaced
    assert "errors" in schemas["Problem"]["properties"]

    responses = document["paths"]["/v1/contacts"]["post"]["responses"]
    for status in ("401", "403", "404", "409", "422"):
        assert responses[status]["content"] == {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    plain = document["paths"]["/v1/plain/{n}"]["get"]["responses"]["422"]
    assert plain["content"] == {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }


def test_installing_twice_changes_nothing() -> None:
    api = small_app()
    first = api.openapi()
    install_problem_handlers(api)
    assert api.openapi() == first
    with TestClient(api) as test_client:
        assert problem_of(test_client.get("/rule"), 409)["error"] == "CaseClosedError"


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            lambda b: b.update(pathway="walk_in"),
            "body.pathway",
            "'arrest_diversion', 'social_contact' or 'community'",
        ),
        (lambda b: b["incident"].pop("offense_code"), "body.incident.offense_code", "required"),
        (
            lambda b: b["person"].update(birth_date="02/04/1985"),
            "body.person.birth_date",
            "YYYY-MM-DD",
        ),
        (
            lambda b: b.update(occurred_at="2999-01-01T00:00:00Z"),
            "body.occurred_at",
            "must not be in the future",
        ),
        (lambda b: b.update(surprise=1), "body.surprise", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_referral_names_the_field_and_what_is_accepted(
    client: TestClient, change: Any, field: str, says: str
) -> None:
    """The cases of tests/unit/test_api_validation.py, as problems."""
    assert client.post("/v1/referrals", json=referral_body()).status_code == 201
    body = referral_body()
    change(body)
    problem = problem_of(client.post("/v1/referrals", json=body), 422)
    error = only_error(problem)
    assert error["field"] == field
    assert says in f"{error['message']} {error.get('accepted', '')}"
    assert field in problem["detail"]
