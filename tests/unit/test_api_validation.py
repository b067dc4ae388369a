"""The HTTP boundary with an in-memory store: what a client sees for good and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api import create_api
from services.application import LeadApplication
from services.commands import AdoptPolicy
from tests.factories import ACTOR_HEADERS, OFFICER, POLICY_TERMS, referral_body

IN_MEMORY = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "MAPPER_TOPIC": "infra.mapper:PydanticMapper",
    "TRANSCODER_TOPIC": "infra.mapper:JSONBytesTranscoder",
}


@pytest.fixture
def app_and_client() -> Iterator[tuple[LeadApplication, TestClient]]:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    api = create_api(application, read_pool=None)  # type: ignore[arg-type]  # reads not used here
    with TestClient(api) as client:
        yield application, client


def events_recorded(application: LeadApplication) -> int:
    """Events recorded after the policy adopted by the fixture."""
    return (application.recorder.max_notification_id() or 0) - 1


def test_a_good_referral_is_recorded_once(
    app_and_client: tuple[LeadApplication, TestClient],
) -> None:
    application, client = app_and_client
    response = client.post("/v1/referrals", json=referral_body(), headers=ACTOR_HEADERS)
    assert response.status_code == 201, response.text
    assert response.json()["position"] == 3  # the policy, then received and screened
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
    application, client = app_and_client
    body = referral_body()
    change(body)
    response = client.post("/v1/referrals", json=body, headers=ACTOR_HEADERS)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field
    assert accepted in error["msg"]
    assert events_recorded(application) == 0


def test_an_unknown_role_is_refused(app_and_client: tuple[LeadApplication, TestClient]) -> None:
    application, client = app_and_client
    headers = {**ACTOR_HEADERS, "x-lead-role": "sheriff"}
    response = client.post("/v1/referrals", json=referral_body(), headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "x-lead-role"]
    assert events_recorded(application) == 0
