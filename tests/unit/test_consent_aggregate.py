from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from aggregates.consent import (
    Consent,
    ConsentAlreadyRevokedError,
    ConsentExpiredError,
    ConsentIrrevocableError,
    ConsentScopeError,
    ExpirationError,
    ExpiryNotDueError,
    IrrevocabilityError,
    UnknownRoleError,
)
from events.base import Actor, Role
from events.consent import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    InformationKind,
    Recipient,
    RecipientKind,
    SignatureMethod,
)
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper
from tests.factories import OFFICER

CASE_MANAGER = Actor(
    principal="cm.okafor",
    role=Role.CASE_MANAGER,
    organisation="Evergreen Treatment Services",
)
PERSON = uuid4()
SIGNED = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
EXPIRES = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PROVIDER = "Downtown Emergency Service Center"
LIAISON_ROLE = Recipient(kind=RecipientKind.ROLE, name=Role.LIAISON_PROSECUTOR.value)
PROVIDER_ORG = Recipient(kind=RecipientKind.ORGANISATION, name=PROVIDER)


def grant(**overrides: Any) -> Consent:
    kwargs: dict[str, Any] = {
        "actor": CASE_MANAGER,
        "person_id": PERSON,
        "disclosing_party": "Evergreen Treatment Services",
        "recipients": (LIAISON_ROLE, PROVIDER_ORG),
        "purpose": "Coordinate LEAD case management with the participant's legal cases.",
        "information_kinds": (InformationKind.PROGRAM_STATUS, InformationKind.PROGRESS_SUMMARY),
        "signature_method": SignatureMethod.E_SIGNATURE,
        "signed_at": SIGNED,
        "expires_at": EXPIRES,
        **overrides,
    }
    consent = Consent.grant(**kwargs)
    consent.collect_events()
    return consent


def liaison_may_see_progress(consent: Consent, at: datetime) -> bool:
    return consent.covers(
        "King County Prosecuting Attorney's Office",
        Role.LIAISON_PROSECUTOR,
        InformationKind.PROGRESS_SUMMARY,
        at,
    )


# Granting: the 42 CFR 2.31 elements.


def test_a_granted_consent_records_its_elements() -> None:
    consent = Consent.grant(
        actor=CASE_MANAGER,
        person_id=PERSON,
        disclosing_party="Evergreen Treatment Services",
        recipients=[LIAISON_ROLE],
        purpose="Coordinate LEAD case management.",
        information_kinds=[InformationKind.LEGAL_STATUS],
        signature_method=SignatureMethod.PAPER,
        signed_at=SIGNED,
        expiration_event="end of participation in LEAD",
    )
    [event] = consent.collect_events()
    assert isinstance(event, ConsentGranted)
    assert event.person_id == PERSON
    assert event.recipients == (LIAISON_ROLE,)
    assert event.expires_at is None
    assert event.expiration_event == "end of participation in LEAD"
    assert event.signature_method is SignatureMethod.PAPER
    assert not event.criminal_justice


def test_a_consent_must_say_when_it_ends() -> None:
    with pytest.raises(ExpirationError, match="expiration date, an expiration event"):
        grant(expires_at=None, expiration_event=None)


def test_a_consent_cannot_expire_before_it_is_signed() -> None:
    with pytest.raises(ExpirationError, match="after signing"):
        grant(expires_at=SIGNED)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"recipients": ()}, "recipient"), ({"information_kinds": ()}, "kind of information")],
)
def test_a_consent_must_name_recipients_and_kinds(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConsentScopeError, match=message):
        grant(**overrides)


def test_a_role_recipient_must_be_a_lead_role() -> None:
    with pytest.raises(UnknownRoleError, match="'probation' is not a LEAD role"):
        grant(recipients=(Recipient(kind=RecipientKind.ROLE, name="probation"),))


def test_only_a_criminal_justice_consent_may_be_irrevocable() -> None:
    with pytest.raises(IrrevocabilityError, match=r"42 CFR 2\.35"):
        grant(irrevocable_until=SIGNED + 90 * DAY)


# What a consent covers.


def test_it_covers_a_role_recipient_whatever_their_organisation() -> None:
    assert liaison_may_see_progress(grant(), SIGNED + DAY)


def test_it_covers_an_organisation_by_name_ignoring_case() -> None:
    consent = grant()
    at = SIGNED + DAY
    assert consent.covers(PROVIDER.upper(), Role.CASE_MANAGER, InformationKind.PROGRAM_STATUS, at)
    assert not consent.covers(
        "Downtown Emergency", Role.CASE_MANAGER, InformationKind.PROGRAM_STATUS, at
    )


def test_it_does_not_cover_someone_not_named() -> None:
    consent = grant()
    assert not consent.covers(
        "Seattle PD", Role.OFFICER, InformationKind.PROGRAM_STATUS, SIGNED + DAY
    )


def test_it_does_not_cover_a_kind_not_consented_to() -> None:
    consent = grant()
    for kind in (InformationKind.HEALTH, InformationKind.SUBSTANCE_USE):
        assert not consent.covers(PROVIDER, Role.CASE_MANAGER, kind, SIGNED + DAY)


def test_it_covers_from_the_signature_until_the_expiration_date() -> None:
    consent = grant()
    assert not liaison_may_see_progress(consent, SIGNED - timedelta(seconds=1))
    assert liaison_may_see_progress(consent, SIGNED)
    assert liaison_may_see_progress(consent, EXPIRES - timedelta(seconds=1))
    assert not liaison_may_see_progress(consent, EXPIRES)


def test_a_revocation_ends_it_from_its_effective_time_not_before() -> None:
    consent = grant()
    today = SIGNED + 30 * DAY
    consent.revoke(actor=CASE_MANAGER, effective_at=today + DAY, reason="Participant asked.")
    assert liaison_may_see_progress(consent, today)
    assert not liaison_may_see_progress(consent, today + DAY)
    [event] = consent.collect_events()
    assert isinstance(event, ConsentRevoked)
    assert event.person_id == PERSON
    assert event.reason == "Participant asked."


def test_an_expiration_event_ends_it_when_recorded() -> None:
    consent = grant(expires_at=None, expiration_event="end of participation in LEAD")
    exited = SIGNED + 200 * DAY
    consent.expire(actor=CASE_MANAGER, expired_at=exited, by_event="participant exited LEAD")
    assert liaison_may_see_progress(consent, exited - DAY)
    assert not liaison_may_see_progress(consent, exited)
    [event] = consent.collect_events()
    assert isinstance(event, ConsentExpired)
    assert event.by_event == "participant exited LEAD"


# Revocation and expiry rules.


def test_an_irrevocable_consent_refuses_revocation_until_the_stated_time() -> None:
    until = SIGNED + 90 * DAY
    consent = grant(criminal_justice=True, irrevocable_until=until)
    with pytest.raises(ConsentIrrevocableError, match=re.escape("before 2024-05-30 10:00+00:00")):
        consent.revoke(actor=CASE_MANAGER, effective_at=until - DAY)
    assert consent.collect_events() == []
    assert liaison_may_see_progress(consent, until)
    consent.revoke(actor=CASE_MANAGER, effective_at=until)
    assert not liaison_may_see_progress(consent, until)


def test_a_consent_is_revoked_once() -> None:
    consent = grant()
    consent.revoke(actor=CASE_MANAGER, effective_at=SIGNED + DAY)
    consent.collect_events()
    with pytest.raises(ConsentAlreadyRevokedError, match="already revoked"):
        consent.revoke(actor=CASE_MANAGER, effective_at=SIGNED + 2 * DAY)
    assert consent.collect_events() == []


def test_a_consent_past_its_date_cannot_be_revoked() -> None:
    consent = grant()
    with pytest.raises(ConsentExpiredError, match=re.escape("expired at 2025-03-01 10:00+00:00")):
        consent.revoke(actor=CASE_MANAGER, effective_at=EXPIRES + DAY)
    assert consent.collect_events() == []


def test_a_consent_expired_by_its_event_cannot_be_revoked() -> None:
    consent = grant(expiration_event="end of participation in LEAD")
    consent.expire(actor=CASE_MANAGER, expired_at=SIGNED + DAY, by_event="participant exited")
    with pytest.raises(ConsentExpiredError):
        consent.revoke(actor=CASE_MANAGER, effective_at=SIGNED + 2 * DAY)


def test_expiry_by_date_waits_for_the_date() -> None:
    consent = grant()
    with pytest.raises(ExpiryNotDueError, match="cannot expire by date"):
        consent.expire(actor=OFFICER, expired_at=EXPIRES - DAY)
    consent.expire(actor=OFFICER, expired_at=EXPIRES)
    with pytest.raises(ConsentExpiredError, match="already expired"):
        consent.expire(actor=OFFICER, expired_at=EXPIRES + DAY)


def test_expiry_by_event_needs_a_consent_that_names_one() -> None:
    consent = grant()
    with pytest.raises(ExpiryNotDueError, match="names no expiration event"):
        consent.expire(actor=CASE_MANAGER, expired_at=SIGNED + DAY, by_event="moved away")


def test_a_revoked_consent_does_not_expire_afterwards() -> None:
    consent = grant()
    consent.revoke(actor=CASE_MANAGER, effective_at=SIGNED + DAY)
    with pytest.raises(ConsentAlreadyRevokedError):
        consent.expire(actor=CASE_MANAGER, expired_at=EXPIRES)


# Replay and storage.


def history() -> list[Any]:
    consent = Consent.grant(
        actor=CASE_MANAGER,
        person_id=PERSON,
        disclosing_party="Evergreen Treatment Services",
        recipients=[LIAISON_ROLE, PROVIDER_ORG],
        purpose="Coordinate LEAD case management with the participant's legal cases.",
        information_kinds=[InformationKind.LEGAL_STATUS, InformationKind.PROGRESS_SUMMARY],
        signature_method=SignatureMethod.VERBAL,
        signed_at=SIGNED,
        expires_at=EXPIRES,
        expiration_event="end of participation in LEAD",
        criminal_justice=True,
        irrevocable_until=SIGNED + 60 * DAY,
    )
    # A revocation dated ahead, overtaken by the expiration event.
    consent.revoke(actor=CASE_MANAGER, effective_at=SIGNED + 200 * DAY, reason="Moving away.")
    consent.expire(actor=CASE_MANAGER, expired_at=SIGNED + 100 * DAY, by_event="exited LEAD")
    return [consent, *consent.collect_events()]


def test_replaying_the_events_gives_the_same_consent() -> None:
    original, *events = history()
    assert [type(event) for event in events] == [ConsentGranted, ConsentRevoked, ConsentExpired]
    assert all(event.person_id == PERSON for event in events)
    replayed = events[0].mutate(None)
    for event in events[1:]:
        replayed = event.mutate(replayed)
    assert replayed == original
    assert replayed.expired_by_event == "exited LEAD"


def test_every_consent_event_survives_the_store_round_trip() -> None:
    mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
    _, *events = history()
    for event in events:
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event
