"""A site's cast of principals, one per role, with bearer tokens for tests.

Registering is idempotent across runs on the same store: a name is never reused,
so a second run rotates the principal's token instead.
"""

from __future__ import annotations

from aggregates.base import DomainError
from events.base import Actor, Role
from services.application import LeadApplication
from services.principals import Principals

ADMIN = Actor(principal="cli:test", role=Role.ADMINISTRATOR, organisation="LEAD")

CAST: dict[str, tuple[Role, str]] = {
    "officer.reyes": (Role.OFFICER, "Seattle PD"),
    "cp.rivera": (Role.COMMUNITY_PARTNER, "Downtown Emergency Service Center"),
    "cm.ortiz": (Role.CASE_MANAGER, "REACH"),
    "cm.bauer": (Role.CASE_MANAGER, "REACH"),
    "pm.kim": (Role.PROJECT_MANAGER, "LEAD PDA"),
    "dpa.nguyen": (Role.LIAISON_PROSECUTOR, "Prosecuting Attorney's Office"),
    "pd.ali": (Role.PUBLIC_DEFENDER, "Department of Public Defense"),
    "ev.park": (Role.EVALUATOR, "University of Washington"),
    "aud.ito": (Role.AUDITOR, "County Auditor"),
    "admin.pcg": (Role.ADMINISTRATOR, "LEAD PCG"),
}
"""name -> (role, organisation); the organisations match the test policy and settings."""


ONE_PER_ROLE: dict[Role, str] = {role: name for name, (role, _) in reversed(list(CAST.items()))}
"""For each role, the first principal of the cast who has it."""


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def issue(application: LeadApplication, name: str, role: Role, organisation: str) -> str:
    principals = Principals(application)
    try:
        return principals.add(actor=ADMIN, name=name, role=role, organisation=organisation).token
    except DomainError:  # registered by an earlier run on this store
        return principals.rotate(actor=ADMIN, name=name).token


def cast(application: LeadApplication) -> dict[str, dict[str, str]]:
    """name -> request headers with that principal's token."""
    return {name: bearer(issue(application, name, *who)) for name, who in CAST.items()}
