"""`lead privacy`: forget a person, or apply the retention rule."""

from __future__ import annotations

from typing import Annotated

import typer

from services.entrypoints.cli.audit import person_id
from services.entrypoints.cli.shared import OperatorOrg, cli_operator, container

app = typer.Typer(
    name="privacy",
    help="Forget a person (destroy their key; views drop their data), or apply the retention rule.",
    no_args_is_help=True,
)


@app.command(
    epilog="Example:\n\n\b\n"
    "  lead privacy forget --person PERSON-UUID --reason 'asked to be forgotten'"
)
def forget(
    person: Annotated[str, typer.Option(help="The person id.")],
    reason: Annotated[
        str,
        typer.Option(help="Why (recorded in clear for auditors: give no details of the person)."),
    ],
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Destroy the person's key (recorded as an event): every copy becomes unreadable."""
    from events.privacy import ErasureGround
    from services.privacy import Privacy

    who = person_id(person)
    assert who is not None  # a required option
    built = container()
    done = Privacy(built.application, built.keys).forget(
        who, actor=cli_operator(operator_org), reason=reason, ground=ErasureGround.REQUEST
    )
    what = "recorded and key destroyed" if done.recorded else "was recorded; key destroyed"
    typer.echo(f"forgot {who}: {what}; views drop their data as the consumers catch up")


@app.command(epilog="Example:\n\n\b\n  LEAD_RETENTION_DAYS_AFTER_EXIT=730 lead privacy retain")
def retain(operator_org: OperatorOrg = "LEAD") -> None:
    """Forget everyone who exited longer ago than LEAD_RETENTION_DAYS_AFTER_EXIT."""
    from datetime import date

    import psycopg

    from events.privacy import ErasureGround
    from services.privacy import Privacy

    built = container()
    days = built.settings.retention_days_after_exit
    if days is None:
        typer.echo("no retention period set (LEAD_RETENTION_DAYS_AFTER_EXIT): nothing to do")
        return
    privacy = Privacy(built.application, built.keys)
    with psycopg.connect(built.settings.dsn) as conn:
        people = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT person_id FROM proj_caseloads.participants WHERE status = 'exited'"
            ).fetchall()
        ]
    due = privacy.due_for_retention(people, days=days, today=date.today())
    for who in due:
        privacy.forget(
            who,
            actor=cli_operator(operator_org),
            reason=f"retention: {days} days after exit",
            ground=ErasureGround.RETENTION,
        )
    typer.echo(f"forgot {len(due)} people exited more than {days} days ago")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
