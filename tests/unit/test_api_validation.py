"""The HTTP boundary with an in-memory store: what a client sees for good and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.application import LeadApplication
from services.commands import AdoptPolicy
from services.http.api import create_api
from services.principals import Principals
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, referral_body
from tests.http import keyed
from tests.principals import CAST, cast


@pytest.fixture
def app_and_client() -> Iterator[tuple[LeadApplication, TestClient, dict[str, dict[str, str]]]]:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    headers = cast(application)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # reads not used here
    with keyed(TestClient(api)) as client:
        yield application, client, headers


BEFORE = 1 + 1 + 2 * len(CAST)  # the policy; the directory; each principal and its listing


def events_recorded(application: LeadApplication) -> int:
    """Events recorded after the policy and the principals the fixture registered."""
    return (application.recorder.max_notification_id() or 0) - BEFORE


def test_a_good_referral_is_recorded_once(
    app_and_client: tuple[LeadApplication, TestClient],
) -> None:
    application, client, headers = app_and_client
    response = client.post("/v1/referrals", json=referral_body(), headers=headers["officer.reyes"])
    assert response.status_code == 201, response.text
    assert response.json()["position"] == BEFORE + 2  # received and screened
    assert events_recorded(application) == 2


@pytest.mark.parametrize(
    ("change", "field", "accepted"),
    [
        (
            lambda b: b.update(pathway="walk_in"),
            "pathway",
            "'arrest_diversion', 'social_contact' or 'community'",
        ),
        (lambda b: b["incident"].pop("offense_code"), "offense_code", "Field required"),
        (lambda b: b["person"].update(birth_date="02/04/1985"), "birth_date", "valid date"),
        (
            lambda b: b.update(occurred_at="2999-01-01T00:00:00Z"),
            "occurred_at",
            "must not be in the future",
        ),
        (lambda b: b.update(surprise=1), "surprise", "Extra inputs are not permitted"),
    ],
)
def test_bad_input_names_the_field_and_what_is_accepted_and_records_nothing(
    app_and_client: tuple[LeadApplication, TestClient], change: Any, field: str, accepted: str
) -> None:
    application, client, headers = app_and_client
    body = referral_body()
    change(body)
    response = client.post("/v1/referrals", json=body, headers=headers["officer.reyes"])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"].rsplit(".", 1)[-1] == field
    assert field in response.json()["detail"]
    assert accepted in error["message"]
    assert events_recorded(application) == 0


def test_no_token_or_a_bad_one_is_401_and_records_nothing(
    app_and_client: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]],
) -> None:
    application, client, _headers = app_and_client
    for sent in ({}, {"authorization": "Bearer lead.nope.nopenopenopenopenopenope"}):
        response = client.post("/v1/referrals", json=referral_body(), headers=sent)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
    assert events_recorded(application) == 0


def test_a_role_that_may_not_do_it_is_403_before_the_body_is_read(
    app_and_client: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]],
) -> None:
    application, client, headers = app_and_client
    response = client.post("/v1/referrals", json={"junk": 1}, headers=headers["ev.park"])
    assert response.status_code == 403
    assert "evaluator" in response.json()["detail"]
    assert events_recorded(application) == 0


def test_an_officer_refers_only_as_themselves(
    app_and_client: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]],
) -> None:
    application, client, headers = app_and_client
    body = referral_body(organisation="Another PD")
    response = client.post("/v1/referrals", json=body, headers=headers["officer.reyes"])
    assert response.status_code == 422
    assert "referrer" in response.json()["detail"]
    assert events_recorded(application) == 0


def test_a_revoked_token_stops_working_at_the_next_request(
    app_and_client: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]],
) -> None:
    _application, client, headers = app_and_client
    assert client.get("/v1/me", headers=headers["pm.kim"]).json()["principal"] == "pm.kim"
    revoked = client.post(
        "/v1/principals/pm.kim/revoke", json={"reason": "left"}, headers=headers["admin.pcg"]
    )
    assert revoked.status_code == 200, revoked.text
    assert client.get("/v1/me", headers=headers["pm.kim"]).status_code == 401
