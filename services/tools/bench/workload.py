"""The work the benchmarks share: referrals to record, a fresh topic, the backend's
processes to start and stop, and waiting for the views to catch up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from aggregates.referral import Referral
from events.base import Actor, Role
from events.referral import Incident, Pathway, Person, Referrer
from infra.kafka.security import client_kwargs
from infra.settings import PROJECT_ROOT

OFFICER = Actor(principal="bench.officer", role=Role.OFFICER, organisation="Bench PD")


def referrals(policy: Any, n: int) -> list[Referral]:
    return [
        Referral.receive(
            actor=OFFICER,
            pathway=Pathway.ARREST_DIVERSION,
            policy=policy,
            referrer=Referrer(principal="bench.officer", organisation="Bench PD"),
            incident=Incident(offense_code="69.50.4013", description="possession"),
            person=Person(given_name="Bench", family_name=f"Person{i}"),
        )
        for i in range(n)
    ]


def save(app: Any, aggregates: list[Referral], per_call: int) -> None:
    for i in range(0, len(aggregates), per_call):
        app.save(*aggregates[i : i + per_call])


def new_topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**client_kwargs(), bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def lag(container: Any) -> int:
    """Messages the furthest-behind view has yet to apply (as `lead projections status`)."""
    from infra.readside.status import projection_status

    settings = container.settings
    statuses = projection_status(settings.dsn, settings.bootstrap_servers, container.projections)
    return max(s.lag for s in statuses)


def spawn(name: str, settings: Any) -> subprocess.Popen[bytes]:
    from infra.local.processes import ends_with_parent

    log = settings.data_dir / "logs" / f"bench-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.entrypoints.cli", name],
            env={**os.environ, **settings.environ()},
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )


def wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark step did not finish within {timeout}s")
        time.sleep(0.2)  # each check reads offsets from Kafka: not too often


def stop(proc: subprocess.Popen[bytes]) -> None:
    from infra.local.processes import terminate

    terminate(proc.pid, timeout=20)
    proc.wait()
