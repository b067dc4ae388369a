"""`lead principals`: who may use the API, and their tokens."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from services.entrypoints.cli.shared import (
    AsJson,
    OperatorOrg,
    bad_usage,
    cli_operator,
    container,
    print_json,
)

if TYPE_CHECKING:
    from services.principals import Issued

MIN_VALID_DAYS, MAX_VALID_DAYS = 1, 3650  # a token's validity, as the API bounds it


class GivenRole(enum.StrEnum):
    """The roles a principal may be given: events/base.py Role's but the backend's own,
    `system` (a unit test keeps them equal), here so `lead --help` need not import events."""

    OFFICER = "officer"
    COMMUNITY_PARTNER = "community_partner"
    CASE_MANAGER = "case_manager"
    PROJECT_MANAGER = "project_manager"
    LIAISON_PROSECUTOR = "liaison_prosecutor"
    PUBLIC_DEFENDER = "public_defender"
    EVALUATOR = "evaluator"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


app = typer.Typer(
    name="principals",
    help="Add, list, rotate or revoke who may use the API (a token is printed once).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The principal's name, e.g. officer.reyes.")]


def _days(value: int | None) -> int | None:
    if value is not None and not MIN_VALID_DAYS <= value <= MAX_VALID_DAYS:
        raise typer.BadParameter(
            f"{value} is not between {MIN_VALID_DAYS} and {MAX_VALID_DAYS} (the days the "
            "token works)"
        )
    return value


ValidDays = Annotated[
    int | None,
    typer.Option(
        "--valid-days",
        metavar="N",
        callback=_days,
        help=f"Days the token works ({MIN_VALID_DAYS}-{MAX_VALID_DAYS}; default the site's, 90).",
    ),
]


def _issued(issued: Issued) -> None:
    """The token on stdout (for `TOKEN=$(lead principals add ...)`), the rest on stderr."""
    expires = f", valid until {issued.expires_at:%Y-%m-%d %H:%M %Z}" if issued.expires_at else ""
    typer.echo(f"token for {issued.name} (shown once, keep it secret{expires}):", err=True)
    typer.echo(issued.token)


@app.command(
    epilog="Example:\n\n\b\n  lead principals add officer.reyes --role officer --org 'Seattle PD'"
    "\n  TOKEN=$(lead principals add cm.ortiz --role case_manager --org REACH --valid-days 30)"
)
def add(
    name: Name,
    role: Annotated[GivenRole, typer.Option("--role", help="What they may do.")],
    org: Annotated[str, typer.Option("--org", help="Their organisation.")],
    valid_days: ValidDays = None,
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Register a principal and print its token (once) on stdout."""
    from events.base import Role
    from services.principals import Principals

    principals = Principals(container().application)
    try:
        issued = principals.add(
            actor=cli_operator(operator_org),
            name=name,
            role=Role(role.value),
            organisation=org,
            valid_for=timedelta(days=valid_days) if valid_days is not None else None,
        )
    except ValueError as exc:  # the name's form
        raise bad_usage(str(exc)) from None
    _issued(issued)


@app.command("list", epilog="Example:\n\n\b\n  lead principals list --json")
def list_(as_json: AsJson = False) -> None:
    """Every principal: role, organisation, active or revoked."""
    from services.principals import Principals

    found = Principals(container().application).list()
    if as_json:
        print_json(found)
        return
    for v in found:
        state = (
            f"revoked {v.revoked_at:%Y-%m-%d} ({v.revoked_reason})" if v.revoked_at else "active"
        )
        typer.echo(f"{v.name:30} {v.role.value:20} {v.organisation:30} {state}")


@app.command(epilog="Example:\n\n\b\n  lead principals rotate officer.reyes --valid-days 30")
def rotate(name: Name, valid_days: ValidDays = None, operator_org: OperatorOrg = "LEAD") -> None:
    """Issue a new token; the old one stops working at its next request."""
    from services.principals import Principals

    issued = Principals(container().application).rotate(
        actor=cli_operator(operator_org),
        name=name,
        valid_for=timedelta(days=valid_days) if valid_days is not None else None,
    )
    _issued(issued)


@app.command(
    epilog="Example:\n\n\b\n  lead principals revoke officer.reyes --reason 'left the unit'"
)
def revoke(
    name: Name,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "revoked by an administrator",
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Revoke a principal: its token stops working now."""
    from services.principals import Principals

    Principals(container().application).revoke(
        actor=cli_operator(operator_org), name=name, reason=reason
    )
    typer.echo(f"revoked {name}: its token stops working now")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
