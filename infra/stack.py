"""The local stack as one thing: PostgreSQL and Kafka, unless external ones are configured."""

from __future__ import annotations

from dataclasses import dataclass

from infra.local_kafka import LocalKafka
from infra.local_postgres import LocalPostgres
from infra.settings import Settings


@dataclass
class StackState:
    started_postgres: bool = False
    started_kafka: bool = False


def up(settings: Settings) -> StackState:
    """Start what is local and not running yet; returns what this call started."""
    state = StackState()
    if settings.local_postgres:
        pg = LocalPostgres(settings)
        if not pg.running():
            pg.start()
            state.started_postgres = True
    if settings.local_kafka:
        kafka = LocalKafka(settings)
        if not kafka.running():
            kafka.start()
            state.started_kafka = True
    return state


def down(settings: Settings, state: StackState | None = None) -> None:
    """Stop the local servers (only those `state` says were started, when given)."""
    if settings.local_kafka and (state is None or state.started_kafka):
        LocalKafka(settings).stop()
    if settings.local_postgres and (state is None or state.started_postgres):
        LocalPostgres(settings).stop()


def status(settings: Settings) -> list[str]:
    lines = []
    if settings.local_postgres:
        pg = LocalPostgres(settings)
        state = "running" if pg.running() else "stopped"
        lines.append(f"postgres  {state:8} {settings.dsn_redacted}  (data {pg.pgdata})")
    else:
        lines.append(f"postgres  external {settings.dsn_redacted}")
    if settings.local_kafka:
        kafka = LocalKafka(settings)
        state = "running" if kafka.running() else "stopped"
        pid = kafka.pid()
        lines.append(
            f"kafka     {state:8} {settings.bootstrap_servers}  (pid {pid}, data {kafka.data})"
        )
    else:
        lines.append(f"kafka     external {settings.bootstrap_servers}")
    return lines


def destroy(settings: Settings) -> None:
    """Stop the local servers and delete their data (tests start from nothing)."""
    if settings.local_kafka:
        LocalKafka(settings).destroy()
    if settings.local_postgres:
        LocalPostgres(settings).destroy()
