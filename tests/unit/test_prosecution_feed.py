"""What the prosecution feed publishes, decided event by event at the time of publishing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from consumers.prosecution import NOTICE, RETURNED_FIELDS, ProsecutionFeed
from events.base import DomainEvent, Role
from events.consent import InformationKind
from events.envelope import envelope
from events.topics import AUDIT, PROSECUTION
from services.application import LeadApplication
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY


@pytest.fixture(scope="module")
def events() -> list[DomainEvent]:
    app = LeadApplication(env=IN_MEMORY)
    scenario.run(app)
    found = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]
    return found  # type: ignore[return-value]


def messages(events: list[DomainEvent]) -> list[bytes]:
    return [envelope(e, position=i, source="s").to_json() for i, e in enumerate(events, 1)]


CONSENT = uuid4()
LAPSE = "org.lead.referral.intake_deadline_lapsed.v1"


def always(*_: object) -> UUID | None:
    return CONSENT


def never(*_: object) -> UUID | None:
    return None


def test_with_consent_legal_and_program_status_go_out_and_each_disclosure_is_audited(
    events: list[DomainEvent],
) -> None:
    feed = ProsecutionFeed(always, recipient_organisation="KCPAO", source="s")
    out = [o for m in messages(events) for o in feed.outgoing(m)]
    published = [json.loads(o.value) for o in out if o.topic == PROSECUTION]
    audits = [json.loads(o.value) for o in out if o.topic == AUDIT]
    types = {p["type"].split(".")[2] + "." + p["type"].split(".")[3] for p in published}
    assert {
        "case.opened",
        "case.warrant_issued",
        "case.charging_decision_recorded",
        "case.disposition_recorded",
        "participant.enrolled",
        "participant.status_changed",
        "participant.exited",
    } <= types
    assert not any(
        t.startswith(
            (
                "participant.contact",
                "participant.goal",
                "consent.",
                "referral.received",
                "referral.approved",
                "participant.income",
                "participant.living",
            )
        )
        for t in types
    )
    assert len(audits) == len(published)
    consented = [a for a in audits if a["data"]["event_type"] != LAPSE]
    assert {a["type"] for a in consented} == {"org.lead.disclosure.recorded.v1"}
    assert {a["data"]["consent_id"] for a in consented} == {str(CONSENT)}
    assert all(p["consentid"] == str(CONSENT) for p in published if p["type"] != LAPSE)
    assert all(p["redisclosure"] == NOTICE for p in published)  # 42 CFR 2.32 on each


def test_no_notes_reasons_or_health_ever_reach_the_feed(events: list[DomainEvent]) -> None:
    feed = ProsecutionFeed(always, recipient_organisation="KCPAO", source="s")
    text = b" ".join(o.value for m in messages(events) for o in feed.outgoing(m))
    for secret in (
        b"talked about shelter options",
        b"uses at night",
        b"no contact for two",
        b"get an ID card",
        b"Harborview",
        b"moved_away",
        b"Engaged weekly",
    ):
        assert secret not in text


def test_without_consent_at_the_time_nothing_is_published(events: list[DomainEvent]) -> None:
    asked: list[tuple[object, ...]] = []

    def lookup(*args: object) -> UUID | None:
        asked.append(args)
        return None

    feed = ProsecutionFeed(
        lookup,
        recipient_organisation="KCPAO",
        source="s",
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )
    out = [o for m in messages(events) for o in feed.outgoing(m)]
    # Nothing to the prosecutor but the lapse that returns a case to them; all else withheld.
    sent = [json.loads(o.value) for o in out if o.topic == PROSECUTION]
    assert {m["type"] for m in sent} <= {LAPSE} and "consentid" not in str(sent)
    records = [json.loads(o.value) for o in out if o.topic == AUDIT]
    assert {r["type"] for r in records if r["data"]["event_type"] != LAPSE} == {
        "org.lead.disclosure.withheld.v1"
    }
    assert asked and all(a[1] == "KCPAO" and a[2] is Role.LIAISON_PROSECUTOR for a in asked)
    assert {a[3] for a in asked} == {InformationKind.LEGAL_STATUS, InformationKind.PROGRAM_STATUS}
    assert {a[4] for a in asked} == {datetime(2030, 1, 1, tzinfo=UTC)}  # checked when sent


def test_a_lapse_returns_the_case_to_the_prosecutor_with_its_references_only(
    events: list[DomainEvent],
) -> None:
    feed = ProsecutionFeed(lambda *_: None, recipient_organisation="KCPAO", source="s")
    out = [o for m in messages(events) for o in feed.outgoing(m)]
    [sent] = [json.loads(o.value) for o in out if o.topic == PROSECUTION]
    assert sent["type"] == LAPSE and sent["redisclosure"] == NOTICE
    assert set(sent["data"]) <= RETURNED_FIELDS and "actor" not in sent["data"]
    assert sent["data"]["returned_to_prosecutor"] is True and sent["data"]["deadline"]
    [record] = [
        json.loads(o.value)
        for o in out
        if o.topic == AUDIT and json.loads(o.value)["data"]["event_type"] == LAPSE
    ]
    assert record["type"] == "org.lead.disclosure.permitted.v1"
    assert record["subject"] == sent["subject"] and "intake deadline" in record["data"]["reason"]
