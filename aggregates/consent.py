"""A release of information: what it allows, and until when."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

from aggregates.base import DomainError, LeadAggregate, occurred
from events.base import Actor, DomainEvent, Role
from events.consent import (
    ConsentExpired,
    ConsentGranted,
    ConsentRevoked,
    InformationKind,
    Recipient,
    RecipientKind,
    SignatureMethod,
)

ROLE_NAMES = frozenset(role.value for role in Role)


def _when(at: datetime) -> str:
    """A time as people read it, with its offset so no one guesses the zone."""
    return at.isoformat(sep=" ", timespec="minutes")


class ConsentScopeError(DomainError):
    """A consent must say to whom it releases what, or it allows nothing."""


class UnknownRoleError(DomainError):
    """A role recipient must be a role LEAD knows, or no one could ever match it."""


class ExpirationError(DomainError):
    """42 CFR 2.31 requires an expiration date or event, after the signature."""


class IrrevocabilityError(DomainError):
    """Only a criminal-justice consent (42 CFR 2.35) may be made irrevocable for a time."""


class ConsentIrrevocableError(DomainError):
    """The participant agreed not to revoke before a stated time."""


class ConsentAlreadyRevokedError(DomainError):
    """A consent is revoked once."""


class ConsentExpiredError(DomainError):
    """An expired consent allows nothing more, so there is nothing to revoke or expire."""


class ExpiryNotDueError(DomainError):
    """A consent expires only on its own date or its own expiration event."""


class Consent(LeadAggregate):
    def __init__(self) -> None:
        self.person_id: UUID | None = None
        self.disclosing_party = ""
        self.recipients: tuple[Recipient, ...] = ()
        self.purpose = ""
        self.information_kinds: tuple[InformationKind, ...] = ()
        self.expires_at: datetime | None = None
        self.expiration_event: str | None = None
        self.signature_method: SignatureMethod | None = None
        self.signed_at: datetime | None = None
        self.criminal_justice = False
        self.irrevocable_until: datetime | None = None
        self.revoked_at: datetime | None = None
        self.revocation_reason: str | None = None
        self.expired_at: datetime | None = None
        self.expired_by_event: str | None = None

    @classmethod
    def grant(
        cls,
        *,
        actor: Actor,
        person_id: UUID,
        disclosing_party: str,
        recipients: Sequence[Recipient],
        purpose: str,
        information_kinds: Sequence[InformationKind],
        signature_method: SignatureMethod,
        signed_at: datetime,
        expires_at: datetime | None = None,
        expiration_event: str | None = None,
        criminal_justice: bool = False,
        irrevocable_until: datetime | None = None,
        occurred_at: datetime | None = None,
        consent_id: UUID | None = None,
    ) -> Consent:
        """Checks the 42 CFR 2.31 elements a release of information must have."""
        if not recipients:
            raise ConsentScopeError("A consent must name at least one recipient.")
        if not information_kinds:
            raise ConsentScopeError("A consent must name at least one kind of information.")
        for recipient in recipients:
            if recipient.kind is RecipientKind.ROLE and recipient.name not in ROLE_NAMES:
                raise UnknownRoleError(
                    f"'{recipient.name}' is not a LEAD role; a role recipient must be one of: "
                    f"{', '.join(sorted(ROLE_NAMES))}."
                )
        if expires_at is None and expiration_event is None:
            raise ExpirationError(
                "A consent must say when it ends: give an expiration date, an expiration "
                "event, or both."
            )
        if expires_at is not None and expires_at <= signed_at:
            raise ExpirationError(
                f"The consent would expire at {_when(expires_at)}, not after it was "
                f"signed at {_when(signed_at)}; the expiration must come after signing."
            )
        if irrevocable_until is not None and not criminal_justice:
            raise IrrevocabilityError(
                "Only a criminal-justice consent (42 CFR 2.35) may be irrevocable for a time; "
                "mark it as criminal justice or leave the irrevocable-until time out."
            )
        return cls._create(
            ConsentGranted,
            id=consent_id or uuid4(),
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=person_id,
            disclosing_party=disclosing_party,
            recipients=tuple(recipients),
            purpose=purpose,
            information_kinds=tuple(information_kinds),
            expires_at=expires_at,
            expiration_event=expiration_event,
            signature_method=signature_method,
            signed_at=signed_at,
            criminal_justice=criminal_justice,
            irrevocable_until=irrevocable_until,
        )

    def revoke(
        self,
        *,
        actor: Actor,
        effective_at: datetime,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        if self.revoked_at is not None:
            raise ConsentAlreadyRevokedError(
                f"This consent was already revoked, effective {_when(self.revoked_at)}; "
                "it cannot be revoked again."
            )
        ended = self.expired_at
        if ended is None and self.expires_at is not None and effective_at >= self.expires_at:
            ended = self.expires_at
        if ended is not None:
            raise ConsentExpiredError(
                f"This consent expired at {_when(ended)}, so there is nothing left to "
                "revoke; a revocation must take effect while the consent is in force."
            )
        if self.irrevocable_until is not None and effective_at < self.irrevocable_until:
            raise ConsentIrrevocableError(
                f"This criminal-justice consent cannot be revoked before "
                f"{_when(self.irrevocable_until)}; a revocation may take effect from then on."
            )
        self.trigger_event(
            ConsentRevoked,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            effective_at=effective_at,
            reason=reason,
        )

    def expire(
        self,
        *,
        actor: Actor,
        expired_at: datetime,
        by_event: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Records the end by date (``by_event`` left out) or by the consent's expiration event."""
        if self.expired_at is not None:
            raise ConsentExpiredError(f"This consent already expired at {_when(self.expired_at)}.")
        if self.revoked_at is not None and self.revoked_at <= expired_at:
            raise ConsentAlreadyRevokedError(
                f"This consent was revoked, effective {_when(self.revoked_at)}, "
                "so it cannot expire after that."
            )
        if by_event is None and (self.expires_at is None or expired_at < self.expires_at):
            when = _when(self.expires_at) if self.expires_at else "not set"
            raise ExpiryNotDueError(
                f"This consent's expiration date is {when}, so it cannot expire by date at "
                f"{_when(expired_at)}; if its expiration event happened, say which."
            )
        if by_event is not None and self.expiration_event is None:
            raise ExpiryNotDueError(
                "This consent names no expiration event, so it expires only by its date."
            )
        self.trigger_event(
            ConsentExpired,
            actor=actor,
            occurred_at=occurred(occurred_at),
            person_id=self.person_id,
            expired_at=expired_at,
            by_event=by_event,
        )

    def covers(
        self,
        recipient_organisation: str,
        recipient_role: Role,
        kind: InformationKind,
        at: datetime,
    ) -> bool:
        """Whether a disclosure of `kind` at `at` to this recipient is allowed, judged at `at`.

        An end recorded for later (a revocation effective tomorrow) does not end it sooner.
        """
        if self.signed_at is None or at < self.signed_at:
            return False
        ends = (self.expires_at, self.revoked_at, self.expired_at)
        if any(end is not None and at >= end for end in ends):
            return False
        if kind not in self.information_kinds:
            return False
        organisation = recipient_organisation.casefold()
        return any(
            recipient.name == recipient_role.value
            if recipient.kind is RecipientKind.ROLE
            else recipient.name.casefold() == organisation
            for recipient in self.recipients
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case ConsentGranted():
                self.person_id = event.person_id
                self.disclosing_party = event.disclosing_party
                self.recipients = event.recipients
                self.purpose = event.purpose
                self.information_kinds = event.information_kinds
                self.expires_at = event.expires_at
                self.expiration_event = event.expiration_event
                self.signature_method = event.signature_method
                self.signed_at = event.signed_at
                self.criminal_justice = event.criminal_justice
                self.irrevocable_until = event.irrevocable_until
            case ConsentRevoked():
                self.revoked_at = event.effective_at
                self.revocation_reason = event.reason
            case ConsentExpired():
                self.expired_at = event.expired_at
                self.expired_by_event = event.by_event
            case _:
                super().when(event)


def first_covering(
    consents: Iterable[Consent],
    recipient_organisation: str,
    recipient_role: Role,
    kind: InformationKind,
    at: datetime,
) -> Consent | None:
    """The first of a person's consents under which the disclosure may be made at `at`."""
    for consent in consents:
        if consent.covers(recipient_organisation, recipient_role, kind, at):
            return consent
    return None
