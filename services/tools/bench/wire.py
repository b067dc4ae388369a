"""The wire benchmark: what TLS + SASL/SCRAM costs, relay and projection on the secured
stack against the same on a plaintext one."""

from __future__ import annotations

from typing import Any

from infra.kafka import security as kafka_security
from infra.local.processes import free_port
from services.tools.bench.measure import Figure
from services.tools.bench.project import bench_project
from services.tools.bench.relay import bench_relay


def plaintext_settings(settings: Any) -> Any:
    """A stack of its own whose broker has no TLS and no SASL (and no authorizer): the
    baseline that prices the secured wire. Only a benchmark starts one."""
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir / "plaintext",
            "kafka_port": free_port(settings.kafka_port + 2000),
            "kafka_controller_port": free_port(settings.kafka_controller_port + 2000),
            "kafka_brokers": 1,
            "pg_port": free_port(settings.pg_port + 2000),
            "consumer_web_port": free_port(settings.consumer_web_port + 2000),
            "relay_metrics_port": free_port(settings.relay_metrics_port + 2000),
            "consumer_group": f"{settings.consumer_group}-plaintext",
            "kafka_security_protocol": "PLAINTEXT",
        }
    )


def bench_wire(container: Any, events: int, rounds: int) -> list[Figure]:
    """What TLS + SASL/SCRAM costs: relay and projection throughput on the secured stack
    against the same code on a PLAINTEXT stack started for the purpose, round by round
    in turn (so both see the same machine)."""
    from infra.local import stack
    from services.bootstrap import Container
    from services.tools.first_start import adopt_example_policy

    plain = plaintext_settings(container.settings)
    stack.destroy(plain)
    stack.up(plain)
    relay = Figure("wire, relay SASL_SSL vs PLAINTEXT", "events/s", goal=0.8)
    project = Figure("wire, project SASL_SSL vs PLAINTEXT", "events/s", goal=0.8)
    try:
        with kafka_security.connecting_as(plain, "admin"):
            bare = Container(plain)
            bare.prepare()
            adopt_example_policy(Container(plain))
        for _ in range(rounds):
            relay.backend.append(bench_relay(container, events, 1)[0].backend[0])
            project.backend.append(bench_project(container, events, 1)[0].backend[0])
            with kafka_security.connecting_as(plain, "admin"):
                relay.baseline.append(bench_relay(bare, events, 1)[0].backend[0])
                project.baseline.append(bench_project(bare, events, 1)[0].backend[0])
    finally:
        stack.destroy(plain)
    return [relay, project]
