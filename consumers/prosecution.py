"""The prosecution feed: legal and program-status events for `lead.prosecution.v1`.

Each event is checked against the consent in force at the moment of publishing
(not when it was recorded), so a revocation stops the feed for that person at once.
Only whitelisted fields go out: never contact notes, goals, health or income, and
not the free-text reasons a case manager may have typed. Every disclosure made is
recorded on `lead.audit.v1`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from events.base import DomainEvent, Role
from events.case import (
    CaseOpened,
    ChargingDecisionRecorded,
    DispositionRecorded,
    HearingScheduled,
    LiaisonRecommendationRecorded,
    WarrantIssued,
    WarrantQuashed,
)
from events.consent import InformationKind
from events.disclosure import REDISCLOSURE_NOTICE, disclosure_record
from events.envelope import CloudEvent, Opener, decode, opened
from events.participant import (
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    StatusChanged,
)
from events.referral import IntakeDeadlineLapsed
from events.registry import parse_type
from events.topics import AUDIT, PROSECUTION

LEGAL = (
    CaseOpened,
    WarrantIssued,
    WarrantQuashed,
    ChargingDecisionRecorded,
    LiaisonRecommendationRecorded,
    HearingScheduled,
    DispositionRecorded,
)
PROGRAM = (ParticipantEnrolled, StatusChanged, ParticipantExited, ParticipantReengaged)
RETURNED = (IntakeDeadlineLapsed,)
"""An arrest diversion whose intake deadline passed: the case goes back to the prosecutor
who held it. Sent without a consent (the person never became a participant, and it says
nothing of the program: docs/part2.md, "The lapse")."""
RETURNED_FIELDS = {
    "aggregate_id",
    "aggregate_version",
    "person_id",
    "occurred_at",
    "recorded_at",
    "deadline",
    "returned_to_prosecutor",
    "offense_code",
    "report_number",
}
RETURNED_BASIS = (
    "the LEAD protocol returns an arrest diversion not taken in by its intake deadline to "
    "the prosecutor holding the case; only the prosecutor's own references are sent"
)

NOTICE = REDISCLOSURE_NOTICE
"""The `redisclosure` extension attribute of every `lead.prosecution.v1` message."""

# The fields of each program-status event that may leave: status, not its reasons.
PROGRAM_FIELDS: dict[type[DomainEvent], set[str]] = {
    ParticipantEnrolled: {"enrolled_on"},
    StatusChanged: {"status"},
    ParticipantExited: {"exited_on"},
    ParticipantReengaged: {"reengaged_on"},
}
COMMON = {"aggregate_id", "aggregate_version", "person_id", "occurred_at", "recorded_at"}

ConsentLookup = Callable[[UUID, str, Role, InformationKind, datetime], UUID | None]


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes


def kind_of(event: DomainEvent) -> InformationKind | None:
    if isinstance(event, LEGAL):
        return InformationKind.LEGAL_STATUS
    if isinstance(event, PROGRAM):
        return InformationKind.PROGRAM_STATUS
    return None


def public_data(event: DomainEvent, data: dict[str, Any]) -> dict[str, Any]:
    """The whitelisted part of an event's data."""
    if isinstance(event, LEGAL):
        # The charging note may hold case detail; `sealed` is ciphertext no one there opens.
        allowed = set(data) - {"actor", "note", "sealed"}
    elif isinstance(event, RETURNED):
        allowed = RETURNED_FIELDS
    else:
        allowed = COMMON | PROGRAM_FIELDS[type(event)]
    out = {k: v for k, v in data.items() if k in allowed}
    if isinstance(event, ParticipantExited):
        out["status"] = "exited"
    if isinstance(event, ParticipantEnrolled | ParticipantReengaged):
        out["status"] = "active"
    return out


class ProsecutionFeed:
    def __init__(
        self,
        consent: ConsentLookup,
        *,
        recipient_organisation: str,
        source: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        opener: Opener | None = None,
    ) -> None:
        self.consent = consent
        # Opens what a consented disclosure carries in someone's words (charge descriptions,
        # the recommendation): sealed in the event, sent in clear to the consented recipient.
        self.opener = opener
        self.organisation = recipient_organisation
        self.source = source
        self.clock = clock

    @staticmethod
    def concerns(value: bytes) -> bool:
        """Whether the message is a legal or program-status event (read without decoding
        its data, which most events never need here)."""
        cls, _ = parse_type(CloudEvent.from_json(value).type)
        return issubclass(cls, LEGAL + PROGRAM + RETURNED)

    def outgoing(self, value: bytes) -> list[Outgoing]:
        """What this message puts on the prosecution and audit topics (maybe nothing)."""
        message = CloudEvent.from_json(value)
        event = decode(message)
        if isinstance(event, RETURNED):
            return self._returned(message, event)
        kind = kind_of(event)
        if kind is None or event.person_id is None:
            return []
        now = self.clock()
        consent_id = self.consent(
            event.person_id, self.organisation, Role.LIAISON_PROSECUTOR, kind, now
        )
        key = str(event.person_id).encode()
        if consent_id is None:
            return [Outgoing(AUDIT, key, self._audit(message, kind, now, None).to_json())]
        data = opened(message, self.opener).data if isinstance(event, LEGAL) else message.data
        feed = message.model_copy(
            update={
                "data": public_data(event, data),
                "consentid": str(consent_id),
                "redisclosure": NOTICE,
            }
        )
        audit = self._audit(message, kind, now, consent_id)
        return [Outgoing(PROSECUTION, key, feed.to_json()), Outgoing(AUDIT, key, audit.to_json())]

    def _returned(self, message: CloudEvent, event: DomainEvent) -> list[Outgoing]:
        """A lapse: to the prosecutor with its references only, recorded as permitted."""
        if event.person_id is None:
            return []
        now = self.clock()
        data = opened(message, self.opener).data
        feed = message.model_copy(
            update={
                "data": public_data(event, data),
                "redisclosure": NOTICE,
            }
        )
        audit = self._audit(message, InformationKind.LEGAL_STATUS, now, None, RETURNED_BASIS)
        key = str(event.person_id).encode()
        return [Outgoing(PROSECUTION, key, feed.to_json()), Outgoing(AUDIT, key, audit.to_json())]

    def _audit(
        self,
        message: CloudEvent,
        kind: InformationKind,
        now: datetime,
        consent_id: UUID | None,
        basis: str | None = None,
    ) -> CloudEvent:
        """A disclosure made, or withheld for want of consent: auditors see both."""
        return disclosure_record(
            record_id=f"disclosure:{message.id}:{PROSECUTION}",
            source=self.source,
            person_id=message.subject,
            recipient_organisation=self.organisation,
            recipient_role=Role.LIAISON_PROSECUTOR.value,
            channel=PROSECUTION,
            information_kind=kind.value,
            purpose="liaison prosecutor case coordination",
            consent_id=consent_id,
            at=now,
            event_id=message.id,
            event_type=message.type,
            basis=basis,
            traceparent=message.traceparent,
        )
