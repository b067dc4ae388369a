"""A realistic scenario through the HTTP API on the real stack, checked on the bus."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events.topics import EVENTS
from services.bootstrap import Container
from tests.e2e.conftest import Backend
from tests.factories import POLICY_TERMS
from tests.http import api_client
from tests.kafka_reader import read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e


def referral(pathway: str, days_ago: int, **facts: Any) -> dict[str, Any]:
    return {
        "pathway": pathway,
        "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
        "incident": {
            "offense_code": "69.50.4013",
            "description": "possession",
            "nibrs_code": "35A",
            "place": "2nd & Bell",
        },
        "person": {"given_name": "Dana", "family_name": "Example", "birth_date": "1984-02-03"},
        "facts": facts,
        "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
    }


def test_a_site_scenario_through_the_api_is_on_the_bus_in_order(
    backend: Backend, container: Container, people: dict[str, dict[str, str]]
) -> None:
    officer, pm, cm, dpa, admin = (
        people[name] for name in ("officer.reyes", "pm.kim", "cm.ortiz", "dpa.nguyen", "admin.pcg")
    )
    now = datetime.now(UTC)
    today = date.today()
    client = api_client(backend.base_url, timeout=20, headers=pm)

    def post(path: str, body: dict[str, Any], who: dict[str, str], expect: int = 200) -> Any:
        response = client.post(path, json=body, headers=who)
        assert response.status_code in (expect, 201), f"{path}: {response.text}"
        return response.json()

    amended = POLICY_TERMS.model_copy(update={"effective_from": date(2020, 6, 1)})
    adopted = post("/v1/policy", {"terms": amended.model_dump(mode="json")}, admin)

    enrolled = post("/v1/referrals", referral("arrest_diversion", 2), officer)
    person = enrolled["person_id"]
    excluded = post(
        "/v1/referrals",
        referral(
            "social_contact",
            1,
            prior_contact_verified_by="reliable_report",
            prior_contact_on=str(today - timedelta(days=30)),
            program_area="Ballard",
        ),
        officer,
    )
    lapsing = post("/v1/referrals", referral("arrest_diversion", 20), officer)
    partner = {"principal": "cp.rivera", "organisation": "Downtown Emergency Service Center"}
    community = post(
        "/v1/referrals", {**referral("community", 0), "referrer": partner}, people["cp.rivera"]
    )

    post(f"/v1/referrals/{enrolled['id']}/approve", {}, pm)
    post(f"/v1/referrals/{lapsing['id']}/approve", {}, pm)
    post(f"/v1/referrals/{lapsing['id']}/lapse", {}, pm)
    post(f"/v1/referrals/{community['id']}/approve", {}, pm)

    consent = post(
        "/v1/consents",
        {
            "person_id": person,
            "disclosing_party": "REACH",
            "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
            "purpose": "coordinate cases",
            "information_kinds": ["legal_status", "progress_summary"],
            "signature_method": "e_signature",
            "signed_at": (now - timedelta(hours=1)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        },
        cm,
    )
    intake = post(
        f"/v1/referrals/{enrolled['id']}/intake",
        {
            "completed_on": str(today - timedelta(days=1)),
            "case_manager": "cm.ortiz",
            "consent_id": consent["id"],
        },
        cm,
    )
    assert intake["person_id"] == person
    post(f"/v1/participants/{person}/goals", {"text": "find housing", "domain": "housing"}, cm)
    post(
        f"/v1/participants/{person}/contacts",
        {
            "kind": "street_outreach",
            "contacted_on": now.isoformat(),
            "minutes": 30,
            "notes": "private: talked about using",
        },
        cm,
    )
    charge = {
        "statute_code": "9A.56.050",
        "description": "theft 3",
        "severity": "gross_misdemeanor",
    }
    post(
        "/v1/cases",
        {
            "person_id": person,
            "case_number": "24-1-1",
            "court": "KCDC",
            "jurisdiction": "King County",
            "incident_date": "2025-01-10",
            "filing_date": "2025-02-01",
            "charges": [charge],
        },
        dpa,
    )
    filing = post(
        "/v1/cases",
        {
            "person_id": person,
            "case_number": "26-1-2",
            "court": "KCSC",
            "jurisdiction": "King County",
            "incident_date": str(today - timedelta(days=30)),
            "charges": [charge],
        },
        dpa,
    )
    post(
        f"/v1/cases/{filing['id']}/charging-decisions",
        {"decision": "filed", "decided_on": str(today), "filing_date": str(today)},
        dpa,
    )
    post(f"/v1/consents/{consent['id']}/revoke", {"effective_at": now.isoformat()}, cm)

    # Broken rules answer 409 with a sentence, and record nothing.
    last = container.application.recorder.max_notification_id()
    refused = client.post(f"/v1/referrals/{excluded['id']}/approve", json={}, headers=pm)
    assert refused.status_code == 409
    assert "the referral is excluded" in refused.json()["detail"]
    assert container.application.recorder.max_notification_id() == last

    # The projection shows where each referral stands.
    def status(referral_id: str) -> Callable[[], bool]:
        return lambda: client.get(f"/v1/referrals/{referral_id}").status_code == 200

    for r in (enrolled, excluded, lapsing, community):
        wait_until(status(r["id"]), 60, "the referral view", backend.procs)
    wait_until(
        lambda: (
            client.get(f"/v1/referrals/{enrolled['id']}", headers=pm).json()["status"] == "enrolled"
        ),
        60,
        "enrollment in the view",
        backend.procs,
    )
    shown = client.get(f"/v1/referrals/{excluded['id']}").json()
    assert shown["status"] == "excluded"
    assert shown["eligibility"]["reasons"] == [
        "outside the program area (accepted: Belltown, Downtown)"
    ]
    assert shown["eligibility"]["policy_version"] == adopted["version"]  # the one in force
    assert client.get(f"/v1/referrals/{lapsing['id']}", headers=pm).json()["status"] == "lapsed"

    # Every event about the person is on lead.events.v1, in the store's order.
    app = container.application
    stored = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=100_000)
    ]
    expected = [
        str(e.event_id)
        for e in stored  # type: ignore[attr-defined]
        if str(getattr(e, "person_id", None)) == person
    ]
    assert len(expected) >= 12

    def on_topic() -> list[str]:
        records = read_all(backend.settings.bootstrap_servers, EVENTS)
        mine = sorted(
            (r for r in records if r.key == person.encode()), key=lambda r: (r.partition, r.offset)
        )
        assert len({r.partition for r in mine}) <= 1  # one person, one partition
        return [r.cloudevent().get_id() for r in mine]  # in the topic's own order

    wait_until(
        lambda: on_topic() == expected, 60, "the person's events on the topic", backend.procs
    )
    client.close()
