"""A three-node local Kafka and a PostgreSQL of their own, for the `cluster` tests.

They live in `.lead/cluster` on ports 59400-59410, apart from a developer's stack,
the test stack and the bench's, and are started by the same `infra` code as
`lead infra up --brokers 3`, from empty data, and stopped at the end of the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.kafka import security as kafka_security
from infra.local import stack
from infra.local.cluster import LocalKafkaCluster
from infra.settings import PROJECT_ROOT, Settings
from services.bootstrap import Container
from services.commands import AdoptPolicy
from tests.factories import POLICY_TERMS
from tests.scenario import ADMIN

CLUSTER_SETTINGS = {
    "environment": "test",
    "site_id": "cluster-site",
    "data_dir": str(PROJECT_ROOT / ".lead" / "cluster"),
    "kafka_brokers": "3",  # node i: 59400 + 2i (clients), 59401 + 2i (controllers)
    "kafka_port": "59400",
    "kafka_controller_port": "59401",
    "kafka_heap": "512m",
    "pg_port": "59410",
    "api_port": "59411",
    "consumer_web_port": "59412",
    "relay_metrics_port": "59413",
    "consumer_group": "lead-projections-cluster",
    "relay_batch_size": "20",  # several batches, so a broker dies between and during them
}


@dataclass
class Cluster:
    settings: Settings
    kafka: LocalKafkaCluster
    container: Container


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    settings = Settings.model_validate(CLUSTER_SETTINGS)
    assert settings.topic_replication_factor == 3 and settings.topic_min_insync_replicas == 2
    container = Container(settings)
    try:
        stack.destroy(settings)
        started = time.monotonic()
        stack.up(settings)
        with kafka_security.connecting_as(settings, "admin"):
            container.prepare()
            container.application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), ADMIN)
            took = time.monotonic() - started
            print(f"\n3 Kafka nodes (SASL_SSL) + PostgreSQL up, topics made in {took:.1f}s")
            yield Cluster(settings, LocalKafkaCluster(settings), container)
    finally:
        for app in ("application", "sealed_application"):
            if app in container.__dict__:
                container.__dict__[app].close()
        stack.down(settings)
