"""The local stack as one thing: PostgreSQL and Kafka (one node or a few), unless external
ones are configured."""

from __future__ import annotations

from dataclasses import dataclass

from infra import kafka_acls
from infra.kafka_cluster import LocalKafkaCluster
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
        kafka = LocalKafkaCluster(settings)
        if not kafka.running():
            kafka.start()
            state.started_kafka = True
        if settings.kafka_security_protocol == "SASL_SSL":
            kafka_acls.apply(settings)  # each component's credential and ACLs
    return state


def down(settings: Settings, state: StackState | None = None) -> None:
    """Stop the local servers (only those `state` says were started, when given)."""
    if settings.local_kafka and (state is None or state.started_kafka):
        LocalKafkaCluster.as_formatted(settings).stop()
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
        lines.extend(_kafka_status(settings))
    else:
        lines.append(f"kafka     external {settings.bootstrap_servers}")
    return lines


def _kafka_status(settings: Settings) -> list[str]:
    cluster = LocalKafkaCluster.as_formatted(settings)
    if len(cluster.nodes) == 1:
        kafka = cluster.nodes[0]
        state = "running" if kafka.running() else "stopped"
        servers = cluster.settings.bootstrap_servers
        return [f"kafka     {state:8} {servers}  (pid {kafka.pid()}, data {kafka.data})"]
    lines = []
    for node in cluster.nodes:
        state = "running" if node.running() else "stopped"
        lines.append(
            f"kafka-{node.node:<4}{state:8} 127.0.0.1:{node.port}  (node.id {node.node_id}, "
            f"controller :{node.controller_port}, pid {node.pid()}, data {node.data})"
        )
    return lines


def destroy(settings: Settings) -> None:
    """Stop the local servers and delete their data (tests start from nothing)."""
    if settings.local_kafka:
        LocalKafkaCluster.as_formatted(settings).destroy()
    if settings.local_postgres:
        LocalPostgres(settings).destroy()
