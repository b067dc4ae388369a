from __future__ import annotations

from uuid import uuid4

from aggregates.referral import Referral
from events.referral import Incident, Pathway, Person, ReferralReceived, Referrer
from tests.factories import OFFICER


def receive(**kwargs: object) -> Referral:
    return Referral.receive(
        actor=OFFICER,
        pathway=Pathway.SOCIAL_CONTACT,
        referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
        incident=Incident(offense_code="9A.52.080", description="criminal trespass"),
        person=Person(given_name="Ann", family_name="Doe"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_received_referral_records_who_what_and_when() -> None:
    referral = receive()
    [event] = referral.collect_events()
    assert isinstance(event, ReferralReceived)
    assert event.actor == OFFICER
    assert event.pathway is Pathway.SOCIAL_CONTACT
    assert event.person_id == referral.person_id
    assert event.occurred_at <= event.timestamp
    assert referral.status == "received"
    assert referral.version == 1


def test_a_new_person_gets_a_new_id_and_a_known_person_keeps_theirs() -> None:
    known = uuid4()
    assert receive(person_id=known).person_id == known
    assert receive().person_id != receive().person_id


def test_replaying_the_events_gives_the_same_referral() -> None:
    referral = receive()
    [event] = referral.collect_events()
    replayed = event.mutate(None)
    assert replayed == referral
