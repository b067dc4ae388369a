from __future__ import annotations

import json
from uuid import uuid4

from consumers.prosecution import ProsecutionFeed
from events.base import DomainEvent
from events.envelope import CloudEvent, envelope
from projections.audit import AuditProjection, disclosure_changes
from projections.base import Erase, Upsert
from services.application import LeadApplication
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY


def scenario_events() -> list[DomainEvent]:
    app = LeadApplication(env=IN_MEMORY)
    scenario.run(app)
    return [
        app.mapper.to_domain_event(n)  # type: ignore[misc]
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def test_every_event_becomes_one_row_with_its_actor_times_and_reason() -> None:
    events = scenario_events()
    changes = [c for i, e in enumerate(events, 1) for c in AuditProjection().handle(e, i)]
    rows = [c for c in changes if isinstance(c, Upsert)]
    # Forgetting a person also erases the reasons of their rows (in someone's words).
    [erase] = [c for c in changes if not isinstance(c, Upsert)]
    assert isinstance(erase, Erase) and erase.values == {"reason": None}
    assert len(rows) == len(events)
    assert len({r.key["event_id"] for r in rows}) == len(events)  # keyed by event identity
    assert all(isinstance(r, Upsert) and r.values["actor_principal"] for r in rows)
    reasons = {r.values["event_type"]: r.values["reason"] for r in rows if r.values["reason"]}
    assert reasons["org.lead.referral.declined.v1"] == "already in another program"
    assert "org.lead.participant.exited.v1" in reasons
    text = json.dumps([r.values for r in rows], default=str)
    assert "talked about shelter options" not in text  # notes stay in the store


def test_disclosure_records_from_the_audit_topic_become_rows() -> None:
    events = scenario_events()
    consent = uuid4()
    feed = ProsecutionFeed(lambda *_: consent, recipient_organisation="KCPAO", source="s")
    records = [
        CloudEvent.from_json(o.value)
        for i, e in enumerate(events, 1)
        for o in feed.outgoing(envelope(e, position=i, source="s").to_json())
        if o.topic == "lead.audit.v1"
    ]
    rows = [c for r in records for c in disclosure_changes(r)]
    assert rows and len(rows) == len(records)
    # Under a consent: recorded; the return of a lapsed arrest diversion: permitted.
    assert {r.values["outcome"] for r in rows} == {"recorded", "permitted"}
    assert {r.values["consent_id"] for r in rows} == {str(consent), None}
    assert (
        disclosure_changes(CloudEvent(id="x", source="s", type="org.lead.other.v1", data={})) == []
    )
