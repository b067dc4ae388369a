"""Sensitive fields are stored and published only encrypted, per person; forgetting a
person (destroying their key) leaves every copy unreadable and everything else intact."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from uuid import UUID

import pytest

from aggregates.base import DomainError
from events.base import SEALED
from events.envelope import envelope
from infra.crypto.sealing import MemoryKeyStore, PersonSealer
from infra.postgres.mapper import PydanticMapper
from services import commands as c
from services.application import LeadApplication
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, received_referral


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


class CountingKeys(MemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_or_create(self, person_id: UUID) -> bytes | None:
        self.calls.append("one")
        return super().get_or_create(person_id)

    def get_or_create_many(self, person_ids: Iterable[UUID]) -> dict[UUID, bytes | None]:
        self.calls.append("many")
        return {p: MemoryKeyStore.get_or_create(self, p) for p in person_ids}


def test_a_save_about_several_people_asks_for_their_keys_once_and_seals_each_with_their_own() -> (
    None
):
    keys = CountingKeys()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    policy = app.policy_in_force(date.today())
    referrals = [received_referral(policy, f"Given{i}", "Family") for i in range(3)]
    keys.calls.clear()
    app.save(*referrals)
    assert keys.calls == ["many"]
    forgotten = referrals[1].person_id
    assert forgotten is not None
    keys.destroy(forgotten, "erasure request")  # that person's key only
    names = [
        next(iter(app.repository.event_store.get(r.id))).person.given_name  # type: ignore[attr-defined]
        for r in referrals
    ]
    assert names == ["Given0", SEALED, "Given2"]
    known = {**referral_body(), "person_id": str(referrals[0].person_id)}
    app.receive_referral(c.ReceiveReferral(**known), OFFICER)
    assert keys.calls == ["many", "one"]  # a save about one person asks as before


def test_referrals_about_new_people_take_keys_made_ahead_each_their_own() -> None:
    """Keys for new people are made many at once, ahead: a referral about someone new
    does not ask the key store; one about a known person asks as always."""
    keys = CountingKeys()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    keys.calls.clear()
    people = [
        app.receive_referral(c.ReceiveReferral(**referral_body()), OFFICER).person_id
        for _ in range(3)
    ]
    assert keys.calls == ["many"]
    assert None not in people and len(set(people)) == 3
    assert all(keys.keys[p] is not None for p in people if p is not None)
    assert len(keys.keys) == PersonSealer.NEW_PEOPLE_AHEAD  # the rest wait for new people
    again = app.receive_referral(
        c.ReceiveReferral(**{**referral_body(), "person_id": str(people[0])}), OFFICER
    )
    assert again.person_id == people[0] and keys.calls == ["many", "one"]
    forgotten = people[1]
    assert forgotten is not None
    keys.destroy(forgotten, "erasure request")
    names = [
        app.mapper.to_domain_event(n).person.given_name  # type: ignore[attr-defined]
        for n in app.recorder.select_notifications(start=1, limit=100)
        if n.topic.endswith("ReferralReceived")
    ]
    assert names == ["Quentin", SEALED, "Quentin", "Quentin"]
