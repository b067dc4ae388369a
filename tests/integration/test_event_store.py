"""The PostgreSQL event store through `eventsourcing`, with our pydantic mapper."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from eventsourcing.persistence import StoredEvent

from aggregates.referral import Referral
from events.referral import ReferralReceived
from services.bootstrap import Container
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body

pytestmark = pytest.mark.integration


def test_a_referral_is_stored_and_loads_back(container: Container) -> None:
    app = container.application
    receipt = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    referral = app.repository.get(receipt.id)
    assert isinstance(referral, Referral)
    assert referral.person_id == receipt.person_id
    assert receipt.position == app.recorder.max_notification_id()


def test_a_v1_event_stored_years_ago_still_loads(container: Container) -> None:
    """Written as version 1 wrote it (no occurred_at, no class_version), read by today's code."""
    app = container.application
    referral_id = uuid.uuid4()
    v1_state = {
        "timestamp": "2019-03-01T10:00:00+00:00",
        "originator_topic": "aggregates.referral:Referral",
        "actor": OFFICER.model_dump(mode="json"),
        "person_id": str(uuid.uuid4()),
        "pathway": "social_contact",
        "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
        "incident": {"offense_code": "9A.52.080", "description": "criminal trespass"},
        "person": {"given_name": "Old", "family_name": "Record"},
    }
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=referral_id,
                originator_version=1,
                topic="events.referral:ReferralReceived",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )
    [event] = list(app.events.get(referral_id))
    assert isinstance(event, ReferralReceived)
    assert event.occurred_at == datetime.fromisoformat("2019-03-01T10:00:00+00:00")
    referral = app.repository.get(referral_id)
    assert referral.status == "received"
