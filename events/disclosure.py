"""Records for `lead.audit.v1`: who received what about whom, when, why, under
which consent; or that a disclosure was withheld for want of consent; and each failed
authentication, and each source throttled after too many."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from events import tracing
from events.envelope import CloudEvent

REDISCLOSURE_NOTICE = "42-CFR-2.32/2024"
"""The notice 42 CFR 2.32 (as amended in 2024) requires with each disclosure made under
a consent, by name and version: on every `lead.prosecution.v1` message (the
`redisclosure` extension attribute) and every API answer disclosing under a consent
(the `Lead-Redisclosure-Notice` header). Its text is in docs/part2.md."""


def disclosure_record(
    *,
    record_id: str,
    source: str,
    person_id: str | None,
    recipient_organisation: str,
    recipient_role: str,
    channel: str,
    information_kind: str,
    purpose: str,
    consent_id: UUID | None,
    at: datetime,
    event_id: str | None = None,
    event_type: str | None = None,
    basis: str | None = None,
    recipient_principal: str | None = None,
    reason: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """`recorded` under a consent; `permitted` without one on a stated `basis` (the
    program's own staff, a referrer told the status of their own referral); or
    `withheld` for want of consent, or for the `reason` given (outside the caller's scope).

    It carries `traceparent` (the trace of the event disclosed, for the prosecution feed),
    else the trace of the request being handled (events/tracing.py), if any."""
    outcome = "recorded" if consent_id else "permitted" if basis else "withheld"
    reason = None if consent_id else basis or reason or "no consent covers this recipient now"
    return CloudEvent(
        id=record_id,
        source=source,
        type=f"org.lead.disclosure.{outcome}.v1",
        subject=person_id,
        time=at,
        traceparent=traceparent or tracing.current(),
        data={
            "recipient_principal": recipient_principal,
            "recipient_organisation": recipient_organisation,
            "recipient_role": recipient_role,
            "channel": channel,
            "event_id": event_id,
            "event_type": event_type,
            "information_kind": information_kind,
            "purpose": purpose,
            "consent_id": str(consent_id) if consent_id else None,
            "decided_at": at.isoformat(),
            "reason": reason,
        },
    )


def authentication_record(
    *,
    record_id: str,
    source: str,
    outcome: str,
    client_address: str,
    method: str,
    path: str,
    reason: str,
    at: datetime,
    principal_id: UUID | None = None,
) -> CloudEvent:
    """A failed authentication, or a source throttled after too many (`outcome`), for the
    audit trail: from where, to what, why; the principal a token claimed to be, never the
    token."""
    return CloudEvent(
        id=record_id,
        source=source,
        type=f"org.lead.authentication.{outcome}.v1",
        subject=None,
        time=at,
        traceparent=tracing.current(),
        data={
            "client_address": client_address,
            "method": method,
            "path": path,
            "reason": reason,
            "claimed_principal_id": str(principal_id) if principal_id else None,
        },
    )
