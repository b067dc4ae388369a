"""Principals and their bearer tokens: issue, rotate, revoke, list, authenticate.

A token is `lead.<principal id>.<secret>`; only the secret's SHA-256 is stored. The
token is shown once, when issued, and works until it expires (the site's default
validity, or the principal's own; a rotation issues a new one). Authentication loads
the principal from the event store on every request, so a revocation takes effect on
the very next request.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from aggregates.principal import (
    DEFAULT_TOKEN_VALIDITY,
    Principal,
    PrincipalDirectory,
    directory_id,
    principal_id,
)
from events.access import PRINCIPAL_NAME
from events.base import Actor, Role
from services.application import LeadApplication
from services.errors import NotFoundError

PREFIX = "lead"


class AuthenticationError(Exception):
    """No token, a malformed one, or one that is not (or no longer) valid."""


class TokenExpiredError(AuthenticationError):
    """The principal's token was valid and has expired: rotate it for a new one."""


@dataclass(frozen=True)
class Issued:
    principal_id: UUID
    name: str
    token: str  # shown once
    expires_at: datetime | None


@dataclass(frozen=True)
class PrincipalView:
    id: UUID
    name: str
    role: Role
    organisation: str
    registered_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    token_expires_at: datetime | None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(pid: UUID) -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    encoded = base64.urlsafe_b64encode(pid.bytes).decode().rstrip("=")
    return f"{PREFIX}.{encoded}.{secret}", _sha256(secret)


def parse_token(token: str) -> tuple[UUID, str]:
    """The principal id and the secret's hash; AuthenticationError if it is not a token."""
    prefix, _, rest = token.partition(".")
    encoded, _, secret = rest.partition(".")
    if prefix != PREFIX or not encoded or len(secret) < 20:
        raise AuthenticationError("not a LEAD token")
    try:
        pid = UUID(bytes=base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        raise AuthenticationError("not a LEAD token") from None
    return pid, _sha256(secret)


class Principals:
    def __init__(
        self, application: LeadApplication, token_validity: timedelta = DEFAULT_TOKEN_VALIDITY
    ) -> None:
        self.app = application
        self.token_validity = token_validity  # unless a principal is given its own

    def _directory(self, actor: Actor) -> PrincipalDirectory:
        found = self.app._find(directory_id(self.app.site_id))
        if isinstance(found, PrincipalDirectory):
            return found
        return PrincipalDirectory.open(site_id=self.app.site_id, actor=actor)

    def _principal(self, name: str) -> Principal:
        found = self.app._find(principal_id(name))
        if not isinstance(found, Principal):
            raise NotFoundError(f"no principal named {name!r}")
        return found

    def add(
        self,
        *,
        actor: Actor,
        name: str,
        role: Role,
        organisation: str,
        valid_for: timedelta | None = None,
    ) -> Issued:
        if not re.fullmatch(PRINCIPAL_NAME, name):
            raise ValueError(
                "name: letters, digits and . _ @ - (starting with a letter or digit), "
                "at most 200 characters"
            )
        directory = self._directory(actor)
        token, digest = _token(principal_id(name))
        principal = Principal.register(
            actor=actor,
            name=name,
            role=role,
            organisation=organisation,
            token_sha256=digest,
            valid_for=valid_for or self.token_validity,
        )
        directory.list(actor=actor, principal=principal)
        self.app._save(directory, principal)
        return Issued(principal.id, name, token, principal.expires_at())

    def rotate(self, *, actor: Actor, name: str, valid_for: timedelta | None = None) -> Issued:
        principal = self._principal(name)
        token, digest = _token(principal.id)
        principal.rotate_token(
            actor=actor, token_sha256=digest, valid_for=valid_for or self.token_validity
        )
        self.app._save(principal)
        return Issued(principal.id, name, token, principal.expires_at())

    def revoke(self, *, actor: Actor, name: str, reason: str) -> PrincipalView:
        principal = self._principal(name)
        principal.revoke(actor=actor, reason=reason)
        self.app._save(principal)
        return self._view(principal)

    def list(self) -> list[PrincipalView]:
        found = self.app._find(directory_id(self.app.site_id))
        if not isinstance(found, PrincipalDirectory):
            return []
        return [self._view(self._principal(name)) for name in sorted(found.principals)]

    def authenticate(self, token: str, now: datetime | None = None) -> Actor:
        pid, digest = parse_token(token)
        principal = self.app._find(pid)
        if not isinstance(principal, Principal) or not principal.holds(digest):
            raise AuthenticationError("unknown or revoked token")
        if principal.expired(now or datetime.now(UTC), self.token_validity):
            raise TokenExpiredError("the token has expired; rotate it for a new one")
        return principal.as_actor()

    def _view(self, p: Principal) -> PrincipalView:
        return PrincipalView(
            p.id,
            p.name,
            p.role,
            p.organisation,
            p.registered_at,
            p.revoked_at,
            p.revoked_reason,
            p.expires_at(self.token_validity),
        )
