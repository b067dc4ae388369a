"""Principals: who may use the API, in which role, for which organisation.

The id is derived from the name, so a name is registered once; the directory lists
every principal of the site and is saved in the same transaction as a registration.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta
from uuid import UUID

from aggregates.base import DomainError, LeadAggregate, occurred
from events.access import (
    DirectoryOpened,
    PrincipalListed,
    PrincipalRegistered,
    PrincipalRevoked,
    PrincipalTokenRotated,
)
from events.base import Actor, DomainEvent, Role

PRINCIPAL_NAMESPACE = UUID("5f0c8a52-1d7e-4b8e-9a51-3c2f6e7d9b10")


class PrincipalRevokedError(DomainError):
    pass


DEFAULT_TOKEN_VALIDITY = timedelta(days=90)
"""How long a token works after it is issued, unless the principal's own validity says."""


def principal_id(name: str) -> UUID:
    return uuid.uuid5(PRINCIPAL_NAMESPACE, name)


def directory_id(site_id: str) -> UUID:
    return uuid.uuid5(PRINCIPAL_NAMESPACE, f"directory:{site_id}")


class Principal(LeadAggregate):
    def __init__(self) -> None:
        self.name = ""
        self.role = Role.SYSTEM
        self.organisation = ""
        self.token_sha256 = ""
        self.token_issued_at: datetime | None = None
        self.token_expires_at: datetime | None = None  # None: issued + the site's default
        self.registered_at: datetime | None = None
        self.revoked_at: datetime | None = None
        self.revoked_reason: str | None = None

    @classmethod
    def register(
        cls,
        *,
        actor: Actor,
        name: str,
        role: Role,
        organisation: str,
        token_sha256: str,
        valid_for: timedelta = DEFAULT_TOKEN_VALIDITY,
        occurred_at: datetime | None = None,
    ) -> Principal:
        if role is Role.SYSTEM:
            raise DomainError("the system role is the backend's own; give a person's role")
        at = occurred(occurred_at)
        return cls._create(
            PrincipalRegistered,
            id=principal_id(name),
            actor=actor,
            occurred_at=at,
            name=name,
            role=role,
            organisation=organisation,
            token_sha256=token_sha256,
            token_expires_at=at + valid_for,
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_actor(self) -> Actor:
        return Actor(principal=self.name, role=self.role, organisation=self.organisation)

    def expires_at(self, default: timedelta = DEFAULT_TOKEN_VALIDITY) -> datetime | None:
        """When the current token stops working (tokens issued before expiry was recorded:
        `default` after they were issued)."""
        if self.token_expires_at is not None:
            return self.token_expires_at
        return self.token_issued_at + default if self.token_issued_at else None

    def holds(self, token_sha256: str) -> bool:
        """The token is this principal's current one and access has not been revoked."""
        return self.active and hmac.compare_digest(self.token_sha256, token_sha256)

    def expired(self, now: datetime, default: timedelta = DEFAULT_TOKEN_VALIDITY) -> bool:
        expires = self.expires_at(default)
        return expires is not None and now >= expires

    def rotate_token(
        self, *, actor: Actor, token_sha256: str, valid_for: timedelta = DEFAULT_TOKEN_VALIDITY
    ) -> None:
        if not self.active:
            raise PrincipalRevokedError(f"{self.name} was revoked; register a new principal")
        at = occurred(None)
        self.trigger_event(
            PrincipalTokenRotated,
            actor=actor,
            occurred_at=at,
            token_sha256=token_sha256,
            token_expires_at=at + valid_for,
        )

    def revoke(self, *, actor: Actor, reason: str) -> None:
        if not self.active:
            raise PrincipalRevokedError(f"{self.name} was revoked already")
        self.trigger_event(PrincipalRevoked, actor=actor, occurred_at=occurred(None), reason=reason)

    def when(self, event: DomainEvent) -> None:
        match event:
            case PrincipalRegistered():
                self.name = event.name
                self.role = event.role
                self.organisation = event.organisation
                self.token_sha256 = event.token_sha256 or ""
                self.token_issued_at = event.occurred_at
                self.token_expires_at = event.token_expires_at
                self.registered_at = event.occurred_at
            case PrincipalTokenRotated():
                self.token_sha256 = event.token_sha256 or ""
                self.token_issued_at = event.occurred_at
                self.token_expires_at = event.token_expires_at
            case PrincipalRevoked():
                self.revoked_at = event.occurred_at
                self.revoked_reason = event.reason
            case _:
                super().when(event)


class PrincipalDirectory(LeadAggregate):
    def __init__(self) -> None:
        self.principals: dict[str, UUID] = {}

    @classmethod
    def open(cls, *, site_id: str, actor: Actor) -> PrincipalDirectory:
        return cls._create(
            DirectoryOpened, id=directory_id(site_id), actor=actor, occurred_at=occurred(None)
        )

    def list(self, *, actor: Actor, principal: Principal) -> None:
        if principal.name in self.principals:
            raise DomainError(
                f"the name {principal.name!r} is taken (names are never reused); choose another"
            )
        self.trigger_event(
            PrincipalListed,
            actor=actor,
            occurred_at=occurred(None),
            principal_id=principal.id,
            name=principal.name,
        )

    def when(self, event: DomainEvent) -> None:
        match event:
            case DirectoryOpened():
                pass
            case PrincipalListed():
                self.principals[event.name] = event.principal_id
            case _:
                super().when(event)
