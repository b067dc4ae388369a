"""The `lead` command line: operators' entrypoint, on Typer. Each module adds one command
group (or a command); each command hands off to the composition root.

`main(argv)` runs one command and returns its exit code (ExitCode in shared.py): errors a
person can act on are one line on stderr, never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Annotated

import typer

from services.entrypoints.cli import (
    audit,
    bench,
    deadletter,
    demo,
    docs,
    kafka_clients,
    keys,
    policy,
    principals,
    privacy,
    processes,
    projections,
    run,
    stack,
)
from services.entrypoints.cli.shared import CommandError, ExitCode, error

# The commands in the order `lead --help` lists them.
GROUPS = (
    stack,
    processes,
    policy,
    docs,
    projections,
    deadletter,
    demo,
    principals,
    kafka_clients,
    audit,
    privacy,
    keys,
    bench,
    run,
)

EXIT_CODES = (
    "Exit codes: 0 done; 1 refused by a rule (a name taken, a key still in use, a store "
    "that is not the demo's); 2 bad usage (an unknown command or option, a bad value, a "
    "file that cannot be read); 3 PostgreSQL or Kafka unreachable; 4 a fault in lead "
    "itself (with its traceback)."
)


def version() -> str:
    try:
        return metadata.version("lead-backend")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _show_version(shown: bool) -> None:
    if shown:
        typer.echo(f"lead {version()}")
        raise typer.Exit()


app = typer.Typer(
    name="lead",
    help="The LEAD coordination backend's command line: the local stack, the processes, "
    "the site's policy, principals and keys, the read side and the audit trail.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help and errors: fast, and the same in a log as on a tty
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The LEAD coordination backend's command line."""


for _group in GROUPS:
    _group.register(app)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _where(service: str) -> str:
    """Where the command tried: host and port, never a password."""
    from services.entrypoints.cli import shared

    found = shared.LAST_SETTINGS
    if found is None:
        return ""
    if service == "kafka":
        return f" at {found.bootstrap_servers}"
    return f" at {shared.postgres_address(found)}"


def classify(exc: BaseException) -> tuple[ExitCode, str] | None:
    """The exit code and one line for an error a person can act on; None for a fault.
    Only modules already imported are consulted (an error cannot come from the others)."""
    modules = sys.modules
    for cause in _causes(exc):
        if isinstance(cause, CommandError):
            return cause.code, str(cause)
        if (psycopg := modules.get("psycopg")) and isinstance(cause, psycopg.OperationalError):
            state = cause.sqlstate or ""
            if not state or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
                return (
                    ExitCode.UNREACHABLE,
                    f"PostgreSQL could not be reached{_where('postgres')}: {_one_line(cause)}",
                )
        if (kafka_errors := modules.get("kafka.errors")) and isinstance(
            cause, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError
        ):
            return (
                ExitCode.UNREACHABLE,
                f"Kafka could not be reached{_where('kafka')}: {_one_line(cause)}",
            )
    refusals: list[type[BaseException]] = []
    usage: list[type[BaseException]] = []
    for module, refused, bad in (
        ("aggregates.base", ("DomainError", "ConcurrencyError", "ChangedSinceError"), ()),
        ("services.errors", ("NotFoundError",), ()),
        ("infra.kafka.acls", ("KafkaAccessError",), ()),
        ("infra.crypto.master_keys", ("UnknownMasterKeyError",), ("KeyRingError",)),
        ("infra.kafka.security", (), ("KafkaCredentialError",)),
        ("infra.local.processes", ("StartupError",), ()),
        ("services.policy_file", (), ("PolicyFileError",)),
        ("pydantic", (), ("ValidationError",)),  # settings from the environment
    ):
        if found := modules.get(module):
            refusals.extend(getattr(found, name) for name in refused)
            usage.extend(getattr(found, name) for name in bad)
    if isinstance(exc, tuple(usage)):
        return ExitCode.USAGE, _one_line(exc)
    if isinstance(exc, tuple(refusals)):
        return ExitCode.REFUSED, _one_line(exc)
    return None


def _logging(args: Sequence[str]) -> None:
    """JSON lines (or text at a terminal): services/entrypoints/logs.py. The format is read
    from the environment directly, so that a bad setting elsewhere is still reported
    through the configured logging (Settings validates LEAD_LOG_FORMAT too)."""
    from services.entrypoints import logs

    process = next((a for a in args if not a.startswith("-")), "lead")
    fmt = os.environ.get("LEAD_LOG_FORMAT", "auto")
    logs.configure(process, fmt=fmt if fmt in ("json", "text") else "auto")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lead ARGV...`; the exit code (shared.ExitCode)."""
    from infra.kafka import security as kafka_security

    given = list(sys.argv[1:] if argv is None else argv)
    _logging(given)
    command = typer.main.get_command(app)
    # For the command's length only: a caller in the same process (a test) keeps its own.
    with kafka_security.kept():
        try:
            # standalone: Typer prints a usage error (exit 2) and turns typer.Exit into
            # SystemExit itself; what is left is an error of the command's.
            command.main(
                args=given,
                prog_name="lead",
                standalone_mode=True,
            )
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                return done.code or ExitCode.OK
            error(str(done.code))
            return ExitCode.REFUSED
        except Exception as exc:
            known = classify(exc)
            if known is None:
                import traceback

                traceback.print_exc()
                return ExitCode.BUG
            code, message = known
            error(message)
            return code
    return ExitCode.OK
