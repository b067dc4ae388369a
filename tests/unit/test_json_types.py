"""A body is checked as the JSON it is: each value of the type the document states.

pydantic alone reads `0` as a date (1970-01-01), `"25"` as a number and `1` as true;
the API fuzzing (schemathesis's negative_data_rejection) found each of them accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from services.application import LeadApplication
from services.commands import AdoptPolicy
from services.http.api import create_api
from services.http.strict_json import types_only
from services.principals import Principals
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, referral_body
from tests.http import keyed
from tests.principals import cast


@pytest.fixture(scope="module")
def client_and_people() -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    people = cast(application)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    with keyed(TestClient(api)) as client:
        yield client, people


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["person"].update(birth_date=0), "body.person.birth_date"),
        (lambda b: b.update(occurred_at=1_700_000_000), "body.occurred_at"),
        (lambda b: b.update(occurred_at="1700000000"), "body.occurred_at"),
        (lambda b: b.setdefault("facts", {}).update(pending_specialty_court=1), "body.facts"),
        (lambda b: b.setdefault("facts", {}).update(drug_grams="0.4"), "body.facts.drug_grams"),
        (lambda b: b["person"].update(aliases="Moe"), "body.person.aliases"),
    ],
)
def test_a_value_of_another_json_type_is_refused_naming_the_field(
    client_and_people: tuple[TestClient, dict[str, dict[str, str]]], change: Any, field: str
) -> None:
    client, people = client_and_people
    body = referral_body()
    change(body)
    response = client.post("/v1/referrals", json=body, headers=people["officer.reyes"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith(field), response.text


def test_a_length_limit_counts_the_text_sent_as_json_schema_does(
    client_and_people: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """Five characters sent, three once CRLF is LF: the documented limit of four holds."""
    client, people = client_and_people
    body = referral_body()
    body["incident"]["nibrs_code"] = "\r\n\r\n0"
    response = client.post("/v1/referrals", json=body, headers=people["officer.reyes"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.incident.nibrs_code"
    body["incident"]["nibrs_code"] = "3\r\n5"
    response = client.post("/v1/referrals", json=body, headers=people["officer.reyes"])
    assert response.status_code == 201, response.text


def test_the_documented_json_is_accepted(
    client_and_people: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, people = client_and_people
    body = referral_body()
    body["facts"] = {"drug_grams": 1, "pending_specialty_court": True}  # 1 is a number
    body["occurred_at"] = "2026-01-02T03:04:05-08:00"
    response = client.post("/v1/referrals", json=body, headers=people["officer.reyes"])
    assert response.status_code == 201, response.text


def test_a_refused_role_is_told_so_before_the_body_is_looked_at(
    client_and_people: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, people = client_and_people
    body = referral_body()
    body["person"]["birth_date"] = 0
    response = client.post("/v1/referrals", json=body, headers=people["ev.park"])
    assert response.status_code == 403


def test_a_time_in_a_query_is_iso_8601_with_its_offset(
    client_and_people: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, people = client_and_people
    for since in ("0.5", "1700000000", "2026-01-02T03:04:05"):
        response = client.get("/v1/audit/trail", params={"since": since}, headers=people["aud.ito"])
        assert response.status_code == 422, (since, response.text)
        assert response.json()["errors"][0]["field"] == "query.since"


class Inner(BaseModel):
    on: date


def passed_on(value: Any) -> Any:
    return value


class Outer(BaseModel):
    inner: Annotated[Inner, BeforeValidator(passed_on)]


def test_types_only_keeps_types_and_drops_functions() -> None:
    checker = SchemaValidator(types_only(TypeAdapter(Outer).core_schema))
    checker.validate_json(json.dumps({"inner": {"on": "2026-01-02"}}), strict=True)
    with pytest.raises(ValidationError) as refused:
        checker.validate_json(json.dumps({"inner": {"on": 0}}), strict=True)
    assert refused.value.errors()[0]["loc"] == ("inner", "on")
    with pytest.raises(ValidationError):
        checker.validate_json(json.dumps({"inner": {}}), strict=True)
