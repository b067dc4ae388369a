"""The local stack as one thing: PostgreSQL and Kafka (one node or a few), unless external
ones are configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.kafka import acls as kafka_acls
from infra.local.cluster import LocalKafkaCluster
from infra.local.postgres import LocalPostgres
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


def describe(settings: Settings) -> list[dict[str, Any]]:
    """What runs where, one entry per server: its service (postgres, kafka), state
    (running, stopped, external), address, and for a local one its data and pid."""
    servers: list[dict[str, Any]] = []
    if settings.local_postgres:
        pg = LocalPostgres(settings)
        servers.append(
            {
                "service": "postgres",
                "state": "running" if pg.running() else "stopped",
                "address": settings.dsn_redacted,
                "data": str(pg.pgdata),
            }
        )
    else:
        servers.append(
            {"service": "postgres", "state": "external", "address": settings.dsn_redacted}
        )
    if not settings.local_kafka:
        servers.append(
            {"service": "kafka", "state": "external", "address": settings.bootstrap_servers}
        )
        return servers
    cluster = LocalKafkaCluster.as_formatted(settings)
    for node in cluster.nodes:
        servers.append(
            {
                "service": "kafka",
                "state": "running" if node.running() else "stopped",
                "address": f"127.0.0.1:{node.port}",
                "data": str(node.data),
                "pid": node.pid(),
                "node": node.node,
                "node_id": node.node_id,
                "controller_port": node.controller_port,
            }
        )
    return servers


def status(settings: Settings) -> list[str]:
    """`describe` as the lines `lead infra status` prints."""
    servers = describe(settings)
    kafka = [s for s in servers if s["service"] == "kafka"]
    lines = []
    for s in servers:
        if s["service"] == "postgres":
            where = f"  (data {s['data']})" if "data" in s else ""
            lines.append(f"postgres  {s['state']:8} {s['address']}{where}")
        elif s["state"] == "external":
            lines.append(f"kafka     external {s['address']}")
        elif len(kafka) == 1:
            lines.append(
                f"kafka     {s['state']:8} {s['address']}  (pid {s['pid']}, data {s['data']})"
            )
        else:
            lines.append(
                f"kafka-{s['node']:<4}{s['state']:8} {s['address']}  (node.id {s['node_id']}, "
                f"controller :{s['controller_port']}, pid {s['pid']}, data {s['data']})"
            )
    return lines


def destroy(settings: Settings) -> None:
    """Stop the local servers and delete their data (tests start from nothing)."""
    if settings.local_kafka:
        LocalKafkaCluster.as_formatted(settings).destroy()
    if settings.local_postgres:
        LocalPostgres(settings).destroy()
