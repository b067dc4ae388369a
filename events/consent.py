"""Consent events: a participant's release of information, with the elements of 42 CFR 2.31.

Every disclosure is checked against the consent in force at that moment, so the
events keep each element a check needs: who may disclose what, to whom, until when.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.base import CreationEvent, DomainEvent
from events.text import Text


class RecipientKind(StrEnum):
    ORGANISATION = "organisation"
    ROLE = "role"


class InformationKind(StrEnum):
    LEGAL_STATUS = "legal_status"
    PROGRAM_STATUS = "program_status"
    PROGRESS_SUMMARY = "progress_summary"
    HEALTH = "health"
    SUBSTANCE_USE = "substance_use"


class SignatureMethod(StrEnum):
    E_SIGNATURE = "e_signature"
    PAPER = "paper"
    VERBAL = "verbal"


class Recipient(BaseModel):
    """Who may receive: a named organisation, or anyone holding a role (a `Role` value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RecipientKind
    name: Text = Field(min_length=1, max_length=200, examples=["liaison_prosecutor"])


class ConsentGranted(CreationEvent):
    """The participant signed a release of information.

    It ends at ``expires_at`` or on ``expiration_event``, whichever the consent names
    (at least one). A criminal-justice consent (42 CFR 2.35) may be irrevocable until
    ``irrevocable_until``.
    """

    event_type: ClassVar[str] = "consent.granted"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("purpose", "expiration_event")
    class_version: ClassVar[int] = 1

    person_id: UUID
    disclosing_party: Text = Field(min_length=1, max_length=200)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    purpose: Text = Field(min_length=1, max_length=500)
    information_kinds: tuple[InformationKind, ...] = Field(min_length=1)
    expires_at: AwareDatetime | None = None
    expiration_event: Text | None = Field(None, min_length=1, max_length=500)
    signature_method: SignatureMethod
    signed_at: AwareDatetime
    criminal_justice: bool = False
    irrevocable_until: AwareDatetime | None = None


class ConsentEvent(DomainEvent):
    """Base of the events after `ConsentGranted`: each concerns the consenting participant."""

    person_id: UUID


class ConsentRevoked(ConsentEvent):
    """The participant revoked the consent; what was disclosed before stays disclosed."""

    event_type: ClassVar[str] = "consent.revoked"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("reason",)
    class_version: ClassVar[int] = 1

    effective_at: AwareDatetime
    reason: Text | None = Field(None, max_length=2000)


class ConsentExpired(ConsentEvent):
    """The consent ended by its date, or by its expiration event (named in ``by_event``)."""

    event_type: ClassVar[str] = "consent.expired"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("by_event",)
    class_version: ClassVar[int] = 1

    expired_at: AwareDatetime
    by_event: Text | None = Field(None, min_length=1, max_length=500)


class ConsentFiled(CreationEvent):
    """A person's consent index: the first consent on file for them."""

    event_type: ClassVar[str] = "consent.filed"

    person_id: UUID
    consent_id: UUID


class AnotherConsentFiled(ConsentEvent):
    """A further consent on file for the person."""

    event_type: ClassVar[str] = "consent.another_filed"

    consent_id: UUID
