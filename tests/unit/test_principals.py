"""Principals: tokens shown once, stored hashed, rotated and revoked with immediate effect."""

from __future__ import annotations

import pytest

from aggregates.base import DomainError
from events.access import PrincipalRegistered
from events.base import Actor, Role
from services.application import LeadApplication
from services.principals import AuthenticationError, Principals, parse_token
from tests.factories import IN_MEMORY

ADMIN = Actor(principal="cli:root", role=Role.ADMINISTRATOR, organisation="LEAD")


def principals() -> Principals:
    return Principals(LeadApplication(env=IN_MEMORY))


def test_an_issued_token_authenticates_as_the_principal() -> None:
    p = principals()
    issued = p.add(actor=ADMIN, name="officer.reyes", role=Role.OFFICER, organisation="Seattle PD")
    assert p.authenticate(issued.token) == Actor(
        principal="officer.reyes", role=Role.OFFICER, organisation="Seattle PD"
    )


def test_only_the_hash_of_the_token_is_recorded() -> None:
    p = principals()
    issued = p.add(actor=ADMIN, name="cm.okafor", role=Role.CASE_MANAGER, organisation="REACH")
    secret = issued.token.rsplit(".", 1)[1]
    events = list(p.app.events.get(issued.principal_id))
    assert isinstance(events[0], PrincipalRegistered)
    assert secret not in events[0].model_dump_json()
    assert events[0].actor == ADMIN


def test_a_revoked_or_rotated_token_stops_working_at_once() -> None:
    p = principals()
    first = p.add(actor=ADMIN, name="dpa.lee", role=Role.LIAISON_PROSECUTOR, organisation="KCPAO")
    second = p.rotate(actor=ADMIN, name="dpa.lee")
    with pytest.raises(AuthenticationError):
        p.authenticate(first.token)
    assert p.authenticate(second.token).principal == "dpa.lee"
    p.revoke(actor=ADMIN, name="dpa.lee", reason="left the office")
    with pytest.raises(AuthenticationError):
        p.authenticate(second.token)
    listed = {v.name: v for v in p.list()}
    assert listed["dpa.lee"].revoked_reason == "left the office"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "Bearer x",
        "lead.",
        "lead.abc.short",
        "other.AAAAAAAAAAAAAAAAAAAAAA.secretsecretsecretsecret",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(AuthenticationError):
        principals().authenticate(token)


def test_a_forged_secret_for_a_real_principal_is_refused() -> None:
    p = principals()
    issued = p.add(actor=ADMIN, name="ev.park", role=Role.EVALUATOR, organisation="UW")
    forged = issued.token.rsplit(".", 1)[0] + ".x" * 20
    pid, _ = parse_token(forged)
    assert pid == issued.principal_id
    with pytest.raises(AuthenticationError):
        p.authenticate(forged)


def test_names_are_unique_and_never_reused() -> None:
    p = principals()
    p.add(actor=ADMIN, name="pm.garcia", role=Role.PROJECT_MANAGER, organisation="LEAD")
    with pytest.raises(DomainError, match="taken"):
        p.add(actor=ADMIN, name="pm.garcia", role=Role.AUDITOR, organisation="LEAD")
    assert [v.name for v in p.list()] == ["pm.garcia"]


def test_bad_names_and_the_system_role_are_refused() -> None:
    p = principals()
    with pytest.raises(ValueError, match="name"):
        p.add(actor=ADMIN, name="has space", role=Role.OFFICER, organisation="SPD")
    with pytest.raises(DomainError, match="system"):
        p.add(actor=ADMIN, name="robot", role=Role.SYSTEM, organisation="SPD")
