"""Creates the project's topics with explicit partitions, replication and retention."""

from __future__ import annotations

import contextlib

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from events.topics import TOPICS
from infra.kafka.security import client_kwargs
from infra.settings import Settings


def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that are missing; returns the names it created."""
    admin = KafkaAdminClient(
        **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, client_id="lead-admin"
    )
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name=spec.name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs={
                    **spec.config,
                    "min.insync.replicas": str(settings.topic_min_insync_replicas),
                },
            )
            for spec in TOPICS
            if spec.name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        admin.close()


def describe_topics(settings: Settings) -> dict[str, int]:
    """Topic name -> partition count of the project's topics that exist."""
    admin = KafkaAdminClient(
        **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, client_id="lead-admin"
    )
    try:
        wanted = {spec.name for spec in TOPICS}
        existing = wanted & set(admin.list_topics())
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(sorted(existing))}
    finally:
        admin.close()


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The topic's explicitly set configuration (retention, cleanup, min ISR)."""
    admin = KafkaAdminClient(
        **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, client_id="lead-admin"
    )
    try:
        result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = result["topic"][topic]
        return {name: str(entry["value"]) for name, entry in entries.items()}
    finally:
        admin.close()
