"""The prosecution feed on the real stack: consent decides, at the moment of publishing."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events.disclosure import REDISCLOSURE_NOTICE as NOTICE
from events.topics import AUDIT, EVENTS, PROSECUTION
from tests.e2e.conftest import Backend
from tests.e2e.test_site_scenario_api import referral
from tests.http import api_client
from tests.kafka_reader import data_of, read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

PROSECUTOR_ORG = "Prosecuting Attorney's Office"  # the test stack's setting (the default)
NOTE = "private: slept at the shelter, using less"
LISTING = "/v1/participants/{person_id}/disclosures"


def withheld(backend: Backend, person: str) -> set[str]:
    """Ids of the person's events the feed decided not to disclose."""
    return {
        json.loads(r.value)["data"]["event_id"]
        for r in read_all(backend.settings.bootstrap_servers, AUDIT)
        if r.key == person.encode()
        and json.loads(r.value)["type"] == "org.lead.disclosure.withheld.v1"
    }


def event_ids(backend: Backend, aggregate_id: str) -> set[str]:
    return {
        json.loads(r.value)["id"]
        for r in read_all(backend.settings.bootstrap_servers, EVENTS)
        if data_of(r).get("aggregate_id") == aggregate_id
    }


def test_only_consented_legal_events_reach_the_prosecution_topic(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    officer, pm, cm, dpa, auditor = (
        people[name] for name in ("officer.reyes", "pm.kim", "cm.ortiz", "dpa.nguyen", "aud.ito")
    )
    now = datetime.now(UTC)
    today = date.today()
    client = api_client(backend.base_url, timeout=20)

    def post(path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
        response = client.post(path, json=body, headers=who)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    def consent() -> str:
        return str(
            post(
                "/v1/consents",
                {
                    "person_id": person,
                    "disclosing_party": "REACH",
                    "recipients": [{"kind": "organisation", "name": PROSECUTOR_ORG}],
                    "purpose": "coordinate cases",
                    "information_kinds": ["legal_status", "program_status"],
                    "signature_method": "paper",
                    "signed_at": (now - timedelta(hours=2)).isoformat(),
                    "expires_at": (now + timedelta(days=365)).isoformat(),
                },
                cm,
            )["id"]
        )

    def open_case(number: str) -> str:
        charge = {
            "statute_code": "9A.56.050",
            "description": "theft 3",
            "severity": "gross_misdemeanor",
        }
        return str(
            post(
                "/v1/cases",
                {
                    "person_id": person,
                    "case_number": number,
                    "court": "KCDC",
                    "jurisdiction": "King County",
                    "incident_date": str(today - timedelta(days=9)),
                    "filing_date": str(today),
                    "charges": [charge],
                },
                dpa,
            )["id"]
        )

    def on_feed() -> list[dict[str, Any]]:
        return [
            json.loads(r.value)
            for r in read_all(backend.settings.bootstrap_servers, PROSECUTION)
            if r.key == person.encode()
        ]

    r = post("/v1/referrals", referral("arrest_diversion", 1), officer)
    person = r["person_id"]
    post(f"/v1/referrals/{r['id']}/approve", {}, pm)
    first_consent = consent()
    post(
        f"/v1/referrals/{r['id']}/intake",
        {"completed_on": str(today), "case_manager": "cm.ortiz", "consent_id": first_consent},
        cm,
    )
    post(
        f"/v1/participants/{person}/contacts",
        {"kind": "office", "contacted_on": now.isoformat(), "minutes": 20, "notes": NOTE},
        cm,
    )
    before = open_case("26-1-100")
    wait_until(
        lambda: any(m["data"].get("aggregate_id") == before for m in on_feed()),
        60,
        "the case opened under consent",
        backend.procs,
    )
    post(f"/v1/consents/{first_consent}/revoke", {"effective_at": now.isoformat()}, cm)
    during = open_case("26-1-101")
    wait_until(
        lambda: (
            bool(event_ids(backend, during))
            and event_ids(backend, during) <= withheld(backend, person)
        ),
        60,
        "the feed to withhold the case opened after the revocation",
        backend.procs,
    )
    consent()  # the person consents again
    after = open_case("26-1-102")

    wait_until(
        lambda: any(m["data"].get("aggregate_id") == after for m in on_feed()),
        60,
        "the case opened under the new consent",
        backend.procs,
    )
    feed = on_feed()
    cases = {m["data"]["aggregate_id"] for m in feed if m["type"].startswith("org.lead.case.")}
    assert before in cases and after in cases
    assert during not in cases  # published while no consent covered the prosecutor
    assert any(m["type"] == "org.lead.participant.enrolled.v1" for m in feed)
    raw = b"".join(r.value for r in read_all(backend.settings.bootstrap_servers, PROSECUTION))
    assert NOTE.encode() not in raw and b"contact_recorded" not in raw

    audits = [
        json.loads(r.value)
        for r in read_all(backend.settings.bootstrap_servers, AUDIT)
        if r.key == person.encode()
    ]
    disclosed = {a["data"]["event_id"] for a in audits}
    assert {m["id"] for m in feed} <= disclosed  # every disclosure recorded
    # The trace of the command behind each event follows it onto both topics.
    traced = {a["data"]["event_id"]: a.get("traceparent") for a in audits}
    assert all(m.get("traceparent") for m in feed), "a prosecution message without a trace"
    assert all(traced[m["id"]] == m["traceparent"] for m in feed)

    # Auditors see the person's whole history with actors, and every disclosure.
    def trail() -> dict[str, Any]:
        answer = client.get("/v1/audit/trail", params={"person_id": person}, headers=auditor)
        assert answer.status_code == 200
        result: dict[str, Any] = answer.json()
        return result

    wait_until(
        lambda: {d["event_id"] for d in trail()["disclosures"]} >= {m["id"] for m in feed},
        60,
        "the disclosures in the audit trail",
        backend.procs,
    )
    shown = trail()
    outcomes = {d["outcome"] for d in shown["disclosures"]}
    # recorded/withheld: the feed; permitted: staff and auditors reading the record
    assert {"recorded", "withheld"} <= outcomes <= {"recorded", "withheld", "permitted"}
    actors = {(e["event_type"], e["actor_role"]) for e in shown["events"]}
    assert ("org.lead.case.opened.v1", "liaison_prosecutor") in actors
    assert ("org.lead.participant.contact_recorded.v1", "case_manager") in actors
    assert NOTE not in json.dumps(shown)

    # The person's list of disclosures (42 CFR 2.24), as their case manager gets it for
    # them, matches the disclosures made on lead.audit.v1 one for one (but the reads of
    # the list itself, recorded before each answer leaves and listed once projected).
    listing = LISTING.format(person_id=person)

    def listed() -> list[dict[str, Any]]:
        items, cursor = [], None
        while True:
            params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            answer = client.get(listing, params=params, headers=cm)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                return items

    def made() -> dict[str, dict[str, Any]]:
        records = [json.loads(r.value) for r in read_all(backend.settings.bootstrap_servers, AUDIT)]
        return {
            r["id"]: r
            for r in records
            if r.get("subject") == person
            and r["type"] in ("org.lead.disclosure.recorded.v1", "org.lead.disclosure.permitted.v1")
        }

    def one_for_one() -> bool:
        shown = {item["disclosure_id"] for item in listed()}
        on_topic = made()
        unlisted = {on_topic[i]["data"]["channel"] for i in set(on_topic) - shown}
        return shown <= set(on_topic) and unlisted <= {
            "api:/v1/participants/{person_id}/disclosures"
        }

    wait_until(one_for_one, 60, "the disclosure list to match the audit topic", backend.procs)
    items = listed()
    assert {i["consent_id"] for i in items if i["outcome"] == "recorded"} >= {first_consent}
    assert any(i["channel"] == PROSECUTION for i in items)
    assert NOTE not in json.dumps(items)
    as_csv = client.get(listing, params={"format": "csv"}, headers=cm)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["disclosure_id"] for r in rows} >= {i["disclosure_id"] for i in items}
    refused = client.get(listing, headers=dpa)  # not the prosecutor's to read
    assert refused.status_code in (403, 404), refused.text
    client.close()


def test_the_liaison_view_follows_consent_at_each_read(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    officer, pm, cm, dpa, auditor = (
        people[name] for name in ("officer.reyes", "pm.kim", "cm.ortiz", "dpa.nguyen", "aud.ito")
    )
    now = datetime.now(UTC)
    today = date.today()
    client = api_client(backend.base_url, timeout=20)

    def post(path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
        response = client.post(path, json=body, headers=who)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    r = post("/v1/referrals", referral("arrest_diversion", 1), officer)
    person = r["person_id"]
    post(f"/v1/referrals/{r['id']}/approve", {}, pm)
    consent = post(
        "/v1/consents",
        {
            "person_id": person,
            "disclosing_party": "REACH",
            "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
            "purpose": "coordinate cases",
            "information_kinds": ["legal_status"],
            "signature_method": "paper",
            "signed_at": (now - timedelta(hours=2)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        },
        cm,
    )["id"]
    post(
        f"/v1/referrals/{r['id']}/intake",
        {"completed_on": str(today), "case_manager": "cm.ortiz", "consent_id": consent},
        cm,
    )
    post(
        f"/v1/participants/{person}/contacts",
        {"kind": "office", "contacted_on": now.isoformat(), "minutes": 20, "notes": NOTE},
        cm,
    )
    filed = post(
        "/v1/cases",
        {
            "person_id": person,
            "case_number": "26-1-200",
            "court": "KCDC",
            "jurisdiction": "King County",
            "incident_date": str(today),
            "filing_date": str(today),
            "charges": [
                {
                    "statute_code": "9A.56.050",
                    "description": "theft 3",
                    "severity": "gross_misdemeanor",
                }
            ],
        },
        dpa,
    )

    url = f"/v1/liaison/cases/{person}"
    # The view exists from the intake on; reading at the filing's position shows the case
    # (without it the read could come between the two, as it once did in CI).
    after_filing = {"min_position": filed["position"]}
    wait_until(
        lambda: client.get(url, params=after_filing, headers=dpa).status_code == 200,
        60,
        "the liaison view",
        backend.procs,
    )
    shown = client.get(url, params=after_filing, headers=dpa)
    view = shown.json()
    assert [c["case_number"] for c in view["cases"]] == ["26-1-200"]
    assert view["consent_id"] == consent
    assert view["program"] is None  # the consent covers legal status only
    assert NOTE not in shown.text
    # Disclosed under the consent: the answer carries the 42 CFR 2.32 notice.
    assert shown.headers["lead-redisclosure-notice"] == NOTICE
    assert client.get(url, headers=officer).status_code == 403  # police: not their view

    def api_disclosures() -> list[dict[str, Any]]:
        trail = client.get("/v1/audit/trail", params={"person_id": person}, headers=auditor).json()
        return [d for d in trail["disclosures"] if d["channel"].startswith("api:")]

    wait_until(
        lambda: bool(api_disclosures()), 60, "the read recorded as a disclosure", backend.procs
    )
    [read] = [d for d in api_disclosures() if d["information_kind"] == "legal_status"][:1]
    assert read["consent_id"] == consent and read["recipient_role"] == "liaison_prosecutor"
    assert read["outcome"] == "recorded" and "dpa.nguyen" in read["purpose"]

    post(f"/v1/consents/{consent}/revoke", {"effective_at": datetime.now(UTC).isoformat()}, cm)
    gone = client.get(url, headers=dpa)
    assert gone.status_code == 404  # at the very next read
    assert "lead-redisclosure-notice" not in gone.headers  # nothing disclosed, no notice
    listed = client.get("/v1/liaison/cases", params={"limit": 1000}, headers=dpa).json()["items"]
    assert person not in {entry["person_id"] for entry in listed}
    client.close()
