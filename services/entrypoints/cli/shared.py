"""What the command groups share: exit codes, the settings a command connects with, the
operator at the terminal, `--json` output and the options several groups take."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

if TYPE_CHECKING:
    from events.base import Actor
    from infra.settings import DbRole, Settings
    from services.bootstrap import Container


class ExitCode(enum.IntEnum):
    """What `lead` exits with (README, Commands)."""

    OK = 0
    REFUSED = 1  # a rule said no: a name taken, a key still in use, a store not the demo's
    USAGE = 2  # an unknown command or option, a bad value, a file that cannot be read
    UNREACHABLE = 3  # PostgreSQL or Kafka could not be reached in time
    BUG = 4  # anything else: a fault in `lead` itself, printed with its traceback


class CommandError(Exception):
    """A failure the command explains in one line, and the code it exits with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.REFUSED) -> None:
        super().__init__(message)
        self.code = code


def refused(message: str) -> CommandError:
    return CommandError(message, ExitCode.REFUSED)


def bad_usage(message: str) -> CommandError:
    return CommandError(message, ExitCode.USAGE)


LAST_SETTINGS: Settings | None = None
"""The settings the command connects with, for an error to say where it tried."""

QUICK_CONNECT_SECONDS = 5.0
"""How long a one-shot command waits for PostgreSQL or Kafka (LEAD_CONNECT_TIMEOUT_SECONDS
overrides it): an operator hears that a server is down within seconds."""


def settings(*, component: str | None = "admin", quick: bool = True, **overrides: Any) -> Settings:
    """The environment's settings for this command, whose Kafka clients connect as
    `component` (each process its own credential; the operator's tools as the admin).
    `quick`: connections give up after QUICK_CONNECT_SECONDS unless the environment
    says otherwise; the long-running processes keep the clients' patience."""
    from infra.kafka import security as kafka_security
    from infra.settings import Settings

    found = Settings(**overrides)
    if quick:
        _quiet_retries()
        if "connect_timeout_seconds" not in found.model_fields_set:
            found = found.model_copy(update={"connect_timeout_seconds": QUICK_CONNECT_SECONDS})
    if component is not None:  # None: a process with no Kafka client (`lead timers`)
        kafka_security.use(found, component)  # main() puts the caller's identity back after
    global LAST_SETTINGS
    LAST_SETTINGS = found
    return found


def postgres_address(found: Settings) -> str:
    """host:port/dbname of the owner's connection: where a message says it tried."""
    from infra.settings import dsn_params

    params = dsn_params(found.dsn)
    return (
        f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/"
        f"{params.get('dbname', 'lead')}"
    )


def _quiet_retries() -> None:
    """A one-shot command reports a server it cannot reach in one line; the clients' own
    retries would log a line per attempt before it (a long-running process keeps them)."""
    import logging

    for name in ("kafka.net", "kafka.conn", "kafka.client", "kafka.coordinator", "psycopg.pool"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def container(*, role: DbRole = "app", component: str = "admin") -> Container:
    """The composition root on this command's settings, connecting as database `role`."""
    from services.bootstrap import Container

    return Container(settings(component=component), role=role)


def cli_operator(operator_org: str) -> Actor:
    """The administrator at this terminal (`cli:<login>`), for `--operator-org`."""
    import getpass

    from events.base import Actor, Role

    return Actor(
        principal=f"cli:{getpass.getuser()}",
        role=Role.ADMINISTRATOR,
        organisation=operator_org,
    )


# -- options several groups take ------------------------------------------------------

OperatorOrg = Annotated[
    str, typer.Option("--operator-org", help="Your organisation (recorded with the change).")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of text (for scripts).")
]
IKnow = Annotated[
    bool,
    typer.Option(
        "--i-know-this-is-not-demo-data",
        help="Write synthetic data even into a store that holds other history.",
    ),
]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def print_json(data: Any) -> None:
    """`data` as one JSON document on stdout (dataclasses, enums, times and ids as JSON)."""
    typer.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))


def error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


def refuse_unless_synthetic(container: Container, command: str, i_know: bool) -> None:
    """Refuse (exit 1) to write synthetic data into a store holding other history, unless
    the operator said `--i-know-this-is-not-demo-data` (services/tools/synthetic.py)."""
    if i_know:
        return
    import psycopg

    from services.tools.synthetic import first_foreign_event

    try:
        with psycopg.connect(container.dsn) as conn:
            found = first_foreign_event(conn, container.events_table)
    except psycopg.errors.UndefinedTable:  # a store not prepared yet holds nothing
        return
    if found is not None:
        raise refused(
            f"the store at {postgres_address(container.settings)} holds history the demo and the "
            f"benchmarks did not make (first: {found}); `lead {command}` would mix synthetic "
            "people into it. Point LEAD_DATA_DIR or LEAD_DATABASE_URL at another store, or "
            "pass --i-know-this-is-not-demo-data to write anyway"
        )
