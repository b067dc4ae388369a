"""API credentials: tokens expire, failed authentication is throttled and recorded, and a
token's hash never leaves the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.access import PrincipalRegistered, PrincipalTokenRotated
from events.base import Role
from events.envelope import CloudEvent
from infra.kafka.publishing import Publisher
from infra.postgres.mapper import PydanticMapper
from services.application import LeadApplication
from services.commands import AdoptPolicy
from services.http.api import create_api
from services.http.routers.context import ApiOptions
from services.http.throttle import FailureThrottle
from services.principals import AuthenticationError, Principals, TokenExpiredError
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS
from tests.http import keyed
from tests.principals import ADMIN


@pytest.fixture
def app() -> LeadApplication:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    return application


def test_a_token_works_until_its_validity_ends(app: LeadApplication) -> None:
    principals = Principals(app, token_validity=timedelta(days=30))
    issued = principals.add(actor=ADMIN, name="officer.a", role=Role.OFFICER, organisation="PD")
    assert issued.expires_at is not None
    issued_at = issued.expires_at - timedelta(days=30)
    assert principals.authenticate(issued.token, issued_at + timedelta(days=29)).principal == (
        "officer.a"
    )
    with pytest.raises(TokenExpiredError):
        principals.authenticate(issued.token, issued_at + timedelta(days=30))


def test_a_principal_can_have_its_own_validity_and_rotation_renews_it(
    app: LeadApplication,
) -> None:
    principals = Principals(app)
    short = principals.add(
        actor=ADMIN,
        name="vendor.x",
        role=Role.AUDITOR,
        organisation="Audit Co",
        valid_for=timedelta(days=1),
    )
    assert short.expires_at is not None
    later = short.expires_at + timedelta(hours=1)
    with pytest.raises(TokenExpiredError):
        principals.authenticate(short.token, later)
    renewed = principals.rotate(actor=ADMIN, name="vendor.x", valid_for=timedelta(days=7))
    assert renewed.expires_at is not None and renewed.expires_at > later
    assert principals.authenticate(renewed.token, later).principal == "vendor.x"
    with pytest.raises(AuthenticationError):  # the old one stops at once
        principals.authenticate(short.token, datetime.now(UTC))


def test_throttle_refuses_a_source_after_its_limit_until_the_window_ends() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None  # another source is not slowed
    assert throttle.first_refusal("10.0.0.1") and not throttle.first_refusal("10.0.0.1")
    now[0] = 59.5
    assert throttle.retry_after("10.0.0.1") == pytest.approx(0.5)
    now[0] = 60.0
    assert throttle.retry_after("10.0.0.1") is None


@pytest.fixture
def api(app: LeadApplication) -> Iterator[tuple[TestClient, list[CloudEvent], Principals]]:
    records: list[CloudEvent] = []
    principals = Principals(app)
    created = create_api(
        app,
        read_pool=None,  # type: ignore[arg-type]  # no reads here
        principals=principals,
        options=ApiOptions(auth_failure_limit=5, auth_failure_window=60),
        record_disclosures=records.extend,
    )
    with keyed(TestClient(created)) as client:
        yield client, records, principals


def test_an_expired_token_gets_401_saying_so(
    api: tuple[TestClient, list[CloudEvent], Principals], app: LeadApplication
) -> None:
    client, records, principals = api
    issued = principals.add(
        actor=ADMIN,
        name="officer.b",
        role=Role.OFFICER,
        organisation="PD",
        valid_for=timedelta(seconds=-1),  # issued already expired
    )
    answer = client.get("/v1/me", headers={"authorization": f"Bearer {issued.token}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    [failure] = records
    assert failure.type == "org.lead.authentication.failed.v1"
    assert failure.data["reason"] == "expired token"
    assert failure.data["claimed_principal_id"] == str(issued.principal_id)
    assert issued.token not in failure.to_json().decode()


def test_a_burst_of_bad_tokens_is_throttled_and_recorded(
    api: tuple[TestClient, list[CloudEvent], Principals],
) -> None:
    client, records, _ = api
    answers = [
        client.get("/v1/me", headers={"authorization": f"Bearer lead.guess.{n:040d}"})
        for n in range(200)
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    assert 0 < int(answers[-1].headers["retry-after"]) <= 60
    kinds = [r.type for r in records]
    assert kinds == ["org.lead.authentication.failed.v1"] * 5 + [
        "org.lead.authentication.throttled.v1"
    ]
    assert records[-1].data["reason"] == "5 failed authentications within 60 s"


def test_a_token_hash_is_published_as_null(app: LeadApplication) -> None:
    principals = Principals(app)
    principals.add(actor=ADMIN, name="officer.c", role=Role.OFFICER, organisation="PD")
    principals.rotate(actor=ADMIN, name="officer.c")
    publisher = Publisher(PydanticMapper(transcoder=app.mapper.transcoder), "urn:lead:site:t")
    published: list[dict[str, Any]] = []
    for n in app.recorder.select_notifications(start=1, limit=1000):
        stored = json.loads(n.state)
        if n.topic.endswith(("PrincipalRegistered", "PrincipalTokenRotated")):
            assert len(stored["token_sha256"]) == 64  # kept in the store
            _, value = publisher(n.id, n)
            published.append(json.loads(value))
            assert stored["token_sha256"] not in value.decode()
    assert {m["type"] for m in published} == {
        PrincipalRegistered.cloudevent_type(),
        PrincipalTokenRotated.cloudevent_type(),
    }
    assert all(m["data"]["token_sha256"] is None for m in published)
