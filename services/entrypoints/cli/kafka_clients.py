"""`lead kafka-clients`: external systems' Kafka credentials and ACLs."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from services.entrypoints.cli.shared import (
    AsJson,
    OperatorOrg,
    bad_usage,
    cli_operator,
    container,
    print_json,
)

app = typer.Typer(
    name="kafka-clients",
    help="Add, list or revoke an external system's Kafka credential (a prosecutor's case "
    "system, a dashboard, an auditor); the password is printed once.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The Kafka user, e.g. county-prosecutor.")]


class Kind(enum.StrEnum):
    """events/access.py KafkaClientKind's values (a unit test keeps them equal), here so
    that `lead --help` need not import the events."""

    PROSECUTION = "prosecution"
    DASHBOARD = "dashboard"
    AUDITOR = "auditor"


@app.command(
    epilog="Example:\n\n\b\n  lead kafka-clients add county-prosecutor --kind prosecution "
    '--org "Prosecuting Attorney\'s Office"'
)
def add(
    name: Name,
    kind: Annotated[Kind, typer.Option(help="What it reads.")],
    org: Annotated[str, typer.Option("--org", help="The organisation it belongs to.")],
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Create its SCRAM credential and ACLs; print its password (once) on stdout."""
    from events.access import KafkaClientKind
    from services.kafka_clients import KafkaClients

    built = container()
    clients = KafkaClients(built.application, built.settings)
    try:
        issued = clients.add(
            actor=cli_operator(operator_org),
            name=name,
            kind=KafkaClientKind(kind.value),
            organisation=org,
        )
    except ValueError as exc:  # the name's form
        raise bad_usage(str(exc)) from None
    typer.echo(
        f"Kafka user {issued.name} ({issued.kind.value}, "
        f"{built.settings.kafka_sasl_mechanism}); its password (shown once, keep it secret):",
        err=True,
    )
    for grant in issued.grants:
        typer.echo(f"  may {', '.join(grant.operations)} {grant.resource} {grant.name}", err=True)
    typer.echo(issued.password)


@app.command("list", epilog="Example:\n\n\b\n  lead kafka-clients list --json")
def list_(as_json: AsJson = False) -> None:
    """Every external client: kind, organisation, who granted it, active or revoked."""
    from services.kafka_clients import KafkaClients

    built = container()
    found = KafkaClients(built.application, built.settings).list()
    if as_json:
        print_json(found)
        return
    for c in found:
        state = (
            f"revoked {c.revoked_at:%Y-%m-%d} ({c.revoked_reason})" if c.revoked_at else "active"
        )
        typer.echo(
            f"{c.name:30} {c.kind.value:12} {c.organisation:30} "
            f"granted {c.granted_at:%Y-%m-%d} by {c.granted_by}  {state}"
        )


@app.command(
    epilog="Example:\n\n\b\n  lead kafka-clients revoke county-prosecutor --reason 'contract ended'"
)
def revoke(
    name: Name,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "revoked by an administrator",
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Remove its credential and ACLs from the brokers (takes effect on its next fetch)."""
    from services.kafka_clients import KafkaClients

    built = container()
    KafkaClients(built.application, built.settings).revoke(
        actor=cli_operator(operator_org), name=name, reason=reason
    )
    typer.echo(f"revoked {name}: its credential and ACLs are gone from the brokers")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
