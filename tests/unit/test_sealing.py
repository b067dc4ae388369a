"""Sensitive fields are stored and published only encrypted, per person; forgetting a
person (destroying their key) leaves every copy unreadable and everything else intact."""

from __future__ import annotations

import json

import pytest

from aggregates.base import DomainError
from events.base import SEALED
from events.envelope import envelope
from infra.mapper import PydanticMapper
from infra.sealing import MemoryKeyStore, PersonSealer
from services import commands as c
from services.application import LeadApplication
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS


def site() -> tuple[LeadApplication, MemoryKeyStore]:
    keys = MemoryKeyStore()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    return app, keys


def stored_states(app: LeadApplication) -> list[bytes]:
    return [n.state for n in app.recorder.select_notifications(start=1, limit=1000)]


def keyless(app: LeadApplication) -> PydanticMapper:
    return PydanticMapper(transcoder=app.mapper.transcoder)


def test_names_are_stored_and_published_only_encrypted() -> None:
    app, _ = site()
    receipt = app.receive_referral(c.ReceiveReferral(**referral_body()), OFFICER)
    states = stored_states(app)
    assert not any(b"Quentin" in s or b"Marlowe" in s or b"1979-04-05" in s for s in states)
    notification = app.recorder.select_notifications(start=2, limit=1)[0]
    sealed = keyless(app).to_domain_event(notification)
    published = envelope(sealed, position=2, source="s").to_json()  # type: ignore[arg-type]
    assert b"Quentin" not in published and SEALED.encode() in published
    assert json.loads(published)["data"]["sealed"].startswith("v1.")
    # The application, holding the key, reads them back.
    person = app.repository.get(receipt.id)
    assert person is not None
    opened = app.mapper.to_domain_event(notification)
    assert opened.person.given_name == "Quentin"  # type: ignore[attr-defined]


def referral_body() -> dict[str, object]:
    return {
        "pathway": "arrest_diversion",
        "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
        "incident": {"offense_code": "69.50.4013", "description": "possession"},
        "person": {"given_name": "Quentin", "family_name": "Marlowe", "birth_date": "1979-04-05"},
    }


def test_a_forgotten_person_stays_sealed_and_nothing_new_is_recorded_about_them() -> None:
    app, keys = site()
    receipt = app.receive_referral(c.ReceiveReferral(**referral_body()), OFFICER)
    assert receipt.person_id is not None
    keys.destroy(receipt.person_id, "erasure request")
    notification = app.recorder.select_notifications(start=2, limit=1)[0]
    event = app.mapper.to_domain_event(notification)
    assert event.person.given_name == SEALED  # type: ignore[attr-defined]
    assert event.person.birth_date is None  # type: ignore[attr-defined]
    with pytest.raises(DomainError, match="forgotten"):
        app.receive_referral(
            c.ReceiveReferral(**{**referral_body(), "person_id": str(receipt.person_id)}),
            OFFICER,
        )


def test_contact_notes_and_goal_wording_are_sealed_too() -> None:
    from tests import scenario

    keys = MemoryKeyStore()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    scenario.run(app)
    blob = b"".join(stored_states(app))
    mapper = keyless(app)
    texts = []
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        opened = app.mapper.to_domain_event(n)
        for field in ("notes", "text", "note"):
            value = getattr(opened, field, None)
            if isinstance(value, str) and value != SEALED:
                texts.append(value)
        assert mapper.to_domain_event(n)  # every event still loads without the key
    assert texts, "the scenario records notes and goals"
    for text in texts:
        assert text.encode() not in blob
